"""crispml: CRISP-DM as a governed machine-learning service."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from crispml.local import Crispml


def connect(*args: Any, **kwargs: Any) -> Crispml:
    """Open crispml's store; see `crispml.local.connect`."""
    from crispml.local import connect as _connect

    return _connect(*args, **kwargs)
