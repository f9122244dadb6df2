"""No module of the package over about 400 lines (issue 11): a module that grows past it holds more than
one job, and is split where its jobs part (see docs/ARCHITECTURE.md)."""

from __future__ import annotations

from pathlib import Path

import crispml

MAX_LINES = 430
"""About 400: the schema's table declarations and the scoring service sit just above 400."""
PACKAGE = Path(crispml.__file__).parent


def test_no_module_is_over_about_400_lines() -> None:
    modules = sorted(PACKAGE.rglob("*.py"))
    assert len(modules) > 100  # the package was found, not an empty folder
    sizes = {str(path.relative_to(PACKAGE)): len(path.read_text().splitlines()) for path in modules}
    over = {name: lines for name, lines in sizes.items() if lines > MAX_LINES}
    assert not over, f"modules over {MAX_LINES} lines: {over}"
