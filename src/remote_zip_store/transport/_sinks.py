"""Where a written archive goes: append-only byte sinks that appear atomically on completion.

A :class:`Sink` takes the archive's bytes in order, shows nothing under its
name until :meth:`Sink.complete`, and after :meth:`Sink.abort` leaves nothing
behind. An existing object or file under the name is replaced only when the new
one completes (readers see the old one until then).

* :class:`LocalSink`: a temporary file beside the target, ``os.replace`` on
  completion (``"w-"``: ``os.link``, which fails when the target exists).
* :class:`S3MultipartSink`: S3 multipart upload, parts uploaded concurrently
  with bounded memory; a body that never fills one part is sent with one
  ``put_object`` instead (one request, equally atomic).

Errors from boto3 and the OS are translated once, here, into the library's
(:mod:`remote_zip_store.errors`), naming the archive URL.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import (
    ArchiveAccessError,
    ArchiveExistsError,
    ArchiveNotFoundError,
    RemoteZipError,
    SourceError,
    WriterClosedError,
)
from ._urls import check_names, classify

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from ._s3 import S3Options

log = logging.getLogger(__name__)

MODES = ("w", "w-")
#: S3's smallest part (all but the last) and most parts per upload.
MIN_PART_SIZE = 5 * 2**20
MAX_PARTS = 10_000


class PartOptions(Protocol):
    """What a multipart sink needs to know (``archive._writer.WriteOptions`` has it)."""

    @property
    def part_size(self) -> int: ...

    @property
    def max_workers(self) -> int: ...


@dataclass(frozen=True)
class Parts:
    """The default parts: 8 MiB, four uploaded at a time."""

    part_size: int = 8 * 2**20
    max_workers: int = 4


class Sink(Protocol):
    """An append-only destination that becomes visible only on :meth:`complete`."""

    url: str

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Append ``data`` (the sink may keep a reference only until this returns)."""

    def complete(self) -> None:
        """Make the object visible under its name, atomically."""

    def abort(self) -> None:
        """Discard everything; nothing is visible under the name afterwards. Idempotent."""


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"mode must be 'w' (replace) or 'w-' (fail if it exists), not {mode!r}")


def _exists(url: str) -> ArchiveExistsError:
    return ArchiveExistsError(
        "exists already (mode 'w-' never replaces; use mode 'w' to replace it)", archive=url
    )


# -- local files ---------------------------------------------------------------------


@contextlib.contextmanager
def _os_errors(url: str, what: str) -> Iterator[None]:
    """The one boundary where OS errors become the library's, naming the path."""
    try:
        yield
    except RemoteZipError:
        raise
    except FileExistsError as exc:
        raise _exists(url) from exc
    except FileNotFoundError as exc:
        raise ArchiveNotFoundError(f"{what}: no such directory", archive=url) from exc
    except PermissionError as exc:
        raise ArchiveAccessError(f"{what}: permission denied", archive=url) from exc
    except OSError as exc:
        raise SourceError(f"{what}: {exc.strerror or exc}", archive=url) from exc


