"""A real InfluxDB 1.x (`/usr/bin/influxd`, Debian's package) on free loopback ports, with its data in a
temporary folder: started, paused, killed and restarted by the tests that write to it."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

from tests.api.conftest import free_port

INFLUXD = "/usr/bin/influxd"


class Influxd:
    def __init__(self, folder: Path, *, yielding: bool = False) -> None:
        """`yielding`: run at the lowest priority on one core, as a benchmark wants an InfluxDB beside the
        server it measures (see `bench.observability_cost`)."""
        self.folder = folder
        self.yielding = yielding
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = folder / "influxdb.conf"
        self.config.write_text(
            f"""reporting-disabled = true
bind-address = "127.0.0.1:{free_port()}"
[meta]
  dir = "{folder / "meta"}"
[data]
  dir = "{folder / "data"}"
  wal-dir = "{folder / "wal"}"
  query-log-enabled = false
[monitor]
  store-enabled = false
[http]
  bind-address = "127.0.0.1:{self.port}"
  log-enabled = false
[logging]
  level = "warn"
[continuous_queries]
  enabled = false
[subscriber]
  enabled = false
"""
        )
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Influxd:
        log = (self.folder / "influxd.log").open("ab")
        command = [INFLUXD, "run", "-config", str(self.config)]
        env = None
        if self.yielding:
            command, env = ["nice", "-n", "19", *command], {**os.environ, "GOMAXPROCS": "1"}
        self.process = subprocess.Popen(command, stdout=log, stderr=log, env=env)
        deadline = time.monotonic() + 30
        while True:
            assert self.process.poll() is None, f"influxd exited: {(self.folder / 'influxd.log').read_text()[-2000:]}"
            try:
                if httpx.get(f"{self.url}/ping", timeout=1).status_code == 204:
                    return self
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "influxd did not answer /ping within 30 s"
            time.sleep(0.05)

    def pause(self) -> None:
        """Stop the process without closing its port: connections open, nothing is answered."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    def query(self, statement: str, database: str | None = None) -> list[dict[str, Any]]:
        """The series a statement answers (`[]` for none); an error in the answer fails the test."""
        params = {"q": statement, **({"db": database} if database else {})}
        answer = httpx.post(f"{self.url}/query", params=params, timeout=10)
        answer.raise_for_status()
        result = answer.json()["results"][0]
        assert "error" not in result, f"{statement}: {result['error']}"
        return list(result.get("series", []))

    def rows(self, statement: str, database: str) -> list[dict[str, Any]]:
        """A SELECT's rows as dicts (columns by name), with each series' tags merged in."""
        return [
            {**series.get("tags", {}), **dict(zip(series["columns"], values, strict=True))}
            for series in self.query(statement, database)
            for values in series["values"]
        ]
