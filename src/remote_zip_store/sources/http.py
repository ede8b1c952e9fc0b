"""An ``http(s)://`` URL as a byte source: plain range requests through urllib3.

For public objects and presigned S3 URLs (no AWS signing here: the URL *is*
the credential). urllib3 already comes with boto3, so this adds no dependency.

* The tail is one suffix GET (``Range: bytes=-N``); the size comes from
  ``Content-Range``. No HEAD: a presigned GET URL does not sign HEAD.
* The first response's ``ETag`` is pinned; later GETs send ``If-Match`` and the
  ETag of every answer is compared too (servers that ignore ``If-Match``, weak
  ETags), so bytes of two versions are never mixed; a 206 whose ``Content-Range``
  is not exactly the range asked for is retried, never returned.
* 5xx, 429, connection resets, timeouts and short bodies are retried here with
  jittered backoff; HTTP statuses become this library's errors in
  :func:`translate_status` (404, 401/403, 412), at this one boundary.
* The query string (a presigned URL's signature) never appears in messages or
  ``repr``; it does travel in a pickle, which is what lets dask workers read.
"""

from __future__ import annotations

import os
import random
import ssl
import threading
import time
import warnings
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import urllib3
import urllib3.exceptions

from ..errors import (
    ArchiveAccessError,
    ArchiveChangedError,
    ArchiveNotFoundError,
    RemoteZipError,
    SourceError,
    StoreClosedError,
    describe,
)
from .base import Ends, Head, SourceIdentity, Stats, with_head

_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
_TRANSIENT: tuple[type[BaseException], ...] = (
    urllib3.exceptions.ProtocolError,
    urllib3.exceptions.TimeoutError,
    urllib3.exceptions.NewConnectionError,
    urllib3.exceptions.ProxyError,
    ConnectionError,
    TimeoutError,
)


def redact(url: str) -> str:
    """``url`` without its query and user info: what messages may show."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def translate_status(status: int, archive: str, key: str | None, reason: str) -> RemoteZipError:
    """The one place where an HTTP error status becomes this library's error."""
    where = describe(archive, key)
    detail = f"HTTP {status}{' ' + reason if reason else ''}"
    if status in (404, 410):
        return ArchiveNotFoundError(f"{where}: object not found ({detail})", archive=archive)
    if status in (401, 403):
        return ArchiveAccessError(
            f"{where}: access denied ({detail}); a presigned URL may have expired",
            archive=archive,
        )
    if status == 412:
        return ArchiveChangedError(
            f"{where}: the object changed since the store opened it (ETag no longer matches); "
            "open a new store to read the new version",
            archive=archive,
            key=key,
        )
    return SourceError(f"{where}: server answered {detail}", archive=archive, key=key)