class LocalSink:
    """A temporary file in the target's directory, renamed over the target on completion.

    The temporary file (``.<name>.<random>.part``) is on the same file system,
    so the rename is atomic: a reader sees the old file or the whole new one.
    ``"w-"`` is checked at open (early error) and again at completion with
    ``os.link``, which fails if the target appeared meanwhile. A process that
    dies leaves only the ``.part`` file (never the target); delete it by hand.
    """

    def __init__(self, path: str | os.PathLike[str], *, mode: str = "w"):
        _check_mode(mode)
        self.path = os.path.abspath(os.path.expanduser(os.fspath(path)))
        self.url = self.path
        self.mode = mode
        self._done = False
        if mode == "w-" and os.path.lexists(self.path):
            raise _exists(self.url)
        directory, base = os.path.split(self.path)
        with _os_errors(self.url, "cannot create the file"):
            if os.path.isdir(self.path):
                raise IsADirectoryError(21, "is a directory")
            fd, self._temp = tempfile.mkstemp(prefix=f".{base}.", suffix=".part", dir=directory)
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)  # mkstemp's 0600 is not what a plain open() makes
        self._file = os.fdopen(fd, "wb", buffering=1 << 20)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._done:
            raise WriterClosedError("the file was completed or aborted", archive=self.url)
        with _os_errors(self.url, "cannot write"):
            self._file.write(data)

    def complete(self) -> None:
        if self._done:
            raise WriterClosedError("the file was completed or aborted", archive=self.url)
        try:
            with _os_errors(self.url, "cannot complete"):
                self._file.flush()
                os.fsync(self._file.fileno())
                self._file.close()
                if self.mode == "w-":
                    self._link()
                else:
                    os.replace(self._temp, self.path)
        except BaseException:
            self.abort()
            raise
        self._done = True

    def _link(self) -> None:
        try:
            os.link(self._temp, self.path)  # atomic and never replaces
        except FileExistsError:
            raise
        except OSError:  # a file system without hard links: check, then rename
            if os.path.lexists(self.path):
                raise FileExistsError(17, "exists") from None
            os.replace(self._temp, self.path)
            return
        os.unlink(self._temp)

    def abort(self) -> None:
        if self._done:
            return
        self._done = True
        with contextlib.suppress(OSError):
            self._file.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._temp)

    def __repr__(self) -> str:
        return f"LocalSink({self.path!r}, mode={self.mode!r})"


# -- S3 ------------------------------------------------------------------------------


