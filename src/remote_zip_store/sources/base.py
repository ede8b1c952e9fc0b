"""What the archive reader needs from a byte source, and nothing more.

A source is "something with bytes at offsets": an S3 object (boto3), a local
file, later an HTTP URL. It pins the version it saw at its first read, so a
store never mixes bytes of two versions of an object, and it maps its own
transport errors to :mod:`remote_zip_store.errors` at this one boundary.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, replace
from typing import NamedTuple, Protocol, runtime_checkable

from ..forksafe import ForkSafeLock

logger = logging.getLogger("remote_zip_store")


@dataclass(frozen=True, slots=True)
class Ends:
    """The last ``len(tail)`` bytes of an object of ``size`` bytes, maybe its first bytes too.

    ``head`` holds the object's first ``len(head)`` bytes of the same version as
    ``tail``, or is empty when they were not asked for or could not be had.
    """

    tail: bytes
    size: int
    head: bytes = b""


class SourceIdentity(NamedTuple):
    """Which object a source reads: kind, URL and endpoint (equality, cache keys)."""

    kind: str
    url: str
    endpoint: str | None


class RangeReader(Protocol):
    def read_range(self, start: int, end: int) -> bytes:
        """Exactly the bytes ``[start, end)``; raise rather than return fewer."""
        ...


class TailReader(Protocol):
    def read_ends(self, length: int, *, head: int = 0) -> Ends:
        """The last ``length`` bytes (all of them if the object is smaller) and the size.

        With ``head`` > 0, also the first ``head`` bytes, fetched concurrently (a zarr
        writer puts the root metadata there). They are an optimisation: a source may
        return none, and must return none rather than bytes of another version.
        """
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

    @property
    def identity(self) -> SourceIdentity: ...

    @property
    def version(self) -> Hashable | None: ...

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


#: Seconds ``with_head`` waits for the head GET after the tail, at least.
HEAD_WAIT = 1.0


@dataclass(frozen=True, slots=True)
class Head:
    """An object's first bytes and the version (ETag, version id) they were read from."""

    data: bytes
    version: Hashable


def with_head(
    read_tail: Callable[[], Ends],
    read_head: Callable[[], Head],
    version: Callable[[], Hashable],
    url: str,
) -> Ends:
    """``read_tail()`` here while ``read_head()`` runs on a thread: one round trip for both.

    The head is speculative: any failure, or a version other than the one the
    tail pinned (``version()`` after the tail), drops it, and the tail stands alone.
    Once the tail is in, the head gets at most twice the tail's time (at least
    ``HEAD_WAIT`` seconds) to finish: a stuck head GET never holds up the open.
    """
    box: list[Head] = []

    def run() -> None:
        try:
            box.append(read_head())
        except Exception as exc:  # an optimisation must not fail the open
            logger.debug("archive %s: first bytes not read (%s: %s)", url, type(exc).__name__, exc)

    thread = threading.Thread(target=run, name="remote-zip-store-head", daemon=True)
    thread.start()
    started = time.monotonic()
    tail = read_tail()
    thread.join(max(HEAD_WAIT, 2 * (time.monotonic() - started)))
    if thread.is_alive():
        logger.debug("archive %s: first bytes still on their way; opened without them", url)
        return tail
    if not box or box[0].version is None or box[0].version != version():
        return tail
    return replace(tail, head=box[0].data)