class HTTPSource:
    """Range reads of one URL, pinned to the ETag seen at the first read."""

    def __init__(
        self,
        url: str,
        *,
        verify: bool | str | None = None,
        headers: dict[str, str] | None = None,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        max_attempts: int = 5,
        retry_backoff: float = 0.1,
        max_connections: int = 32,
        warn_insecure: bool = True,
    ):
        scheme = url.split("://", 1)[0].lower()
        if scheme not in ("http", "https") or not urlsplit(url).hostname:
            raise ValueError(f"not an http(s) URL with a host: {redact(url)!r}")
        self._target = url
        self.verify = verify
        self.headers = dict(headers or {})
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.max_attempts = max(1, max_attempts)
        self.retry_backoff = retry_backoff
        self.max_connections = max_connections
        if verify is False and warn_insecure:  # once, where the user asked for it
            warnings.warn(
                "TLS certificate verification is off (verify=False); pass a CA bundle path "
                "instead for a private CA",
                stacklevel=2,
            )
        self.etag: str | None = None
        self._pool: urllib3.PoolManager | None = None
        self._pool_pid = 0
        self._lock = threading.Lock()
        self._closed = False
        self.stats = Stats()

    @property
    def url(self) -> str:
        return redact(self._target)

    # -- connection pool, per process -------------------------------------------------
    def pool(self) -> urllib3.PoolManager:
        if self._closed:
            raise StoreClosedError(f"archive {self.url} is closed", archive=self.url)
        pool = self._pool
        if pool is not None and self._pool_pid == os.getpid():
            return pool
        with self._lock:
            if self._pool is None or self._pool_pid != os.getpid():
                self._pool = self._make_pool()
                self._pool_pid = os.getpid()
            return self._pool

    def _make_pool(self) -> urllib3.PoolManager:
        kwargs: dict[str, Any] = {
            "maxsize": self.max_connections,
            "block": False,
            "timeout": urllib3.Timeout(connect=self.connect_timeout, read=self.read_timeout),
            "retries": False,
        }
        if self.verify is False:
            kwargs["cert_reqs"] = ssl.CERT_NONE
            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        elif isinstance(self.verify, str):
            kwargs["ca_certs"] = self.verify
        return urllib3.PoolManager(**kwargs)

    # -- reads ---------------------------------------------------------------------------
    def read_ends(self, length: int, *, head: int = 0) -> Ends:
        """One suffix GET; the size comes from ``Content-Range`` (no HEAD).

        With ``head``, a ``bytes=0-`` GET runs alongside it (see :func:`with_head`).
        """
        if head <= 0:
            return self._read_tail(length)
        return with_head(
            lambda: self._read_tail(length),
            lambda: self._read_head(head),
            lambda: _strip_weak(self.etag) if self.etag else None,
            self.url,
        )

    def _read_head(self, length: int) -> Head:
        """The first ``length`` bytes, one attempt, not pinned: the caller compares the
        ETag with the tail's."""
        status, headers, data, error = self._request(f"bytes=0-{length - 1}")
        served = headers.get("Content-Range")
        size = _total_size(served)
        want = min(length, size) if size is not None else -1
        etag = headers.get("ETag")
        if error or status != 206 or want <= 0 or not _serves(served, f"bytes=0-{want - 1}"):
            raise SourceError(f"head GET: HTTP {status} {served!r} {error or ''}", archive=self.url)
        if len(data) != want:
            raise SourceError(f"head GET: {len(data)} bytes, not {want}", archive=self.url)
        return Head(data, _strip_weak(etag) if etag else None)

    def _read_tail(self, length: int) -> Ends:
        status, headers, data = self._get(f"bytes=-{length}", None, want=None)
        if status == 416:  # an empty object has no suffix to give
            total = _total_size(headers.get("Content-Range"))
            if total == 0:
                return Ends(b"", 0)
            raise translate_status(status, self.url, None, "range not satisfiable")
        if status == 200:  # the server ignored Range and sent everything
            return Ends(data[-length:] if length < len(data) else data, len(data))
        size = _total_size(headers.get("Content-Range"))
        if size is None:
            raise SourceError(
                f"archive {self.url}: a 206 answer without a usable Content-Range",
                archive=self.url,
            )
        if len(data) != min(length, size):
            raise SourceError(
                f"archive {self.url}: asked for the last {length} bytes of {size}, "
                f"received {len(data)}",
                archive=self.url,
            )
        return Ends(data, size)

    @property
    def identity(self) -> SourceIdentity:
        return SourceIdentity("http", self.url, None)

    @property
    def version(self) -> str | None:
        return self.etag

    def read_range(self, start: int, end: int) -> bytes:
        key = None
        if end <= start:
            return b""
        status, _, data = self._get(f"bytes={start}-{end - 1}", key, want=end - start)
        if status != 206:
            raise SourceError(
                f"{describe(self.url, key)}: the server ignored the Range header (HTTP {status})",
                archive=self.url,
                key=key,
            )
        return data

    def _get(
        self, byte_range: str, key: str | None, *, want: int | None
    ) -> tuple[int, urllib3.HTTPHeaderDict, bytes]:
        """One GET with retries; returns (status, headers, body) of a 200/206/416."""
        attempt = 0
        while True:
            attempt += 1
            problem: str
            try:
                response = self._request(byte_range)
            except _TRANSIENT as exc:
                problem = f"{type(exc).__name__}: {exc}"
            except urllib3.exceptions.SSLError as exc:
                raise SourceError(
                    f"{describe(self.url, key)}: TLS failure ({exc}); pass "
                    "verify='/path/to/ca.crt' for a private CA",
                    archive=self.url,
                    key=key,
                ) from exc
            except urllib3.exceptions.HTTPError as exc:
                raise SourceError(
                    f"{describe(self.url, key)}: {type(exc).__name__}: {exc}",
                    archive=self.url,
                    key=key,
                ) from exc
            else:
                status, headers, data, error = response
                if error is not None:
                    problem = error
                elif status in _RETRY_STATUS:
                    problem = f"HTTP {status}"
                elif status in (200, 206, 416):
                    self._check_etag(headers.get("ETag"), key)
                    served = headers.get("Content-Range")
                    if want is not None and status == 206 and not _serves(served, byte_range):
                        problem = f"Content-Range {served!r} does not answer {byte_range}"
                    elif want is None or status != 206 or len(data) == want:
                        return status, headers, data
                    else:
                        problem = f"short body: expected {want} bytes, received {len(data)}"
                else:
                    raise translate_status(status, self.url, key, _reason(data))
            if attempt >= self.max_attempts:
                raise SourceError(
                    f"{describe(self.url, key)}: GET {byte_range} failed after {attempt} "
                    f"attempts ({problem})",
                    archive=self.url,
                    key=key,
                )
            time.sleep(self.retry_backoff * (2 ** (attempt - 1)) * (0.5 + random.random()))

    def _request(self, byte_range: str) -> tuple[int, urllib3.HTTPHeaderDict, bytes, str | None]:
        headers = {**self.headers, "Range": byte_range, "Accept-Encoding": "identity"}
        etag = self.etag
        if etag is not None and not etag.startswith("W/"):
            headers["If-Match"] = etag
        response = self.pool().request(
            "GET", self._target, headers=headers, preload_content=False, decode_content=False
        )
        try:
            data = response.read()
        except _TRANSIENT as exc:
            return response.status, response.headers, b"", f"{type(exc).__name__}: {exc}"
        finally:
            response.release_conn()
        self.stats.add(len(data))
        declared = response.headers.get("Content-Length")
        if declared is not None and declared.isdigit() and int(declared) != len(data):
            return (
                response.status,
                response.headers,
                data,
                f"short body: Content-Length {declared}, received {len(data)}",
            )
        return response.status, response.headers, data, None

    def _check_etag(self, etag: str | None, key: str | None) -> None:
        if etag is None:
            return
        with self._lock:
            if self.etag is None:
                self.etag = etag
                return
            pinned = self.etag
        if _strip_weak(etag) != _strip_weak(pinned):
            raise ArchiveChangedError(
                f"{describe(self.url, key)}: the object changed since the store opened it "
                f"(ETag {pinned} became {etag}); open a new store to read the new version",
                archive=self.url,
                key=key,
            )

    def close(self) -> None:
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
        if pool is not None and self._pool_pid == os.getpid():
            pool.clear()

    # -- pickling: configuration and the pinned ETag, never a connection -----------------
    def __getstate__(self) -> dict[str, Any]:
        return {
            "url": self._target,
            "verify": self.verify,
            "headers": self.headers,
            "connect_timeout": self.connect_timeout,
            "read_timeout": self.read_timeout,
            "max_attempts": self.max_attempts,
            "retry_backoff": self.retry_backoff,
            "max_connections": self.max_connections,
            "etag": self.etag,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        etag = state.pop("etag")
        url = state.pop("url")
        self.__init__(url, warn_insecure=False, **state)  # type: ignore[misc]
        self.etag = etag

    def __repr__(self) -> str:
        return f"HTTPSource({self.url!r})"


def _total_size(content_range: str | None) -> int | None:
    """``"bytes 100-199/1000"`` or ``"bytes */1000"`` -> 1000."""
    if not content_range:
        return None
    total = content_range.rpartition("/")[2].strip()
    return int(total) if total.isdigit() else None


def _serves(content_range: str | None, byte_range: str) -> bool:
    """Whether ``bytes a-b/n`` is exactly the asked ``bytes=a-b`` (never shifted bytes)."""
    if not content_range:
        return False
    served = content_range.strip().removeprefix("bytes ").partition("/")[0]
    return served == byte_range.removeprefix("bytes=")


def _strip_weak(etag: str) -> str:
    return etag[2:] if etag.startswith("W/") else etag


def _reason(body: bytes) -> str:
    """An S3-style ``<Code>`` from an error body, if there is one (never the body itself)."""
    start = body.find(b"<Code>")
    end = body.find(b"</Code>", start)
    if start < 0 or end < 0 or end - start > 80:
        return ""
    return body[start + 6 : end].decode("ascii", "replace")