class S3MultipartSink:
    """An S3 multipart upload fed part by part; the object appears on :meth:`complete`.

    Memory: one part being filled plus at most ``max_workers`` parts in flight,
    so about ``(max_workers + 1) x part_size`` whatever the archive's size. The
    upload starts when the first part is full; a body smaller than one part is
    sent by one ``put_object`` at completion. Any failure (a part, the
    completion) aborts the upload (``abort_multipart_upload``) before the error
    is raised; a process that dies leaves an incomplete upload that S3 does not
    show as an object but keeps (and bills) until an ``AbortIncompleteMultipartUpload``
    lifecycle rule removes it (docs/writing.md).

    At open, one ``head_bucket``: a missing bucket is an :class:`ArchiveNotFoundError`
    before any byte is written, not after the archive streamed.
    ``"w-"``: a ``head_object`` at open fails if the object exists, and the
    completing request carries ``If-None-Match: *`` so an object created
    meanwhile is not replaced (on servers that honour it: AWS, moto).
    """

    def __init__(
        self,
        bucket: str,
        key: str,
        *,
        client: S3Client,
        options: PartOptions | None = None,
        mode: str = "w",
    ):
        _check_mode(mode)
        self.bucket = bucket
        self.key = key
        self.url = f"s3://{bucket}/{key}"
        self.mode = mode
        self.options: PartOptions = options or Parts()
        self._client = client
        self._buffer: bytearray | None = None
        self._filled = 0
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self._pending: list[Future[dict[str, Any]]] = []
        self._executor: ThreadPoolExecutor | None = None
        self._done = False
        self._failed = False
        #: Requests made, by operation (tests assert them; cheap).
        self.requests: dict[str, int] = {}
        self._check_bucket()
        if mode == "w-" and self._object_exists():
            raise _exists(self.url)

    @property
    def upload_id(self) -> str | None:
        """The multipart upload's id once it started (before that: None)."""
        return self._upload_id

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        """One boto3 call; its errors become the library's here, naming the URL."""
        self.requests[operation] = self.requests.get(operation, 0) + 1
        try:
            method = getattr(self._client, operation)
            response: dict[str, Any] = method(Bucket=self.bucket, Key=self.key, **kwargs)
            return response
        except Exception as exc:
            raise _translate(exc, self.url, operation) from exc

    def _check_bucket(self) -> None:
        """A missing bucket fails here, at open, not after the whole archive was streamed.

        One ``head_bucket``. A writer allowed to put objects but not to list the bucket
        gets 403 here: that proves nothing, so the upload goes ahead and tells.
        """
        self.requests["head_bucket"] = self.requests.get("head_bucket", 0) + 1
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except Exception as exc:
            error = _translate(exc, self.url, "head_bucket")
            if isinstance(error, ArchiveNotFoundError):  # HEAD: a bare 404, no code
                raise ArchiveNotFoundError(
                    f"bucket {self.bucket!r} does not exist (head_bucket: HTTP 404); "
                    "create it first",
                    archive=self.url,
                ) from exc
            if not isinstance(error, ArchiveAccessError):
                raise error from exc

    def _object_exists(self) -> bool:
        try:
            self._call("head_object")
        except ArchiveNotFoundError:
            return False
        return True

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._check_open()
        view = memoryview(data).cast("B")
        size = self.options.part_size
        while view.nbytes:
            if self._buffer is None:
                self._buffer = bytearray(size)  # filled in place: never grown, never copied
            n = min(size - self._filled, view.nbytes)
            self._buffer[self._filled : self._filled + n] = view[:n]
            self._filled += n
            view = view[n:]
            if self._filled == size:
                self._send_buffer()

    def _take_buffer(self) -> bytearray:
        """The bytes buffered so far, as the body of a request (the buffer itself, trimmed)."""
        buffer = self._buffer if self._buffer is not None else bytearray()
        del buffer[self._filled :]
        self._buffer, self._filled = None, 0
        return buffer

    def _check_open(self) -> None:
        if self._done:
            raise WriterClosedError("the upload was completed or aborted", archive=self.url)

    def _send_buffer(self) -> None:
        """Hand the full buffer to a worker once a slot is free (bounding memory)."""
        try:
            if self._upload_id is None:
                self._upload_id = self._call("create_multipart_upload")["UploadId"]
                self._executor = ThreadPoolExecutor(
                    self.options.max_workers, thread_name_prefix="rzs-upload"
                )
            self._collect(self.options.max_workers - 1)
            number = len(self._parts) + len(self._pending) + 1
            if number > MAX_PARTS:
                raise SourceError(
                    f"the archive needs more than {MAX_PARTS} parts of "
                    f"{self.options.part_size} bytes (S3's limit); raise part_size",
                    archive=self.url,
                )
            # In a list the worker empties: the executor's work item would otherwise keep
            # the buffer alive after the part is done, while the next one is being filled.
            part = [self._take_buffer()]
            assert self._executor is not None
            self._pending.append(self._executor.submit(self._upload_part, number, part))
        except BaseException:
            self._fail()
            raise

    def _upload_part(self, number: int, holder: list[bytearray]) -> dict[str, Any]:
        assert self._upload_id is not None
        body = holder.pop()
        response = self._call("upload_part", UploadId=self._upload_id, PartNumber=number, Body=body)
        del body  # freed before the part counts as done (memory stays at the bound)
        return {"PartNumber": number, "ETag": response["ETag"]}

    def _collect(self, keep: int) -> None:
        """Wait until at most ``keep`` parts are in flight; a failed part is raised."""
        while len(self._pending) > keep:
            done, _ = wait(self._pending, return_when=FIRST_COMPLETED)
            for future in done:
                self._pending.remove(future)
                self._parts.append(future.result())  # raises the part's error

    def complete(self) -> None:
        self._check_open()
        try:
            if self._upload_id is None:
                kwargs: dict[str, Any] = {"IfNoneMatch": "*"} if self.mode == "w-" else {}
                self._call("put_object", Body=self._take_buffer(), **kwargs)
            else:
                if self._filled:
                    self._send_buffer()
                self._collect(0)
                parts = sorted(self._parts, key=lambda part: int(part["PartNumber"]))
                kwargs = {"IfNoneMatch": "*"} if self.mode == "w-" else {}
                self._call(
                    "complete_multipart_upload",
                    UploadId=self._upload_id,
                    MultipartUpload={"Parts": parts},
                    **kwargs,
                )
        except BaseException:
            self._fail()
            raise
        self._done = True
        self._shutdown(wait_for_parts=False)

    def _fail(self) -> None:
        """Abort after a failure without hiding it: an abort that fails too is logged."""
        if self._failed:
            return
        self._failed = True
        try:
            self.abort()
        except RemoteZipError as exc:
            log.warning("%s", exc)

    def _shutdown(self, *, wait_for_parts: bool) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=wait_for_parts, cancel_futures=True)
            self._executor = None

    def abort(self) -> None:
        """Cancel queued parts, wait for the ones in flight, abort the upload. Idempotent.

        Waiting matters: a part that lands after the abort would recreate the upload.
        """
        if self._done:
            return
        self._done = True
        self._buffer, self._filled = None, 0
        self._shutdown(wait_for_parts=True)
        self._pending.clear()
        if self._upload_id is None:
            return
        try:
            self._call("abort_multipart_upload", UploadId=self._upload_id)
        except ArchiveNotFoundError:
            pass  # NoSuchUpload: gone already
        except RemoteZipError as exc:
            raise SourceError(
                f"could not abort multipart upload {self._upload_id} ({exc.detail}); "
                "it is not visible as an object, but stays until aborted or removed "
                "by an AbortIncompleteMultipartUpload lifecycle rule",
                archive=self.url,
            ) from exc

    def __repr__(self) -> str:
        return f"S3MultipartSink({self.url!r}, mode={self.mode!r})"


