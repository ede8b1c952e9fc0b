"""A lock that a forked child gets back unlocked.

``fork()`` copies a lock in whatever state it is in: if another thread of the
parent held it (a stats update, a client being built, the index being read),
the child would block on it forever. Every :class:`ForkSafeLock` is replaced
by a fresh lock in the child (``os.register_at_fork``), so a store used before
``fork()`` (multiprocessing, PyTorch DataLoader workers) keeps working after it.
"""

from __future__ import annotations

import os
import threading
import weakref
from types import TracebackType

_ALL: weakref.WeakSet[ForkSafeLock] = weakref.WeakSet()


class ForkSafeLock:
    """``threading.Lock`` for ``with`` blocks, reset to unlocked in a forked child."""

    __slots__ = ("__weakref__", "_lock")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        _ALL.add(self)

    def __enter__(self) -> bool:
        return self._lock.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._lock.release()

    def locked(self) -> bool:
        return self._lock.locked()


def _reset_in_child() -> None:
    for lock in list(_ALL):
        lock._lock = threading.Lock()


if hasattr(os, "register_at_fork"):  # not on Windows, which has no fork()
    os.register_at_fork(after_in_child=_reset_in_child)
