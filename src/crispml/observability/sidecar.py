"""A child process that formats and writes what a server hands it: its log lines, its InfluxDB points.

Formatting an access line or a line-protocol point costs a few microseconds, but a busy server's
background threads did it about 30 times a second in turns of 0.3-1 ms, and every such turn held the
GIL the requests in flight wait for: with JSON logs and InfluxDB on, one-record p99 rose 10-15 % at
the same CPU per answer (`bench/observability_cost.py`). Here the server's thread only encodes each
turn's plain values as one JSON line (orjson, a few microseconds for a hundred entries) and writes it
to a pipe; the child decodes, formats and writes them on its own interpreter.

One child per sink (`logs`, `influx`) and process, started by the parent, ended by the end of its
stdin: when the parent closes it or the parent dies. It runs in its own session, so a Ctrl-C to the
server's terminal does not end it before the server's last lines. What a sink counts (points dropped,
written, warnings) comes back as JSON lines on a second pipe, which the parent reads at its turns.

Protocol, parent to child on stdin: the sink's configuration as the first line, then one JSON array of
items per line. Child to parent on the status pipe: one JSON object of counts per line.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from contextlib import suppress
from typing import Any, Literal, Protocol

import orjson

from crispml.observability.metrics import MULTIPROC_ENV

WriterKind = Literal["process", "thread"]
"""Where log lines and InfluxDB points are formatted and written: a sidecar, or a thread of the process."""
SINKS = {
    "logs": "crispml.observability.logs:sidecar_sink",
    "influx": "crispml.observability.influx_sidecar:sidecar_sink",
}
"""Each sink's factory in the child: `module:function(config) -> Sink`."""
REPORT_EVERY_S = 0.5
"""How often the child sends what its sink counted since its last report (when it counted anything)."""
NICENESS = 10
"""The child's lower scheduling priority: on a machine short of cores its turns wait for the server's threads
(its lines a few milliseconds later), not the other way round."""


class Sink(Protocol):
    """What a child does with the items its parent sends."""

    def take(self, items: list[Any]) -> None: ...

    def report(self) -> dict[str, Any] | None:
        """What was counted since the last call (None: nothing)."""

    def close(self) -> None: ...


class Sidecar:
    """The parent's handle on one child: `send` items, read its `reports`, `close` it."""

    @classmethod
    def start(cls, sink: str, config: dict[str, Any]) -> Sidecar | None:
        """A started child for `sink`; None (and a warning on stderr) when none could be started: the
        caller's thread then formats and writes itself."""
        try:
            sidecar = cls(sink, config)
        except OSError as exc:
            problem = str(exc)
        else:
            if sidecar.alive:
                return sidecar
            sidecar.close(1.0)
            problem = "it ended at once"
        with suppress(Exception):
            sys.stderr.write(f"crispml: could not start the {sink} writer process ({problem}); a thread writes\n")
        return None

    def __init__(self, sink: str, config: dict[str, Any]) -> None:
        status_read, status_write = os.pipe()
        try:
            # stdout and stderr are the parent's: the log sink writes the server's stdout. Not the metrics
            # folder of `--workers N`: what the child counts reaches /metrics as the parent's own count.
            self._process = subprocess.Popen(
                [sys.executable, "-m", __name__, sink, str(status_write)],
                stdin=subprocess.PIPE,
                pass_fds=(status_write,),
                start_new_session=True,
                env={name: value for name, value in os.environ.items() if name != MULTIPROC_ENV},
            )
        except BaseException:
            os.close(status_read)
            raise
        finally:
            os.close(status_write)
        os.set_blocking(status_read, False)
        self._status = status_read
        self._partial = b""
        self.sink = sink
        self.alive = self.send(config)

    @property
    def pid(self) -> int:
        return self._process.pid

    def send(self, items: Any) -> bool:
        """Hand `items` (plain values, datetimes) to the child; False once the child is gone. Blocks while the
        child's pipe is full, as a thread writing a blocked stdout would. Raises TypeError, sending nothing,
        when a value cannot be sent as JSON (a string holding a lone surrogate)."""
        line = orjson.dumps(items) + b"\n"
        stdin = self._process.stdin
        if stdin is None:
            return False
        try:
            stdin.write(line)
            stdin.flush()
        except (OSError, ValueError):  # a broken pipe, or closed
            self.alive = False
            return False
        return True

    def reports(self) -> list[dict[str, Any]]:
        """What the child reported since the last call, without waiting."""
        chunks = [self._partial]
        while True:
            try:
                chunk = os.read(self._status, 65536)
            except (BlockingIOError, OSError):
                break
            if not chunk:
                break
            chunks.append(chunk)
        *lines, self._partial = b"".join(chunks).split(b"\n")
        return [orjson.loads(line) for line in lines if line]

    def close(self, timeout_s: float) -> list[dict[str, Any]]:
        """End the child's input and wait up to `timeout_s` for it to write what it holds (then end it);
        returns its last reports."""
        with suppress(OSError):
            if self._process.stdin is not None:
                self._process.stdin.close()
        try:
            self._process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self.alive = False
        os.set_blocking(self._status, True)  # the child has exited: the pipe ends at what it wrote
        try:
            return self.reports()
        finally:
            os.close(self._status)


def _serve(sink_name: str, status_fd: int) -> None:
    """The child: build the sink from the first line, hand it every following line's items, report."""
    with suppress(OSError):
        os.nice(NICENESS)
    stdin = sys.stdin.buffer
    module, function = SINKS[sink_name].split(":")
    factory: Callable[[dict[str, Any]], Sink] = getattr(importlib.import_module(module), function)
    sink = factory(orjson.loads(stdin.readline()))
    status = os.fdopen(status_fd, "wb", buffering=0)
    lock = threading.Lock()

    def send_report() -> None:
        with lock:
            report = sink.report()
            if report:
                with suppress(OSError):
                    status.write(orjson.dumps(report) + b"\n")

    done = threading.Event()

    def reporter() -> None:
        while not done.wait(REPORT_EVERY_S):
            send_report()

    thread = threading.Thread(target=reporter, name="crispml-sidecar-reports", daemon=True)
    thread.start()
    for line in stdin:
        with suppress(ValueError):  # a line cut short by a parent killed mid-write
            sink.take(orjson.loads(line))
    done.set()
    thread.join()
    sink.close()
    send_report()
    status.close()


if __name__ == "__main__":
    _serve(sys.argv[1], int(sys.argv[2]))
