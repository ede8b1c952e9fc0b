"""``ZipWriteStore``: a write-only zarr v2 store that streams a zip into S3 (or a file).

``RemoteZipStore(url, mode="w")`` returns one. Chunk keys go to the
:class:`~remote_zip_store.zipwrite.ZipWriter` at once (multipart parts, so
memory stays bounded whatever the hierarchy's size); metadata keys
(``.zgroup``, ``.zarray``, ``.zattrs``, ``.zmetadata``, ``zarr.json``) are held
in memory and written last, just before the central directory, so that the
reader's one suffix GET at open also brings every metadata entry.

A streamed chunk cannot be replaced (its bytes are already uploaded): writing
the same chunk key twice is an error, never a silent duplicate; with
``WriteOptions(duplicates="warn")`` a second entry is appended with a warning,
like ``ZipStore`` (readers use the last) (docs/writing.md).
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Any

from zarr.storage import Store
from zarr.util import normalize_storage_path

from .archive import ReadOptions
from .errors import (
    DuplicateEntryError,
    InvalidKeyError,
    InvalidValueError,
    KeyNotFoundError,
    RemoteZipError,
    WriterClosedError,
)
from .frontend import is_metadata
from .sinks import open_sink
from .zipwrite import WriteOptions, ZipWriter

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
else:
    S3Client = Any

#: The modes that make ``RemoteZipStore(url, mode=...)`` a write store.
WRITE_MODES = ("w", "w-")

_WRITE_FIELDS = frozenset(field.name for field in dataclasses.fields(WriteOptions))
_READ_ONLY_ARGUMENTS = (
    frozenset(
        {"root", "metadata_prefetch", "read", *(f.name for f in dataclasses.fields(ReadOptions))}
    )
    - _WRITE_FIELDS  # max_workers is both: here it is the write's
)


class ChunkNotReadableError(RemoteZipError, OSError):
    """A chunk already streamed out cannot be read back from a write store.

    Deliberately not a ``KeyError``: zarr would take the chunk for missing and
    silently rebuild it from the fill value on a partial chunk update.
    """


def write_options(write: WriteOptions | None = None, **overrides: Any) -> WriteOptions:
    """``write`` (or the defaults) with the given ``WriteOptions`` fields replaced."""
    chosen = write if write is not None else WriteOptions()
    return dataclasses.replace(chosen, **overrides) if overrides else chosen


def check_key(key: object, url: str) -> str:
    """``key`` if it can be a zip entry name that zarr would also ask for, else an error."""
    if not isinstance(key, str):
        raise InvalidKeyError(f"a key must be a str, not {type(key).__name__}", archive=url)
    problem = None
    if not key:
        problem = "an empty key"
    elif "\x00" in key:
        problem = "a NUL character"
    elif key.startswith("/") or "\\" in key:
        problem = "an absolute path or a backslash"
    elif any(part in ("", ".", "..") for part in key.split("/")):
        problem = "an empty, '.' or '..' path segment"
    else:
        try:
            key.encode("utf-8")
        except UnicodeEncodeError:
            problem = "a character that is not valid UTF-8"
    if problem is not None:
        raise InvalidKeyError(f"not a valid zip entry name: {problem}", archive=url, key=key)
    return key


def as_buffer(value: object, url: str, key: str) -> memoryview:
    """``value`` as a flat byte view (bytes, bytearray, a C-contiguous array), else an error."""
    try:
        view = memoryview(value)  # type: ignore[arg-type]
    except TypeError:
        raise InvalidValueError(
            f"the value must be bytes-like, not {type(value).__name__}", archive=url, key=key
        ) from None
    if not view.c_contiguous:
        raise InvalidValueError("the value must be a C-contiguous buffer", archive=url, key=key)
    return view.cast("B") if (view.ndim != 1 or view.format != "B") else view


class ZipWriteStore(Store):  # type: ignore[misc]
    """A zarr v2 store that writes one new zip archive; ``close()`` completes it.

    ``url`` is ``s3://bucket/key`` or a local path. ``mode="w"`` replaces an
    existing object when (and only when) the new one completes; ``mode="w-"``
    fails if one exists. ``write=WriteOptions(...)`` or its field names as
    keywords (``part_size``, ``max_workers``, ``compress``, ``duplicates``...)
    set how it is written; every other keyword is a connection argument
    (``endpoint_url``, ``region_name``, the AWS keys...), or pass ``client=``.

    An exception inside ``with`` aborts: nothing appears under the key. Reads
    serve what zarr needs while writing: held metadata (from memory),
    ``in``/listing of every key written; a chunk already streamed raises
    :class:`ChunkNotReadableError`. One process only: it does not pickle.
    """

    _readable = True
    _writeable = True
    _erasable = True  # rmdir() of what is still held (zarr's overwrite=True calls it)
    _listable = True

    def __init__(
        self,
        url: str | os.PathLike[str],
        *,
        mode: str = "w",
        write: WriteOptions | None = None,
        client: S3Client | None = None,
        **options: Any,
    ):
        if mode not in WRITE_MODES:
            raise ValueError(f"mode must be one of {WRITE_MODES}, not {mode!r}")
        misplaced = sorted(set(options) & _READ_ONLY_ARGUMENTS)
        if misplaced:
            raise TypeError(
                f"{', '.join(misplaced)}: read-store arguments; a write store "
                f"(mode={mode!r}) writes at the archive's root and takes write=WriteOptions(...)"
            )
        overrides = {name: options.pop(name) for name in list(options) if name in _WRITE_FIELDS}
        self.options = write_options(write, **overrides)
        self.mode = mode
        self._sink = open_sink(url, mode=mode, options=self.options, client=client, **options)
        self._url = self._sink.url
        self._writer = ZipWriter(self._sink, self.options)
        self._metadata: dict[str, bytes] = {}
        self._chunks: set[str] = set()
        self._lock = threading.Lock()
        self._closed = False
        self._aborted = False

    # -- identity ----------------------------------------------------------------------
    @property
    def url(self) -> str:
        return self._url

    def __repr__(self) -> str:
        return f"ZipWriteStore({self._url!r}, mode={self.mode!r})"

    def __getstate__(self) -> dict[str, Any]:
        raise TypeError(
            f"a write store cannot be pickled ({self._url}): one upload lives in one process; "
            "write with threads (dask's threaded scheduler), not processes"
        )

    # -- writing -----------------------------------------------------------------------
    def __setitem__(self, key: str, value: Any) -> None:
        name = check_key(key, self._url)
        data = as_buffer(value, self._url, name)
        with self._lock:
            self._check_writable(name)
            if is_metadata(name):
                self._metadata[name] = bytes(data)  # last value wins; written at close
                return
            if name in self._chunks and self.options.duplicates == "error":
                raise DuplicateEntryError(
                    "this chunk was already written and streamed out; a write store takes "
                    "each chunk once (align the writes with the zarr chunks, or "
                    "WriteOptions(duplicates='warn') to append a second entry)",
                    archive=self._url,
                    key=name,
                )
            self._chunks.add(name)
            try:
                self._writer.write(name, data)
            except BaseException:
                self._fail()
                raise

    def __delitem__(self, key: str) -> None:
        with self._lock:
            self._check_writable(key if isinstance(key, str) else None)
            if isinstance(key, str) and key in self._metadata:
                del self._metadata[key]
                return
            if isinstance(key, str) and key in self._chunks:
                raise self._streamed(key, "deleted")
            raise KeyNotFoundError("does not exist", archive=self._url, key=str(key))

    def rmdir(self, path: str = "") -> None:
        """Drop the held metadata under ``path``; an error if a chunk under it was written."""
        path = normalize_storage_path(path)
        prefix = path + "/" if path else ""
        with self._lock:
            self._check_writable(path or None)
            for name in self._chunks:
                if name.startswith(prefix) or name == path:
                    raise self._streamed(name, "deleted (rmdir)")
            for name in [n for n in self._metadata if n.startswith(prefix) or n == path]:
                del self._metadata[name]

    def clear(self) -> None:
        self.rmdir("")

    # -- reading back (what zarr needs while it writes) --------------------------------
    def __getitem__(self, key: str) -> bytes:
        with self._lock:
            if isinstance(key, str):
                held = self._metadata.get(key)
                if held is not None:
                    return held
                if key in self._chunks:
                    raise self._streamed(key, "read back")
        shown = key if isinstance(key, str) else repr(key)
        raise KeyNotFoundError("does not exist", archive=self._url, key=shown)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return isinstance(key, str) and (key in self._metadata or key in self._chunks)

    def keys(self) -> Iterator[str]:
        with self._lock:
            names = sorted(self._chunks.union(self._metadata))
        return iter(names)

    def __iter__(self) -> Iterator[str]:
        return self.keys()

    def __len__(self) -> int:
        with self._lock:
            return len(self._chunks) + len(self._metadata)

    def listdir(self, path: str | None = None) -> list[str]:
        path = normalize_storage_path(path)
        prefix = path + "/" if path else ""
        children = {
            name[len(prefix) :].partition("/")[0] for name in self.keys() if name.startswith(prefix)
        }
        return sorted(children)

    def getsize(self, path: str | None = None) -> int:
        """Sizes of held metadata only (streamed chunks are not tracked): a lower bound."""
        path = normalize_storage_path(path)
        with self._lock:
            if path in self._metadata:
                return len(self._metadata[path])
            prefix = path + "/" if path else ""
            return sum(
                len(v)
                for k, v in self._metadata.items()
                if k.startswith(prefix) and "/" not in k[len(prefix) :]
            )

    # -- lifecycle -----------------------------------------------------------------------
    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def aborted(self) -> bool:
        return self._aborted

    @property
    def bytes_written(self) -> int:
        return int(self._writer.bytes_written)

    def close(self) -> None:
        """Write the held metadata, the central directory and complete the object."""
        with self._lock:
            if self._closed:
                return
            try:
                for name in sorted(self._metadata):
                    self._writer.write(name, self._metadata[name])
                self._writer.close()
            except BaseException:
                self._fail()
                raise
            self._closed = True
            self._metadata.clear()

    def abort(self) -> None:
        """Abandon the archive: the upload is aborted, nothing appears under the key."""
        with self._lock:
            if not self._closed:
                self._fail()

    def _fail(self) -> None:
        self._closed = self._aborted = True
        self._metadata.clear()
        self._writer.abort()

    def __enter__(self) -> ZipWriteStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            self.abort()
        else:
            self.close()

    def _check_writable(self, key: str | None) -> None:
        if self._closed:
            state = "aborted" if self._aborted else "closed"
            raise WriterClosedError(
                f"the write store is {state}; open a new one to write", archive=self._url, key=key
            )

    def _streamed(self, key: str, what: str) -> ChunkNotReadableError:
        return ChunkNotReadableError(
            f"this chunk was already streamed to the archive and cannot be {what}",
            archive=self._url,
            key=key,
        )
