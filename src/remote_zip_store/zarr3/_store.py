"""``RemoteZipStore`` for zarr-python 3: a read-only ``zarr.abc.store.Store`` over a zip.

The same archive core as the zarr-2 store (:mod:`remote_zip_store.zarr2._store`), opened
the same way (:func:`~remote_zip_store.hierarchy._frontend.open_archive`, ``resolve_root``),
with zarr 3's async API on top:

* ``get`` honours ``RangeByteRequest``/``OffsetByteRequest``/``SuffixByteRequest``:
  a range of a stored entry is one GET of exactly those bytes
  (:meth:`~remote_zip_store.archive.ZipArchive.read_entry_range`), which is
  what makes a sharded read fetch the shard index and one inner chunk only.
* zarr 3 calls ``get`` once per chunk, concurrently. Whole-entry gets queued in
  one event-loop tick are read with one ``read_many`` (coalesced, concurrent);
  every blocking call runs on this store's thread pool, never on the loop. With
  ``loop_reads`` and an async source (obstore), chunk GETs are awaited on the loop
  instead (``read_many_async``): no thread hop, at a higher CPU cost per GET (measured).
* Listings, ``exists`` and sizes come from the parsed directory: no request.
"""

from __future__ import annotations

import asyncio
import functools
import os
import pickle
import sys
from collections.abc import AsyncIterator, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from zarr.abc.store import Store
from zarr.core.buffer import Buffer, BufferPrototype, default_buffer_prototype

from ..archive._readahead import Region
from ..archive._reader import Entry, ReadOptions, ZipArchive
from ..errors import MissingKeyError, ReadOnlyStoreError
from ..hierarchy._frontend import ArchiveFrontEnd
from ..hierarchy._names import is_metadata
from ..hierarchy._prefetch import Policy
from ..transport._forksafe import PerProcess
from ..zipfmt import _planner as planner
from ._ranges import resolve_byte_request
from ._write import ZipWriteStore

if sys.version_info >= (3, 11):
    from builtins import BaseExceptionGroup
else:  # pragma: no cover - zarr 3 itself needs Python 3.11
    raise ImportError("the zarr-3 front end needs Python 3.11 or later")

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from ..archive._catalog import Catalog
else:
    S3Client = Any

#: A task that runs its first step at once, where asyncio can (``eager_start``, 3.12).
_EAGER: dict[str, Any] = {"eager_start": True} if sys.version_info >= (3, 12) else {}

#: zarr 3's own wording (``Store._check_writable``); its tests match on it.
READ_ONLY_MESSAGE = "store was opened in read-only mode and does not support writing"


def _new_pool(max_workers: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="remote-zip-store-z3")


def _shutdown(pool: ThreadPoolExecutor) -> None:
    pool.shutdown(wait=False, cancel_futures=True)


