"""S3 reads through obstore (Rust ``object_store`` on tokio), chosen with ``transport="obstore"``.

:class:`ObstoreS3` is a request layer for :class:`.s3.S3Source`, as :class:`.s3lean.LeanS3`
is: it answers the source's ``call("get_object" | "head_object", ...)`` in botocore's
response shape and raises botocore's ``ClientError`` for an error answer. So the
source's semantics are the same code on every transport: the suffix GET at open
pins the ETag (and version id), every later GET sends ``If-Match`` (obstore's
``GetOptions``), a replaced object is an :class:`ArchiveChangedError`, and each
error goes once through :mod:`.status`'s table, naming the archive.

What boto3 decides, boto3 still decides: a boto3 session resolves credentials
(the whole chain), region and a configured endpoint, as on the lean path; the
keys go to obstore's ``S3Store`` (static keys directly; refreshable ones through
its ``credential_provider`` callback, which calls ``get_frozen_credentials()``).
The ``S3Store`` is built once per process and :class:`S3Options` (never the store,
whose config holds the secret) is what pickles.

Settings (``S3Options`` -> obstore):

* ``connect_timeout`` -> ``ClientConfig.connect_timeout``; ``read_timeout`` ->
  ``ClientConfig.read_timeout`` (the longest gap between reads); the overall
  ``ClientConfig.timeout`` is set to :data:`REQUEST_TIMEOUT` (obstore's 30 s default
  would cut a large read on a slow link);
* ``max_attempts``, ``body_retries``, ``retry_backoff``: the source's one retry loop
  (:mod:`.retry`), as on the lean path: a transient answer (5xx, 429, throttling
  codes), a failed or timed-out connection and a body that breaks off raise
  :class:`retry.Retry`, so each retry is logged at WARNING and counted as on the other
  transports. obstore's own retries are off (``RetryConfig.max_retries=0``): they
  would retry unseen (Rust ``tracing``), under ours. A user's own ``S3Store`` keeps
  its ``RetryConfig`` (ours run on top of it);
* ``verify=False`` -> ``allow_invalid_certificates``; ``verify="ca.pem"`` (or
  ``AWS_CA_BUNDLE``) -> ``root_certificate`` (the file's PEM, added to the roots);
* ``endpoint_url`` -> ``endpoint`` (``allow_http`` for ``http://``), path-style
  (``virtual_hosted_style_request=False``) unless ``addressing_style="virtual"``;
* ``anon`` -> ``skip_signature``. Not supported: ``config=`` (a botocore Config),
  ``max_pool_connections`` (obstore pools per host itself), region redirects (a
  bucket in another region needs ``region_name``), a ``fork()`` after obstore was
  used (refused in the child, see :func:`_check_not_forked`).
"""

from __future__ import annotations

import asyncio
import datetime
import os
import re
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TYPE_CHECKING, Any, TypeVar

import botocore.credentials
import botocore.exceptions
import obstore
import obstore.exceptions
from obstore.store import S3Store

from . import _deadline as deadline
from . import _retry as retry
from ._forksafe import ForkSafeLock, PerProcess, SharedByKey
from ._status import RETRY_CODES, RETRY_STATUS

if TYPE_CHECKING:
    from obstore.store import ClientConfig, RetryConfig, S3Credential

    from ._s3config import S3Options

#: The longest a whole request may take (obstore's default is 30 s); stalls are ``read_timeout``.
REQUEST_TIMEOUT = datetime.timedelta(hours=1)

#: How long obstore may keep refreshable credentials before asking for them again.
CREDENTIAL_TTL = datetime.timedelta(minutes=10)

_STATUS = re.compile(rb"status code: (\d{3})|status (\d{3})")
_TRANSIENT = re.compile(
    r"HTTP error|error sending request|timed out|[Tt]imeout|[Cc]onnection|body error|reset"
)

T = TypeVar("T")

#: Threads that wait for obstore calls made under a deadline (see :func:`_within_deadline`).
_WAITERS: PerProcess[ThreadPoolExecutor] = PerProcess(
    lambda: ThreadPoolExecutor(32, thread_name_prefix="rzs-obstore-deadline"),
    close=lambda pool: pool.shutdown(wait=False),
)


def _within_deadline(call: Callable[[], T]) -> T:
    """``call()``, given up when the operation's deadline (``timeout=``) is reached.

    obstore takes its timeouts per store, not per call, so a deadline cannot shrink them
    as the lean path shrinks urllib3's. Under a deadline the call runs in a helper thread
    and the caller stops waiting when the time is up (the call ends on its own, within
    ``read_timeout``); the retry loop then reports the deadline. Without one: a plain call.
    """
    bound = deadline.current()
    if bound is None:
        return call()
    left = max(deadline.MIN_WAIT, bound.remaining())
    future = _WAITERS.get().submit(call)
    try:
        return future.result(timeout=left)
    except FutureTimeout:
        raise _too_late(left) from None


