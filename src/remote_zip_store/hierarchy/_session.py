"""What both zarr write stores share: key and value rules, held metadata, close/abort.

:class:`WriteSession` is the write store's state without zarr: chunk keys go to
the :class:`~remote_zip_store.archive.ZipWriter` at once; metadata keys
(``.zgroup``, ``.zarray``, ``.zattrs``, ``.zmetadata``, ``zarr.json``) are held
and written last, just before the central directory, so that the reader's one
suffix GET at open also brings every metadata entry. The zarr-2 store
(:mod:`remote_zip_store.zarr2._write`) and the zarr-3 store
(:mod:`remote_zip_store.zarr3._write`) are thin adapters over it, so the rules are
written once (docs/writing.md).

``layout="ozx"`` (OME-Zarr RFC-9, chosen by default for a name ending in
``.ozx``) adds: zarr v3 metadata only (checked as each key is set), a root
``zarr.json`` (checked at close), stored entries, ZIP64 end records, every
``zarr.json`` first in the central directory (root, then breadth-first) and the
RFC-9 archive comment. Metadata still goes last in the file: it is known only
at close. ``pack``, which knows every key in advance, streams the ``zarr.json``
first instead (``hold_metadata=False``).
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
from typing import TYPE_CHECKING, Any

from ..archive._reader import ReadOptions
from ..archive._writer import CompletesOnExit, WriteOptions, ZipWriter
from ..errors import (
    ChunkNotReadableError,
    DuplicateEntryError,
    InvalidKeyError,
    InvalidValueError,
    KeyNotFoundError,
    LayoutError,
    WriterClosedError,
)
from ..transport._sinks import open_sink
from ..zipfmt._conventions import is_ozx_name, json_first_key, ome_version, ozx_comment
from ._names import ZARR_V3_METADATA, is_metadata

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
else:
    S3Client = Any

#: The modes that make ``RemoteZipStore(url, mode=...)`` a write store.
WRITE_MODES = ("w", "w-")

WRITE_FIELDS = frozenset(field.name for field in dataclasses.fields(WriteOptions))
READ_ONLY_ARGUMENTS = (
    frozenset(
        {"root", "metadata_prefetch", "read", *(f.name for f in dataclasses.fields(ReadOptions))}
    )
    - WRITE_FIELDS  # max_workers is both: here it is the write's
)


#: ``layout=``: a plain zip (metadata last), or RFC-9's single-file OME-Zarr.
LAYOUTS = ("zip", "ozx")


def resolve_layout(url: str | os.PathLike[str], layout: str | None) -> str:
    """``layout``, or by the name when None: ``"ozx"`` for ``*.ozx``, else ``"zip"``."""
    if layout is None:
        return "ozx" if is_ozx_name(os.fspath(url)) else "zip"
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, not {layout!r}")
    return layout


def check_ozx_metadata(name: str, value: bytes, url: str) -> None:
    """Refuse metadata an ``.ozx`` cannot hold: zarr v2 names, a ``zarr.json`` not zarr v3."""
    base = name.rpartition("/")[2]
    if base != ZARR_V3_METADATA:
        raise LayoutError(
            "zarr v2 metadata: an .ozx (OME-Zarr RFC-9) holds a zarr v3 hierarchy only "
            "(write with zarr_format=3, or layout='zip' for a plain zip)",
            archive=url,
            key=name,
        )
    try:
        document = json.loads(value)
    except (UnicodeDecodeError, ValueError, RecursionError):
        document = None
    if not isinstance(document, dict) or document.get("zarr_format") != 3:
        raise LayoutError(
            "not a zarr v3 document (a JSON object with zarr_format 3): an .ozx holds "
            "a zarr v3 hierarchy only",
            archive=url,
            key=name,
        )


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


class WriteSession(CompletesOnExit):
    """One archive being written: the sink, the writer, held metadata, streamed names.

    ``options`` are the keywords of the write store: ``WriteOptions`` field
    names override ``write``; read-store arguments are refused (``TypeError``);
    the rest are connection arguments of :func:`~remote_zip_store.transport.open_sink`.
    Every method is thread-safe (one lock); ``put`` holds it while a chunk is
    written, so the writer sees one entry at a time.

    ``layout``: ``"zip"``, ``"ozx"`` or None (by the name: :func:`resolve_layout`).
    ``hold_metadata=False`` writes metadata keys when they are put, like chunks
    (``pack``, whose keys come once and in the order it chose).
    """

    def __init__(
        self,
        url: str | os.PathLike[str],
        mode: str,
        write: WriteOptions | None,
        client: S3Client | None,
        options: dict[str, Any],
        *,
        layout: str | None = None,
        hold_metadata: bool = True,
    ):
        if mode not in WRITE_MODES:
            raise ValueError(f"mode must be one of {WRITE_MODES}, not {mode!r}")
        self.layout = resolve_layout(url, layout)
        misplaced = sorted(set(options) & READ_ONLY_ARGUMENTS)
        if misplaced:
            raise TypeError(
                f"{', '.join(misplaced)}: read-store arguments; a write store "
                f"(mode={mode!r}) writes at the archive's root and takes write=WriteOptions(...)"
            )
        overrides = {name: options.pop(name) for name in list(options) if name in WRITE_FIELDS}
        self.options = write_options(write, **overrides)
        self.ozx = self.layout == "ozx"
        if self.ozx and self.options.compress:
            raise LayoutError(
                "an .ozx stores every entry (RFC-9: no zip-level compression); "
                "drop compress=True (--deflate)",
                archive=os.fspath(url),
            )
        self.mode = mode
        self.hold_metadata = hold_metadata
        self._sink = open_sink(url, mode=mode, options=self.options, client=client, **options)
        self.url = self._sink.url
        self._writer = ZipWriter(
            self._sink,
            self.options,
            zip64_end_records=self.ozx,
            directory_order=json_first_key if self.ozx else None,
        )
        self._root_metadata: bytes | None = None  # the root zarr.json, last value (.ozx)
        self.metadata: dict[str, bytes] = {}
        self.chunks: dict[str, int] = {}  # name -> size in bytes
        self.lock = threading.Lock()
        self.closed = False
        self.aborted = False

    @property
    def bytes_written(self) -> int:
        return int(self._writer.bytes_written)

    # -- writing ------------------------------------------------------------------------
    def put(self, key: object, value: object) -> None:
        """Hold ``key`` (metadata, last value wins) or stream it out (a chunk, once)."""
        name = check_key(key, self.url)
        data = as_buffer(value, self.url, name)
        with self.lock:
            self.check_writable(name)
            metadata = is_metadata(name)
            if metadata and self.ozx:
                check_ozx_metadata(name, bytes(data), self.url)
                if name == ZARR_V3_METADATA and not self.hold_metadata:
                    self._root_metadata = bytes(data)
            if metadata and self.hold_metadata:
                self.metadata[name] = bytes(data)  # last value wins; written at close
                return
            if name in self.chunks and self.options.duplicates == "error":
                raise DuplicateEntryError(
                    "this chunk was already written and streamed out; a write store takes "
                    "each chunk once (align the writes with the zarr chunks, or "
                    "WriteOptions(duplicates='warn') to append a second entry)",
                    archive=self.url,
                    key=name,
                )
            self.chunks[name] = data.nbytes
            try:
                self._writer.write(name, data)
            except BaseException:
                self.fail()
                raise

    def delete(self, key: object, *, missing_ok: bool = False) -> None:
        """Drop held metadata; a streamed chunk is an error; an absent key per ``missing_ok``."""
        with self.lock:
            self.check_writable(key if isinstance(key, str) else None)
            if isinstance(key, str) and key in self.metadata:
                del self.metadata[key]
                return
            if isinstance(key, str) and key in self.chunks:
                raise self.streamed(key, "deleted")
            if not missing_ok:
                raise KeyNotFoundError("does not exist", archive=self.url, key=str(key))

    def rmdir(self, path: str) -> None:
        """Drop the held metadata under ``path``; an error if a chunk under it was written."""
        prefix = path + "/" if path else ""
        with self.lock:
            self.check_writable(path or None)
            for name in self.chunks:
                if name.startswith(prefix) or name == path:
                    raise self.streamed(name, "deleted (rmdir)")
            for name in [n for n in self.metadata if n.startswith(prefix) or n == path]:
                del self.metadata[name]

    # -- reading back (what zarr needs while it writes) --------------------------------
    def held(self, key: object) -> bytes | None:
        """Held metadata's value; ``None`` if never written; an error for a streamed chunk."""
        with self.lock:
            if not isinstance(key, str):
                return None
            value = self.metadata.get(key)
            if value is None and key in self.chunks:
                raise self.streamed(key, "read back")
            return value

    def __contains__(self, key: object) -> bool:
        with self.lock:
            return isinstance(key, str) and (key in self.metadata or key in self.chunks)

    def names(self) -> list[str]:
        """Every key written (held or streamed), sorted."""
        with self.lock:
            return sorted(set(self.chunks).union(self.metadata))

    def children(self, path: str) -> list[str]:
        """The names one level below ``path`` ("" for the root) among the keys written, sorted."""
        prefix = path + "/" if path else ""
        names = self.names()
        return sorted({n[len(prefix) :].partition("/")[0] for n in names if n.startswith(prefix)})

    def size(self, key: str) -> int | None:
        """The size of a key written, ``None`` if never written."""
        with self.lock:
            if key in self.metadata:
                return len(self.metadata[key])
            return self.chunks.get(key)

    # -- lifecycle -----------------------------------------------------------------------
    def close(self) -> None:
        """Write the held metadata, the central directory and complete the object."""
        with self.lock:
            if self.closed:
                return
            try:
                comment = b""
                if self.ozx:
                    # held: its last value (zarr may have dropped it); streamed: as put
                    root = (
                        self.metadata.get(ZARR_V3_METADATA)
                        if self.hold_metadata
                        else self._root_metadata
                    )
                    if root is None:
                        raise LayoutError(
                            "no zarr.json at the archive root: an .ozx holds one zarr v3 "
                            "hierarchy rooted at the archive root (OME-Zarr RFC-9); nothing "
                            "was written",
                            archive=self.url,
                        )
                    comment = ozx_comment(ome_version(root))
                order = json_first_key if self.ozx else None
                for name in sorted(self.metadata, key=lambda n: (order(n) if order else (), n)):
                    self._writer.write(name, self.metadata[name])
                self._writer.close(comment=comment)
            except BaseException:
                self.fail()
                raise
            self.closed = True
            self.metadata.clear()

    def abort(self) -> None:
        """Abandon the archive: the upload is aborted, nothing appears under the key."""
        with self.lock:
            if not self.closed:
                self.fail()

    def fail(self) -> None:
        """Abort under the lock (the caller holds it)."""
        self.closed = self.aborted = True
        self.metadata.clear()
        self._writer.abort()

    def check_writable(self, key: str | None) -> None:
        if self.closed:
            state = "aborted" if self.aborted else "closed"
            raise WriterClosedError(
                f"the write store is {state}; open a new one to write", archive=self.url, key=key
            )

    def streamed(self, key: str, what: str) -> ChunkNotReadableError:
        return ChunkNotReadableError(
            f"this chunk was already streamed to the archive and cannot be {what}",
            archive=self.url,
            key=key,
        )


