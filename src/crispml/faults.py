"""Crash points for the crash-consistency tests.

`CRISPML_CRASH_AT=<point>` makes the process kill itself with SIGKILL when it reaches that point, so a
test can prove that a `kill -9` at the worst moment (file written, row not yet committed; row committed,
file not yet renamed; scores inserted, transaction not yet committed) leaves nothing partial behind.
Unset, a crash point costs one dictionary lookup.
"""

from __future__ import annotations

import os
import signal


def crash_point(name: str) -> None:
    if os.environ.get("CRISPML_CRASH_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)
