"""Fork safety: locks a forked child gets back unlocked, resources it builds anew.

``fork()`` copies a lock in whatever state it is in: if another thread of the
parent held it (a stats update, a client being built, the index being read),
the child would block on it forever. Every :class:`ForkSafeLock` is replaced
by a fresh lock in the child, so a store used before ``fork()`` (multiprocessing,
PyTorch DataLoader workers) keeps working after it. The replacement is lazy: a
fork bumps a process generation (``os.register_at_fork``) and each lock renews
itself the first time it is taken in a newer generation (and makes its first lock
the first time it is taken at all). No registry of every lock (a cohort of a
thousand stores holds eight thousand of them: a ``WeakSet`` of them cost a weak
reference each, and a share of every garbage collection).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Generic, TypeVar

T = TypeVar("T")
K = TypeVar("K")

#: Bumped in every forked child: a lock made in an older generation is renewed when taken.
_generation = 0
#: Serializes renewals (itself renewed in the child, eagerly: it is the only one).
_renewing = threading.Lock()


class ForkSafeLock:
    """``threading.Lock`` for ``with`` blocks, reset to unlocked in a forked child."""

    __slots__ = ("_generation", "_lock")

    def __init__(self) -> None:
        # No lock yet: the first ``with`` makes it (as a renewal does). A store holds
        # several that a cohort's thousand stores mostly never take.
        self._generation = -1

    def _renewed(self) -> threading.Lock:
        """This process's lock: made the first time it is asked for, and again after a fork."""
        with _renewing:
            if self._generation != _generation:
                self._lock = threading.Lock()  # the lock first, then the generation
                self._generation = _generation
        return self._lock

    def __enter__(self) -> bool:
        lock = self._lock if self._generation == _generation else self._renewed()
        return lock.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._lock.release()

    def locked(self) -> bool:
        return self._generation == _generation and self._lock.locked()


class PerProcess(Generic[T]):
    """A resource built on first use, once per process: a client, a pool, a descriptor.

    boto3 clients, connection pools, thread pools and file descriptors neither
    pickle nor survive ``fork()``. ``get()`` builds the resource in the process
    that asks (one builder at a time) and a forked child builds its own; the
    parent's copy is never used, nor closed, by the child. ``close()`` closes
    the resource only in the process that built it.
    """

    __slots__ = ("_close", "_factory", "_lock", "_pid", "_value")

    def __init__(self, factory: Callable[[], T], close: Callable[[T], None] | None = None):
        self._factory = factory
        self._close = close
        self._lock = ForkSafeLock()
        self._value: T | None = None
        self._pid = 0

    def get(self) -> T:
        value = self._value
        if value is not None and self._pid == os.getpid():
            return value
        with self._lock:
            if self._value is None or self._pid != os.getpid():
                self._value = self._factory()
                self._pid = os.getpid()
            return self._value

    def set(self, value: T) -> None:
        """Use ``value`` in this process (a client the caller built); a child builds anew."""
        with self._lock:
            self._value = value
            self._pid = os.getpid()

    def peek(self) -> T | None:
        """The resource if this process built (or set) it, else None; never builds."""
        value = self._value
        return value if self._pid == os.getpid() else None

    def close(self) -> None:
        """Drop the resource; close it if this process built it. ``get()`` builds anew."""
        with self._lock:
            value, self._value = self._value, None
            mine = self._pid == os.getpid()
        if value is not None and mine and self._close is not None:
            self._close(value)


class SharedByKey(Generic[K, T]):
    """Resources shared in a process, one per key, built on first use: clients, pools.

    ``get(key, build, size)`` returns the resource for ``key`` if it holds at least
    ``size`` (connections); else ``build()`` makes a new one that replaces it for later
    callers (the smaller one stays with whoever holds it). One build at a time: 32
    threads opening at once build one resource. A forked child starts empty; nothing
    is closed here (a store's ``close()`` must not cut another store's connections).
    Beyond ``max_entries`` the oldest is dropped, not closed.
    """

    __slots__ = ("_entries", "_lock", "_max")

    def __init__(self, max_entries: int | None = None) -> None:
        self._entries: PerProcess[dict[K, tuple[T, int]]] = PerProcess(dict)
        self._lock = ForkSafeLock()
        self._max = max_entries

    def get(self, key: K, build: Callable[[], T], size: int = 0) -> T:
        found = self._entries.get().get(key)
        if found is not None and found[1] >= size:
            return found[0]
        with self._lock:
            entries = self._entries.get()
            found = entries.get(key)
            if found is not None and found[1] >= size:
                return found[0]
            value = build()
            entries.pop(key, None)
            entries[key] = (value, size)
            while self._max is not None and len(entries) > self._max:
                del entries[next(iter(entries))]
            return value

    def built(self) -> bool:
        """Whether this process holds any resource (never builds)."""
        return bool(self._entries.peek())

    def held(self) -> list[T]:
        """The resources this process holds (never builds)."""
        return [value for value, _ in (self._entries.peek() or {}).values()]

    def clear(self) -> None:
        """Forget this process's resources (holders keep theirs)."""
        with self._lock:
            entries = self._entries.peek()
            if entries:
                entries.clear()


def _reset_in_child() -> None:
    global _generation, _renewing
    _renewing = threading.Lock()
    _generation += 1


if hasattr(os, "register_at_fork"):  # not on Windows, which has no fork()
    os.register_at_fork(after_in_child=_reset_in_child)
