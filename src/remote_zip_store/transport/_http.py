"""An ``http(s)://`` URL as a byte source: plain range requests, on :mod:`.wire`.

For public objects and presigned S3 URLs (no AWS signing here: the URL *is*
the credential).

* The tail is one suffix GET (``Range: bytes=-N``); the size comes from
  ``Content-Range``. No HEAD: a presigned GET URL does not sign HEAD.
* A server that ignores ``Range`` (``python -m http.server``) answers that GET
  with the whole object: decided at open, once. Up to
  :attr:`HTTPOptions.max_full_body` bytes are kept and every read is served
  from them (one request in all); a larger object fails the open with an error
  that says so, before its body is read. The whole object is never fetched twice.
* The first response's ``ETag`` is pinned; later GETs send ``If-Match`` and the
  ETag of every answer is compared too (servers that ignore ``If-Match``, weak
  ETags), so bytes of two versions are never mixed; a 206 whose ``Content-Range``
  is not exactly the range asked for is retried, never returned.
* 5xx, 429, connection resets, timeouts and short bodies are retried
  (:mod:`.retry`, each retry logged at WARNING); statuses become this
  library's errors through the shared table (:mod:`.status`).
* Requests go out on :mod:`.wire`, a small HTTP/1.1 client (a seventh of urllib3's
  CPU per small GET). Sources whose :class:`HTTPOptions` agree on TLS and timeouts
  share one process-wide :class:`~.wire.WirePool` (:func:`shared_pool`): keep-alive
  connections per host are reused from one archive to the next; a source's
  ``close()`` never clears it; a forked child builds its own.
* The query string (a presigned URL's signature) never appears in messages or
  ``repr``; it does travel in a pickle, which is what lets dask workers read.
"""

from __future__ import annotations

import ssl
import warnings
from collections.abc import Callable, Hashable
from dataclasses import dataclass, replace
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

from ..errors import InvalidURLError, SourceError, scrub_chain
from . import _deadline as deadline
from . import _retry as retry
from ._base import (
    Ends,
    Head,
    Into,
    SourceIdentity,
    Stats,
    check_open,
    redact,
    serves,
    total_size,
    warn_insecure,
    with_head,
)
from ._forksafe import ForkSafeLock, PerProcess, SharedByKey
from ._status import RETRY_STATUS, changed, error_for_status
from ._wire import Origin, Response, WirePool

#: What :mod:`.wire` raises for a failure worth another attempt (resets, early closes,
#: malformed answers, timeouts, refused connections).
_TRANSIENT: tuple[type[BaseException], ...] = (ConnectionError, TimeoutError)

_T = TypeVar("_T")

_EXPIRED = "a presigned URL may have expired"


@dataclass(frozen=True)
class HTTPOptions:
    """How to reach an ``http(s)://`` URL: plain data, so a pickled source carries it."""

    #: ``None``/``True``: the system's CAs; a path: that CA bundle; ``False``: no check (warns).
    verify: bool | str | None = None
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    #: Attempts per request (1 = no retry) for 5xx, 429, resets, timeouts, short bodies.
    max_attempts: int = 5
    #: Base of the jittered exponential backoff between attempts, in seconds.
    retry_backoff: float = 0.1
    max_connections: int = 32
    #: The largest whole object kept in memory from a server that ignores ``Range``.
    max_full_body: int = 64 * 1024 * 1024

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.retry_backoff < 0 or self.max_full_body < 0:
            raise ValueError("max_attempts must be >= 1, retry_backoff and max_full_body >= 0")
        if self.verify is False:  # where the user asked for it, once
            warn_insecure()

    def make_pool(self) -> WirePool:
        return WirePool(
            verify=self.verify,
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            max_connections=self.max_connections,
        )

    def pool_key(self) -> tuple[bool | str | None, float, float]:
        """What a shared pool manager is keyed by (the pool size is not: it only grows)."""
        return (self.verify, self.connect_timeout, self.read_timeout)


_SHARED: SharedByKey[tuple[bool | str | None, float, float], WirePool]
_SHARED = SharedByKey()


def shared_pool(options: HTTPOptions) -> WirePool:
    """The process-wide connection pool for ``options``' TLS and timeout settings.

    It keeps at least ``options.max_connections`` connections per host: a caller
    that needs more gets a new, larger pool that replaces it for later
    callers (the smaller one stays with the sources holding it). Never cleared
    by a source: one store's ``close()`` must not cut another's connections.
    """
    return _SHARED.get(options.pool_key(), options.make_pool, options.max_connections)


