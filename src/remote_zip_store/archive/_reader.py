"""A zip archive behind a byte source: open (parse the directory), then read entries.

This composes the pure parts (:mod:`~remote_zip_store.zipfmt`)
with a :class:`~remote_zip_store.transport.Source`. It knows nothing about zarr.

* Open: one suffix GET of ``tail_size`` bytes usually holds the end records and
  the whole central directory; a second GET fetches the rest when it does not.
  Alongside it, in the same round trip, a GET of the first ``head_size`` bytes:
  zarr writers put the root metadata there, so opening a group needs no third.
* Read: one GET per entry covering its local header and data
  (:func:`~remote_zip_store.zipfmt._parse.span`: exact when the next entry's offset
  is known); ``read_many`` coalesces neighbours with the planner and runs
  batches on a bounded thread pool. No lock is held across I/O.
* Bytes already in the head or tail buffer (small archives, entries near either
  end) are served from memory with no request.
* Errors: the pure layers and the source raise with what they know; every call
  into them runs inside :func:`errors.context` with this archive's URL and the
  key being read, so every message names both.
"""

from __future__ import annotations

import asyncio
import bisect
import contextvars
import functools
import os
import threading
import weakref
from collections.abc import Awaitable, Callable, Iterable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from ..errors import (
    ArchiveChangedError,
    BadArchiveError,
    CorruptEntryError,
    StoreClosedError,
    context,
)
from ..transport import Preconnects, ReadsInto, Source
from ..transport import _deadline as deadline
from ..transport._forksafe import ForkSafeLock, PerProcess
from ..zipfmt import _planner as planner
from ..zipfmt._conventions import OzxInfo, parse_ozx_comment
from ..zipfmt._decode import STORED, check_supported, decompress
from ..zipfmt._index import ZipIndex
from ..zipfmt._parse import (
    FLAG_DATA_DESCRIPTOR,
    LOCAL_EXTRA_SLACK,
    LOCAL_SIZE,
    MAX_END_RECORDS,
    NeedMoreBytes,
    data_end,
    entry_data_offset,
    locate_directory,
    parse_central_directory,
    parse_like,
    span,
)
from ..zipfmt._parse import (
    Entry as Entry,
)
from ..zipfmt._planner import ByteRange
from . import _cohort as cohort
from . import _indexcache as indexcache
from ._readahead import Landing, Readahead, Region

#: Entries whose data start partial reads remember (then all forgotten: bounded memory).
MAX_DATA_OFFSETS = 65536
#: A read of an array's chunks bridges gaps of at most this share of the bytes it wants
#: (the rest of the 1.15x budget is the read-ahead's, ``readahead.WASTE``).
MAX_WASTE = 0.05
#: Archives at least this large get :attr:`ReadOptions.preconnect` spare connections at
#: open (when asked for): their reads grow into read-ahead windows fetched several
#: pieces at a time.
PRECONNECT_FROM = 8 * 1024 * 1024

_T = TypeVar("_T")


class _Adopted:
    """A directory adopted from a catalog, findable by copies of the archive in this
    process (dask unpickles stores while building a graph) while the original lives."""

    __slots__ = ("__weakref__", "index", "pieces", "size")

    def __init__(self, index: ZipIndex, size: int, pieces: list[tuple[int, bytes]]):
        self.index, self.size, self.pieces = index, size, pieces


#: The environment variable that sets :attr:`ReadOptions.loop_reads`'s default ("1": on).
LOOP_READS_VARIABLE = "RZS_LOOP_READS"


_ADOPTED: weakref.WeakValueDictionary[Any, _Adopted] = weakref.WeakValueDictionary()
_ADOPTED_LOCK = ForkSafeLock()


@dataclass(frozen=True)
class ReadOptions:
    """How an archive is opened and read. Plain data: it pickles with the store."""

    verify_crc: bool = True
    """Check every entry's CRC-32 (cheap next to a network read)."""
    tail_size: int = 512 * 1024
    """Bytes of the first (suffix) GET: end records plus a typical central directory."""
    head_size: int = 64 * 1024
    """Bytes from the archive's start fetched alongside the tail (0: none)."""
    max_directory_size: int = 512 * 1024 * 1024
    """Refuse archives whose central directory is larger (a hostile archive's bound)."""
    max_entry_size: int = 2**31
    """Refuse entries declaring more bytes (compressed or not) before fetching any of them."""
    max_workers: int = 16
    """Concurrent GETs in ``read_many`` (per store)."""
    coalesce_gap: int = planner.DEFAULT_COALESCE_GAP
    """Merge entries whose bytes are at most this far apart into one GET."""
    coalesce_max: int = planner.DEFAULT_COALESCE_MAX
    """Never merge a GET beyond this many bytes."""
    readahead: int = 64 * 1024 * 1024
    """At most this many bytes fetched ahead of a sequential scan (0: never; :mod:`readahead`)."""
    loop_reads: bool | None = None
    """zarr 3 over an async source (the obstore transport): await chunk GETs on zarr's
    event loop (:meth:`ZipArchive.read_many_async`) instead of on the store's thread pool.
    None: ``RZS_LOOP_READS=1`` in the environment when the archive opens turns it on. Off
    by default: obstore's async bridge costs more client CPU per GET than the pool's hop
    on the machines measured (docs/zarr3.md)."""
    preconnect: int = 0
    """Connections to the server to have open once an archive of at least
    ``PRECONNECT_FROM`` (8 MiB) bytes is open, opened on threads beside the first reads
    (HTTP and the default S3 path): the read-ahead's parallel pieces and a tick's
    concurrent gets then find them ready instead of each paying a connection setup (a
    round trip, more with TLS). Counted per server, so a cohort opens them once. Off (0)
    by default: over plain TCP at 20 ms it measured no faster (docs/benchmarks.md)."""
    timeout: float | None = None
    """Seconds one operation may take in all (None: no bound but the connection's):
    the open, each entry read, each coalesced GET of ``read_many``. Socket timeouts
    shrink to the time left and no retry starts that cannot finish in it; then
    :class:`~remote_zip_store.errors.DeadlineExceededError` (a ``TimeoutError``)."""

    def __post_init__(self) -> None:
        if self.tail_size < 1024:
            raise ValueError("tail_size must be at least 1024 bytes")
        if self.head_size < 0:
            raise ValueError("head_size must be >= 0")
        if self.max_entry_size < 0 or self.max_directory_size < 0:
            raise ValueError("max_entry_size and max_directory_size must be >= 0")
        if self.max_workers < 1:
            raise ValueError("max_workers must be at least 1")
        if self.coalesce_gap < 0 or self.coalesce_max < 1:
            raise ValueError("coalesce_gap must be >= 0 and coalesce_max >= 1")
        if self.readahead < 0:
            raise ValueError("readahead must be >= 0")
        if self.preconnect < 0:
            raise ValueError("preconnect must be >= 0")
        if self.timeout is not None and not self.timeout > 0:
            raise ValueError("timeout must be > 0 seconds (or None)")


