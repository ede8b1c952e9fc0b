"""An S3 object as a byte source, through boto3 only.

* One client per process, created lazily (boto3 clients neither pickle nor
  survive ``fork``); the configuration that builds it is plain, picklable data.
* The first read pins the object's ETag (and VersionId on versioned buckets);
  every later GET sends ``If-Match`` (and pins the version), so a replaced
  object raises :class:`ArchiveChangedError` instead of mixing versions.
* Status-level retries are botocore's (``standard`` mode: 5xx, throttling,
  connection errors); failures *while streaming a body* and short bodies are
  retried here. Every botocore error is translated in :func:`translate_error`.
"""

from __future__ import annotations

import http.client
import logging
import os
import random
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import boto3
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
    InvalidURLError,
    RemoteZipError,
    SourceError,
    StoreClosedError,
    describe,
)
from ..forksafe import ForkSafeLock
from .base import Ends, Head, SourceIdentity, Stats, with_head

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
else:
    S3Client = Any

_T = TypeVar("_T")

#: botocore >= 1.44 retries a bare HTTP 429 in "standard" mode; older releases (the ones
#: aiobotocore pins, so any environment with s3fs) only retry throttling *codes*. There, a
#: 429 is retried here instead, up to the same ``max_attempts``.
_BOTOCORE_RETRIES_429 = hasattr(botocore.retries.standard, "ThrottlingStatusCodeChecker")
#: Retries of streamed bodies are logged here at DEBUG (URL, range, error; never credentials).
logger = logging.getLogger(__name__)

