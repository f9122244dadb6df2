"""Process identity: worked out per process, so a forked child never passes for its parent."""

from __future__ import annotations

import multiprocessing

from crispml.processes import identity, may_be_running


def _child_identity(queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    queue.put(identity())


def test_a_forked_child_has_its_own_identity_and_is_known_dead_once_it_ends() -> None:
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_child_identity, args=(queue,))
    child.start()
    theirs = queue.get(timeout=30)
    child.join(timeout=30)
    assert theirs != identity() and theirs.split("-")[1] == str(child.pid)
    assert may_be_running(identity()) is True
    assert may_be_running(theirs) is False
    assert may_be_running("otherhost-1-2") is None and may_be_running("nonsense") is None