class ZipArchive:
    """Read entries of one zip archive through a byte source."""

    def __init__(
        self,
        source: Source,
        options: ReadOptions | None = None,
        profile: cohort.OpenProfile = cohort.NO_PROFILE,
    ):
        self.source = source
        self.options = options or ReadOptions()
        self.profile = profile
        """Which entries the first GET is sized for (from the layer above; no zarr here)."""
        self._start(closed=False)

    def _start(self, *, closed: bool) -> None:
        """Per-process state, empty: a new archive, or one just unpickled (no ``__init__``)."""
        # Single flight for the directory read only; never held by entry reads.
        self._open_lock = ForkSafeLock()
        self._index: ZipIndex | None = None
        chosen = getattr(self.options, "loop_reads", None)  # (absent from 0.1.0 pickles)
        if chosen is None:
            chosen = os.environ.get(LOOP_READS_VARIABLE) == "1"
        self._loop_reads: bool = chosen
        self._tail = b""
        self._tail_start = 0
        self._head = b""
        # No reference back to this archive from what it holds (the pool's builder, the
        # read-ahead's callables reach it through a weak reference): a dropped or closed
        # store is freed at once, not left to the garbage collector (a cohort of stores
        # as cyclic garbage made every later collection walk thousands of objects).
        self._pool: PerProcess[ThreadPoolExecutor] = PerProcess(
            functools.partial(_new_pool, self.options.max_workers), _shutdown
        )
        # Absolute data start of entries whose local header a partial read has checked
        # (by entry, not offset: two records may point at one header under two names).
        self._data_starts: dict[Entry, int] = {}
        me = weakref.ref(self)
        self._ahead = Readahead(
            functools.partial(_fetch_for, me),
            functools.partial(_submit_for, me),
            limit=self.options.readahead,
            piece=self.options.coalesce_max,
            slack=self.options.coalesce_gap,
            fetch_into=functools.partial(_fetch_into_for, me) if _streams(self.source) else None,
        )
        self._closed = closed
        # Raw spans adopted from a catalog (offset-sorted), and what a provisional
        # (catalogued, not yet confirmed by a GET) archive has served from them.
        self._pieces: list[tuple[int, bytes]] = []
        self._piece_starts: list[int] = []
        self._provisional = False
        self._served: dict[str, tuple[int, int]] = {}
        self._generation = 0
        self._adopted: _Adopted | None = None
        # (tail, head) an open of this version needed, from the end record it read (or
        # carried by the pickle): a pinned copy asks for just that (see _read_index).
        self._ends: tuple[int, int | None] | None = None
        self.size: int | None = None
        """The object's size in bytes, known once the directory has been read."""

    @property
    def url(self) -> str:
        return self.source.url

    # -- open -------------------------------------------------------------------------
    @property
    def index(self) -> ZipIndex:
        """The parsed directory; read on first use (so unpickling makes no request)."""
        index = self._index
        if index is None:
            with self._open_lock:
                if self._index is None:
                    with context(self.url), deadline.scope(self.options.timeout):
                        self._index = self._read_index()
                    self._spare_connections()
                index = self._index
        return index

    def _spare_connections(self) -> None:
        """Connections for the reads a large archive's open leads to (``preconnect``)."""
        wanted = getattr(self.options, "preconnect", 0)  # (absent from 0.1.0 pickles)
        size = self.size or 0
        if wanted and size >= PRECONNECT_FROM and isinstance(self.source, Preconnects):
            self.source.preconnect(wanted)

    def open(self) -> ZipArchive:
        """Read the central directory now (raises the archive's errors early)."""
        _ = self.index
        return self

    def adopt(
        self, index: ZipIndex, size: int, pieces: Sequence[tuple[int, bytes]] = ()
    ) -> ZipArchive:
        """Open from a directory read earlier (a catalog): no request now.

        The source must already be pinned to the version ``index`` was read from
        (S3: ``If-Match`` on every GET). ``pieces`` are ``(offset, raw bytes)``
        of whole entry spans (local header and data) served without a request.
        Until a GET confirms the version the archive is *provisional*: when the
        first GET finds the object changed (``ArchiveChangedError``), the
        directory is read again from the new version and the read is served
        from it, provided every entry already served from the pieces is the same
        (CRC-32 and size) in the new version and, if the names were listed, the
        names are too; otherwise ``ArchiveChangedError`` (never two versions mixed).
        """
        ordered = sorted(pieces)
        adopted = _Adopted(index, size, ordered)
        with self._open_lock:
            self._use(adopted)
        self._spare_connections()
        key = indexcache.version_key(self.source, self.options)
        if key is not None:
            with _ADOPTED_LOCK:
                _ADOPTED[key] = adopted
        return self

    def _use(self, adopted: _Adopted) -> None:
        self._adopted = adopted  # keeps it findable while this archive lives
        self._index = adopted.index
        self.size = adopted.size
        self._tail, self._tail_start, self._head = b"", adopted.size, b""
        self._pieces = adopted.pieces
        self._piece_starts = [start for start, _ in adopted.pieces]
        self._provisional = True
        self._served = {}

    @property
    def provisional(self) -> bool:
        """Opened from a catalog and not yet confirmed by a GET (see :meth:`adopt`)."""
        return self._provisional

    def _guarded(self, entries: Iterable[Entry], read: Callable[[list[Entry]], _T]) -> _T:
        """``read(entries)``; on a provisional archive, re-opened and retried once when
        the first GET finds the object changed since the catalog (see :meth:`adopt`)."""
        listed = list(entries)
        if not self._provisional:
            return read(listed)
        generation = self._generation
        try:
            result = read(listed)
        except ArchiveChangedError:
            if not self._reopen(generation):
                raise
            return read(self._current(listed))
        with self._open_lock:
            if self._generation == generation:
                if self._provisional:  # from the pieces: remember what, to compare later
                    for entry in listed:
                        self._served[entry.name] = (entry.crc32, entry.uncompressed_size)
                return result
        # Re-opened by another thread while this read ran: its bytes may be the old
        # version's, so read again from what the archive serves now.
        return read(self._current(listed))

    def _current(self, entries: list[Entry]) -> list[Entry]:
        """``entries`` looked up again in the current index (after a re-open)."""
        fresh = []
        for entry in entries:
            now = self.index.get(entry.name)
            if now is None:
                raise ArchiveChangedError(
                    "the object changed since the catalog was written and no longer has this entry",
                    archive=self.url,
                    key=entry.name,
                )
            fresh.append(now)
        return fresh

    def _reopen(self, generation: int) -> bool:
        """Read the directory of the new version; False when that would mix versions."""
        pin = getattr(self.source, "pin", None)
        if pin is None:
            return False
        with self._open_lock:
            if self._generation != generation:
                return True  # another thread re-opened it already
            if not self._provisional:
                return False
            old, served, old_size = self._index, dict(self._served), self.size
            old_version = self.source.version
            pin(None)
            self._pieces, self._piece_starts = [], []
            self._ahead.clear()
            self._data_starts.clear()
            try:
                with context(self.url):
                    new = self._read_index()
            except BaseException:
                pin(old_version)  # keep failing as changed, never serve the new bytes
                self._provisional = False
                raise
            same = all(
                (entry := new.get(name)) is not None
                and (entry.crc32, entry.uncompressed_size) == value
                for name, value in served.items()
            )
            if same and old is not None and old.names_listed:
                same = sorted(old.names()) == sorted(new.names())
            self._provisional = False
            self._generation += 1
            if not same:
                pin(old_version)  # later reads keep raising ArchiveChangedError
                self._tail, self._head, self.size = b"", b"", old_size
                self._tail_start = old_size or 0
                return False
            self._index = new
            return True

    def _read_index(self) -> ZipIndex:
        self._check_open()
        # An unpickled copy arrives pinned: reuse what a sibling in this process parsed.
        cache_key = indexcache.version_key(self.source, self.options)
        if cache_key is not None:
            with _ADOPTED_LOCK:
                adopted = _ADOPTED.get(cache_key)
            if adopted is not None:  # a copy of an archive opened from a catalog
                self._use(adopted)
                return adopted.index
        cached = indexcache.lookup(cache_key) if cache_key is not None else None
        if cached is not None:
            self._tail, self._tail_start, self.size = cached.tail, cached.tail_start, cached.size
            self._head = cached.head
            return cached.index
        limit = self.options.max_directory_size
        tail_size, head_size = cohort.suggest(
            self.source, max(self.options.tail_size, 1024), self.options.head_size
        )
        known = self._ends
        if known is not None and self.source.version is not None:
            # A pinned copy of an archive opened before (a pickle carries what that open
            # needed): its version cannot move, so its end record is already known and
            # one GET of exactly the directory (and the metadata by it) opens it, even a
            # directory larger than tail_size.
            tail_size = max(1, min(known[0], limit + MAX_END_RECORDS))
            if known[1] is not None:
                head_size = min(head_size, known[1])
        ends = self.source.read_ends(tail_size, head=head_size)
        data, size = ends.tail, ends.size
        while True:
            tail_start = size - len(data)
            try:
                location = locate_directory(data, size)
                rel = location.cd_start - tail_start
                if rel < 0:
                    raise NeedMoreBytes(location.cd_start)
                if location.cd_size > limit:
                    raise BadArchiveError(
                        f"central directory of {location.cd_size} bytes exceeds "
                        f"max_directory_size={limit}"
                    )
                directory = memoryview(data)[rel : rel + location.cd_size]
                records = None
                sibling = cohort.sibling_layout(self.source)
                if sibling is not None:  # a cohort: laid out as a sibling, parsed by gathering
                    records = parse_like(directory, location, sibling[0])
                if records is None:
                    records = parse_central_directory(directory, location)
                break
            except NeedMoreBytes as more:
                start = max(0, min(more.start, tail_start))
                if start >= tail_start:
                    raise BadArchiveError(
                        "corrupt zip: the parser asked for bytes it already has"
                    ) from None
                if size - start > limit + MAX_END_RECORDS:
                    raise BadArchiveError(
                        f"central directory would need {size - start} bytes, more than "
                        f"max_directory_size={limit}"
                    ) from None
                data = self.source.read_range(start, tail_start) + data
        self._tail = data
        self._tail_start = size - len(data)
        # Only the part before the tail and the directory is worth keeping.
        self._head = ends.head[: min(self._tail_start, location.cd_start)]
        self.size = size
        like = sibling[1] if sibling is not None else None
        index = ZipIndex(records, location, like=like)  # siblings' names: one lookup
        if sibling is None:
            cohort.learn_layout(self.source, directory, location, index)
        exact = cohort.learn(self.source, index, size, ends.head, self.profile)
        if self._ends is None:  # a pickled copy keeps what it carried: its pickle is stable
            self._ends = exact
        if cache_key is not None:
            opened = indexcache.OpenedDirectory(index, data, self._tail_start, size, self._head)
            indexcache.remember(cache_key, opened)
        return index

    @property
    def comment(self) -> bytes:
        """The archive comment (from the end record; read with the directory)."""
        return self.index.location.comment

    @property
    def ome(self) -> OzxInfo | None:
        """The OME-Zarr RFC-9 (``.ozx``) declaration in the comment, or None.

        ``ome.json_first``: the writer put every ``zarr.json`` first (see
        :mod:`~remote_zip_store.conventions`).
        """
        return parse_ozx_comment(self.comment)

    # -- read ---------------------------------------------------------------------------
    def read_raw(self, start: int, end: int) -> bytes:
        """Bytes ``[start, end)`` of the object as stored (a validator's view; no decoding).

        From the open's head or tail buffer when one holds them, else one GET.
        """
        _ = self.index
        with context(self.url), deadline.scope(self.options.timeout):
            if self._provisional:
                self._served[f"\0raw:{start}-{end}"] = (-1, -1)  # no entry can match it
            return self._fetch(start, end)

    def entry(self, name: str) -> Entry | None:
        return self.index.get(name)

    def read_buffered(self, entry: Entry) -> bytes | None:
        """``entry``'s contents if the open's buffers (or a catalog's pieces) hold all its
        bytes, else None: never a request. For the caller's own decisions (an array's
        ``node_type``), not for data it returns: on a provisional archive it does not
        count as served (:meth:`adopt`)."""
        with context(self.url, entry.name):
            check_supported(entry)
            raw = self._from_buffers(*self._checked_span(entry))
            if raw is None:
                return None
            start = self._data_offset(entry, raw)
            stop = start + entry.compressed_size
            if len(raw) < stop:
                return None
            return decompress(raw[start:stop], entry, verify_crc=self.options.verify_crc)

    def read(self, name: str, *, key: str | None = None) -> bytes:
        """The contents of entry ``name``; ``KeyError`` when it does not exist.

        ``key`` is accepted for compatibility and ignored: errors name the entry.
        """
        entry = self.index.get(name)
        if entry is None:
            raise KeyError(name)
        return self.read_entry(entry)

    def read_entry(self, entry: Entry) -> bytes:
        if self._provisional:
            return self._guarded([entry], lambda got: self._read_entry(got[0]))
        return self._read_entry(entry)

    def _read_entry(self, entry: Entry) -> bytes:
        with context(self.url, entry.name), deadline.scope(self.options.timeout):
            check_supported(entry)
            start, end = self._checked_span(entry)
            return self._extract(entry, self._fetch(start, end), 0)

    def read_entry_range(self, entry: Entry, start: int, end: int) -> bytes:
        """Bytes ``[start, end)`` of ``entry``'s uncompressed contents.

        A stored entry costs one GET of exactly those bytes once its data start
        is known. The first partial read of an entry learns it: a range near the
        start (within ``coalesce_gap``) is one GET of the local header and the
        data up to ``end``; a range further in (a shard index at the end of a
        shard) is a GET of the guessed sub-range beside a GET of the local
        header, in the same round trip, and is refetched if the guess was wrong.
        A compressed entry is read whole, checked and sliced. The CRC-32 covers
        the whole entry, so it is checked only when the whole entry is read:
        bytes of a partial stored read are checked against nothing but the
        directory's sizes.
        """
        if self._provisional:
            return self._guarded([entry], lambda got: self._read_entry_range(got[0], start, end))
        return self._read_entry_range(entry, start, end)

    def _read_entry_range(self, entry: Entry, start: int, end: int) -> bytes:
        size = entry.uncompressed_size
        if not 0 <= start <= end <= size:
            raise ValueError(
                f"bytes [{start}, {end}) are outside entry {entry.name!r} ({size} bytes)"
            )
        with context(self.url, entry.name), deadline.scope(self.options.timeout):
            check_supported(entry)
            first, last = self._checked_span(entry)
            if self._read_whole_for(entry, start, end, (first, last)):
                return self._read_entry(entry)[start:end]
            if start == end:
                return b""
            data_start = self._data_starts.get(entry)
            if data_start is not None:
                return self._fetch(data_start + start, data_start + end)
            if start <= self.options.coalesce_gap:
                # One GET: the local header (with room for a longer extra field), then data.
                guess = LOCAL_SIZE + entry.name_length + entry.extra_length + LOCAL_EXTRA_SLACK
                raw = self._fetch(first, min(last, first + guess + end))
                offset = self._data_offset(entry, raw)
                if len(raw) < offset + end:
                    raw += self._fetch(first + len(raw), first + offset + end)
                self._remember_data_start(entry, first + offset)
                return raw[offset + start : offset + end]
            return self._read_far_range(entry, start, end)

    def _read_whole_for(
        self, entry: Entry, start: int, end: int, checked_span: tuple[int, int]
    ) -> bool:
        """Whether a range of ``entry`` is read as the whole entry, then sliced: all of it
        (its CRC is checked), a compressed or corrupt entry, or one the open's buffers hold."""
        size = entry.uncompressed_size
        return (
            (start == 0 and end == size)
            or entry.method != STORED
            or entry.compressed_size != size  # corrupt: the whole read says how
            or self._from_buffers(*checked_span) is not None
        )

    def _read_far_range(self, entry: Entry, start: int, end: int) -> bytes:
        """``[start, end)`` of a stored entry far from its header: two concurrent GETs."""
        guessed = _guess_data_start(entry)
        header: list[bytes] = []
        failure: list[BaseException] = []
        first = entry.header_offset

        def fetch_header() -> None:
            try:
                header.append(self._fetch(first, first + LOCAL_SIZE + entry.name_length))
            except BaseException as exc:  # re-raised in the caller's thread
                failure.append(exc)

        thread = threading.Thread(  # under this read's deadline too
            target=contextvars.copy_context().run,
            args=(fetch_header,),
            name="remote-zip-store-header",
        )
        thread.start()
        try:
            data = self._fetch(guessed + start, guessed + end)
        finally:
            thread.join()
        if failure:
            raise failure[0]
        data_start = first + self._data_offset(entry, header[0])
        self._remember_data_start(entry, data_start)
        if data_start != guessed:  # the local extra field differs from the guess
            data = self._fetch(data_start + start, data_start + end)
        return data

    def _remember_data_start(self, entry: Entry, data_start: int) -> None:
        if len(self._data_starts) >= MAX_DATA_OFFSETS:
            self._data_starts.clear()
        self._data_starts[entry] = data_start

    def read_many(
        self,
        entries: Iterable[Entry],
        *,
        region: Region | None = None,
        region_end: int | None = None,
    ) -> dict[str, bytes]:
        """Contents of several entries, coalesced and fetched concurrently, by entry name.

        ``region``: where the entries' array lies in the archive, if the caller
        knows (``region_end``: the older form, one segment ending there); a run of
        small sequential reads may then be read ahead, never out of the segment
        holding the read (:mod:`~remote_zip_store.archive._readahead`), and the
        GETs bridge gaps of at most ``MAX_WASTE`` of the bytes wanted (chunks
        scattered among other arrays' are not fetched with everything between).
        """
        if self._provisional:
            return self._guarded(entries, lambda got: self._read_many(got, region, region_end))
        return self._read_many(entries, region, region_end)

    def _read_many(
        self, entries: Iterable[Entry], region: Region | None, region_end: int | None
    ) -> dict[str, bytes]:
        results, wanted, ranges = self._start_many(entries, region, region_end)
        left = []
        for i, entry in enumerate(wanted):  # bytes a sequential scan fetched ahead
            ahead = self._ahead.take(ranges[i].start, ranges[i].end, wait=self.options.timeout)
            if ahead is None:
                left.append(i)
            else:
                with context(self.url, entry.name):
                    results[entry.name] = self._extract(entry, ahead, 0)
        if not left:
            return results
        wanted = [wanted[i] for i in left]
        ranges = [ranges[i] for i in left]
        batches = self._plan_many(ranges, region)

        def run(batch: planner.Batch) -> dict[str, bytes]:
            with deadline.scope(self.options.timeout):  # each coalesced GET: its own budget
                with context(self.url, wanted[batch.members[0]].name):
                    data = self._fetch(batch.start, batch.end)
                found = {}
                for i in batch.members:
                    with context(self.url, wanted[i].name):
                        found[wanted[i].name] = self._extract(
                            wanted[i], data, ranges[i].start - batch.start
                        )
            return found

        if len(batches) == 1:
            results.update(run(batches[0]))
            return results
        futures = [self._pool.get().submit(run, batch) for batch in batches]
        _, pending = wait(futures, return_when=FIRST_EXCEPTION)
        for future in pending:
            future.cancel()
        for future in futures:  # re-raises the first failure; nothing partial is returned
            if not future.cancelled():
                results.update(future.result())
        return results

    def _start_many(
        self, entries: Iterable[Entry], region: Region | None, region_end: int | None
    ) -> tuple[dict[str, bytes], list[Entry], list[ByteRange]]:
        """A ``read_many``'s first steps, no request: the entries the open's buffers hold
        (decoded), the rest with their spans, and the read-ahead told of the read."""
        results: dict[str, bytes] = {}
        wanted = []
        for entry in entries:
            with context(self.url, entry.name):
                check_supported(entry)
            if self.is_buffered(entry):  # no request: keep it out of the plan
                results[entry.name] = self._read_entry(entry)
            else:
                wanted.append(entry)
        if not wanted:
            return results, wanted, []
        ranges = []
        for entry in wanted:
            with context(self.url, entry.name):
                ranges.append(ByteRange(*self._checked_span(entry)))
        lo = min(r.start for r in ranges)
        hi = max(r.end for r in ranges)
        # the next window first (the link stays busy); only from entries lying back to back
        self._ahead.advance(
            lo,
            hi,
            self._scan_stop(),
            region if region is not None else region_end,
            dense=_back_to_back(wanted),
            wanted=sum(r.size for r in ranges),
            entries=len(ranges),
        )
        return results, wanted, ranges

    def _plan_many(self, ranges: list[ByteRange], region: Region | None) -> list[planner.Batch]:
        return planner.plan(
            ranges,
            coalesce_gap=self.options.coalesce_gap,
            coalesce_max=self.options.coalesce_max,
            max_waste=MAX_WASTE if region is not None else None,
        )

    # -- the same reads on an event loop (a source with an async API) ------------------------
    def reads_async(self) -> bool:
        """Whether :meth:`read_many_async` awaits its GETs on the loop (``loop_reads``, a
        source with an async API, an archive confirmed current) rather than on a thread."""
        return (
            self._loop_reads
            and bool(getattr(self.source, "async_ready", False))
            and not self._provisional
        )

    async def read_many_async(
        self,
        entries: Iterable[Entry],
        *,
        region: Region | None = None,
        offload: Callable[[Callable[[], dict[str, bytes]]], Awaitable[dict[str, bytes]]],
    ) -> dict[str, bytes]:
        """:meth:`read_many` on the caller's event loop, for a source with an async API.

        The same plan, read-ahead, checks, deadlines and errors; the GETs are awaited,
        not run on threads. What needs the blocking path goes to ``offload`` (which runs
        a function on the caller's thread pool): a provisional archive (its guard
        re-opens it), a source without an async API. Waiting for read-ahead pieces
        (fetched on the archive's pool) is an ``asyncio.wait``, not a blocked thread.
        """
        listed = list(entries)
        if not self.reads_async():
            return await offload(functools.partial(self.read_many, listed, region=region))
        results, wanted, ranges = self._start_many(listed, region, None)
        claimed = [self._ahead.claim(r.start, r.end) for r in ranges]
        pending = [
            asyncio.wrap_future(waiter)
            for r, pieces in zip(ranges, claimed, strict=True)
            if pieces
            for waiter in self._ahead.waits(r.start, r.end, pieces)
        ]
        if pending:
            await asyncio.wait(pending, timeout=self.options.timeout)
        left = []
        for i, entry in enumerate(wanted):
            pieces = claimed[i]
            ahead = self._ahead.join(ranges[i].start, ranges[i].end, pieces) if pieces else None
            if ahead is None:
                left.append(i)
            else:
                with context(self.url, entry.name):
                    results[entry.name] = await self._extract_async(entry, ahead, 0)
        if not left:
            return results
        wanted = [wanted[i] for i in left]
        ranges = [ranges[i] for i in left]
        batches = self._plan_many(ranges, region)

        async def run(batch: planner.Batch) -> dict[str, bytes]:
            with deadline.scope(self.options.timeout):  # each coalesced GET: its own budget
                with context(self.url, wanted[batch.members[0]].name):
                    data = await self._fetch_async(batch.start, batch.end)
                found = {}
                for i in batch.members:
                    with context(self.url, wanted[i].name):
                        found[wanted[i].name] = await self._extract_async(
                            wanted[i], data, ranges[i].start - batch.start
                        )
            return found

        if len(batches) == 1:
            results.update(await run(batches[0]))
            return results
        tasks = [asyncio.ensure_future(run(batch)) for batch in batches]
        try:
            for found in await asyncio.gather(*tasks):
                results.update(found)
        except BaseException:  # the first failure; nothing partial is returned
            for task in tasks:
                task.cancel()
            raise
        return results

    async def read_entry_range_async(
        self,
        entry: Entry,
        start: int,
        end: int,
        *,
        offload: Callable[[Callable[[], bytes]], Awaitable[bytes]],
    ) -> bytes:
        """:meth:`read_entry_range` on the caller's event loop: a stored entry whose data
        start is known (a shard read before) is one GET awaited there; every other case
        (the first range of an entry, a compressed or buffered one) goes to ``offload``."""
        with context(self.url, entry.name):
            known = self._data_starts.get(entry) if self.reads_async() else None
            if (
                known is None
                or not 0 <= start < end <= entry.uncompressed_size
                or self._read_whole_for(entry, start, end, self._checked_span(entry))
            ):
                return await offload(functools.partial(self.read_entry_range, entry, start, end))
            check_supported(entry)
            with deadline.scope(self.options.timeout):
                return await self._fetch_async(known + start, known + end)

    async def _fetch_async(self, start: int, end: int) -> bytes:
        """:meth:`_fetch` awaited through the source's ``read_range_async``."""
        held = self._held(start, end)
        if held is not None:
            return held
        data: bytes = await self.source.read_range_async(start, end)  # type: ignore[attr-defined]
        return self._confirmed(data)

    async def _extract_async(self, entry: Entry, data: bytes, offset: int) -> bytes:
        """:meth:`_extract`, its rare second GET (a longer local extra field) awaited."""
        view = memoryview(data)[offset:]
        data_start = self._data_offset(entry, view)
        rest = _rest_of(entry, view, data_start)
        if rest is not None:
            view = memoryview(bytes(view) + await self._fetch_async(*rest))
        return self._decode(entry, view, data_start)

    def data_starts(self, entries: Iterable[Entry]) -> dict[str, int]:
        """Where each entry's data starts in the object, by entry name.

        The central directory does not say how long a local header's extra field
        is, but an entry whose span (to the next entry, or to the directory) holds
        exactly a local header with its name and no extra field, then its data (no
        data descriptor) leaves no choice: its data starts right after the name.
        Those are *tight*; zarr's ``ZipStore`` (CPython's zipfile) writes every
        entry so. For every entry the reader serves, a tight entry's start is the one
        its local header gives: the reader requires the local name as long as the
        central one and the data ending by the next entry's header, which leaves no
        room for an extra field (:func:`_tight`). What is not read is not checked: a
        tight entry whose local header is corrupt (which a read refuses) gets the
        directory's placement. The first and last tight entries' local headers are
        read to check the directory against the file (a systematic error, such as
        offsets shifted, fails there). Other entries' headers are read: their ranges
        are coalesced by the planner (``coalesce_gap``/``coalesce_max``) and fetched
        concurrently, and headers inside the open's head or tail buffer cost nothing.
        Exports of byte-range references (kerchunk, Icechunk) need exactly this.
        """
        if self._provisional:
            return self._guarded(entries, self._data_starts_of)
        return self._data_starts_of(entries)

    def data_starts_at(self, rows: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """Where the data of the index's records at ``rows`` starts, in that order.

        :meth:`data_starts` computed on the directory's columns (``rows`` from
        ``index.rows()``): the same checks, errors and requests, but an :class:`Entry`
        is built only for a local header that is read: the tight entries' starts (and
        their checks) are array arithmetic, ~20x cheaper for an export's 100,000 chunks.
        """
        index = self.index
        if self._provisional or len(rows) == 0:
            listed = [index.entry_at(row) for row in rows.tolist()]
            found = self.data_starts(listed)
            return np.array([found[e.name] for e in listed], dtype=np.int64)
        columns = index.columns(rows)
        header, size = columns["header_offset"], columns["compressed_size"]
        minimum = header + LOCAL_SIZE + columns["name_length"] + size
        largest = np.maximum(size, columns["uncompressed_size"])
        refused = (largest > self.options.max_entry_size) | (minimum > index.location.cd_start)
        for row in rows[refused].tolist():  # the per-entry check raises its error
            entry = index.entry_at(row)
            with context(self.url, entry.name):
                self._checked_span(entry)
        names = index.records.names
        lengths = np.fromiter((len(names[row]) for row in rows.tolist()), np.int64, len(rows))
        tight = (
            ((columns["flags"] & FLAG_DATA_DESCRIPTOR) == 0)
            & (columns["span_end"] == minimum)
            & (lengths == columns["name_length"])
        )
        starts = header + LOCAL_SIZE + columns["name_length"]
        loose = np.flatnonzero(~tight)
        if len(loose):
            listed = [index.entry_at(row) for row in rows[loose].tolist()]
            found = self._data_starts_of(listed)
            starts[loose] = [found[e.name] for e in listed]
        at = np.flatnonzero(tight)
        if len(at):
            # the first and last tight entries' headers are checked against the directory
            # (the open's buffers may hold them); a disagreement: every header is read
            ends = sorted({int(at[header[at].argmin()]), int(at[header[at].argmax()])})
            listed = [index.entry_at(int(rows[i])) for i in ends]
            found = self._data_starts_of(listed)
            if any(found[e.name] != starts[i] for i, e in zip(ends, listed, strict=True)):
                listed = [index.entry_at(row) for row in rows[at].tolist()]
                found = self._read_data_starts(listed)
                starts[at] = [found[e.name] for e in listed]
        return starts

    def _data_starts_of(self, entries: Iterable[Entry]) -> dict[str, int]:
        found: dict[str, int] = {}
        wanted: list[Entry] = []
        tight: list[Entry] = []
        agree = True  # every tight entry's header read so far puts its data where it must
        ends: list[Entry] = []  # the first and last tight entries, buffered or not
        remembered = self._data_starts
        for entry in entries:
            with context(self.url, entry.name):
                self._checked_span(entry)
                known = remembered.get(entry) if remembered else None  # (hashing costs)
                if known is not None:
                    found[entry.name] = known
                    continue
                first = entry.header_offset
                end = first + LOCAL_SIZE + entry.name_length
                buffered = self._from_buffers(first, end)
                is_tight = _tight(entry)
                if is_tight:
                    _extend(ends, entry)
                if buffered is not None and len(buffered) == end - first:
                    start = found[entry.name] = first + self._data_offset(entry, buffered)
                    if is_tight and start != _tight_start(entry):
                        agree = False
                    continue
            if is_tight:
                tight.append(entry)
            else:
                wanted.append(entry)
        if tight:
            # the first and last tight entries' headers are read (when the buffers did not
            # hold them), to check the directory against the file
            probes = {id(e): e for e in ends if e.name not in found}
            read = self._read_data_starts(list(probes.values())) if probes else {}
            found.update(read)
            agree = agree and all(read[e.name] == _tight_start(e) for e in probes.values())
            rest = [e for e in tight if id(e) not in probes]
            if agree:
                found.update((e.name, _tight_start(e)) for e in rest)
            else:  # the directory disagrees with the file somewhere: read every header
                wanted.extend(rest)
        if wanted:
            found.update(self._read_data_starts(wanted))
        return found

    def _read_data_starts(self, wanted: list[Entry]) -> dict[str, int]:
        """Data starts of ``wanted`` from their local headers: coalesced, concurrent GETs."""
        ranges = [
            ByteRange(e.header_offset, e.header_offset + LOCAL_SIZE + e.name_length) for e in wanted
        ]
        batches = planner.plan(
            ranges, coalesce_gap=self.options.coalesce_gap, coalesce_max=self.options.coalesce_max
        )

        def run(batch: planner.Batch) -> dict[str, int]:
            with (
                context(self.url, wanted[batch.members[0]].name),
                deadline.scope(self.options.timeout),
            ):
                data = self._fetch(batch.start, batch.end)
            starts = {}
            for i in batch.members:
                entry = wanted[i]
                with context(self.url, entry.name):
                    offset = self._data_offset(entry, batch.cut(data, ranges[i]))
                starts[entry.name] = entry.header_offset + offset
                self._remember_data_start(entry, entry.header_offset + offset)
            return starts

        if len(batches) == 1:
            return run(batches[0])
        found: dict[str, int] = {}
        futures = [self._pool.get().submit(run, batch) for batch in batches]
        _, pending = wait(futures, return_when=FIRST_EXCEPTION)
        for future in pending:
            future.cancel()
        for future in futures:  # re-raises the first failure
            if not future.cancelled():
                found.update(future.result())
        return found

    def _scan_stop(self) -> int:
        """Where a read-ahead stops: the central directory, or the tail buffer's start."""
        stop = self.index.location.cd_start
        return min(stop, self._tail_start) if self._tail else stop

    def is_buffered(self, entry: Entry) -> bool:
        """Whether reading ``entry`` is served from the open's head or tail buffer (no request)."""
        with context(self.url, entry.name):
            return self._from_buffers(*self._checked_span(entry)) is not None

    def _from_buffers(self, start: int, end: int) -> memoryview | None:
        """Bytes ``[start, end)`` from the open's tail or head buffer, if one holds them."""
        if self._tail and start >= self._tail_start:
            return memoryview(self._tail)[start - self._tail_start : end - self._tail_start]
        if end <= len(self._head):
            return memoryview(self._head)[start:end]
        if self._pieces:
            i = bisect.bisect_right(self._piece_starts, start) - 1
            if i >= 0:
                first, data = self._pieces[i]
                if end <= first + len(data):
                    return memoryview(data)[start - first : end - first]
        return None

    def _checked_span(self, entry: Entry) -> tuple[int, int]:
        """The entry's span, refused when too large or running past the directory."""
        largest = max(entry.compressed_size, entry.uncompressed_size)
        if largest > self.options.max_entry_size:
            raise BadArchiveError(
                f"declares {largest} bytes, more than "
                f"max_entry_size={self.options.max_entry_size}; refused before fetching"
            )
        start, end = span(entry)
        limit = self.index.location.cd_start
        if data_end(entry) > limit:
            raise CorruptEntryError(
                f"corrupt: its data would end at byte {data_end(entry)}, past the start of the "
                f"central directory at {limit}"
            )
        return start, min(end, limit)

    def _within_deadline(self, fn: Any, *args: Any) -> Any:
        """``fn(*args)`` under its own deadline (a read-ahead piece on the pool)."""
        with deadline.scope(self.options.timeout):
            return fn(*args)

    def _fetch(self, start: int, end: int) -> bytes:
        held = self._held(start, end)
        if held is not None:
            return held
        return self._confirmed(self.source.read_range(start, end))

    def _fetch_into(self, start: int, end: int, sink: Landing) -> None:
        """:meth:`_fetch` into ``sink`` as the bytes arrive (a read-ahead piece: its first
        part is served before its last byte is in), where the source streams
        (:class:`~remote_zip_store.transport.ReadsInto`); else the bytes at once."""
        held = self._held(start, end)
        source = self.source
        if held is None and isinstance(source, ReadsInto):
            source.read_range_into(start, end, sink.buffer, sink.advance)
            self._confirmed(b"")
        else:  # in memory already, or a source without a streamed read
            sink.put(held if held is not None else self._confirmed(source.read_range(start, end)))

    def _held(self, start: int, end: int) -> bytes | None:
        """Bytes ``[start, end)`` when the open's buffers or adopted pieces hold them (no
        request), else None; a closed archive raises. :meth:`_fetch`'s and ``_fetch_async``'s."""
        self._check_open()
        buffered = self._from_buffers(start, end)
        return None if buffered is None else bytes(buffered)

    def _confirmed(self, data: bytes) -> bytes:
        """``data``, from a GET under If-Match: a provisional archive's catalogued version
        is current (what it served from the pieces no longer needs remembering)."""
        if self._provisional:
            self._provisional = False
            self._served = {}
        return data

    def _data_offset(self, entry: Entry, raw: bytes | memoryview) -> int:
        """Where the data starts in ``raw`` (the entry's local header onwards), checked.

        The data must end before the central directory and before the next entry's
        local header (as CPython's zipfile refuses "overlapped entries"; a record
        sharing its local header with another is not bounded by it). With the local
        name as long as the central one (``entry_data_offset``), that makes a *tight*
        entry's data start follow from the directory (:meth:`data_starts`).
        """
        offset = entry_data_offset(raw, entry)
        end = entry.header_offset + offset + entry.compressed_size
        if end > self.index.location.cd_start:
            raise CorruptEntryError("corrupt: its data runs into the central directory")
        if end > entry.span_end > entry.header_offset:
            raise CorruptEntryError(
                f"corrupt: its data runs past the next entry's local header at "
                f"{entry.span_end} (overlapping entries)"
            )
        return offset

    def _extract(self, entry: Entry, data: bytes, offset: int) -> bytes:
        """Check the local header at ``data[offset:]`` and decode the entry's data."""
        view = memoryview(data)[offset:]
        data_start = self._data_offset(entry, view)
        rest = _rest_of(entry, view, data_start)
        if rest is not None:
            # The local extra field was longer than guessed: fetch the rest.
            view = memoryview(bytes(view) + self._fetch(*rest))
        return self._decode(entry, view, data_start)

    def _decode(self, entry: Entry, view: memoryview, data_start: int) -> bytes:
        data = view[data_start : data_start + entry.compressed_size]
        return decompress(data, entry, verify_crc=self.options.verify_crc)

    # -- lifecycle ------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosedError("closed; open a new store to read it", archive=self.url)

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        self._closed = True
        self._ahead.clear()
        self._pool.close()
        self.source.close()

    def __getstate__(self) -> dict[str, Any]:
        state = {
            "source": self.source,
            "options": self.options,
            "profile": self.profile,
            "closed": self._closed,
        }
        if self._ends is not None:  # what the open needed: a copy's open asks for no more
            state["ends"] = self._ends
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.source = state["source"]
        self.options = state["options"]
        self.profile = state.get("profile", cohort.NO_PROFILE)  # absent in 0.1.0 pickles
        self._start(closed=state["closed"])
        ends = state.get("ends")
        if ends is not None:
            self._ends = (int(ends[0]), None if ends[1] is None else int(ends[1]))

    def __repr__(self) -> str:
        return f"ZipArchive({self.url!r})"


def _rest_of(entry: Entry, view: memoryview, data_start: int) -> tuple[int, int] | None:
    """The object's bytes ``view`` (from the entry's local header on) lacks of the entry's
    data: its local extra field was longer than guessed. None when it holds them all."""
    data_stop = data_start + entry.compressed_size
    if len(view) < data_stop:
        return entry.header_offset + len(view), entry.header_offset + data_stop
    return None


def _guess_data_start(entry: Entry) -> int:
    """Where ``entry``'s data most likely starts, before its local header is read.

    Without a data descriptor the data usually ends where the next entry (or the
    directory) starts, which places it whatever the local extra field's length;
    otherwise assume the local header repeats the central extra field.
    """
    minimum = entry.header_offset + LOCAL_SIZE + entry.name_length
    if not entry.flags & 0x08 and entry.span_end - entry.compressed_size >= minimum:
        return entry.span_end - entry.compressed_size
    return minimum + entry.extra_length


def _tight(entry: Entry) -> bool:
    """Whether ``entry``'s span holds its local header (name, no extra field) and its data
    and nothing else, so its data start follows from the directory (no data descriptor).

    Why that is exact for every entry the reader serves: its local name has the central
    name's length L (``entry_data_offset``) and its data ends by the next header
    (``_data_offset``), so 30 + L + extra + size <= span = 30 + L + size: no extra field.
    A name whose length in characters is not L (cut at a NUL; or non-ASCII UTF-8, left
    out to keep the test cheap) is not tight: its header is read, and refused if its
    local name differs.
    """
    return (
        len(entry.name) == entry.name_length
        and not entry.flags & FLAG_DATA_DESCRIPTOR
        and entry.span_end - entry.header_offset
        == LOCAL_SIZE + entry.name_length + entry.compressed_size
    )


def _tight_start(entry: Entry) -> int:
    return entry.header_offset + LOCAL_SIZE + entry.name_length


def _extend(ends: list[Entry], entry: Entry) -> None:
    """Keep in ``ends`` the entries with the smallest and largest header offsets seen."""
    if not ends:
        ends.extend((entry, entry))
    elif entry.header_offset < ends[0].header_offset:
        ends[0] = entry
    elif entry.header_offset > ends[1].header_offset:
        ends[1] = entry


def _back_to_back(entries: list[Entry]) -> bool:
    """Whether no other entry lies between these (each starts at the one before's next entry)."""
    reach = -1
    for entry in sorted(entries, key=lambda e: e.header_offset):
        if reach >= 0 and entry.header_offset > reach:
            return False
        reach = max(reach, entry.span_end)
    return True


def _new_pool(max_workers: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="remote-zip-store")


def _alive(archive: weakref.ref[ZipArchive]) -> ZipArchive:
    found = archive()
    if found is None:  # a read-ahead piece of a store dropped meanwhile: nobody waits for it
        raise StoreClosedError("closed; open a new store to read it")
    return found


def _fetch_for(archive: weakref.ref[ZipArchive], start: int, end: int) -> bytes:
    """The read-ahead's fetch: ``archive._fetch`` while the archive lives."""
    return _alive(archive)._fetch(start, end)


def _streams(source: Source) -> bool:
    """Whether ``source`` hands a range's bytes over as they arrive."""
    return isinstance(source, ReadsInto) and source.streams


def _fetch_into_for(archive: weakref.ref[ZipArchive], start: int, end: int, sink: Landing) -> None:
    """The read-ahead's streamed fetch: ``archive._fetch_into`` while the archive lives."""
    _alive(archive)._fetch_into(start, end, sink)


def _submit_for(archive: weakref.ref[ZipArchive], fn: Any, *args: Any) -> Any:
    """The read-ahead's submit: on the archive's pool, under the archive's deadline."""
    found = _alive(archive)
    return found._pool.get().submit(found._within_deadline, fn, *args)


def _shutdown(pool: ThreadPoolExecutor) -> None:
    pool.shutdown(wait=False, cancel_futures=True)