class WriteFrontEnd(CompletesOnExit):
    """What the zarr-2 and zarr-3 write stores share over a :class:`WriteSession`; no zarr.

    The session, its options and mode, identity (``url``, ``repr``), the refusal
    to pickle, and the lifecycle (``closed``, ``aborted``, ``bytes_written``,
    ``abort``). A front end adds the zarr API; ``with`` completes or aborts
    (:class:`~remote_zip_store.archive._writer.CompletesOnExit`, first among the bases).
    """

    _session: WriteSession
    options: WriteOptions
    mode: str

    def _start_session(
        self,
        url: str | os.PathLike[str],
        mode: str,
        write: WriteOptions | None,
        client: S3Client | None,
        options: dict[str, Any],
        layout: str | None = None,
    ) -> None:
        self._session = WriteSession(url, mode, write, client, options, layout=layout)
        self.options = self._session.options
        self.mode = mode

    @property
    def url(self) -> str:
        return self._session.url

    def __repr__(self) -> str:
        return f"ZipWriteStore({self.url!r}, mode={self.mode!r})"

    def __getstate__(self) -> dict[str, Any]:
        raise TypeError(
            f"a write store cannot be pickled ({self.url}): one upload lives in one process; "
            "write with threads (dask's threaded scheduler), not processes"
        )

    @property
    def closed(self) -> bool:
        return self._session.closed

    @property
    def aborted(self) -> bool:
        return self._session.aborted

    @property
    def bytes_written(self) -> int:
        return self._session.bytes_written

    def abort(self) -> None:
        """Abandon the archive: the upload is aborted, nothing appears under the key."""
        self._session.abort()