async def _within_deadline_async(call: Awaitable[T]) -> T:
    """``await call``, given up when the operation's deadline is reached (as
    :func:`_within_deadline`, with an ``asyncio`` timeout instead of a waiting thread)."""
    bound = deadline.current()
    if bound is None:
        return await call
    left = max(deadline.MIN_WAIT, bound.remaining())
    try:
        return await asyncio.wait_for(call, left)
    except TimeoutError:
        raise _too_late(left) from None


def _too_late(left: float) -> retry.Retry:
    """A call given up at the deadline: the retry loop reports the deadline."""
    return retry.Retry(f"no answer within the time left ({left:.2f} s) (timeout)")


#: obstore's own exception classes and the HTTP status each stands for.
_CLASS_STATUS: tuple[tuple[type[BaseException], int], ...] = (
    (obstore.exceptions.PreconditionError, 412),
    (obstore.exceptions.NotFoundError, 404),
    (obstore.exceptions.PermissionDeniedError, 403),
    (obstore.exceptions.UnauthenticatedError, 401),
    (obstore.exceptions.NotModifiedError, 304),
    (FileNotFoundError, 404),  # what obstore 0.12 raises for NotFound
    (PermissionError, 403),
)


def is_obstore_store(client: Any) -> bool:
    """Whether ``client`` is an obstore ``S3Store`` (rather than a boto3 client)."""
    return isinstance(client, S3Store)


def options_from_store(store: Any) -> S3Options:
    """Picklable options that rebuild a store like ``store`` in another process.

    Endpoint, region and addressing come from its config; its keys do not (a
    process that unpickles the source resolves its own through boto3's chain).
    """
    from ._s3config import S3Options

    config = store.config
    virtual = str(config.get("virtual_hosted_style_request", "")).lower() == "true"
    return S3Options(
        endpoint_url=config.get("endpoint"),
        region_name=config.get("region"),
        anon=str(config.get("skip_signature", "")).lower() == "true",
        addressing_style="virtual" if virtual else None,
        transport="obstore",
    )