def clear_shared_pools() -> None:
    """Forget this process's shared pools (sources in use keep theirs)."""
    _SHARED.clear()


class HTTPSource:
    """Range reads of one URL, pinned to the ETag seen at the first read.

    ``overrides`` (``verify=``, ``max_attempts=``, ...) replace fields of ``options``.
    """

    def __init__(
        self,
        url: str,
        options: HTTPOptions | None = None,
        *,
        headers: dict[str, str] | None = None,
        **overrides: Any,
    ):
        scheme = url.split("://", 1)[0].lower()
        if scheme not in ("http", "https") or not urlsplit(url).hostname:
            raise InvalidURLError("not an http(s) URL with a host", archive=redact(url))
        options = options or HTTPOptions()
        if overrides:
            with warnings.catch_warnings():
                if options.verify is False:
                    warnings.simplefilter("ignore")  # warned when options were made
                options = replace(options, **overrides)
        self._setup(url, options, dict(headers or {}), None, whole=False)

    def _setup(
        self,
        url: str,
        options: HTTPOptions,
        headers: dict[str, str],
        etag: str | None,
        *,
        whole: bool,
    ) -> None:
        self._target = url
        parts = urlsplit(url)
        self._origin = Origin.of(parts.scheme, parts.hostname or "", parts.port)
        path = quote(parts.path or "/", safe="/%!$&'()*+,;=:@~-._")
        query = quote(parts.query, safe="/%!$&'()*+,;=:@~-._?")
        self._request_target = f"{path}?{query}" if query else path
        self.options = options
        self.headers = headers
        self.etag = etag
        #: The server ignores Range: every read comes from ``_body`` (fetched once per process).
        self._whole = whole
        self._body: bytes | None = None
        self._pool: PerProcess[WirePool] = PerProcess(lambda: shared_pool(options))
        self._lock = ForkSafeLock()
        self._body_lock = ForkSafeLock()  # one fetch of the whole object at a time
        self._closed = False
        self.stats = Stats()

    @property
    def url(self) -> str:
        return redact(self._target)

    @property
    def identity(self) -> SourceIdentity:
        return SourceIdentity("http", self.url, None)

    @property
    def version(self) -> Hashable | None:
        return _strip_weak(self.etag) if self.etag else None

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def serves_from_memory(self) -> bool:
        """Whether the server ignores ``Range`` and reads come from the kept whole object."""
        return self._whole

    def pool(self) -> WirePool:
        check_open(self._closed, self.url)
        return self._pool.get()

    def preconnect(self, connections: int) -> None:
        """Spare connections to the URL's server (:class:`~._base.Preconnects`)."""
        if not self._closed and not self._whole:
            self._pool.get().preconnect(self._origin, connections)

    # -- reads ---------------------------------------------------------------------------
    def read_ends(self, tail: int, *, head: int = 0) -> Ends:
        """One suffix GET; the size comes from ``Content-Range`` (no HEAD).

        With ``head``, a ``bytes=0-`` GET runs alongside it (see :func:`with_head`).
        """
        if head <= 0:
            return self._read_tail(tail)
        return with_head(
            lambda: self._read_tail(tail),
            lambda: self._read_head(head),
            lambda: self.version,
            self.url,
        )

    def read_range(self, start: int, end: int) -> bytes:
        if end <= start:
            return b""
        if self._whole:
            body = self._whole_body()
            if end > len(body):
                raise SourceError(
                    f"asked for bytes {start}-{end - 1} of a {len(body)}-byte object",
                    archive=self.url,
                )
            return body[start:end]
        return self._retrying(
            lambda: self._read_range_once(start, end), f"GET bytes={start}-{end - 1}"
        )

    def _read_tail(self, length: int) -> Ends:
        return self._retrying(lambda: self._read_tail_once(length), f"GET bytes=-{length}")

    def _read_tail_once(self, length: int) -> Ends:
        response = self._send(f"bytes=-{length}")
        status = response.status
        if status == 200:  # the server ignored Range and is sending everything
            body = self._keep_whole(response)
            return Ends(body[-length:] if length < len(body) else body, len(body))
        if status == 416:  # an empty object has no suffix to give
            self._read(response, limit=4096)
            if total_size(response.headers.get("Content-Range")) == 0:
                return Ends(b"", 0)
            raise error_for_status(status, self.url, reason="range not satisfiable")
        self._check_status(response)
        data = self._read(response)
        size = total_size(response.headers.get("Content-Range"))
        if size is None:
            raise SourceError("a 206 answer without a usable Content-Range", archive=self.url)
        if len(data) != min(length, size):
            raise retry.Retry(f"asked for the last {length} bytes of {size}, received {len(data)}")
        return Ends(data, size)

    def _read_range_once(self, start: int, end: int) -> bytes:
        response = self._range_response(start, end)
        data = self._read(response)
        if len(data) != end - start:
            raise retry.Retry(f"short body: expected {end - start} bytes, received {len(data)}")
        return data

    def _range_response(self, start: int, end: int) -> Response:
        """A GET of bytes ``[start, end)`` whose headers say it holds exactly those bytes of
        the pinned version; its body not yet read."""
        response = self._send(f"bytes={start}-{end - 1}")
        if response.status == 200:
            _discard(response)  # the whole object again: not read, and not data
            raise SourceError(
                "the server ignored the Range header (HTTP 200) after honouring it at open",
                archive=self.url,
            )
        self._check_status(response)
        served = response.headers.get("Content-Range")
        if not serves(served, start, end):
            _discard(response)
            raise retry.Retry(f"Content-Range {served!r} does not answer bytes={start}-{end - 1}")
        return response

    @property
    def streams(self) -> bool:
        """:meth:`read_range_into` reports bodies as they arrive."""
        return True

    def read_range_into(
        self, start: int, end: int, buffer: bytearray, progress: Callable[[int], None]
    ) -> None:
        """:meth:`read_range` into ``buffer``, ``progress(n)`` as the body streams in
        (:class:`~remote_zip_store.transport.ReadsInto`); a body that breaks off is asked
        again for the bytes after those in place."""
        if end <= start:
            return
        into = Into(start, end, buffer, progress)
        if self._whole:
            into.put(self.read_range(start, end))
            return

        def once() -> None:
            first = into.first
            response = self._range_response(first, end)
            try:
                if not into.pour(response.read):
                    got = into.first - first
                    raise retry.Retry(f"short body: expected {end - first} bytes, received {got}")
            except BaseException as exc:
                _discard(response)
                if isinstance(exc, _TRANSIENT):
                    raise retry.Retry(f"{type(exc).__name__}: {exc}") from exc
                raise
            finally:
                self.stats.add(into.first - first)  # one request, what it delivered
            if response.complete:
                response.release_conn()
            else:  # more than the Content-Range said: the connection cannot be reused
                _discard(response)

        self._retrying(once, f"GET bytes={start}-{end - 1}")

    def _read_head(self, length: int) -> Head:
        """The first ``length`` bytes, one attempt, not pinned: the caller compares the
        ETag with the tail's. A 200 (the whole object) is dropped unread."""
        response = self._send(f"bytes=0-{length - 1}")
        served = response.headers.get("Content-Range")
        size = total_size(served)
        want = min(length, size) if size is not None else -1
        if response.status != 206 or want <= 0 or not serves(served, 0, want):
            _discard(response)
            raise SourceError(f"head GET: HTTP {response.status} {served!r}", archive=self.url)
        data = self._read(response)
        if len(data) != want:
            raise SourceError(f"head GET: {len(data)} bytes, not {want}", archive=self.url)
        etag = response.headers.get("ETag")
        return Head(data, _strip_weak(etag) if etag else None)

    def _keep_whole(self, response: Response) -> bytes:
        """The whole object from a 200 answer, if it fits ``max_full_body``; else a clear error."""
        limit = self.options.max_full_body
        declared = response.headers.get("Content-Length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            _discard(response)
            raise _ignores_range(self.url, int(declared), limit)
        self._check_etag(response.headers.get("ETag"))
        body = self._read(response, limit=limit + 1)
        if len(body) > limit:
            raise _ignores_range(self.url, None, limit)
        with self._lock:
            self._whole = True
            self._body = body
        return body

    def _whole_body(self) -> bytes:
        """The kept object; a process that unpickled the source fetches it once itself."""
        body = self._body
        if body is not None:
            return body
        with self._body_lock:
            if self._body is None:

                def fetch() -> bytes:
                    response = self._send(None)
                    self._check_status(response, ok=200)
                    return self._keep_whole(response)

                self._retrying(fetch, "GET (the whole object)")
            assert self._body is not None
            return self._body

    def _retrying(self, attempt: Callable[[], _T], what: str) -> _T:
        return retry.run(
            attempt,
            url=self.url,
            what=what,
            attempts=self.options.max_attempts,
            backoff=self.options.retry_backoff,
        )

    def _check_status(self, response: Response, ok: int = 206) -> None:
        """Pass ``ok`` answers of the pinned version; retry transient ones; raise the rest."""
        status = response.status
        if status == ok:
            self._check_etag(response.headers.get("ETag"))
            return
        body = self._read(response, limit=4096)
        if status in RETRY_STATUS:
            raise retry.Retry(f"HTTP {status}")
        raise error_for_status(
            status, self.url, reason=_reason(body), hint=_EXPIRED if status in (401, 403) else ""
        )

    def _send(self, byte_range: str | None) -> Response:
        """One GET, its headers received and its body not yet read."""
        headers = {**self.headers, "Accept-Encoding": "identity"}
        if byte_range is not None:
            headers["Range"] = byte_range
        etag = self.etag
        if etag is not None and not etag.startswith("W/"):
            headers["If-Match"] = etag
        # The operation's deadline, if any: no wait beyond the time left.
        bounded = deadline.timeouts(self.options.connect_timeout, self.options.read_timeout)
        try:
            return self.pool().request(
                "GET", self._origin, self._request_target, headers, timeout=bounded
            )
        except _TRANSIENT as exc:
            raise retry.Retry(f"{type(exc).__name__}: {exc}") from exc
        except ssl.SSLError as exc:
            scrub_chain(exc)
            raise SourceError(
                f"TLS failure ({exc}); pass verify='/path/to/ca.crt' for a private CA",
                archive=self.url,
            ) from exc
        except OSError as exc:
            scrub_chain(exc)
            raise SourceError(f"{type(exc).__name__}: {exc}", archive=self.url) from exc

    def _read(self, response: Response, limit: int | None = None) -> bytes:
        """The body (at most ``limit`` bytes); a broken or short one is a :class:`retry.Retry`."""
        try:
            data = response.read(limit) if limit is not None else response.read()
        except BaseException as exc:
            _discard(response)
            if isinstance(exc, _TRANSIENT):
                raise retry.Retry(f"{type(exc).__name__}: {exc}") from exc
            raise
        if limit is not None and len(data) >= limit:
            _discard(response)  # maybe more to come: not worth reading
        else:
            response.release_conn()
        self.stats.add(len(data))
        declared = response.headers.get("Content-Length")
        if (
            declared is not None
            and declared.isdigit()
            and int(declared) != len(data)
            and (limit is None or len(data) < limit)
        ):
            raise retry.Retry(f"short body: Content-Length {declared}, received {len(data)}")
        return data

    def _check_etag(self, etag: str | None) -> None:
        if etag is None:
            return
        with self._lock:
            if self.etag is None:
                self.etag = etag
                return
            pinned = self.etag
        if _strip_weak(etag) != _strip_weak(pinned):
            raise changed(self.url, f"ETag {pinned} became {etag}")

    def close(self) -> None:
        self._closed = True
        self._body = None
        self._pool.close()

    # -- pickling: the frozen options and the pinned ETag, never a connection -----------
    def __getstate__(self) -> dict[str, Any]:
        return {
            "url": self._target,
            "options": self.options,
            "headers": self.headers,
            "etag": self.etag,
            "whole": self._whole,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._setup(
            state["url"], state["options"], state["headers"], state["etag"], whole=state["whole"]
        )

    def __repr__(self) -> str:
        return f"HTTPSource({self.url!r})"


def _ignores_range(url: str, size: int | None, limit: int) -> SourceError:
    of = f"the whole {size}-byte object" if size is not None else "the whole object"
    return SourceError(
        f"the server ignores range requests (it answered HTTP 200 with {of}) and the "
        f"object is larger than HTTPOptions.max_full_body={limit} bytes, the most kept "
        "in memory; serve it from a server that supports Range requests, or raise "
        "max_full_body",
        archive=url,
    )


def _discard(response: Response) -> None:
    """Drop an answer without reading the rest of its body (closes its connection)."""
    response.close()
    response.release_conn()


def _strip_weak(etag: str) -> str:
    return etag[2:] if etag.startswith("W/") else etag


def _reason(body: bytes) -> str:
    """An S3-style ``<Code>`` from an error body, if there is one (never the body itself)."""
    start = body.find(b"<Code>")
    end = body.find(b"</Code>", start)
    if start < 0 or end < 0 or end - start > 80:
        return ""
    return body[start + 6 : end].decode("ascii", "replace")
