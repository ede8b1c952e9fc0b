"""An S3 object as a byte source, through boto3 only; and the listing of a prefix.

* One client per process *and connection settings*, shared by every source
  whose :class:`S3Options` agree on what the client is built from (endpoint,
  region, credentials, TLS, timeouts, retries; see :func:`shared_client`), so
  a loop over a cohort of archives reuses warm connections. Built lazily,
  once per process (boto3 clients neither pickle nor survive ``fork``: a child
  builds its own); never closed by a source's ``close()``. The options that
  build it are frozen, picklable data.
* The first read pins the object's ETag (and VersionId on versioned buckets);
  every later GET sends ``If-Match`` (and pins the version), so a replaced
  object raises :class:`ArchiveChangedError` instead of mixing versions.
* Status-level retries are botocore's (``standard`` mode: 5xx, throttling,
  connection errors), logged at WARNING through a ``needs-retry`` handler;
  failures *while streaming a body* and short bodies are retried here
  (:mod:`.retry`). Every botocore error is translated in :func:`translate_error`.
* Reads (the tail, head and range GETs, the HEAD) take the lean path by
  default (:mod:`.s3lean`: our SigV4 signer on :mod:`.wire`, an eighth of botocore's
  client CPU per GET); ``S3Options(transport="botocore")`` or
  ``RZS_S3_TRANSPORT=botocore`` keeps them on the boto3 client (for one release).
  Listing and uploads always use the client.
"""

from __future__ import annotations

import http.client
from collections.abc import Callable, Hashable, Iterator
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import botocore
import botocore.config
import botocore.exceptions
import botocore.loaders
import botocore.retries.standard
import botocore.session
import urllib3.exceptions

from ..errors import (
    ArchiveAccessError,
    ArchiveChangedError,
    ArchiveNotFoundError,
    DeadlineExceededError,
    InvalidURLError,
    RemoteZipError,
    SourceError,
    scrub_chain,
)
from . import _retry as retry
from ._base import (
    Ends,
    Head,
    Into,
    SourceIdentity,
    Stats,
    check_open,
    logger,
    serves,
    total_size,
    with_head,
)
from ._forksafe import ForkSafeLock, PerProcess, SharedByKey
from ._s3config import S3Options
from ._s3lean import LeanS3, shared_lean, transport_of
from ._status import changed, error_for_status

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from ._obstore import ObstoreS3
else:
    S3Client = Any

_T = TypeVar("_T")

#: botocore >= 1.44 retries a bare HTTP 429 in "standard" mode; older releases (the ones
#: aiobotocore pins, so any environment with s3fs) only retry throttling *codes*. There, a
#: 429 is retried here instead, up to the same ``max_attempts``.
_BOTOCORE_RETRIES_429 = hasattr(botocore.retries.standard, "ThrottlingStatusCodeChecker")

_STREAM_ERRORS: tuple[type[BaseException], ...] = (
    botocore.exceptions.IncompleteReadError,
    botocore.exceptions.ResponseStreamingError,
    botocore.exceptions.ReadTimeoutError,
    botocore.exceptions.ConnectionClosedError,
    botocore.exceptions.EndpointConnectionError,
    ConnectionError,
    TimeoutError,
    # Raised mid-body by urllib3/http.client when botocore does not wrap them.
    urllib3.exceptions.HTTPError,
    http.client.HTTPException,
)


def parse_s3_url(url: str, *, key_required: bool = True) -> tuple[str, str]:
    """``s3://bucket/key`` -> ``("bucket", "key")`` (the key may be empty for a prefix)."""
    if not url.startswith("s3://"):
        raise InvalidURLError("not an s3:// URL", archive=url)
    bucket, _, key = url[5:].partition("/")
    if not bucket or (key_required and not key):
        raise InvalidURLError(
            "an S3 URL needs a bucket and a key" if key_required else "an S3 URL needs a bucket",
            archive=url,
        )
    return bucket, key


#: The most clients kept; beyond it the oldest is dropped (not closed: sources using it go on).
MAX_SHARED_CLIENTS = 64

_SHARED: SharedByKey[tuple[S3Options, str], S3Client] = SharedByKey(MAX_SHARED_CLIENTS)