class ObstoreS3:
    """GET and HEAD of S3 objects through one obstore ``S3Store`` per bucket, in one process."""

    def __init__(self, options: S3Options, store: Any = None):
        from ._s3config import credential_session
        from ._s3lean import _configured_endpoint

        self.options = options
        self._lock = ForkSafeLock()
        self._stores: dict[str, Any] = {}
        self._given = store  # a user's store: its bucket only, its settings as they are
        core = credential_session(
            aws_access_key_id=options.aws_access_key_id,
            aws_secret_access_key=options.aws_secret_access_key,
            aws_session_token=options.aws_session_token,
            profile_name=options.profile_name,
            region_name=options.region_name,
        )
        region = options.region_name or core.get_config_variable("region")
        self.region: str = region or "us-east-1"
        self.endpoint_url: str | None = options.endpoint_url or _configured_endpoint(core)
        self._ca_bundle: str | None = core.get_config_variable("ca_bundle")
        self._credentials: Any = None
        if store is None and not options.anon:
            self._credentials = core.get_credentials()
            if self._credentials is None:
                raise botocore.exceptions.NoCredentialsError()

    def describe(self, bucket: str, key: str) -> str:
        """The request URL without query or credentials, for log lines."""
        base = self.endpoint_url or f"https://s3.{self.region}.amazonaws.com"
        return f"{base.rstrip('/')}/{bucket}/{key}"

    def store(self, bucket: str) -> Any:
        if self._given is not None:
            return self._given
        found = self._stores.get(bucket)
        if found is None:
            with self._lock:
                found = self._stores.get(bucket)
                if found is None:
                    found = self._stores[bucket] = self._new_store(bucket)
        return found

    def _new_store(self, bucket: str) -> Any:
        options = self.options
        client: ClientConfig = {
            "connect_timeout": datetime.timedelta(seconds=options.connect_timeout),
            "read_timeout": datetime.timedelta(seconds=options.read_timeout),
            "timeout": REQUEST_TIMEOUT,
        }
        verify = options.verify
        if verify is False:
            client["allow_invalid_certificates"] = True
        else:
            bundle = verify if isinstance(verify, str) else self._ca_bundle
            if bundle:  # a private CA (verify="ca.pem" or AWS_CA_BUNDLE), added to the roots
                with open(bundle, "rb") as f:
                    client["root_certificate"] = f.read()
        # The source's one retry loop (logged, counted against max_attempts/body_retries)
        # retries; obstore's own would retry unseen, under it.
        retries: RetryConfig = {"max_retries": 0}
        kwargs: dict[str, Any] = {"region": self.region}
        if self.endpoint_url:
            kwargs["endpoint"] = self.endpoint_url
            client["allow_http"] = self.endpoint_url.lower().startswith("http://")
        kwargs["virtual_hosted_style_request"] = options.addressing_style == "virtual"
        credentials = self._credentials
        if credentials is None:
            kwargs["skip_signature"] = True
        elif isinstance(credentials, botocore.credentials.RefreshableCredentials):
            kwargs["credential_provider"] = _Refreshing(credentials)
        else:
            kwargs["access_key_id"] = credentials.access_key
            kwargs["secret_access_key"] = credentials.secret_key
            if credentials.token:
                kwargs["session_token"] = credentials.token
        return S3Store(bucket, client_options=client, retry_config=retries, **kwargs)

    # -- the calls S3Source makes -----------------------------------------------------------
    def call(self, operation: str, bucket: str, key: str, **kwargs: Any) -> dict[str, Any]:
        """``get_object`` or ``head_object`` with botocore's argument and response names."""
        _check_not_forked()
        store = self.store(bucket)
        if operation == "head_object":
            try:
                meta = _within_deadline(lambda: obstore.head(store, key))
            except retry.Retry:
                raise
            except Exception as exc:
                raise _client_error(exc, "HEAD") from exc
            return _response(meta["e_tag"], meta.get("version"), int(meta["size"]))
        if operation != "get_object":
            raise ValueError(f"the obstore path sends GET and HEAD only, not {operation}")
        options = _get_options(kwargs)
        try:
            result = _within_deadline(
                lambda: obstore.get(store, key, options=options)  # type: ignore[arg-type]
            )
        except retry.Retry:
            raise
        except Exception as exc:
            raise _client_error(exc, "GET") from exc
        return _get_response(result)

    async def call_async(
        self, operation: str, bucket: str, key: str, **kwargs: Any
    ) -> dict[str, Any]:
        """:meth:`call`'s ``get_object`` through obstore's async API, on the caller's loop.

        No thread: the request runs on obstore's runtime and the loop awaits it; a
        deadline is an ``asyncio`` timeout. The response is :meth:`call`'s, its body read
        with ``await body.read_async()``.
        """
        _check_not_forked()
        if operation != "get_object":
            raise ValueError(f"the obstore async path sends GET only, not {operation}")
        store = self.store(bucket)
        options = _get_options(kwargs)
        try:
            result = await _within_deadline_async(
                obstore.get_async(store, key, options=options)  # type: ignore[arg-type]
            )
        except retry.Retry:
            raise
        except Exception as exc:
            raise _client_error(exc, "GET") from exc
        return _get_response(result)

    def __reduce__(self) -> Any:
        raise TypeError("ObstoreS3 holds credentials and connections: pickle its S3Options instead")

    def __repr__(self) -> str:
        return f"ObstoreS3(endpoint={self.endpoint_url or 'AWS S3'!r}, region={self.region!r})"


_USED_IN: list[int] = []  # the pid whose requests started obstore's (tokio) runtime


def _check_not_forked() -> None:
    """Refuse, rather than hang, in a forked child of a process that used obstore.

    obstore 0.12 keeps one tokio runtime per process image: a child made by
    ``fork()`` inherits it without its threads, and its first request waits forever.
    A child that unpickles a store (spawn, forkserver) or a parent that never read
    through obstore before forking is fine.
    """
    pid = os.getpid()
    if not _USED_IN:
        _USED_IN.append(pid)
    elif _USED_IN[0] != pid:
        raise RuntimeError(
            "obstore cannot read in a process forked after it was used (its runtime's "
            "threads are gone); use multiprocessing's 'spawn' or 'forkserver' start method, "
            "or another transport"
        )


class _Refreshing:
    """obstore's ``credential_provider``: boto3's refreshable credentials, frozen per call."""

    def __init__(self, credentials: botocore.credentials.RefreshableCredentials):
        self._credentials = credentials

    def __call__(self) -> S3Credential:
        frozen = self._credentials.get_frozen_credentials()
        return {
            "access_key_id": frozen.access_key or "",
            "secret_access_key": frozen.secret_key or "",
            "token": frozen.token,
            "expires_at": datetime.datetime.now(datetime.UTC) + CREDENTIAL_TTL,
        }


class _Body:
    """A GET's body as botocore's ``StreamingBody`` is used: ``read()`` once, ``close()``."""

    __slots__ = ("_result",)

    def __init__(self, result: Any):
        self._result = result

    def read(self) -> bytes:
        try:
            return bytes(_within_deadline(self._result.bytes))
        except obstore.exceptions.BaseError as exc:  # broke off mid-body: the source retries
            raise _body_retry(exc) from exc

    async def read_async(self) -> bytes:
        """:meth:`read` on the caller's event loop (obstore's ``bytes_async``)."""
        try:
            return bytes(await _within_deadline_async(self._result.bytes_async()))
        except obstore.exceptions.BaseError as exc:
            raise _body_retry(exc) from exc

    def close(self) -> None:
        self._result = None  # dropping the result drops (and closes) the response stream