class RemoteZipStore(ArchiveFrontEnd, Store):  # type: ignore[misc,unused-ignore]
    """A read-only zarr-python 3 store over one zip archive (zarr formats 2 and 3).

    Takes the arguments of the zarr-2 ``RemoteZipStore`` (``url``, ``root``,
    ``metadata_prefetch``, ``read``, ``client``, ``catalog`` and the read/connection
    keywords; docs/usage.md) plus zarr 3's ``read_only``, which must be True.
    ``mode="w"``/``"w-"`` returns the zarr-3
    :class:`~remote_zip_store.zarr3.ZipWriteStore` instead (docs/writing.md).
    The constructor reads the central directory (one round trip), so a missing
    object or bad credentials fail here. It pickles as configuration and the
    pinned version: an unpickled copy makes no request until it is read.
    """

    supports_writes = False
    supports_deletes = False
    supports_listing = True
    supports_partial_writes = False

    @classmethod
    def _write_store(cls) -> Any:
        return ZipWriteStore

    def __init__(
        self,
        url: str | os.PathLike[str],
        *,
        root: str | None = None,
        metadata_prefetch: Policy = "auto",
        read: ReadOptions | None = None,
        client: S3Client | None = None,
        catalog: str | os.PathLike[str] | Catalog | None = None,
        read_only: bool = True,
        mode: str = "r",
        **options: Any,
    ):
        _require_read_only(read_only, str(url))
        self._open_url(url, root, metadata_prefetch, read, client, options, catalog)

    @classmethod
    async def open(cls, *args: Any, **kwargs: Any) -> RemoteZipStore:
        """Create and open the store; the directory is read on a thread, not the loop."""
        store = await asyncio.to_thread(cls, *args, **kwargs)
        await store._open()
        return store

    def _attach(self, archive: ZipArchive, root: str, metadata_prefetch: Policy) -> None:
        Store.__init__(self, read_only=True)
        super()._attach(archive, root, metadata_prefetch)
        # Its own pool: read_many waits on the archive's pool, so it must not run there.
        # Built from the worker count alone (no reference back: the store is freed at once).
        self._pool: PerProcess[ThreadPoolExecutor] = PerProcess(
            functools.partial(_new_pool, archive.options.max_workers), _shutdown
        )
        # Whole-entry gets waiting for this tick's read_many, per event loop.
        self._pending: dict[asyncio.AbstractEventLoop, list[tuple[Entry, asyncio.Future[bytes]]]]
        self._pending = {}
        self._tasks: set[asyncio.Task[None]] = set()  # reads awaited on a loop

    # -- identity (url, repr, ==, hash: ArchiveFrontEnd) -----------------------------------
    def __str__(self) -> str:
        return f"zip+{self.url}" + (f"/{self.root}" if self.root else "")

    def with_read_only(self, read_only: bool = False) -> RemoteZipStore:
        """A new, unopened copy (no request); only ``read_only=True`` is possible."""
        _require_read_only(read_only, self.url)
        copy: RemoteZipStore = pickle.loads(pickle.dumps(self))
        return copy

    # -- reading -----------------------------------------------------------------------
    def _entry(self, key: object) -> Entry | None:
        if not isinstance(key, str):
            return None
        return self.archive.index.get(self._prefix + key)

    async def get(
        self,
        key: str,
        prototype: BufferPrototype | None = None,
        byte_range: Any = None,
    ) -> Buffer | None:
        """The value of ``key`` (``None`` when absent), or the requested bytes of it."""
        if prototype is None:
            prototype = default_buffer_prototype()
        self._check_open()
        entry = self._entry(key)
        if entry is None:
            return None
        if byte_range is None:
            data = await self._read_whole(entry)
        else:
            start, end = resolve_byte_request(byte_range, entry.uncompressed_size)
            if start == 0 and end == entry.uncompressed_size:
                data = await self._read_whole(entry)
            elif start == end:
                data = b""  # nothing asked: no request, even for a compressed entry
            else:
                data = await self.archive.read_entry_range_async(
                    entry, start, end, offload=self._run
                )
        return prototype.buffer.from_bytes(data)

    async def get_partial_values(
        self,
        prototype: BufferPrototype,
        key_ranges: Iterable[tuple[str, Any]],
    ) -> list[Buffer | None]:
        """Several gets at once (whole entries coalesced into one ``read_many``)."""
        return list(
            await asyncio.gather(
                *(self.get(key, prototype, byte_range) for key, byte_range in key_ranges)
            )
        )

    async def get_ranges(
        self,
        key: str,
        byte_ranges: Sequence[Any],
        *,
        prototype: BufferPrototype,
        max_concurrency: int = 10,
        max_gap_bytes: int = 1 << 20,
        max_coalesced_bytes: int = 16 << 20,
    ) -> AsyncIterator[Sequence[tuple[int, Buffer | None]]]:
        """Many ranges of one key: planned like zarr's coalescer, one GET per batch.

        A missing key raises ``BaseExceptionGroup`` holding a ``FileNotFoundError``
        (as zarr's default does); a compressed entry is read once and sliced.
        """
        self._check_open()
        entry = self._entry(key)
        if entry is None:
            missing = MissingKeyError("does not exist", archive=self.url, key=key)
            raise BaseExceptionGroup("get_ranges failed", [missing])
        size = entry.uncompressed_size
        if not byte_ranges:
            return
        resolved = [
            (0, size) if request is None else resolve_byte_request(request, size)
            for request in byte_ranges
        ]
        if any(start == 0 and end == size for start, end in resolved) or self._whole_is_cheap(
            entry
        ):
            data = await self._read_whole(entry)
            yield [
                (i, prototype.buffer.from_bytes(data[start:end]))
                for i, (start, end) in enumerate(resolved)
            ]
            return
        ranges = [planner.ByteRange(start, end) for start, end in resolved]
        batches = planner.plan(
            ranges, coalesce_gap=max_gap_bytes, coalesce_max=max(1, max_coalesced_bytes)
        )
        limit = asyncio.Semaphore(max(1, max_concurrency))

        async def fetch(batch: planner.Batch) -> list[tuple[int, Buffer | None]]:
            async with limit:
                data = await self.archive.read_entry_range_async(
                    entry, batch.start, batch.end, offload=self._run
                )
            return [
                (i, prototype.buffer.from_bytes(bytes(batch.cut(data, ranges[i]))))
                for i in batch.members
            ]

        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(fetch(batch)) for batch in batches]
            for done in asyncio.as_completed(tasks):
                yield await done

    def _whole_is_cheap(self, entry: Entry) -> bool:
        """A compressed or buffered entry: reading it whole is what a range costs anyway."""
        return entry.method != 0 or entry.compressed_size != entry.uncompressed_size

    async def _read_whole(self, entry: Entry) -> bytes:
        """Queue ``entry`` for this tick's ``read_many``; its bytes when that is done."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bytes] = loop.create_future()
        pending = self._pending.get(loop)
        if pending is None:
            pending = self._pending[loop] = []
            loop.call_soon(self._flush, loop)
        pending.append((entry, future))
        return await future

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        """Read every entry queued in this tick with one ``read_many``, on the pool."""
        waiting = self._pending.pop(loop, [])
        if not waiting:
            return
        entries = list({entry.name: entry for entry, _ in waiting}.values())
        try:
            if self.archive.reads_async() and not any(is_metadata(e.name) for e in entries):
                # chunks over an async source (obstore): awaited here, no thread; the task
                # starts at once (Python >= 3.12) and hands each get its bytes itself
                serve = self._serve(entries, waiting)
                task = asyncio.Task(serve, loop=loop, **_EAGER)
                if not task.done():
                    self._tasks.add(task)  # (the loop keeps tasks weakly)
                    task.add_done_callback(self._tasks.discard)
                return
            read = loop.run_in_executor(self._pool.get(), self._read_entries, entries)
        except BaseException as exc:  # closed store, interpreter shutdown
            _hand_out(waiting, exc)
            return

        def deliver(done: asyncio.Future[dict[str, bytes]]) -> None:
            failure = done.exception() if not done.cancelled() else asyncio.CancelledError()
            _hand_out(waiting, failure if failure is not None else done.result())

        read.add_done_callback(deliver)

    def _read_entries(self, entries: list[Entry]) -> dict[str, bytes]:
        """Cached metadata first (a prefetch round may run), the rest in one read_many."""
        found: dict[str, bytes] = {}
        rest = []
        for entry in entries:
            cached = self._metadata.get(entry.name)
            if cached is not None:
                found[entry.name] = cached
            else:
                rest.append(entry)
        if rest:
            values = self.archive.read_many(rest, region=self._region_of(rest))
            for name, value in values.items():
                if is_metadata(name):
                    self._metadata.remember(name, value)  # read singly: region() reads its type
            found.update(values)
        return found

    async def _serve(
        self, entries: list[Entry], waiting: list[tuple[Entry, asyncio.Future[bytes]]]
    ) -> None:
        """Chunks (no metadata) read on the loop, the archive awaiting the source's GETs;
        each waiting get gets its bytes, or the failure (the whole tick's, as on the pool)."""
        try:
            found = await self.archive.read_many_async(
                entries, region=self._region_of(entries), offload=self._run
            )
        except Exception as exc:
            _hand_out(waiting, exc)
            return
        except BaseException:  # cancelled (the loop is closing): so are the gets
            for _, future in waiting:
                future.cancel()
            raise
        _hand_out(waiting, found)

    def _region_of(self, entries: list[Entry]) -> Region | None:
        """The array the entries lie in; several arrays: an empty region (no read-ahead)."""
        regions = {id(region): region for entry in entries if (region := self.region(entry.name))}
        return regions.popitem()[1] if len(regions) == 1 else Region([]) if regions else None

    async def _run(self, function: Any, *args: Any) -> Any:
        """``function(*args)`` on this store's pool: blocking I/O never runs on the loop."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool.get(), function, *args)

    async def exists(self, key: str) -> bool:
        return self._entry(key) is not None

    # -- listing (from the index, no request) ---------------------------------------------
    async def list(self) -> AsyncIterator[str]:
        for key in self.listing().keys(self._prefix):
            yield key

    async def list_prefix(self, prefix: str) -> AsyncIterator[str]:
        if not prefix:
            async for key in self.list():
                yield key
            return
        for rest in self.listing().keys(self._prefix + prefix):
            yield prefix + rest

    async def list_dir(self, prefix: str) -> AsyncIterator[str]:
        prefix = prefix.strip("/")
        for child in self.listing().children(self._prefix + (prefix + "/" if prefix else "")):
            yield child

    async def getsize(self, key: str) -> int:
        """The value's size in bytes (uncompressed), from the directory."""
        entry = self._entry(key)
        if entry is None:
            raise MissingKeyError("does not exist", archive=self.url, key=key)
        return entry.uncompressed_size

    async def getsize_prefix(self, prefix: str) -> int:
        """Total size of the values under ``prefix/``, from the directory."""
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        index = self.archive.index
        total = 0
        for rest in self.listing().keys(self._prefix + prefix):
            entry = index.get(self._prefix + prefix + rest)
            if entry is not None:
                total += entry.uncompressed_size
        return total

    # -- read-only ------------------------------------------------------------------------
    def _check_writable(self) -> None:
        raise ReadOnlyStoreError(READ_ONLY_MESSAGE, archive=self.url)

    def _refuse(self, key: str | None = None) -> ReadOnlyStoreError:
        return ReadOnlyStoreError(READ_ONLY_MESSAGE, archive=self.url, key=key)

    async def set(self, key: str, value: Buffer) -> None:
        raise self._refuse(key)

    async def set_if_not_exists(self, key: str, value: Buffer) -> None:
        raise self._refuse(key)

    async def delete(self, key: str) -> None:
        raise self._refuse(key)

    async def delete_dir(self, prefix: str) -> None:
        raise self._refuse(prefix or None)

    async def clear(self) -> None:
        raise self._refuse()

    # -- lifecycle ------------------------------------------------------------------------
    def close(self) -> None:
        super().close()
        self._pool.close()
        self.archive.close()


def _hand_out(
    waiting: list[tuple[Entry, asyncio.Future[bytes]]],
    outcome: dict[str, bytes] | BaseException,
) -> None:
    """Each waiting get its bytes from ``outcome``, or ``outcome`` as its failure (a get
    already done, as a cancelled one is, is left as it is)."""
    for entry, future in waiting:
        if future.done():
            continue
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome[entry.name])


def _require_read_only(read_only: bool, url: str) -> None:
    if not read_only:
        raise ReadOnlyStoreError(
            f"{READ_ONLY_MESSAGE}: read_only=False is not possible", archive=url
        )


# RemoteZipStore(url, mode="w") returns a ZipWriteStore: isinstance holds for it.
RemoteZipStore.register(ZipWriteStore)
