"""The k6 script ships beside the Locust file. k6 is not installable here: the script is checked to be a
JavaScript module (by node, where installed) with the loops and thresholds, never run."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "load" / "k6" / "crispml.js"


def test_the_k6_script_has_the_loops_and_thresholds() -> None:
    text = SCRIPT.read_text()

    assert re.search(r"^export const options = \{", text, re.MULTILINE)
    for scenario in ("train", "score_one", "score_batch"):
        assert re.search(rf"^\s+{scenario}: \{{", text, re.MULTILINE), scenario
    for function in ("train", "scoreOne", "scoreBatch"):
        assert f"export function {function}()" in text, function
    assert "http_req_failed: ['rate==0']" in text and "'http_reqs{loop:score}': ['count>0']" in text
    assert text.count("p(95)<") == 3


def test_the_k6_script_parses_as_a_module(tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the script's syntax is not checked")
    module = tmp_path / "crispml.mjs"  # node reads a .mjs file as an ES module, as k6 reads the script
    module.write_text(SCRIPT.read_text())

    checked = subprocess.run([node, "--check", str(module)], capture_output=True, text=True, check=False)

    assert checked.returncode == 0, checked.stderr
