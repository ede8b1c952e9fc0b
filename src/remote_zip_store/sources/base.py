"""What the archive reader needs from a byte source, and nothing more.

A source is "something with bytes at offsets": an S3 object (boto3), a local
file, later an HTTP URL. It pins the version it saw at its first read, so a
store never mixes bytes of two versions of an object, and it maps its own
transport errors to :mod:`remote_zip_store.errors` at this one boundary.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ..forksafe import ForkSafeLock


@dataclass(frozen=True, slots=True)
class Tail:
    """The last ``len(data)`` bytes of an object of ``size`` bytes."""

    data: bytes
    size: int


class RangeReader(Protocol):
    def read_range(self, start: int, end: int, *, key: str | None = None) -> bytes:
        """Exactly the bytes ``[start, end)``; raise rather than return fewer.

        ``key`` only names the entry being read in error messages.
        """
        ...


class TailReader(Protocol):
    def read_tail(self, length: int) -> Tail:
        """The last ``length`` bytes (all of them if the object is smaller) and the size."""
        ...


@runtime_checkable
class Source(RangeReader, TailReader, Protocol):
    """A byte source as the archive reader uses it. Must pickle without live handles."""

    @property
    def url(self) -> str:
        """Where the bytes live, for messages and ``repr`` (never with credentials)."""
        ...

    @property
    def stats(self) -> Stats:
        """Requests made and bytes received by this process."""
        ...

    def close(self) -> None: ...


class Stats:
    """Thread-safe request and byte counters (per process, not pickled)."""

    def __init__(self) -> None:
        self._lock = ForkSafeLock()
        self.requests = 0
        self.bytes = 0

    def add(self, nbytes: int) -> None:
        with self._lock:
            self.requests += 1
            self.bytes += nbytes

    def snapshot(self) -> tuple[int, int]:
        with self._lock:
            return self.requests, self.bytes

    def reset(self) -> None:
        with self._lock:
            self.requests = 0
            self.bytes = 0

    def __repr__(self) -> str:
        return f"Stats(requests={self.requests}, bytes={self.bytes})"