_NOT_FOUND = {"NoSuchKey", "NoSuchBucket", "NotFound", "404", "NoSuchVersion"}
_DENIED = {
    "AccessDenied",
    "403",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidToken",
    "ExpiredToken",
    "AllAccessDisabled",
    "AccountProblem",
}
_CHANGED = {"PreconditionFailed", "412"}
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


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/key`` -> ``("bucket", "key")``."""
    if not url.startswith("s3://"):
        raise InvalidURLError(f"not an s3:// URL: {url!r}", archive=url)
    bucket, _, key = url[5:].partition("/")
    if not bucket or not key:
        raise InvalidURLError(f"an S3 URL needs a bucket and a key: {url!r}", archive=url)
    return bucket, key


@dataclass(frozen=True)
class S3Options:
    """Everything needed to build a boto3 S3 client: plain data, so it pickles.

    Explicit keys given by the user are part of it (a pickled store carries
    them to dask workers); credentials from boto3's default chain are not:
    each process resolves its own.
    """

    endpoint_url: str | None = None
    region_name: str | None = None
    verify: bool | str | None = None
    anon: bool = False
    aws_access_key_id: str | None = field(default=None, repr=False)
    aws_secret_access_key: str | None = field(default=None, repr=False)
    aws_session_token: str | None = field(default=None, repr=False)
    profile_name: str | None = None
    max_pool_connections: int = 32
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    max_attempts: int = 5
    addressing_style: str | None = None
    config: botocore.config.Config | None = None

    def __post_init__(self) -> None:
        # Warn where the user asked for it (RemoteZipStore(...) or S3Options(...)), once.
        if self.verify is False:
            warnings.warn(
                "TLS certificate verification is off (verify=False); pass a CA bundle path "
                "instead for a private CA",
                stacklevel=4,
            )

    def make_client(self) -> S3Client:
        session = _new_session(
            aws_access_key_id=self.aws_access_key_id,
            aws_secret_access_key=self.aws_secret_access_key,
            aws_session_token=self.aws_session_token,
            profile_name=self.profile_name,
            region_name=self.region_name,
        )
        style = self.addressing_style or ("path" if self.endpoint_url else "auto")
        config = botocore.config.Config(
            max_pool_connections=self.max_pool_connections,
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            retries={"mode": "standard", "total_max_attempts": self.max_attempts},
            s3={"addressing_style": style},  # type: ignore[arg-type]
            signature_version=botocore.UNSIGNED if self.anon else None,
        )
        if self.config is not None:
            config = config.merge(self.config)
        client: S3Client = session.client(
            "s3", endpoint_url=self.endpoint_url, verify=self.verify, config=config
        )
        return client

    def describe_endpoint(self) -> str:
        return self.endpoint_url or "AWS S3"


_LOADER: botocore.loaders.Loader | None = None
_LOADER_LOCK = ForkSafeLock()


def _new_session(**kwargs: Any) -> boto3.session.Session:
    """A fresh boto3 session that shares one botocore data loader per process.

    Loading botocore's JSON service models is most of a new session's cost
    (~100 ms against ~8 ms with a warm loader, measured 2026-11-23), paid once
    per store otherwise: opening 100 archives spent most of its time here.
    Only the loader (static model data) is shared; each session still resolves
    its own credentials and configuration, so environment and profile changes
    apply to the next store.
    """
    global _LOADER
    with _LOADER_LOCK:  # boto3 sessions are not thread-safe while being built
        if _LOADER is None:
            _LOADER = botocore.loaders.create_loader()
        core = botocore.session.Session()
        core.register_component("data_loader", _LOADER)
        session = boto3.session.Session(botocore_session=core, **kwargs)
        # boto3 appends its own data path to the loader on every session: keep it once.
        paths = _LOADER.search_paths
        paths[:] = list(dict.fromkeys(paths))
        return session


def options_from_client(client: S3Client) -> S3Options:
    """Picklable options that rebuild a client like ``client`` in another process.

    Credentials are *not* copied: a process that unpickles the store resolves
    its own through boto3's default chain (environment, profile, role).
    """
    meta = client.meta
    return S3Options(endpoint_url=meta.endpoint_url, region_name=meta.region_name)


def translate_error(exc: BaseException, archive: str, key: str | None = None) -> RemoteZipError:
    """The one place where botocore's exceptions become this library's."""
    where = describe(archive, key)
    if isinstance(exc, RemoteZipError):
        return exc
    if isinstance(exc, botocore.exceptions.ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        message = error.get("Message") or ""
        detail = f"{code or status}{': ' + message if message else ''}"
        if code in _NOT_FOUND or status == 404:
            return ArchiveNotFoundError(f"{where}: object not found ({detail})", archive=archive)
        if code in _DENIED or status == 403:
            return ArchiveAccessError(f"{where}: access denied ({detail})", archive=archive)
        if code in _CHANGED or status == 412:
            return ArchiveChangedError(
                f"{where}: the object changed since the store opened it (ETag no longer "
                "matches); open a new store to read the new version",
                archive=archive,
                key=key,
            )
        return SourceError(f"{where}: S3 error {detail} (HTTP {status})", archive=archive, key=key)
    if isinstance(
        exc, botocore.exceptions.NoCredentialsError | botocore.exceptions.PartialCredentialsError
    ):
        return ArchiveAccessError(
            f"{where}: no usable AWS credentials ({exc}); pass aws_access_key_id/"
            "aws_secret_access_key, set AWS_* variables, or use anon=True",
            archive=archive,
        )
    if isinstance(exc, botocore.exceptions.SSLError):
        return SourceError(
            f"{where}: TLS failure ({exc}); pass verify='/path/to/ca.crt' for a private CA",
            archive=archive,
            key=key,
        )
    if isinstance(exc, botocore.exceptions.BotoCoreError | ConnectionError | TimeoutError):
        return SourceError(f"{where}: {type(exc).__name__}: {exc}", archive=archive, key=key)
    return SourceError(f"{where}: {type(exc).__name__}: {exc}", archive=archive, key=key)


class S3Source:
    """Range reads of one S3 object, pinned to the version seen at the first read."""

    def __init__(
        self,
        bucket: str,
        key: str,
        *,
        options: S3Options | None = None,
        client: S3Client | None = None,
        body_retries: int = 3,
        retry_backoff: float = 0.1,
    ):
        if body_retries < 0 or retry_backoff < 0:
            raise ValueError("body_retries and retry_backoff must be >= 0")
        self.bucket = bucket
        self.key = key
        self.options = options or (options_from_client(client) if client else S3Options())
        self.body_retries = body_retries
        self.retry_backoff = retry_backoff
        self._client = client
        self._client_pid = os.getpid() if client is not None else 0
        self._lock = ForkSafeLock()
        self.etag: str | None = None
        self.version_id: str | None = None
        self._closed = False
        self.stats = Stats()

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    # -- client, per process ----------------------------------------------------
    def client(self) -> S3Client:
        if self._closed:
            raise StoreClosedError(f"archive {self.url} is closed", archive=self.url)
        client = self._client
        if client is not None and self._client_pid == os.getpid():
            return client
        with self._lock:
            if self._client is None or self._client_pid != os.getpid():
                self._client = self.options.make_client()
                self._client_pid = os.getpid()
            return self._client

    # -- reads --------------------------------------------------------------------
    def read_ends(self, length: int, *, head: int = 0) -> Ends:
        """One suffix GET; the size comes from ``Content-Range`` (no HEAD).

        With ``head``, a ``bytes=0-`` GET runs alongside it (see :func:`with_head`).
        """

        def tail() -> Ends:
            return self._retrying(lambda: self._read_tail_once(length), "the archive's tail", None)

        if head <= 0:
            return tail()
        return with_head(
            tail, lambda: self._read_head(head), lambda: (self.etag, self.version_id), self.url
        )

    def _read_head(self, length: int) -> Head:
        """The first ``length`` bytes (fewer if the object is smaller), not pinned: the
        caller compares the version with the tail's."""
        response = self._get(f"bytes=0-{length - 1}", pinned=self.etag is not None)
        body = response["Body"]
        size = _total_size(response)
        content_range = response.get("ContentRange") or ""
        want = min(length, size) if size is not None else -1
        if want <= 0 or not content_range.startswith(f"bytes 0-{want - 1}/"):
            body.close()  # ignored Range (maybe the whole object): not worth reading
            raise _ShortBody(f"a head GET answered with Content-Range {content_range!r}")
        data = self._read_body(body, want, None)
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
        self._check_version(response, None)
        size = _total_size(response)
        body = response["Body"]
        if size is None:
            # A server that ignored the Range header answered with the whole object.
            whole = int(response.get("ContentLength", 0))
            if whole > 4 * length:
                body.close()
                return self._read_tail_with_head(length)
            data = self._read_body(body, whole, None)
            self._pin(response)
            return Ends(data[-length:] if length < len(data) else data, len(data))
        want = min(length, size)
        data = self._read_body(body, want, None)
        self._pin(response)
        return Ends(data, size)

    def _read_tail_with_head(self, length: int) -> Ends:
        head = self._call("head_object", None)
        size = int(head["ContentLength"])
        self._pin(head)
        if size == 0:
            return Ends(b"", 0)
        start = max(0, size - length)
        return Ends(self.read_range(start, size), size)

    @property
    def identity(self) -> SourceIdentity:
        return SourceIdentity("s3", self.url, self.options.endpoint_url)

    @property
    def version(self) -> tuple[str, str | None] | None:
        return (self.etag, self.version_id) if self.etag else None

    def read_range(self, start: int, end: int) -> bytes:
        key = None
        if end <= start:
            return b""
        return self._retrying(
            lambda: self._read_range_once(start, end, key), f"bytes {start}-{end - 1}", key
        )

    def _read_range_once(self, start: int, end: int, key: str | None) -> bytes:
        want = end - start
        response = self._get(f"bytes={start}-{end - 1}", pinned=True, key=key)
        self._check_version(response, key)
        content_range = response.get("ContentRange")
        if content_range is None and (start != 0 or int(response.get("ContentLength", -1)) != want):
            # A 200 with the whole object is only the right bytes when they start at 0.
            response["Body"].close()
            raise SourceError(
                f"{describe(self.url, key)}: the server ignored the Range header",
                archive=self.url,
                key=key,
            )
        if content_range is not None and not content_range.startswith(f"bytes {start}-{end - 1}/"):
            response["Body"].close()
            raise _ShortBody(f"asked for bytes {start}-{end - 1}, got {content_range!r}")
        return self._read_body(response["Body"], want, key)

    def _retrying(self, read: Callable[[], _T], what: str, key: str | None) -> _T:
        """Run ``read``, retrying failures while streaming a body and short bodies.

        Status-level failures (5xx, throttling, connect errors) were already
        retried by botocore inside ``read`` and arrive here as ``SourceError``.
        """
        attempt = 0
        throttled = 0
        while True:
            try:
                return read()
            except _ShortBody as exc:
                problem: BaseException = exc
            except _STREAM_ERRORS as exc:
                problem = exc
            except SourceError as exc:
                if _BOTOCORE_RETRIES_429 or not _is_http_429(exc):
                    raise
                throttled += 1
                if throttled >= self.options.max_attempts:
                    raise
                delay = self.retry_backoff * (2 ** (throttled - 1)) * (0.5 + random.random())
                logger.debug("%s: HTTP 429, retry in %.2f s", describe(self.url, key), delay)
                time.sleep(delay)
                continue
            except RemoteZipError:
                raise
            except Exception as exc:  # anything else from a body read: still a library error
                raise translate_error(exc, self.url, key) from exc
            attempt += 1
            if attempt > self.body_retries:
                raise SourceError(
                    f"{describe(self.url, key)}: reading {what} failed after "
                    f"{attempt} attempts ({type(problem).__name__}: {problem})",
                    archive=self.url,
                    key=key,
                ) from problem
            delay = self.retry_backoff * (2 ** (attempt - 1)) * (0.5 + random.random())
            logger.debug(
                "%s: reading %s failed (%s: %s); retry %d/%d in %.2f s",
                describe(self.url, key),
                what,
                type(problem).__name__,
                problem,
                attempt,
                self.body_retries,
                delay,
            )
            time.sleep(delay)

    def _get(self, byte_range: str, *, pinned: bool, key: str | None = None) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"Range": byte_range}
        if pinned and self.etag is not None:
            kwargs["IfMatch"] = self.etag
        if pinned and self.version_id is not None:
            kwargs["VersionId"] = self.version_id
        return self._call("get_object", key, **kwargs)

    def _call(self, operation: str, key: str | None, **kwargs: Any) -> dict[str, Any]:
        client = self.client()
        try:
            method = getattr(client, operation)
            response: dict[str, Any] = method(Bucket=self.bucket, Key=self.key, **kwargs)
            return response
        except Exception as exc:  # translated at this one boundary
            raise translate_error(exc, self.url, key) from exc

    def _read_body(self, body: Any, want: int, key: str | None) -> bytes:
        try:
            data: bytes = body.read()
        finally:
            body.close()
        self.stats.add(len(data))
        if len(data) != want:
            raise _ShortBody(f"expected {want} bytes, received {len(data)}")
        return data

    def _check_version(self, response: dict[str, Any], key: str | None) -> None:
        """Refuse a response for another version, even from a server that ignores If-Match."""
        etag, version = self.etag, self.version_id
        got_etag, got_version = response.get("ETag"), response.get("VersionId")
        if (etag is not None and got_etag is not None and got_etag != etag) or (
            version is not None and got_version is not None and got_version != version
        ):
            response["Body"].close()
            raise ArchiveChangedError(
                f"{describe(self.url, key)}: the object changed since the store opened it "
                f"(ETag {etag} -> {got_etag}); open a new store to read the new version",
                archive=self.url,
                key=key,
            )

    def _pin(self, response: dict[str, Any]) -> None:
        with self._lock:
            if self.etag is None:
                self.etag = response.get("ETag")
                self.version_id = response.get("VersionId")

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._client = None

    # -- pickling: configuration and the pinned version, never a client -------------------
    def __getstate__(self) -> dict[str, Any]:
        return {
            "bucket": self.bucket,
            "key": self.key,
            "options": self.options,
            "body_retries": self.body_retries,
            "retry_backoff": self.retry_backoff,
            "etag": self.etag,
            "version_id": self.version_id,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(  # type: ignore[misc]
            state["bucket"],
            state["key"],
            options=state["options"],
            body_retries=state["body_retries"],
            retry_backoff=state["retry_backoff"],
        )
        self.etag = state["etag"]
        self.version_id = state["version_id"]

    def __repr__(self) -> str:
        return f"S3Source({self.url!r}, endpoint={self.options.describe_endpoint()!r})"


class _ShortBody(Exception):
    """A body with fewer bytes than asked for: retried, never returned."""


def _total_size(response: dict[str, Any]) -> int | None:
    content_range = response.get("ContentRange")
    if not content_range:
        return None
    # "bytes 100-199/1000"
    total = content_range.rpartition("/")[2]
    return int(total) if total.isdigit() else None


def _is_http_429(exc: SourceError) -> bool:
    cause = exc.__cause__
    return (
        isinstance(cause, botocore.exceptions.ClientError)
        and cause.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 429
    )


def _rejects_suffix(exc: SourceError) -> bool:
    """Errors that mean "no suffix range here" (empty object, or a server without them)."""
    cause = exc.__cause__
    if isinstance(cause, botocore.exceptions.ClientError):
        code = str(cause.response.get("Error", {}).get("Code", ""))
        status = cause.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return code in {"InvalidRange", "NotImplemented", "InvalidArgument"} or status in {
            400,
            416,
            501,
        }
    return False
