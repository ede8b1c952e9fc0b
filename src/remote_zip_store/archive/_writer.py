"""A streaming zip writer: entries go to a :class:`~.sinks.Sink` as they come.

The writer never seeks and keeps only the central directory in memory (about
46 bytes plus the name per entry): each entry's value is in memory when it is
written, so its CRC-32 and sizes are known and go straight into the local
header (no data descriptor, no bit 3). The bytes it hands to the sink are the
whole archive, in order; the sink decides how they travel (a temp file, S3
multipart parts).

Layout decisions (docs/writing.md, docs/zip-format.md for the reader's side):

* Stored by default (zarr chunks are compressed already); deflate on request.
* ZIP64 exactly when a field cannot hold its value: an entry whose size or
  offset is ``>= 0xFFFFFFFF`` (the all-ones value itself means "see ZIP64" to
  every reader) gets a ZIP64 extra field; the end records get the ZIP64 pair
  when there are more than 65,535 entries, or the directory's size or offset
  overflows 32 bits. The local ZIP64 extra holds both sizes (APPNOTE 4.5.3);
  the central one only the overflowed fields, in the order usize, csize, offset.
  ``zip64_end_records=True`` (the ``.ozx`` layout: RFC-9 asks for ZIP64 whatever
  the size) writes the ZIP64 end pair always; entries still get extras only
  when a field overflows (their sizes are known before the header is written).
* The central directory lists entries in the order written, or sorted stably by
  ``directory_order`` (``.ozx``: every ``zarr.json`` first); an archive comment
  goes into the end record at :meth:`ZipWriter.close`.
* Names are UTF-8; bit 11 is set only for a name that is not ASCII (an ASCII
  name reads the same in cp437, and old tools show it either way).
* Unix "made by" with mode 0644 for files, so ``unzip`` extracts sane permissions.

The records themselves are encoded by the pure functions of
:mod:`remote_zip_store.zipfmt._encode`, which the unit tests drive with sizes and
offsets too large to write for real.
"""

from __future__ import annotations

import logging
import threading
import time
import warnings
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol, TypeVar

from .. import errors
from ..errors import (
    DuplicateEntryError,
    WriterClosedError,
)
from ..transport._sinks import MIN_PART_SIZE, Sink
from ..zipfmt._encode import (
    as_bytes,
    central_record,
    deflate,
    dos_date_time,
    encode_name,
    end_records,
    local_header,
)
from ..zipfmt._records import DEFLATED as DEFLATED
from ..zipfmt._records import STORED as STORED

log = logging.getLogger(__name__)

DUPLICATE_POLICIES = ("error", "warn")


@dataclass(frozen=True)
class WriteOptions:
    """How an archive is written: frozen, picklable data shared by the writer and the sink."""

    part_size: int = 8 * 2**20
    """Multipart part size in bytes, >= 5 MiB (S3's minimum); also the sink's buffer."""
    max_workers: int = 4
    """Parts uploaded concurrently; memory is about (max_workers + 1) x part_size."""
    compress: bool = False
    """Default of :meth:`ZipWriter.write`: stored (zarr chunks are compressed); True = deflate."""
    compresslevel: int = 6
    date_time: tuple[int, int, int, int, int, int] | None = None
    """Modification time of every entry; ``None``: local time when the writer starts."""
    duplicates: str = "error"
    """A name written twice: ``"error"`` raises :class:`DuplicateEntryError`; ``"warn"``
    writes a second entry and warns, like ``zipfile`` (readers, ours too, use the last)."""

    def __post_init__(self) -> None:
        if self.part_size < MIN_PART_SIZE:
            raise ValueError(
                f"part_size must be >= {MIN_PART_SIZE} bytes (5 MiB, S3's minimum part size)"
            )
        if self.max_workers < 1:
            raise ValueError("max_workers must be >= 1")
        if not 0 <= self.compresslevel <= 9:
            raise ValueError("compresslevel must be between 0 and 9")
        if self.duplicates not in DUPLICATE_POLICIES:
            raise ValueError(f"duplicates must be one of {DUPLICATE_POLICIES}")
        if self.date_time is not None and self.date_time[0] < 1980:
            raise ValueError("zip timestamps start in 1980")


# -- the writer ----------------------------------------------------------------------


class _Completable(Protocol):
    def close(self) -> None: ...
    def abort(self) -> None: ...


_C = TypeVar("_C", bound=_Completable)