def shared_client(options: S3Options) -> S3Client:
    """The process-wide client for ``options`` (built on first use), shared by every source
    whose :meth:`S3Options.client_key` is equal.

    Its pool holds at least ``options.max_pool_connections`` connections: a caller
    that needs more than the shared client has gets a new, larger one, which then
    replaces it for later callers (the smaller one stays with the sources that hold
    it). Shared clients are never closed by a source (one store's ``close()`` must
    not break another's reads); their idle connections go when the process ends
    or :func:`clear_shared_clients` drops them. Credentials that refresh (roles,
    SSO, ``credential_process``, instance metadata) refresh inside the client, for
    every source that shares it. A forked child starts with no clients.
    """
    return _SHARED.get(options.client_key(), options.make_client, options.max_pool_connections)


def clear_shared_clients() -> None:
    """Forget this process's shared clients; sources build (or look up) new ones.

    Clients still held by open sources keep working; the others are released (their
    sockets close when they are collected).
    """
    _SHARED.clear()


def options_from_client(client: S3Client) -> S3Options:
    """Picklable options that rebuild a client like ``client`` in another process.

    Credentials are *not* copied: a process that unpickles the store resolves
    its own through boto3's default chain (environment, profile, role).
    """
    meta = client.meta
    return S3Options(endpoint_url=meta.endpoint_url, region_name=meta.region_name)


def client_error_status(exc: botocore.exceptions.ClientError) -> tuple[int | None, str]:
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return status, str(exc.response.get("Error", {}).get("Code", ""))


def translate_error(exc: BaseException, archive: str) -> RemoteZipError:
    """The one place where botocore's exceptions become this library's (archive, no key)."""
    if isinstance(exc, RemoteZipError):
        return exc
    scrub_chain(exc)  # chained below ours: its text (the endpoint URL) shows in tracebacks
    if isinstance(exc, botocore.exceptions.ClientError):
        status, code = client_error_status(exc)
        message = str(exc.response.get("Error", {}).get("Message") or "")
        return error_for_status(status, archive, code=code, reason=message)
    if isinstance(
        exc, botocore.exceptions.NoCredentialsError | botocore.exceptions.PartialCredentialsError
    ):
        return ArchiveAccessError(
            f"no usable AWS credentials ({exc}); pass aws_access_key_id/"
            "aws_secret_access_key, set AWS_* variables, or use anon=True",
            archive=archive,
        )
    if isinstance(exc, botocore.exceptions.SSLError):
        return SourceError(
            f"TLS failure ({exc}); pass verify='/path/to/ca.crt' for a private CA",
            archive=archive,
        )
    return SourceError(f"{type(exc).__name__}: {exc}", archive=archive)


