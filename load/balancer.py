"""HAProxy (Debian's package) in front of single-worker crispml servers: round robin, each server
health-checked on /readyz, a generated configuration on free loopback ports."""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.servers import free_port, spawn, stop

HAPROXY = os.environ.get("CRISPML_LOAD_HAPROXY") or shutil.which("haproxy") or "/usr/sbin/haproxy"


@dataclass(frozen=True)
class Balancer:
    url: str
    pid: int
    stats_url: str

    def workers(self) -> dict[str, dict[str, str]]:
        """HAProxy's row of each worker: status, sessions (`stot`), failed checks (`chkfail`), ..."""
        return worker_rows(httpx.get(self.stats_url, timeout=5).text)


def haproxy_config(port: int, stats_port: int, backends: list[int]) -> str:
    """Round robin over `backends` (ports on 127.0.0.1); a server leaves the rotation after three failed
    /readyz checks two seconds apart (a check may take 10 s: a busy server is not a dead one) and comes
    back after one good one."""
    servers = "\n".join(f"    server worker{i} 127.0.0.1:{p}" for i, p in enumerate(backends, start=1))
    return f"""\
global
    maxconn 4096

defaults
    mode http
    timeout connect 5s
    # The trainer waits on its jobs, a minute per request at most.
    timeout client 15m
    timeout server 15m

frontend crispml
    bind 127.0.0.1:{port}
    default_backend workers

backend workers
    balance roundrobin
    option httpchk
    http-check send meth GET uri /readyz
    http-check expect status 200
    timeout check 10s
    default-server check inter 2s fall 3 rise 1
{servers}

listen stats
    bind 127.0.0.1:{stats_port}
    stats enable
    stats uri /stats
"""


def worker_rows(stats_csv: str) -> dict[str, dict[str, str]]:
    """Each worker's row of HAProxy's stats page as CSV, by server name."""
    reader = csv.DictReader(io.StringIO(stats_csv.removeprefix("# ")))
    return {row["svname"]: row for row in reader if row["pxname"] == "workers" and row["svname"] != "BACKEND"}


@contextmanager
def balancer(backends: list[int], folder: Path, timeout_s: float = 60) -> Iterator[Balancer]:
    """HAProxy over `backends` until the block ends; yields once every backend is UP."""
    port, stats_port = free_port(), free_port()
    config = folder / "haproxy.cfg"
    config.write_text(haproxy_config(port, stats_port, backends))
    checked = subprocess.run([HAPROXY, "-c", "-q", "-f", str(config)], capture_output=True, text=True, check=False)
    if checked.returncode != 0:
        raise RuntimeError(f"HAProxy refuses {config}:\n{checked.stdout}{checked.stderr}")
    log = folder / "haproxy.log"
    process = spawn([HAPROXY, "-db", "-f", str(config)], dict(os.environ), log)
    try:
        deadline = time.monotonic() + timeout_s
        found = Balancer(f"http://127.0.0.1:{port}", process.pid, f"http://127.0.0.1:{stats_port}/stats;csv")
        status: dict[str, str] = {}
        while len(status) != len(backends) or set(status.values()) != {"UP"}:
            if process.poll() is not None:
                raise RuntimeError(f"HAProxy exited during start-up:\n{log.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"HAProxy's workers are not all UP after {timeout_s:g} s: {status}")
            time.sleep(0.2)
            try:
                status = {name: row["status"] for name, row in found.workers().items()}
            except httpx.TransportError:
                status = {}
        yield found
    finally:
        stop(process)