def _translate(exc: BaseException, url: str, operation: str) -> RemoteZipError:
    """botocore's errors through the sources' table; a failed ``If-None-Match`` means "exists"."""
    import botocore.exceptions

    from ._s3 import client_error_status, translate_error

    if isinstance(exc, botocore.exceptions.ClientError):
        status, code = client_error_status(exc)
        if operation != "head_object" and (status == 412 or code == "PreconditionFailed"):
            return _exists(url)
        if code == "NoSuchUpload":
            return ArchiveNotFoundError(f"multipart upload not found ({code})", archive=url)
    error = translate_error(exc, url)
    if isinstance(error, RemoteZipError) and operation not in ("head_object", "get_object"):
        error.detail = f"{operation} failed: {error.detail}"
    return error


# -- opening -------------------------------------------------------------------------


def open_sink(
    url: str | os.PathLike[str],
    *,
    mode: str = "w",
    options: PartOptions | None = None,
    client: Any = None,
    s3: S3Options | None = None,
    **connection: Any,
) -> Sink:
    """The sink for ``url``: ``s3://bucket/key`` (multipart upload), ``file://path`` or a path.

    ``connection`` takes the connection arguments of :func:`~.sources.open_source`
    (``endpoint_url``, credentials, timeouts...) and builds the client the same
    way (:meth:`S3Options.make_client`); ``client=`` passes a ready boto3
    client, ``s3=`` ready options. ``http(s)://`` URLs are read-only.
    """
    from . import CONNECTION_ARGUMENTS

    _check_mode(mode)
    check_names(connection, CONNECTION_ARGUMENTS, "open_sink()")
    given = {name: value for name, value in connection.items() if value is not None}
    scheme, text = classify(url, writing=True)
    if scheme == "s3":
        from ._s3 import S3Options, parse_s3_url

        bucket, key = parse_s3_url(text)
        if client is None:
            if s3 is not None and given:
                raise TypeError("pass either s3=S3Options(...) or connection arguments, not both")
            client = (s3 or S3Options(**given)).make_client()
        return S3MultipartSink(bucket, key, client=client, options=options, mode=mode)
    if client is not None:
        raise ValueError("client= is for s3:// URLs; a local path needs none")
    return LocalSink(text, mode=mode)


__all__ = [
    "MAX_PARTS",
    "MIN_PART_SIZE",
    "MODES",
    "LocalSink",
    "PartOptions",
    "Parts",
    "S3MultipartSink",
    "Sink",
    "open_sink",
]