def _get_options(kwargs: dict[str, Any]) -> dict[str, Any]:
    """botocore's ``get_object`` arguments (``Range``, ``IfMatch``, ``VersionId``) -> obstore's."""
    options: dict[str, Any] = {"range": _range(kwargs["Range"])}
    if "IfMatch" in kwargs:
        options["if_match"] = kwargs["IfMatch"]
    if "VersionId" in kwargs:
        options["version"] = kwargs["VersionId"]
    return options


def _get_response(result: Any) -> dict[str, Any]:
    """A GET's result in botocore's response shape (``ContentRange``, ``ETag``, ``Body``)."""
    meta = result.meta
    start, end = result.range
    size = int(meta["size"])
    response = _response(meta["e_tag"], meta.get("version"), end - start)
    response["ContentRange"] = f"bytes {start}-{end - 1}/{size}" if end > start else None
    response["Body"] = _Body(result)
    return response


def _body_retry(exc: BaseException) -> retry.Retry:
    """A body that broke off: the source retries it against ``body_retries``."""
    timed_out = " (timeout)" if "TimedOut" in str(exc) else ""
    return retry.Retry(f"{type(exc).__name__}: {_first_line(exc)}{timed_out}", budget="body")


def _response(etag: str | None, version: str | None, length: int) -> dict[str, Any]:
    response: dict[str, Any] = {"ContentLength": length, "ETag": etag}
    if version is not None:
        response["VersionId"] = version
    return response


def _range(text: str) -> Any:
    """botocore's ``Range`` header value -> obstore's ``range`` option."""
    spec = text.removeprefix("bytes=")
    first, _, last = spec.partition("-")
    if not first:
        return {"suffix": int(last)}
    if not last:
        return {"offset": int(first)}
    return (int(first), int(last) + 1)


def _first_line(exc: BaseException) -> str:
    """obstore's message without its "Debug source" dump (never holds credentials either)."""
    return str(exc).split("\n\nDebug source", 1)[0].strip()


def _between(text: str, tag: str) -> str:
    found = re.search(f"<{tag}>([^<]{{0,400}})</{tag}>", text)
    return found.group(1) if found else ""


def _client_error(exc: BaseException, method: str) -> BaseException:
    """An obstore exception as the ``ClientError`` :func:`.s3.translate_error` maps once.

    Its class gives the status (``PreconditionError`` -> 412, ``NotFoundError`` -> 404,
    ``PermissionDeniedError`` -> 403, ``UnauthenticatedError`` -> 401); a
    ``GenericError`` carries the server's status and S3 ``<Code>`` in its message. An
    answer without a range where one was asked (``NotPartial``: a server that ignores
    ``Range``, or an empty object) is ``InvalidRange``, so the source falls back to a
    HEAD. Anything else (a connection that failed on every attempt) stays as it is.
    """
    if not isinstance(exc, obstore.exceptions.BaseError | FileNotFoundError | PermissionError):
        return exc
    text = _first_line(exc)
    status: int | None = None
    for cls, code_status in _CLASS_STATUS:
        if isinstance(exc, cls):
            status = code_status
            break
    found = _STATUS.search(text.encode())
    if found and status is None:
        status = int(found.group(1) or found.group(2))
    code = _between(text, "Code")
    message = _between(text, "Message")
    if "NotPartial" in str(exc) or "non-partial response" in text:
        code, message = "InvalidRange", "the server ignored the Range header"
    if status is None and not code:
        if _TRANSIENT.search(text):  # a connection that failed or timed out: try again
            timed_out = "TimedOut" in str(exc) and "timed out" not in text
            return retry.Retry(f"{type(exc).__name__}: {text[:300]}{' (timeout)' * timed_out}")
        return exc
    if status in RETRY_STATUS or code in RETRY_CODES:
        return retry.Retry(" ".join(part for part in (f"HTTP {status}", code) if part))
    error: Any = {
        "Error": {"Code": code or str(status), "Message": message or text[:400]},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return botocore.exceptions.ClientError(error, method)


_SHARED: SharedByKey[tuple[Any, ...], ObstoreS3] = SharedByKey()


def shared_obstore(options: S3Options) -> ObstoreS3:
    """The process's :class:`ObstoreS3` for ``options`` (keyed as the shared boto3 clients are)."""
    return _SHARED.get(options.client_key(), lambda: ObstoreS3(options))


def clear_shared_obstore() -> None:
    """Forget this process's obstore stores (sources holding one keep it)."""
    _SHARED.clear()


__all__ = [
    "ObstoreS3",
    "clear_shared_obstore",
    "is_obstore_store",
    "options_from_store",
    "shared_obstore",
]
