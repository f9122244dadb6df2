"""crispml: CRISP-DM as a governed machine-learning service."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from crispml.container import Container


def connect(*args: Any, **kwargs: Any) -> Container:
    """Open crispml's store; see `crispml.container.connect`."""
    from crispml.container import connect as _connect

    return _connect(*args, **kwargs)