class S3Source:
    """Range reads of one S3 object, pinned to the version seen at the first read.

    Reads take ``options``' transport (:func:`.s3lean.transport_of`: lean unless
    ``transport="botocore"``, ``RZS_S3_TRANSPORT=botocore``, a ``config=`` or a proxy).
    A ready ``client=`` reads through botocore in this process: its credentials,
    config and event hooks are the user's, and botocore offers no public way to
    take its credentials out. A process that unpickles the source (which carries
    the client's endpoint and region, not the client) reads on the lean path.
    """

    _lean: PerProcess[LeanS3 | ObstoreS3] | None  # None: reads go through the boto3 client
    _given: S3Options | None  # the options object passed in (a sibling's ``like=`` check)
    _transport: str  # what transport_of chose for these options

    def __init__(
        self,
        bucket: str,
        key: str,
        *,
        options: S3Options | None = None,
        client: S3Client | None = None,
        body_retries: int | None = None,
        retry_backoff: float | None = None,
        pinned: tuple[str, str | None] | None = None,
        like: S3Source | None = None,
    ):
        """``pinned``: ``(ETag, VersionId)`` known beforehand (a catalog): every GET,
        the first included, then carries ``If-Match``. ``like``: a sibling built from
        the very same ``options`` object a moment ago (a cohort opened from a catalog):
        its choice of transport is reused rather than worked out again from the
        environment (what it reads does not change within one ``open_many``)."""
        store = client if _is_obstore_store(client) else None
        if store is not None:  # an obstore S3Store: this process reads through it
            from ._obstore import ObstoreS3, options_from_store

            base = options or options_from_store(store)
            self._setup(bucket, key, base.with_retries(body_retries, retry_backoff), pinned)
            given = PerProcess[LeanS3 | ObstoreS3](lambda: shared_transport(self.options))
            given.set(ObstoreS3(self.options, store))
            self._lean = given
            return
        base = options or (options_from_client(client) if client else S3Options())
        chosen = None
        if like is not None and client is None and options is not None and like._given is options:
            chosen = like._transport
        self._setup(bucket, key, base.with_retries(body_retries, retry_backoff), pinned, chosen)
        self._given = options
        if client is not None:
            # A ready client reads through botocore in this process: its credentials,
            # config and event hooks are the user's (they may not be reachable otherwise).
            # A process that unpickles the source uses the options' transport.
            self._client.set(client)
            self._lean = None

    def _setup(
        self,
        bucket: str,
        key: str,
        options: S3Options,
        version: tuple[str, str | None] | None,
        chosen: str | None = None,
    ) -> None:
        self.bucket = bucket
        self.key = key
        self.options = options
        self._client: PerProcess[S3Client] = PerProcess(lambda: shared_client(options))
        if chosen is None:
            chosen = transport_of(options)
        self._transport = chosen
        self._given = None
        self._lean = (
            None
            if chosen == "botocore"
            else PerProcess(lambda: shared_transport(options, chosen))  # (chosen once)
        )
        self._request_url: str | None = None  # the lean path's URL (no query), for messages
        self._lock = ForkSafeLock()
        self.etag: str | None = version[0] if version else None
        self.version_id: str | None = version[1] if version else None
        self._closed = False
        self.stats = Stats()

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    @property
    def identity(self) -> SourceIdentity:
        return SourceIdentity("s3", self.url, self.options.endpoint_url)

    @property
    def version(self) -> Hashable | None:
        return (self.etag, self.version_id) if self.etag is not None else None

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def body_retries(self) -> int:
        return self.options.body_retries

    @property
    def retry_backoff(self) -> float:
        return self.options.retry_backoff

    def client(self) -> S3Client:
        check_open(self._closed, self.url)
        return self._client.get()

    def preconnect(self, connections: int) -> None:
        """Spare connections on the lean path (:class:`~._base.Preconnects`); elsewhere
        botocore's and obstore's pools open their own as requests need them."""
        lean = self._lean
        if lean is None or self._closed:
            return
        try:
            client = lean.get()
            if isinstance(client, LeanS3):
                client.preconnect(self.bucket, connections)
        except Exception as exc:  # (credentials, endpoint): the next request reports it
            logger.debug("%s: no spare connections (%r)", self.url, exc)

    # -- reads --------------------------------------------------------------------
    def read_ends(self, tail: int, *, head: int = 0) -> Ends:
        """One suffix GET; the size comes from ``Content-Range`` (no HEAD).

        With ``head``, a ``bytes=0-`` GET runs alongside it (see :func:`with_head`).
        """

        def ends() -> Ends:
            return self._retrying(lambda: self._read_tail_once(tail), "reading the archive's tail")

        if head <= 0:
            return ends()
        return with_head(ends, lambda: self._read_head(head), lambda: self.version, self.url)

    def _read_head(self, length: int) -> Head:
        """The first ``length`` bytes (fewer if the object is smaller), not pinned: the
        caller compares the version with the tail's. One attempt, never retried: the
        open's retries are the tail's, and logged once."""
        with retry.speculative():  # one attempt: a failure only drops the head (and is quiet)
            response = self._get(f"bytes=0-{length - 1}", pinned=self.etag is not None)
        body = response["Body"]
        size = total_size(response.get("ContentRange"))
        want = min(length, size) if size is not None else -1
        if want <= 0 or not serves(response.get("ContentRange"), 0, want):
            body.close()  # ignored Range (maybe the whole object): not worth reading
            raise _ShortBody(
                f"a head GET answered with Content-Range {response.get('ContentRange')!r}"
            )
        data = self._read_body(body, want)
        etag = response.get("ETag")
        return Head(data, (etag, response.get("VersionId")) if etag else None)

    def _read_tail_once(self, length: int) -> Ends:
        try:
            response = self._get(f"bytes=-{length}", pinned=self.etag is not None)
        except ArchiveChangedError:
            raise
        except SourceError as exc:
            if not _rejects_suffix(exc):
                raise
            return self._read_tail_with_head(length)
        self._check_version(response)
        size = total_size(response.get("ContentRange"))
        body = response["Body"]
        if size is None:
            # A server that ignored the Range header answered with the whole object.
            whole = int(response.get("ContentLength", 0))
            if whole > 4 * length:
                body.close()
                return self._read_tail_with_head(length)
            data = self._read_body(body, whole)
            self._pin(response)
            return Ends(data[-length:] if length < len(data) else data, len(data))
        data = self._read_body(body, min(length, size))
        self._pin(response)
        return Ends(data, size)

    def _read_tail_with_head(self, length: int) -> Ends:
        head = self._call("head_object")
        size = int(head["ContentLength"])
        self._pin(head)
        if size == 0:
            return Ends(b"", 0)
        start = max(0, size - length)
        return Ends(self.read_range(start, size), size)

    def read_range(self, start: int, end: int) -> bytes:
        if end <= start:
            return b""
        return self._retrying(
            lambda: self._read_range_once(start, end), f"reading bytes {start}-{end - 1}"
        )

    def _read_range_once(self, start: int, end: int) -> bytes:
        response = self._get(f"bytes={start}-{end - 1}", pinned=True)
        self._check_range(response, start, end)
        return self._read_body(response["Body"], end - start)

    @property
    def streams(self) -> bool:
        """Whether :meth:`read_range_into` reports bodies as they arrive (not obstore's)."""
        return self._transport != "obstore"

    def read_range_into(
        self, start: int, end: int, buffer: bytearray, progress: Callable[[int], None]
    ) -> None:
        """:meth:`read_range` into ``buffer``, ``progress(n)`` as the body streams in
        (:class:`~remote_zip_store.transport.ReadsInto`); a body that breaks off is asked
        again for the bytes after those in place. obstore's bodies come whole: one call."""
        if end <= start:
            return
        into = Into(start, end, buffer, progress)
        if not self.streams:
            into.put(self.read_range(start, end))
            return

        def once() -> None:
            first = into.first
            response = self._get(f"bytes={first}-{end - 1}", pinned=True)
            self._check_range(response, first, end)
            body = response["Body"]
            try:
                if not into.pour(body.read):
                    got = into.first - first
                    raise _ShortBody(f"expected {end - first} bytes, received {got}")
            finally:
                body.close()
                self.stats.add(into.first - first)  # one request, what it delivered

        self._retrying(once, f"reading bytes {start}-{end - 1}")

    def _check_range(self, response: dict[str, Any], start: int, end: int) -> None:
        """Refuse an answer that is not exactly bytes ``[start, end)`` of the pinned version."""
        self._check_version(response)
        content_range = response.get("ContentRange")
        if content_range is None and (
            start != 0 or int(response.get("ContentLength", -1)) != end - start
        ):
            # A 200 with the whole object is only the right bytes when they start at 0.
            response["Body"].close()
            raise SourceError("the server ignored the Range header", archive=self.url)
        if content_range is not None and not serves(content_range, start, end):
            response["Body"].close()
            raise _ShortBody(f"asked for bytes {start}-{end - 1}, got {content_range!r}")

    @property
    def async_ready(self) -> bool:
        """Whether :meth:`read_range_async` runs on the caller's event loop (obstore), with
        no thread; on the other transports the archive's reads stay on its threads."""
        return self._lean is not None and self._transport == "obstore" and not self._closed

    async def read_range_async(self, start: int, end: int) -> bytes:
        """:meth:`read_range` through the request layer's async API (the obstore transport):
        the same checks, pinning, retries, deadline and errors, awaited on the caller's loop."""
        if end <= start:
            return b""

        async def attempt() -> bytes:
            try:
                return await self._read_range_once_async(start, end)
            except Exception as exc:
                self._reraise(exc)

        return await retry.run_async(attempt, **self._retries(f"reading bytes {start}-{end - 1}"))

    async def _read_range_once_async(self, start: int, end: int) -> bytes:
        response = await self._call_async(
            "get_object", **self._get_kwargs(f"bytes={start}-{end - 1}", pinned=True)
        )
        self._check_range(response, start, end)
        body = response["Body"]
        try:
            data: bytes = await body.read_async()
        finally:
            body.close()
        return self._counted(data, end - start)

    def _retrying(self, read: Callable[[], _T], what: str) -> _T:
        """``read`` under :func:`retry.run`: bodies that break off or come back short are
        retried up to ``body_retries`` times; status-level failures (5xx, throttling,
        connect errors) were already retried by botocore inside ``read``."""

        def attempt() -> _T:
            try:
                return read()
            except Exception as exc:
                self._reraise(exc)

        return retry.run(attempt, **self._retries(what))

    def _retries(self, what: str) -> dict[str, Any]:
        """The retry loop's settings for reading ``what`` (:func:`retry.run` and ``run_async``)."""
        return {
            "url": self.url,
            "what": lambda: self._where(what),  # (only for a message: describe() costs)
            "attempts": self.options.max_attempts,
            "body_attempts": self.options.body_retries + 1,
            "backoff": self.options.retry_backoff,
        }

    def _reraise(self, exc: Exception) -> NoReturn:
        """Raise what an attempt that raised ``exc`` raises: a :class:`retry.Retry` for a
        transient failure, the library's error for a dependency's, else ``exc`` itself."""
        if isinstance(exc, retry.Retry | DeadlineExceededError):  # (lean transients; no time)
            raise exc
        if isinstance(exc, _ShortBody):
            raise retry.Retry(f"_ShortBody: {exc}", budget="body") from exc
        if isinstance(exc, _STREAM_ERRORS):
            raise retry.Retry(f"{type(exc).__name__}: {exc}", budget="body") from exc
        if isinstance(exc, SourceError):
            if _BOTOCORE_RETRIES_429 or not _is_http_429(exc):
                raise exc
            raise retry.Retry("HTTP 429") from exc
        if isinstance(exc, RemoteZipError):
            raise exc
        raise translate_error(exc, self.url) from exc  # anything else from a body read

    def _get(self, byte_range: str, *, pinned: bool) -> dict[str, Any]:
        return self._call("get_object", **self._get_kwargs(byte_range, pinned=pinned))

    def _get_kwargs(self, byte_range: str, *, pinned: bool) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"Range": byte_range}
        if pinned and self.etag is not None:
            kwargs["IfMatch"] = self.etag
        if pinned and self.version_id is not None:
            kwargs["VersionId"] = self.version_id
        return kwargs

    def _where(self, what: str) -> str:
        """``what`` and, on the lean path, the request URL (no query): log lines show where."""
        if self._lean is None:
            return what
        where = self._request_url
        if where is None:
            try:
                where = self._request_url = self._lean.get().describe(self.bucket, self.key)
            except Exception:  # credentials missing: _call raises the translated error
                return what
        return f"{what} (GET {where})"

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        lean = self._lean
        if lean is not None:
            check_open(self._closed, self.url)
            try:
                return lean.get().call(operation, self.bucket, self.key, **kwargs)
            except retry.Retry:
                raise
            except Exception as exc:  # translated at this one boundary
                raise translate_error(exc, self.url) from exc
        client = self.client()
        try:
            method = getattr(client, operation)
            response: dict[str, Any] = method(Bucket=self.bucket, Key=self.key, **kwargs)
            return response
        except Exception as exc:  # translated at this one boundary
            raise translate_error(exc, self.url) from exc

    async def _call_async(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        """:meth:`_call` through the request layer's ``call_async`` (see :attr:`async_ready`)."""
        check_open(self._closed, self.url)
        try:
            layer: Any = self._lean.get()  # type: ignore[union-attr]
            response: dict[str, Any] = await layer.call_async(
                operation, self.bucket, self.key, **kwargs
            )
            return response
        except retry.Retry:
            raise
        except Exception as exc:  # translated at this one boundary
            raise translate_error(exc, self.url) from exc

    def _read_body(self, body: Any, want: int) -> bytes:
        try:
            data: bytes = body.read()
        finally:
            body.close()
        return self._counted(data, want)

    def _counted(self, data: bytes, want: int) -> bytes:
        """``data`` counted in :attr:`stats`; refused (retried) when it is not ``want`` bytes."""
        self.stats.add(len(data))
        if len(data) != want:
            raise _ShortBody(f"expected {want} bytes, received {len(data)}")
        return data

    def _check_version(self, response: dict[str, Any]) -> None:
        """Refuse a response for another version, even from a server that ignores If-Match."""
        etag, version = self.etag, self.version_id
        got_etag, got_version = response.get("ETag"), response.get("VersionId")
        if (etag is not None and got_etag is not None and got_etag != etag) or (
            version is not None and got_version is not None and got_version != version
        ):
            response["Body"].close()
            raise changed(self.url, f"ETag {etag} became {got_etag}")

    def pin(self, version: Hashable | None) -> None:
        """Pin to ``version`` (``(etag, version_id)``, as :attr:`version`); None unpins,
        so the next read pins what it sees (a re-open after a catalog went stale)."""
        with self._lock:
            pinned: tuple[str | None, str | None] = (None, None)
            if version is not None:
                pinned = version  # type: ignore[assignment]
            self.etag = pinned[0]
            self.version_id = pinned[1]

    def _pin(self, response: dict[str, Any]) -> None:
        with self._lock:
            if self.etag is None:
                self.etag = response.get("ETag")
                self.version_id = response.get("VersionId")

    def close(self) -> None:
        """Closed for reads; the client is dropped, never closed.

        A shared client serves other sources; a user's ``client=`` is the user's to close.
        """
        self._closed = True
        self._client.close()
        if self._lean is not None:
            self._lean.close()

    # -- pickling: the frozen options and the pinned version, never a client ------------
    def __getstate__(self) -> dict[str, Any]:
        options = self.options
        return {
            "bucket": self.bucket,
            "key": self.key,
            "options": options if options.pickle_credentials else options.without_credentials(),
            "version": (self.etag, self.version_id) if self.etag is not None else None,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._setup(state["bucket"], state["key"], state["options"], state["version"])

    def __repr__(self) -> str:
        return f"S3Source({self.url!r}, endpoint={self.options.describe_endpoint()!r})"


def shared_transport(options: S3Options, chosen: str | None = None) -> LeanS3 | ObstoreS3:
    """The process's request layer for ``options``: lean, or obstore (imported only then).
    ``chosen``: what :func:`transport_of` said for them already (the source chose at
    construction; the environment is not read again)."""
    if (chosen or transport_of(options)) == "obstore":
        from ._obstore import shared_obstore

        return shared_obstore(options)
    return shared_lean(options)


def _is_obstore_store(client: Any) -> bool:
    """Whether ``client`` is an obstore store, without importing obstore for a boto3 client."""
    if client is None or not type(client).__module__.startswith("obstore"):
        return False
    from ._obstore import is_obstore_store

    return is_obstore_store(client)


class _ShortBody(Exception):
    """A body with fewer bytes than asked for: retried, never returned."""


def _is_http_429(exc: SourceError) -> bool:
    cause = exc.__cause__
    return (
        isinstance(cause, botocore.exceptions.ClientError) and client_error_status(cause)[0] == 429
    )


def _rejects_suffix(exc: SourceError) -> bool:
    """Errors that mean "no suffix range here" (empty object, or a server without them)."""
    cause = exc.__cause__
    if isinstance(cause, botocore.exceptions.ClientError):
        status, code = client_error_status(cause)
        return code in {"InvalidRange", "NotImplemented", "InvalidArgument"} or status in {
            400,
            416,
            501,
        }
    return False


def list_objects(
    prefix_url: str,
    *,
    suffix: str = "",
    client: S3Client | None = None,
    options: S3Options | None = None,
    **connection: Any,
) -> Iterator[tuple[str, int]]:
    """``(s3 URL, size)`` of every object under ``s3://bucket/prefix`` whose key ends with
    ``suffix``, in listing (key) order; a missing bucket or denied listing raises the
    library's error naming ``prefix_url``.

    ``connection`` takes :class:`S3Options` fields; ``client`` a ready boto3 client.
    """
    for url, size, _ in list_objects_etags(
        prefix_url, suffix=suffix, client=client, options=options, **connection
    ):
        yield url, size


def list_objects_etags(
    prefix_url: str,
    *,
    suffix: str = "",
    client: S3Client | None = None,
    options: S3Options | None = None,
    **connection: Any,
) -> Iterator[tuple[str, int, str]]:
    """As :func:`list_objects`, with each object's ETag: ``(s3 URL, size, etag)``."""
    bucket, prefix = parse_s3_url(prefix_url, key_required=False)
    if client is None:
        client = shared_client(options or S3Options(**connection))
    try:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                key = item["Key"]
                if key.endswith(suffix):
                    yield f"s3://{bucket}/{key}", int(item["Size"]), str(item.get("ETag", ""))
    except Exception as exc:  # bucket missing, access denied
        error = translate_error(exc, prefix_url)
        if isinstance(error, ArchiveNotFoundError):  # a listing's 404 is the bucket's
            error = ArchiveNotFoundError(
                f"bucket {bucket!r} does not exist (listing {prefix_url}: {error.detail})"
            )
        raise error from exc


__all__ = [
    "S3Options",  # defined in s3config (shared with s3lean), imported from here until 0.2
    "S3Source",
    "client_error_status",
    "list_objects",
    "options_from_client",
    "parse_s3_url",
    "shared_client",
    "translate_error",
]
