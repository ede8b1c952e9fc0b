"""A zip archive behind a byte source: open (parse the directory), then read entries.

This composes the pure parts (:mod:`zipformat`, :mod:`planner`, :mod:`decode`)
with a :class:`~remote_zip_store.sources.Source`. It knows nothing about zarr.

* Open: one suffix GET of ``tail_size`` bytes usually holds the end records and
  the whole central directory; a second GET fetches the rest when it does not.
  Alongside it, in the same round trip, a GET of the first ``head_size`` bytes:
  zarr writers put the root metadata there, so opening a group needs no third.
* Read: one GET per entry covering its local header and data (exactly, when the
  next entry's offset is known); ``read_many`` coalesces neighbours with the
  planner and runs batches on a bounded thread pool. No lock is held across I/O.
* Bytes already in the head or tail buffer (small archives, entries near either
  end) are served from memory with no request.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from . import indexcache, planner
from .decode import check_supported, decompress
from .errors import BadArchiveError, CorruptEntryError, StoreClosedError, describe
from .forksafe import ForkSafeLock
from .index import ZipIndex
from .planner import ByteRange
from .sources import Source
from .zipformat import (
    MAX_END_RECORDS,
    NeedMoreBytes,
    decode_name,
    locate_directory,
    parse_central_directory,
    parse_local_header,
)
from .zipformat import (
    Entry as Entry,
)


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
    coalesce_gap: int = planner.DEFAULT_MAX_GAP
    """Merge entries whose bytes are at most this far apart into one GET."""
    coalesce_max: int = planner.DEFAULT_MAX_SIZE
    """Never merge a GET beyond this many bytes."""

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


class ZipArchive:
    """Read entries of one zip archive through a byte source."""

    def __init__(self, source: Source, options: ReadOptions | None = None):
        self.source = source
        self.options = options or ReadOptions()
        self._lock = ForkSafeLock()
        # Single flight for the directory read only; never held by entry reads.
        self._open_lock = ForkSafeLock()
        self._index: ZipIndex | None = None
        self._tail = b""
        self._tail_start = 0
        self._head = b""
        self._pool: ThreadPoolExecutor | None = None
        self._pool_pid = 0
        self._closed = False
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
                    self._index = self._read_index()
                index = self._index
        return index

    def open(self) -> ZipArchive:
        """Read the central directory now (raises the archive's errors early)."""
        _ = self.index
        return self

    def _read_index(self) -> ZipIndex:
        self._check_open()
        # An unpickled copy arrives pinned: reuse what a sibling in this process parsed.
        cache_key = indexcache.version_key(self.source, self.options)
        cached = indexcache.lookup(cache_key) if cache_key is not None else None
        if cached is not None:
            self._tail, self._tail_start, self.size = cached.tail, cached.tail_start, cached.size
            self._head = cached.head
            return cached.index
        url = self.url
        limit = self.options.max_directory_size
        first = self.source.read_tail(
            max(self.options.tail_size, 1024), head=self.options.head_size
        )
        data, size = first.data, first.size
        while True:
            tail_start = size - len(data)
            try:
                location = locate_directory(data, size, archive=url)
                rel = location.cd_start - tail_start
                if rel < 0:
                    raise NeedMoreBytes(location.cd_start)
                if location.cd_size > limit:
                    raise BadArchiveError(
                        f"{url}: central directory of {location.cd_size} bytes exceeds "
                        f"max_directory_size={limit}",
                        archive=url,
                    )
                records = parse_central_directory(
                    memoryview(data)[rel : rel + location.cd_size], location, archive=url
                )
                break
            except NeedMoreBytes as more:
                start = max(0, min(more.start, tail_start))
                if start >= tail_start:
                    raise BadArchiveError(
                        f"{url}: corrupt zip: the parser asked for bytes it already has",
                        archive=url,
                    ) from None
                if size - start > limit + MAX_END_RECORDS:
                    raise BadArchiveError(
                        f"{url}: central directory would need {size - start} bytes, more than "
                        f"max_directory_size={limit}",
                        archive=url,
                    ) from None
                data = self.source.read_range(start, tail_start) + data
        self._tail = data
        self._tail_start = size - len(data)
        # Only the part before the tail and the directory is worth keeping.
        self._head = first.head[: min(self._tail_start, location.cd_start)]
        self.size = size
        index = ZipIndex(records, location)
        if cache_key is not None:
            opened = indexcache.Opened(index, data, self._tail_start, size, self._head)
            indexcache.remember(cache_key, opened)
        return index

    # -- read ---------------------------------------------------------------------------
    def entry(self, name: str) -> Entry | None:
        return self.index.get(name)

    def read(self, name: str, *, key: str | None = None) -> bytes:
        """The contents of entry ``name``; ``KeyError`` when it does not exist."""
        entry = self.index.get(name)
        if entry is None:
            raise KeyError(name)
        return self.read_entry(entry, key=key)

    def read_entry(self, entry: Entry, *, key: str | None = None) -> bytes:
        check_supported(entry, self.url)
        start, end = self._span(entry)
        return self._extract(entry, self._fetch(start, end, entry.name), 0)

    def read_many(self, entries: Iterable[Entry]) -> dict[str, bytes]:
        """Contents of several entries, coalesced and fetched concurrently, by entry name."""
        results: dict[str, bytes] = {}
        wanted = []
        for entry in entries:
            check_supported(entry, self.url)
            if self.in_memory(entry):  # no request: keep it out of the plan
                results[entry.name] = self.read_entry(entry)
            else:
                wanted.append(entry)
        if not wanted:
            return results
        ranges = [ByteRange(*self._span(entry)) for entry in wanted]
        batches = planner.plan(
            ranges, max_gap=self.options.coalesce_gap, max_size=self.options.coalesce_max
        )

        def run(batch: planner.Batch) -> dict[str, bytes]:
            first = wanted[batch.members[0]].name
            data = self._fetch(batch.start, batch.end, first)
            return {
                wanted[i].name: self._extract(wanted[i], data, ranges[i].start - batch.start)
                for i in batch.members
            }

        if len(batches) == 1:
            results.update(run(batches[0]))
            return results
        futures = [self._executor().submit(run, batch) for batch in batches]
        _, pending = wait(futures, return_when=FIRST_EXCEPTION)
        for future in pending:
            future.cancel()
        for future in futures:  # re-raises the first failure; nothing partial is returned
            if not future.cancelled():
                results.update(future.result())
        return results

    def in_memory(self, entry: Entry) -> bool:
        """Whether reading ``entry`` is served from the open's head or tail buffer (no request)."""
        return self._buffered(*self._span(entry)) is not None

    # TEMP front: the core branch renames in_memory to is_buffered (its branch wins).
    def is_buffered(self, entry: Entry) -> bool:
        """Whether reading ``entry`` costs no request (head or tail buffer)."""
        return self.in_memory(entry)

    def _buffered(self, start: int, end: int) -> memoryview | None:
        """Bytes ``[start, end)`` from the open's tail or head buffer, if one holds them."""
        if self._tail and start >= self._tail_start:
            return memoryview(self._tail)[start - self._tail_start : end - self._tail_start]
        if end <= len(self._head):
            return memoryview(self._head)[start:end]
        return None

    def _span(self, entry: Entry) -> tuple[int, int]:
        largest = max(entry.compressed_size, entry.uncompressed_size)
        if largest > self.options.max_entry_size:
            raise BadArchiveError(
                f"{describe(self.url, entry.name)} declares {largest} bytes, more than "
                f"max_entry_size={self.options.max_entry_size}; refused before fetching",
                archive=self.url,
                key=entry.name,
            )
        start, end = entry.fetch_range()
        limit = self.index.location.cd_start
        minimum = entry.header_offset + 30 + entry.name_length + entry.compressed_size
        if minimum > limit:
            raise CorruptEntryError(
                f"{describe(self.url, entry.name)} is corrupt: its data would end at byte "
                f"{minimum}, past the start of the central directory at {limit}",
                archive=self.url,
                key=entry.name,
            )
        return start, min(end, limit)

    def _fetch(self, start: int, end: int, key: str) -> bytes:
        self._check_open()
        buffered = self._buffered(start, end)
        if buffered is not None:
            return bytes(buffered)
        return self.source.read_range(start, end, key=key)

    def _extract(self, entry: Entry, data: bytes, offset: int) -> bytes:
        """Check the local header at ``data[offset:]`` and decode the entry's data."""
        url = self.url
        view = memoryview(data)[offset:]
        header = parse_local_header(view, archive=url, key=entry.name)
        # Decoded with the central flags, this compares the raw name bytes: an archive that
        # sets the UTF-8 flag in one header only still reads (CPython 3.11 refuses it).
        if decode_name(header.name, entry.flags) != entry.name:
            raise CorruptEntryError(
                f"{describe(url, entry.name)} is corrupt: the local header names {header.name!r}",
                archive=url,
                key=entry.name,
            )
        data_start = header.data_offset
        data_end = data_start + entry.compressed_size
        if entry.header_offset + data_end > self.index.location.cd_start:
            raise CorruptEntryError(
                f"{describe(url, entry.name)} is corrupt: its data runs into the central directory",
                archive=url,
                key=entry.name,
            )
        if len(view) < data_end:
            # The local extra field was longer than guessed: fetch the rest.
            rest = self._fetch(
                entry.header_offset + len(view), entry.header_offset + data_end, entry.name
            )
            view = memoryview(bytes(view) + rest)
        return decompress(
            view[data_start:data_end], entry, archive=url, verify_crc=self.options.verify_crc
        )

    # -- lifecycle ------------------------------------------------------------------------
    def _executor(self) -> ThreadPoolExecutor:
        pool = self._pool
        if pool is not None and self._pool_pid == os.getpid():
            return pool
        with self._lock:
            if self._pool is None or self._pool_pid != os.getpid():
                self._pool = ThreadPoolExecutor(
                    max_workers=self.options.max_workers, thread_name_prefix="remote-zip-store"
                )
                self._pool_pid = os.getpid()
            return self._pool

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosedError(
                f"archive {self.url} is closed; open a new store to read it", archive=self.url
            )

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
        if pool is not None and self._pool_pid == os.getpid():
            pool.shutdown(wait=False, cancel_futures=True)
        self.source.close()

    def __getstate__(self) -> dict[str, Any]:
        return {"source": self.source, "options": self.options, "closed": self._closed}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["source"], state["options"])  # type: ignore[misc]
        self._closed = state["closed"]

    def __repr__(self) -> str:
        return f"ZipArchive({self.url!r})"
