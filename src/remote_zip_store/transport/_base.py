"""What the archive reader needs from a byte source, and the pieces every source shares.

A source is "something with bytes at offsets": an S3 object (boto3), an HTTP(S)
URL (urllib3), a local file. It pins the version it saw at its first read, so a
store never mixes bytes of two versions of an object, and it maps its own
transport errors to :mod:`remote_zip_store.errors` (with ``archive=url``, never
a key: the archive layer adds the key) at this one boundary.
"""

from __future__ import annotations

import contextvars
import logging
import os
import sys
import threading
import time
import warnings
from collections.abc import Callable, Hashable
from dataclasses import dataclass, replace
from typing import NamedTuple, Protocol, runtime_checkable
from urllib.parse import urlsplit, urlunsplit

from ..errors import StoreClosedError, scrub
from . import _deadline as deadline
from ._forksafe import ForkSafeLock

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
    """Which object a source reads: equal identities read the same bytes (same version)."""

    kind: str
    url: str
    endpoint: str | None


@runtime_checkable
class Source(Protocol):
    """A byte source as the archive reader uses it. Must pickle without live handles."""

    def read_range(self, start: int, end: int) -> bytes:
        """Exactly the bytes ``[start, end)``; raise rather than return fewer."""
        ...

    def read_ends(self, tail: int, *, head: int = 0) -> Ends:
        """The last ``tail`` bytes (all of them if the object is smaller) and the size.

        With ``head`` > 0, also the first ``head`` bytes, fetched concurrently (a zarr
        writer puts the root metadata there). They are an optimisation: a source may
        return none, and must return none rather than bytes of another version.
        """
        ...

    @property
    def url(self) -> str:
        """Where the bytes live, for messages and ``repr`` (never with credentials)."""
        ...

    @property
    def stats(self) -> Stats:
        """Requests made and bytes received by this process."""
        ...

    @property
    def identity(self) -> SourceIdentity:
        """``(kind, url, endpoint)``: what ``__eq__``/``__hash__`` and the index cache use."""
        ...

    @property
    def version(self) -> Hashable | None:
        """The version pinned at the first read (ETag, mtime...), None before it."""
        ...

    @property
    def closed(self) -> bool: ...

    def close(self) -> None: ...


@runtime_checkable
class Preconnects(Protocol):
    """A source on a connection pool that can open connections ahead of its requests."""

    def preconnect(self, connections: int) -> None:
        """Start opening connections until ``connections`` to this source's server are open.

        Returns at once; never raises (a connection that fails to open is the next
        request's to report). Without it, each of a burst of requests after the open
        opens its own connection: one more round trip on its path.
        """
        ...


#: A streamed body is read (and its progress reported) in steps of this many bytes: a
#: 30 KiB zarr chunk waits for at most this much more of the link (2.6 ms at 400 Mbit/s).
STREAM_STEP = 128 * 1024


@runtime_checkable
class ReadsInto(Protocol):
    """A source that hands a range's bytes over as they arrive, not once all are in."""

    @property
    def streams(self) -> bool:
        """Whether ``progress`` comes as the body arrives here (False: once, at its end)."""
        ...

    def read_range_into(
        self, start: int, end: int, buffer: bytearray, progress: Callable[[int], None]
    ) -> None:
        """Bytes ``[start, end)`` into ``buffer`` (``end - start`` long), with the same
        checks, pinning, retries and errors as ``read_range``; ``progress(n)`` each time
        the first ``n`` bytes are in place (a retry resumes after them). A read-ahead
        serves a piece's first chunks while its last ones are still on the link.
        """
        ...


class Into:
    """One ``read_range_into`` across its attempts: the buffer, how many of its leading bytes
    are in place (a retry asks for the rest: :attr:`first`), the caller's ``progress``."""

    __slots__ = ("done", "end", "progress", "start", "view")

    def __init__(
        self, start: int, end: int, buffer: bytearray, progress: Callable[[int], None]
    ) -> None:
        self.start = start
        self.end = end
        self.view = memoryview(buffer)
        self.progress = progress
        self.done = 0

    @property
    def first(self) -> int:
        """The first byte not yet in place: where the next attempt's range starts."""
        return self.start + self.done

    def put(self, data: bytes) -> None:
        """The whole range at once (a source whose bodies come whole)."""
        self.view[:] = data
        self.done = len(data)
        self.progress(self.done)

    def pour(self, read: Callable[[int], bytes]) -> bool:
        """Read a body into the buffer in ``STREAM_STEP`` steps (``read(n)``: at most n
        bytes, b"" at its end); False when it ended before the buffer was full."""
        size = self.end - self.start
        while self.done < size:
            part = read(min(STREAM_STEP, size - self.done))
            if not part:
                return False
            self.view[self.done : self.done + len(part)] = part
            self.done += len(part)
            self.progress(self.done)
        return True


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


def check_open(closed: bool, url: str) -> None:
    """The one "is it closed" error every source raises."""
    if closed:
        raise StoreClosedError("closed; open a new store to read it", archive=url)


def total_size(content_range: str | None) -> int | None:
    """``"bytes 100-199/1000"`` or ``"bytes */1000"`` -> 1000 (None if absent or ``*``)."""
    if not content_range:
        return None
    total = content_range.rpartition("/")[2].strip()
    return int(total) if total.isdigit() else None


def serves(content_range: str | None, start: int, end: int) -> bool:
    """Whether ``Content-Range`` is exactly ``bytes start-(end-1)/n`` (never shifted bytes)."""
    if not content_range:
        return False
    served = content_range.strip().removeprefix("bytes ").partition("/")[0]
    return served == f"{start}-{end - 1}"


def redact(url: str) -> str:
    """``url`` without its query and user info: what messages and logs may show."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def warn_insecure() -> None:
    """Warn that TLS verification is off, pointing at the caller's line, not ours."""
    level = 1
    frame = sys._getframe(1)
    while frame is not None and (
        frame.f_code.co_filename.startswith(_PACKAGE) or frame.f_code.co_filename == "<string>"
    ):
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    warnings.warn(
        "TLS certificate verification is off (verify=False); pass a CA bundle path "
        "instead for a private CA",
        stacklevel=level,
    )


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
    ``HEAD_WAIT`` seconds, at most what is left of the open's deadline) to finish:
    a stuck head GET never holds up the open. It is one attempt, never retried.
    """
    box: list[Head] = []

    def run() -> None:
        try:
            box.append(read_head())
        except Exception as exc:  # an optimisation must not fail the open
            reason = scrub(f"{type(exc).__name__}: {exc}")
            logger.debug("archive %s: first bytes not read (%s)", url, reason)

    # The head runs under the open's deadline too (its socket timeouts shrink with it).
    thread = threading.Thread(
        target=contextvars.copy_context().run,
        args=(run,),
        name="remote-zip-store-head",
        daemon=True,
    )
    thread.start()
    started = time.monotonic()
    ends = read_tail()
    wait = max(HEAD_WAIT, 2 * (time.monotonic() - started))
    budget = deadline.current()
    if budget is not None:
        wait = min(wait, max(0.0, budget.remaining()))
    thread.join(wait)
    if thread.is_alive():
        logger.debug("archive %s: first bytes still on their way; opened without them", url)
        return ends
    if not box or box[0].version is None or box[0].version != version():
        return ends
    return replace(ends, head=box[0].data)