class CompletesOnExit:
    """``with``: leaving the block completes the archive (``close``), an exception aborts it.

    Shared by the writer, the session and both write stores; it goes first among the
    bases so that it wins over zarr's ``Store.__exit__`` (which only closes). A failing
    abort is logged, so the block's own exception is what propagates.
    """

    def __enter__(self: _C) -> _C:
        return self

    def __exit__(
        self: _Completable,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
            return
        try:  # the block's exception is the one to see; a failing abort is only logged
            self.abort()
        except Exception as failure:
            log.warning("aborting after %s failed too: %s", exc_type.__name__, failure)


class ZipWriter(CompletesOnExit):
    """Writes entries one after another to ``sink``; :meth:`close` adds the directory.

    Thread-safe: concurrent :meth:`write` calls (dask, a thread pool) compute
    CRC-32 and deflate outside the lock and append under it, one entry at a time.
    As a context manager, an exception inside the block aborts (the sink shows
    nothing under the key) and a clean exit closes (the object appears).

    ``options`` default to the sink's (``open_sink(options=...)``), else :class:`WriteOptions`.
    ``start_offset``: bytes the sink already holds before the archive (a prefix);
    offsets in the archive are absolute, as ``zipfile`` writes them.
    ``zip64_end_records``: the ZIP64 end pair even when nothing needs it.
    ``directory_order``: a sort key of entry names; the central directory is
    sorted by it (stably) at :meth:`close`, instead of listing the write order.
    """

    def __init__(
        self,
        sink: Sink,
        options: WriteOptions | None = None,
        *,
        start_offset: int = 0,
        zip64_end_records: bool = False,
        directory_order: Callable[[str], Any] | None = None,
    ):
        self._sink = sink
        # The sink's options (part size) and the writer's usually are one object.
        inherited = getattr(sink, "options", None)
        if options is None:
            options = inherited if isinstance(inherited, WriteOptions) else WriteOptions()
        self.options: WriteOptions = options
        now = options.date_time or time.localtime()[:6]
        self._dos_time, self._dos_date = dos_date_time(tuple(now))  # type: ignore[arg-type]
        self._lock = threading.Lock()
        self._start = start_offset
        self._offset = start_offset
        self._directory = bytearray()
        self._zip64_end = zip64_end_records
        self._order = directory_order
        # With an order: (name, record) kept apart until close sorts them.
        self._records: list[tuple[str, bytes]] = []
        self._names: set[str] = set()
        self._closed = False
        self._aborted = False
        self.entries = 0

    @property
    def url(self) -> str:
        return self._sink.url

    @property
    def closed(self) -> bool:
        """True after :meth:`close` or :meth:`abort` (or a failed write, which aborts)."""
        return self._closed

    @property
    def aborted(self) -> bool:
        return self._aborted

    @property
    def bytes_written(self) -> int:
        """Bytes handed to the sink so far (the archive's size once closed)."""
        return self._offset - self._start

    def __contains__(self, name: object) -> bool:
        """Whether an entry named ``name`` was written."""
        return name in self._names

    def _check_open(self, name: str | None = None) -> None:
        if self._closed:
            state = "aborted" if self._aborted else "closed"
            raise WriterClosedError(
                f"the archive writer is {state}; nothing more can be written",
                archive=self._sink.url,
                key=name,
            )

    def write(
        self,
        name: str,
        data: bytes | bytearray | memoryview,
        *,
        compress: bool | None = None,
    ) -> None:
        """Write one entry: local header and data now, its directory record at close.

        A sink failure aborts the whole archive (nothing becomes visible) and is raised.
        """
        with errors.context(self._sink.url, name if isinstance(name, str) else None):
            self._check_open(name)
            raw, flags = encode_name(name)
            view = as_bytes(data)
        deflated = self.options.compress if compress is None else compress
        crc = zlib.crc32(view)
        payload: bytes | memoryview = (
            deflate(view, self.options.compresslevel) if deflated else view
        )
        method = DEFLATED if deflated else STORED
        usize, csize = view.nbytes, len(payload)
        header = local_header(
            raw,
            flags=flags,
            method=method,
            crc32=crc,
            compressed_size=csize,
            uncompressed_size=usize,
            dos_time=self._dos_time,
            dos_date=self._dos_date,
        )
        with self._lock:
            self._check_open(name)
            if name in self._names:
                if self.options.duplicates == "error":
                    raise DuplicateEntryError(
                        "written already (a zip entry name appears once; "
                        "WriteOptions(duplicates='warn') writes another entry)",
                        archive=self._sink.url,
                        key=name,
                    )
                warnings.warn(
                    f"duplicate zip entry name {name!r} in {self._sink.url}", stacklevel=2
                )
            record = central_record(
                raw,
                flags=flags,
                method=method,
                crc32=crc,
                compressed_size=csize,
                uncompressed_size=usize,
                offset=self._offset,
                dos_time=self._dos_time,
                dos_date=self._dos_date,
            )
            try:
                self._sink.write(header)
                self._sink.write(payload)
            except BaseException:
                self._abort_quietly()
                raise
            self._offset += len(header) + csize
            if self._order is None:
                self._directory += record
            else:
                self._records.append((name, record))
            self._names.add(name)
            self.entries += 1

    def close(self, *, comment: bytes = b"") -> None:
        """Write the directory and end records, then complete the sink (the object appears).

        ``comment``: the archive comment (at most 65,535 bytes). Idempotent; after
        :meth:`abort` it does nothing. A failure aborts and is raised.
        """
        with self._lock:
            if self._closed:
                return
            try:
                if self._order is not None:
                    order = self._order
                    self._records.sort(key=lambda item: order(item[0]))
                    self._directory = bytearray().join(record for _, record in self._records)
                    self._records = []
                cd_offset = self._offset
                end = end_records(
                    self.entries,
                    len(self._directory),
                    cd_offset,
                    comment,
                    zip64=self._zip64_end,
                )
                self._sink.write(self._directory)
                self._sink.write(end)
                self._offset += len(self._directory) + len(end)
                self._sink.complete()
            except BaseException:
                self._abort_quietly()
                raise
            self._closed = True
            self._directory = bytearray()

    def abort(self) -> None:
        """Drop the archive: the sink aborts, nothing appears under the key. Idempotent.

        After a successful :meth:`close` the object exists already and this does nothing.
        """
        if self._closed:
            return
        self._closed = True
        self._aborted = True
        self._directory = bytearray()
        self._records = []
        self._sink.abort()

    def _abort_quietly(self) -> None:
        """Abort while another error propagates: a failing abort is logged, not raised."""
        try:
            self.abort()
        except Exception as exc:
            log.warning("aborting %s failed too: %s", self._sink.url, exc)

    def __repr__(self) -> str:
        state = "aborted" if self._aborted else "closed" if self._closed else "open"
        return f"ZipWriter({self._sink.url!r}, {self.entries} entries, {state})"


__all__ = [
    "DEFLATED",
    "STORED",
    "WriteOptions",
    "ZipWriter",
    "central_record",
    "encode_name",
    "end_records",
    "local_header",
]
