"""Process identity: host, pid and start time, so that a reused pid is never taken for its
predecessor, and a process on another host is never judged dead from here."""

from __future__ import annotations

import hashlib
import os
import socket
from functools import cache

import psutil


@cache
def _host() -> str:
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


@cache
def _identity(pid: int) -> str:
    return f"{_host()}-{pid}-{int(psutil.Process(pid).create_time())}"


def identity() -> str:
    """This process's identity, worked out when first asked (per pid: a forked child gets its own)."""
    return _identity(os.getpid())


def may_be_running(owner: str) -> bool | None:
    """True if the process may still run, False if it surely ended, None if it is not ours to judge
    (another host, or an identity in an unknown form)."""
    parts = owner.split("-")
    if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
        return None
    host, pid, started = parts[0], int(parts[1]), int(parts[2])
    if host != _host():
        return None
    if owner == identity():
        return True
    try:
        return int(psutil.Process(pid).create_time()) == started
    except psutil.Error:
        return False
