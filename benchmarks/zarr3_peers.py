"""zarr-python 3: the ways to read a zarr hierarchy in S3, side by side (issues 10 and 20).

Run in the Python 3.12 environment (zarr >= 3.2, the ``bench-zarr3`` extra)::

    python -m benchmarks.zarr3_peers [--quick] [--matrix peers|unzipped] [--out results.md]

Starts SeaweedFS (or moto) on 127.0.0.1, uploads the hierarchies and puts every contender
through the same :mod:`remote_zip_store.testing.netsim` proxy. Two matrices, both on the
suite's harness (:mod:`benchmarks.runner`'s config and run loop, :mod:`benchmarks.report`'s
cells, targets and tables); this module holds only their archives, contenders and scenarios.

``--matrix peers`` (issue 10; loopback, then 20 ms RTT / 400 Mbit/s): the ways to read a
*zip* with zarr 3. Archives:

* ``eeg``: the EEG recording of the suite (16 channels x 2 h at 256 Hz float32, one
  stored entry per 30 s epoch: 240 chunks per channel, zarr format 2, consolidated).
  The zarr-2 suite's cached file (``benchmarks/out/archives/eeg-16ch-7200s-stored.zip``,
  written by zarr 2's ``ZipStore``) is used when it exists, so the figures compare with
  ``python -m benchmarks.run``; otherwise the same signals are written here by zarr 3.
* ``sharded``: the same signals written by zarr 3 in zarr format 3, sharded (40 epochs
  per shard, one epoch per inner chunk, no compression), consolidated, zipped stored.

Contenders: zarr's ``ZipStore`` over an s3fs file (defaults; and ``block_size=256 KiB,
cache_type="bytes"``), zarr's ``ZipStore`` over ``obstore.open_reader``, zarrista's
``AsyncZipStore`` over an obstore ``S3Store`` (its own Rust zarr, not zarr-python), and
this project's ``RemoteZipStore`` under zarr 3.

``--matrix unzipped`` (issue 20; 20 ms RTT / 400 Mbit/s): this store on the zip against
the SAME hierarchy unzipped, one object per key under a prefix, read by
``zarr.storage.ObjectStore`` (obstore), and against a native Icechunk repository of it
(format 3 only: Icechunk stores no format 2) on the same SeaweedFS, and this store opening the
zip from its catalog (``remote-zip-store-catalog``: the catalog ``remote-zip-store index``
writes, one GET instead of the directory's; held to the unzipped limit, as it moves no
directory) and with obstore's GETs awaited on zarr's loop (``remote-zip-store-obstore-loop``:
``loop_reads=True``) and with spare connections opened at open
(``remote-zip-store-preconnect``: ``preconnect=8``) and with its read-ahead pieces served
only once whole (``remote-zip-store-whole-pieces``: the behaviour before they were served
as they arrive, for an A/B in one run); zarr formats 2 and 3 (the ``eeg``
file, and the recording written by zarr 3 in format 3, unsharded), zarr's
``async.concurrency`` 10 and 64 (``--formats``, ``--concurrency``). Scenarios: open group
+ list every node, one chunk, one channel (240 chunks), 16 channels x one epoch, the whole
hierarchy. The report adds the client CPU and "× best unzipped": each median over the
fastest unzipped contender's in its row.

Every run is cold (new clients; :func:`remote_zip_store.testing.cold.forget_process_state`);
the proxy counts requests and bytes. A cell repeats up to ``--reps`` times while its runs
have taken less than ``--cell-budget`` seconds, so the slow peers get one run. The physical
limit is the suite's (:func:`benchmarks.limits.physical_limit`): 2 round trips plus the
fewest bytes that hold what the scenario needs over the bandwidth (for the zip: directory,
end records, local headers and the needed data; unzipped: the needed objects' bytes).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import functools
import json
import logging
import sys
import tempfile
import time
import warnings
import zipfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # ``python benchmarks/zarr3_peers.py``
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # benchmarks.contenders

import numpy as np

from benchmarks import archives as suite_archives
from benchmarks import report, runner, simproc
from benchmarks.contenders import Target  # the suite's: one object, endpoint, credentials
from benchmarks.limits import Need, index_of, physical_limit
from benchmarks.report import Cell, Table, Targets
from benchmarks.runner import Config
from benchmarks.scenarios import chunk_names
from remote_zip_store.testing.cold import forget_process_state
from remote_zip_store.testing.netsim import CONDITIONS, LOOPBACK, Condition
from remote_zip_store.testing.servers import S3Server

ARCHIVES = suite_archives.ARCHIVES
RATE = 256
EPOCH = 30 * RATE
"""Samples per chunk (one 30 s epoch) in every archive; the inner chunk of the sharded one."""
SHARD_EPOCHS = 40
"""Inner chunks per shard of the sharded archive (20 minutes, 1.2 MB)."""
TUNED_BLOCK_SIZE = 256 * 1024
COND_20MS = next(c for c in CONDITIONS if c.name == "20ms-400Mbit")  # the suite's

# -- archives -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Archive(suite_archives.Archive):
    """The suite's archive record, plus its S3 key, zarr format and writer."""

    key: str = ""
    zarr_format: int = 2
    written_by: str = ""


def _signals(channels: int, seconds: int, seed: int = 7) -> Iterator[np.ndarray]:
    """The suite's EEG-like signals (random walks; the sample archive's seed)."""
    rng = np.random.default_rng(seed)
    for _ in range(channels):
        yield np.cumsum(rng.standard_normal(seconds * RATE, dtype=np.float32)).astype(np.float32)


def _zip_directory(directory: Path, path: Path) -> None:
    """Zip ``directory`` stored (``zip -0 -r``), entries in natural order (chunk 2 before 10)."""

    def natural(name: str) -> list[tuple[int, int, str]]:
        parts = name.split("/")
        return [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts]

    names = sorted(
        (str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file()), key=natural
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name in names:
            zf.write(directory / name, name)


def _write_hierarchy(path: Path, channels: int, seconds: int, fmt: int, *, sharded: bool) -> None:
    """The recording written by zarr 3 into a directory, consolidated, then zipped."""
    import zarr

    with tempfile.TemporaryDirectory(prefix="rzs-z3-") as tmp:
        store = zarr.storage.LocalStore(tmp)
        root = zarr.group(store=store, zarr_format=fmt)
        root.attrs.update(
            {"subject": "S001", "sampling_rate_hz": RATE, "channels": channels, "seconds": seconds}
        )
        signals = root.create_group("signals")
        for c, data in enumerate(_signals(channels, seconds)):
            extra: dict[str, Any] = (
                {"dimension_names": ["time"]}
                if fmt == 3
                else {"filters": None, "attributes": {"_ARRAY_DIMENSIONS": ["time"]}}
            )
            if sharded:
                extra["shards"] = (EPOCH * SHARD_EPOCHS,)
            array = signals.create_array(
                f"ch{c:02d}",
                shape=data.shape,
                chunks=(EPOCH,),
                dtype="float32",
                compressors=None,
                **extra,
            )
            array[:] = data
            array.attrs.update({"unit": "uV"})
        with warnings.catch_warnings():  # "consolidated metadata is not in the v3 spec"
            warnings.simplefilter("ignore")
            zarr.consolidate_metadata(store, zarr_format=fmt)
        _zip_directory(Path(tmp), path)


def _arrays(channels: int) -> tuple[str, ...]:
    return tuple(f"signals/ch{c:02d}" for c in range(channels))


def eeg_archive(directory: Path, channels: int, seconds: int) -> Archive:
    """The zarr-2 suite's EEG file when cached, else the same recording written by zarr 3."""
    arrays = _arrays(channels)
    suite = directory / f"eeg-{channels}ch-{seconds}s-stored.zip"
    if suite.exists() and suite.stat().st_size > 0:
        written = "zarr 2 ZipStore (suite cache)"
        return Archive("eeg", suite, arrays, EPOCH, "bench/eeg.zip", 2, written)
    path = suite_archives._generated(
        directory / f"eeg-{channels}ch-{seconds}s-stored-z3f2.zip",
        lambda tmp: _write_hierarchy(tmp, channels, seconds, 2, sharded=False),
    )
    return Archive("eeg", path, arrays, EPOCH, "bench/eeg.zip", 2, "zarr 3 (format 2) + zipfile")


def eeg_v3_archive(directory: Path, channels: int, seconds: int) -> Archive:
    """The recording in zarr format 3, unsharded (one object per epoch once unzipped)."""
    path = suite_archives._generated(
        directory / f"eeg-{channels}ch-{seconds}s-stored-v3.zip",
        lambda tmp: _write_hierarchy(tmp, channels, seconds, 3, sharded=False),
    )
    arrays = _arrays(channels)
    return Archive("eeg", path, arrays, EPOCH, "bench/eeg-v3.zip", 3, "zarr 3 (format 3) + zipfile")


def sharded_archive(directory: Path, channels: int, seconds: int) -> Archive:
    path = suite_archives._generated(
        directory / f"eeg-{channels}ch-{seconds}s-sharded{SHARD_EPOCHS}-v3.zip",
        lambda tmp: _write_hierarchy(tmp, channels, seconds, 3, sharded=True),
    )
    written = "zarr 3 (format 3) + zipfile"
    return Archive("sharded", path, _arrays(channels), EPOCH, "bench/sharded.zip", 3, written)


def inner_chunk_bytes(path: Path, shard: str, inner: int, per_shard: int) -> tuple[int, int]:
    """``(index bytes, inner chunk bytes)`` an ideal reader needs from ``shard``.

    The shard index (zarr 3's default, at the end: ``per_shard`` x (offset, nbytes)
    uint64 pairs plus a crc32c) gives the inner chunk's length.
    """
    with zipfile.ZipFile(path) as zf:
        data = zf.read(shard)
    index_len = per_shard * 16 + 4
    pairs = np.frombuffer(data[-index_len:-4], dtype="<u8").reshape(-1, 2)
    return index_len, int(pairs[inner][1])


def upload_unzipped(server: S3Server, archive: Archive, prefix: str) -> int:
    """Every entry of ``archive`` as one object under ``prefix`` (direct, not via the proxy)."""
    client = server.client(max_pool_connections=16)
    with zipfile.ZipFile(archive.path) as zf:
        names = [i.filename for i in zf.infolist() if not i.is_dir()]

        def put(name: str) -> None:
            with zipfile.ZipFile(archive.path) as own:  # one handle per thread
                body = own.read(name)
            client.put_object(Bucket=server.bucket, Key=f"{prefix}/{name}", Body=body)

        with ThreadPoolExecutor(16) as pool:
            list(pool.map(put, names))
    return len(names)


def write_catalog(server: S3Server, archive: Archive, folder: str) -> str:
    """A copy of the zip alone under ``folder``, and its catalog (what ``remote-zip-store
    index`` writes) at :func:`catalog_key`; returns the copy's key."""
    from remote_zip_store.verbs import build_catalog

    key = f"{folder}/{archive.path.name}"
    server.put_file(archive.path, key)
    t = Target(server.endpoint_url, server.bucket, key, server.access_key, server.secret_key)
    report = build_catalog(
        f"s3://{t.bucket}/{folder}/",
        f"s3://{t.bucket}/{catalog_key(t)}",
        endpoint_url=t.endpoint_url,
        aws_access_key_id=t.access_key,
        aws_secret_access_key=t.secret_key,
        region_name=t.region,
    )
    if report.archives != 1 or report.failed:
        raise RuntimeError(f"catalog of {key}: {report}")
    return key


def _icechunk_storage(t: Target) -> Any:
    import icechunk

    return icechunk.s3_storage(
        bucket=t.bucket,
        prefix=t.key,
        endpoint_url=t.endpoint_url,
        allow_http=True,
        access_key_id=t.access_key,
        secret_access_key=t.secret_key,
        region=t.region,
        force_path_style=True,
    )


def write_icechunk(archive: Archive, t: Target) -> None:
    """A native Icechunk repository holding ``archive``'s hierarchy (format 3): the same
    groups, arrays, chunk grid and attributes, one commit."""
    import icechunk
    import zarr

    repo = icechunk.Repository.create(_icechunk_storage(t))
    session = repo.writable_session("main")
    with zarr.storage.ZipStore(archive.path, mode="r") as local:
        source = zarr.open_group(local, mode="r")
        root = zarr.group(store=session.store, zarr_format=3, attributes=dict(source.attrs))
        for name, node in source.members(max_depth=None):
            if isinstance(node, zarr.Group):
                root.create_group(name, attributes=dict(node.attrs))
                continue
            array = root.create_array(
                name,
                shape=node.shape,
                chunks=node.chunks,
                dtype=node.dtype,
                compressors=None,
                dimension_names=node.metadata.dimension_names,
                attributes=dict(node.attrs),
            )
            array[:] = node[:]
    session.commit("the EEG hierarchy")


# -- contenders -----------------------------------------------------------------------------------


class Handle:
    """An opened hierarchy: read a selection of an array, walk the tree, release."""

    def read(self, array: str, selection: slice) -> np.ndarray:
        raise NotImplementedError

    def tree(self) -> int:
        """Visit every node's metadata; return the number of nodes."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class ZarrHandle(Handle):
    """A zarr-python 3 group and what releases it."""

    def __init__(self, store: Any, closers: Sequence[Callable[[], object]] = ()):
        import zarr

        self.root = zarr.open_group(store, mode="r")
        self.closers = [*closers]

    def read(self, array: str, selection: slice) -> np.ndarray:
        return np.asarray(self.root[array][selection])

    def tree(self) -> int:
        return len(list(self.root.members(max_depth=None)))

    def close(self) -> None:
        for close in reversed(self.closers):
            close()


class ZarristaHandle(Handle):
    """zarrista's own (Rust zarrs) async API, driven on a private event loop."""

    def __init__(self, t: Target):
        import zarrista
        import zarrista.store

        async def open_group() -> tuple[Any, Any]:
            # zarrista's awaitables bind to the running loop when called: call them in it.
            zip_store = await zarrista.store.AsyncZipStore.open(_obstore(t), t.key)
            return zip_store, await zarrista.AsyncGroup.open(zip_store, "/")

        self.loop = asyncio.new_event_loop()
        self.zarrista = zarrista
        self.store, self.group = self.loop.run_until_complete(open_group())

    def read(self, array: str, selection: slice) -> np.ndarray:
        async def go() -> Any:
            arr = await self.zarrista.AsyncArray.open(self.store, "/" + array)
            return await arr.retrieve_array_subset((selection,))

        return np.from_dlpack(self.loop.run_until_complete(go()))

    def tree(self) -> int:
        async def go() -> int:
            return len(await self.group.traverse())

        return self.loop.run_until_complete(go())

    def close(self) -> None:
        self.loop.close()


def _obstore(t: Target, prefix: str | None = None) -> Any:
    from obstore.store import S3Store

    return S3Store(
        t.bucket,
        prefix=prefix,
        endpoint=t.endpoint_url,
        access_key_id=t.access_key,
        secret_access_key=t.secret_key,
        region=t.region,
        virtual_hosted_style_request=False,
        client_options={"allow_http": True},
    )


def _s3fs_zipstore(t: Target, **open_kwargs: Any) -> Handle:
    import s3fs
    import zarr

    fs = s3fs.S3FileSystem(
        key=t.access_key, secret=t.secret_key, client_kwargs={"endpoint_url": t.endpoint_url}
    )
    f = fs.open(t.path, "rb", **open_kwargs)
    store = zarr.storage.ZipStore(f, mode="r")
    return ZarrHandle(store, [f.close, store.close])


def _obstore_reader_zipstore(t: Target) -> Handle:
    import obstore
    import zarr

    reader = obstore.open_reader(_obstore(t), t.key)
    store = zarr.storage.ZipStore(reader, mode="r")
    return ZarrHandle(store, [reader.close, store.close])


def ours_class() -> Any:
    """This project's zarr-3 store: ``remote_zip_store.zarr3._store`` (or the package's export
    when it dispatches on the installed zarr)."""
    import zarr.abc.store

    try:
        from remote_zip_store.zarr3._store import RemoteZipStore
    except ImportError:
        from remote_zip_store import RemoteZipStore
    if not issubclass(RemoteZipStore, zarr.abc.store.Store):
        raise TypeError("RemoteZipStore is not a zarr.abc.store.Store under this zarr")
    return RemoteZipStore


def _ours(t: Target, *, whole_pieces: bool = False, **options: Any) -> Handle:
    """This store on the zip. ``whole_pieces``: its read-ahead serves a piece only once all
    of it is in, as before pieces were served as they arrive (an A/B of that change in one
    run; no option offers it, so the benchmark switches the archive's read-ahead itself)."""
    store = ours_class()(
        t.url,
        endpoint_url=t.endpoint_url,
        aws_access_key_id=t.access_key,
        aws_secret_access_key=t.secret_key,
        region_name=t.region,
        **options,
    )
    if whole_pieces:
        store.archive._ahead._fetch_into = None
    return ZarrHandle(store, [store.close])


def catalog_key(t: Target) -> str:
    """Where the catalog of the zip copy at ``t`` lies: beside its folder (``cat/v3/x.zip``
    -> ``cat/v3.catalog``), so that folder's listing holds that archive alone."""
    return f"{t.key.rpartition('/')[0]}.catalog"


def _catalogued(t: Target) -> Handle:
    """This store on the zip, opened from its catalog (``remote-zip-store index``, written
    before the run): one GET of the catalog instead of the directory's."""
    return _ours(t, catalog=f"s3://{t.bucket}/{catalog_key(t)}")


def _objects(t: Target) -> Handle:
    """zarr's ``ObjectStore`` over an obstore ``S3Store`` at the unzipped prefix."""
    import zarr

    return ZarrHandle(zarr.storage.ObjectStore(_obstore(t, prefix=t.key), read_only=True))


def _icechunk(t: Target) -> Handle:
    """A native Icechunk repository, opened anew (no cached snapshot or manifest)."""
    import icechunk

    repo = icechunk.Repository.open(_icechunk_storage(t))
    return ZarrHandle(repo.readonly_session(branch="main").store)


@dataclass(frozen=True)
class Contender:
    name: str
    label: str
    open: Callable[[Target], Handle]
    ours: bool = False
    source: str = "zip"
    """What it reads: "zip" (the archive), "catalog" (a copy of the archive alone under a
    folder, with its catalog), "objects" (one object per key), "icechunk"."""
    formats: tuple[int, ...] = (2, 3)


CONTENDERS = (
    Contender("s3fs-zipstore", "zarr ZipStore over an s3fs file (defaults)", _s3fs_zipstore),
    Contender(
        "s3fs-zipstore-tuned",
        "same, block_size=256 KiB, cache_type='bytes'",
        lambda t: _s3fs_zipstore(t, block_size=TUNED_BLOCK_SIZE, cache_type="bytes"),
    ),
    Contender(
        "obstore-reader-zipstore",
        "zarr ZipStore over obstore.open_reader",
        _obstore_reader_zipstore,
    ),
    Contender("zarrista", "zarrista AsyncZipStore over obstore S3Store (Rust)", ZarristaHandle),
    Contender("remote-zip-store", "RemoteZipStore (zarr 3)", _ours, ours=True),
)
BY_NAME = {c.name: c for c in CONTENDERS}
UNZIPPED = (
    Contender("remote-zip-store", "RemoteZipStore on the zip", _ours, ours=True),
    Contender(
        "remote-zip-store-whole-pieces",
        "RemoteZipStore on the zip, read-ahead pieces served only once whole",
        lambda t: _ours(t, whole_pieces=True),
        ours=True,
    ),
    Contender(
        "remote-zip-store-preconnect",
        "RemoteZipStore on the zip, preconnect=8 (spare connections at open)",
        lambda t: _ours(t, preconnect=8),
        ours=True,
    ),
    Contender(
        "remote-zip-store-obstore",
        "RemoteZipStore on the zip, transport='obstore'",
        lambda t: _ours(t, transport="obstore"),
        ours=True,
    ),
    Contender(
        "remote-zip-store-obstore-loop",
        "RemoteZipStore on the zip, transport='obstore', loop_reads=True",
        lambda t: _ours(t, transport="obstore", loop_reads=True),
        ours=True,
    ),
    Contender(
        "remote-zip-store-catalog",
        "RemoteZipStore on the zip, opened from its catalog",
        _catalogued,
        ours=True,
        source="catalog",
    ),
    Contender(
        "obstore-objects", "zarr ObjectStore (obstore), unzipped", _objects, source="objects"
    ),
    Contender("icechunk", "Icechunk repository", _icechunk, source="icechunk", formats=(3,)),
)
UNZIPPED_BY_NAME = {c.name: c for c in UNZIPPED}


# -- scenarios ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Context:
    """The archives a matrix reads (by role: "eeg", "sharded") and where each contender
    finds them: ``targets[(role, source)]``."""

    archives: dict[str, Archive]
    targets: dict[tuple[str, str], Target]


@dataclass(frozen=True)
class Scenario:
    name: str
    label: str
    archive: str
    """The role of the archive opened: "eeg" or "sharded"."""
    action: Callable[[Handle, Archive, Callable[[], None]], object]
    """Runs on the opened handle; calls ``mark()`` right before the measured read."""
    needs: Callable[[Archive], list[Need]]
    """What an ideal client reads (entry names, or (name, bytes) parts): the limit."""

    def run(self, contender: Contender, ctx: Context, mark: Callable[[], None]) -> None:
        handle = contender.open(ctx.targets[(self.archive, contender.source)])
        try:
            mark()
            self.action(handle, ctx.archives[self.archive], mark)
        finally:
            handle.close()


@functools.cache
def _middle_chunk(archive: Archive) -> int:
    """The first array's chunk in the middle of the archive's data (neither in the open's
    head nor tail reads), as a chunk number. Cached: the timed scenarios call it."""
    index = index_of(archive)
    names = chunk_names(archive, archive.arrays[0])
    offsets = {n: entry.header_offset for n in names if (entry := index.get(n)) is not None}
    names.sort(key=offsets.__getitem__)
    return int(names[len(names) // 2].rsplit("/", 1)[1])


@functools.cache
def _middle_inner(archive: Archive) -> tuple[str, int, int]:
    """(shard entry, inner chunk in shard, inner chunk in the array) in the middle."""
    shards = chunk_names(archive, archive.arrays[0])
    shards.sort(key=lambda n: int(n.rsplit("/", 1)[1]))
    shard = shards[len(shards) // 2]
    inner = SHARD_EPOCHS // 2
    return shard, inner, int(shard.rsplit("/", 1)[1]) * SHARD_EPOCHS + inner


def _epoch(k: int) -> slice:
    return slice(k * EPOCH, (k + 1) * EPOCH)


def _nothing(h: Handle, a: Archive, mark: Callable[[], None]) -> object:
    return None


def _tree(h: Handle, a: Archive, mark: Callable[[], None]) -> object:
    return h.tree()


def _chunk(h: Handle, a: Archive, mark: Callable[[], None]) -> object:
    i = _middle_chunk(a)
    mark()
    return _check(h.read(a.arrays[0], _epoch(i)), EPOCH)


def _channel(h: Handle, a: Archive, mark: Callable[[], None]) -> object:
    mark()
    return _check(h.read(a.arrays[0], slice(None)), _samples(a))


def _epoch_all(h: Handle, a: Archive, mark: Callable[[], None]) -> object:
    mark()
    k = _epoch_read(a)
    return [_check(h.read(name, _epoch(k)), EPOCH) for name in a.arrays]


def _whole(h: Handle, a: Archive, mark: Callable[[], None]) -> object:
    mark()
    return [_check(h.read(name, slice(None)), _samples(a)) for name in a.arrays]


def _inner(h: Handle, a: Archive, mark: Callable[[], None]) -> object:
    _, _, i = _middle_inner(a)
    mark()
    return _check(h.read(a.arrays[0], _epoch(i)), EPOCH)


EPOCH_READ = 100
"""The epoch "16 channels x one epoch" reads (as the suite's): 50 min into the recording."""


def _epoch_read(a: Archive) -> int:
    """:data:`EPOCH_READ`, or the middle epoch of a shorter (``--quick``) recording."""
    return min(EPOCH_READ, _samples(a) // EPOCH // 2)


@functools.cache
def _samples(a: Archive) -> int:
    return len(chunk_names(a, a.arrays[0])) * EPOCH


def _check(values: np.ndarray, n: int) -> np.ndarray:
    if values.shape != (n,):
        raise AssertionError(f"read {values.shape}, expected ({n},)")
    return values


def _meta(a: Archive, arrays: Sequence[str]) -> list[Need]:
    if a.zarr_format == 3:
        return ["zarr.json", *(f"{name}/zarr.json" for name in arrays)]
    return [".zgroup", *(f"{name}/.zarray" for name in arrays)]


def _all_meta(a: Archive) -> list[Need]:
    last = (".zgroup", ".zarray", "zarr.json")
    return [n for n in index_of(a).names() if n.rsplit("/", 1)[-1] in last]


def _chunk_of(a: Archive, array: str, k: int) -> str:
    return f"{array}/c/{k}" if a.zarr_format == 3 else f"{array}/{k}"


def _inner_need(a: Archive) -> list[Need]:
    shard, inner, _ = _middle_inner(a)
    index_len, nbytes = inner_chunk_bytes(a.path, shard, inner, SHARD_EPOCHS)
    return [*_meta(a, a.arrays[:1]), (shard, index_len + nbytes)]


OPEN = Scenario("open", "open group", "eeg", _nothing, lambda a: _meta(a, ()))
TREE = Scenario("tree", "tree (every node's metadata)", "eeg", _tree, _all_meta)
CHUNK = Scenario(
    "chunk",
    "one chunk",
    "eeg",
    _chunk,
    lambda a: [*_meta(a, a.arrays[:1]), _chunk_of(a, a.arrays[0], _middle_chunk(a))],
)
CHANNEL = Scenario(
    "channel",
    "one channel",
    "eeg",
    _channel,
    lambda a: [*_meta(a, a.arrays[:1]), *chunk_names(a, a.arrays[0])],
)
SCENARIOS = (
    OPEN,
    TREE,
    CHUNK,
    CHANNEL,
    Scenario("inner", "one inner chunk of a sharded array", "sharded", _inner, _inner_need),
)
SCENARIO_NAMES = tuple(s.name for s in SCENARIOS)
UNZIPPED_SCENARIOS = (
    Scenario("list", "open group + list every node", "eeg", _tree, _all_meta),
    CHUNK,
    Scenario("channel", "one channel (240 chunks)", "eeg", _channel, CHANNEL.needs),
    Scenario(
        "epoch",
        "16 channels x one epoch",
        "eeg",
        _epoch_all,
        lambda a: [*_meta(a, a.arrays), *(_chunk_of(a, n, _epoch_read(a)) for n in a.arrays)],
    ),
    Scenario(
        "whole",
        "whole hierarchy",
        "eeg",
        _whole,
        lambda a: [*_meta(a, a.arrays), *(k for n in a.arrays for k in chunk_names(a, n))],
    ),
)
UNZIPPED_SCENARIO_NAMES = tuple(s.name for s in UNZIPPED_SCENARIOS)

# -- running --------------------------------------------------------------------------------------


def full_config(matrix: str = "peers") -> Config:
    """The full run's settings of a matrix."""
    if matrix == "unzipped":
        return Config(
            reps=3,
            cell_budget=12.0,
            conditions=(COND_20MS,),
            scenarios=UNZIPPED_SCENARIO_NAMES,
            contenders=tuple(UNZIPPED_BY_NAME),
            archives=ARCHIVES,
        )
    return Config(
        cell_budget=8.0,
        conditions=(LOOPBACK, COND_20MS),
        scenarios=SCENARIO_NAMES,
        contenders=tuple(BY_NAME),
        archives=ARCHIVES,
    )


def quick_config(archives: Path = ARCHIVES / "quick", matrix: str = "peers") -> Config:
    full = full_config(matrix)
    full.quick, full.reps, full.cell_budget, full.archives = True, 1, 5.0, archives
    full.channels, full.seconds = 2, SHARD_EPOCHS * 30 * 2
    quick_link = Condition.of("2ms-400Mbit", 2, 400)
    full.conditions = (quick_link,) if matrix == "unzipped" else (LOOPBACK, quick_link)
    return full


def verify(contender: Contender, ctx: Context) -> None:
    """Untimed warm-up that also proves the contender reads the right values: one chunk of
    each archive (an inner chunk of the sharded one) against zarr's own ZipStore on the
    local file."""
    import zarr

    for role, archive in ctx.archives.items():
        k = _middle_inner(archive)[2] if role == "sharded" else _middle_chunk(archive)
        with zarr.storage.ZipStore(archive.path, mode="r") as local:
            expected = np.asarray(zarr.open_group(local, mode="r")[archive.arrays[0]][_epoch(k)])
        forget_process_state()
        handle = contender.open(ctx.targets[(role, contender.source)])
        try:
            got = handle.read(archive.arrays[0], _epoch(k))
        finally:
            handle.close()
        if not np.array_equal(got, expected):
            raise AssertionError(f"{contender.name} read wrong values from {archive.name}")


def _limit(ctx: Context) -> runner.Limit:
    def limit(scenario: Scenario, contender: Contender, condition: Condition) -> Any:
        archive = ctx.archives[scenario.archive]
        needs = [(archive, scenario.needs(archive))]
        return physical_limit(needs, condition, unzipped=contender.source != "zip")

    return limit


def _archive_facts(archive: Archive) -> dict[str, Any]:
    return {
        "file": archive.path.name,
        "bytes": archive.size,
        "entries": len(index_of(archive)),
        "zarr_format": archive.zarr_format,
        "written_by": archive.written_by,
    }


def _result(
    config: Config,
    server: S3Server,
    chosen: Sequence[Contender],
    scenarios: Sequence[Scenario],
    cells: list[Cell],
) -> dict[str, Any]:
    result = runner.result_of(config, server, chosen, scenarios, cells, VERSIONS)
    result["config"]["zarr_async_concurrency"] = _zarr_concurrency()
    result["ours"] = [c.name for c in chosen if c.ours]
    return result


VERSIONS = ("zarr", "numcodecs", "obstore", "zarrista", "icechunk", "s3fs", "fsspec", "boto3")


def run_suite(
    config: Config, server: S3Server, log: Callable[[str], None] = print
) -> dict[str, Any]:
    """The peers matrix: generate and upload the zips, then run it through one proxy."""
    eeg = eeg_archive(config.archives, config.channels, config.seconds)
    sharded = sharded_archive(config.archives, config.channels, config.seconds)
    for a in (eeg, sharded):
        log(f"archive {a.name}: {a.path.name} ({a.size:,} B, {a.written_by})")
        server.put_file(a.path, a.key)
    host, port = server.endpoint_url.removeprefix("http://").split(":")
    chosen = [BY_NAME[n] for n in config.contenders]
    scenarios = [s for s in SCENARIOS if s.name in config.scenarios]
    with simproc.link(host, int(port), in_process=config.sim_in_process) as sim:

        def target(a: Archive) -> Target:
            return Target(sim.endpoint, server.bucket, a.key, server.access_key, server.secret_key)

        ctx = Context(
            {"eeg": eeg, "sharded": sharded},
            {("eeg", "zip"): target(eeg), ("sharded", "zip"): target(sharded)},
        )
        broken = runner.warm_up(chosen, lambda c: verify(c, ctx), log)
        cells = runner.run_matrix(
            sim, config, scenarios, chosen, ctx, _limit(ctx), broken=broken, log=log
        )
    result = _result(config, server, chosen, scenarios, cells)
    result["archives"] = {a.name: _archive_facts(a) for a in (eeg, sharded)}
    timed = [c.name for c in config.conditions if c.rtt]
    result["targets_condition"] = timed[-1] if timed else config.conditions[-1].name
    result["targets"] = [
        t
        for c in config.conditions
        for t in check_targets(result, c.name, limits=c.name == result["targets_condition"])
    ]
    return result


def run_unzipped(
    config: Config,
    server: S3Server,
    *,
    formats: Sequence[int] = (2, 3),
    concurrency: Sequence[int] = (10, 64),
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """The zip-vs-unzipped matrix: per zarr format, the zip, its entries as objects and
    (format 3) an Icechunk repository; then each concurrency through one proxy."""
    import zarr

    made = {
        2: eeg_archive(config.archives, config.channels, config.seconds),
        3: eeg_v3_archive(config.archives, config.channels, config.seconds),
    }
    chosen_all = [UNZIPPED_BY_NAME[n] for n in config.contenders]
    where: dict[int, dict[str, str]] = {}
    for fmt in formats:
        a = made[fmt]
        t0 = time.perf_counter()
        server.put_file(a.path, a.key)
        objects = upload_unzipped(server, a, f"unzipped/v{fmt}")
        where[fmt] = {"zip": a.key, "objects": f"unzipped/v{fmt}"}
        if any(c.source == "icechunk" and fmt in c.formats for c in chosen_all):
            direct = Target(
                server.endpoint_url, server.bucket, "", server.access_key, server.secret_key
            )
            write_icechunk(a, direct.with_key(f"icechunk/v{fmt}"))
            where[fmt]["icechunk"] = f"icechunk/v{fmt}"
        if any(c.source == "catalog" for c in chosen_all):
            where[fmt]["catalog"] = write_catalog(server, a, f"catalogued/v{fmt}")
        log(
            f"format {fmt}: {a.path.name} ({a.size:,} B, {a.written_by}), {objects} objects"
            f"{', an Icechunk repo' if 'icechunk' in where[fmt] else ''}"
            f" ({time.perf_counter() - t0:.1f} s)"
        )
    scenarios = [s for s in UNZIPPED_SCENARIOS if s.name in config.scenarios]
    host, port = server.endpoint_url.removeprefix("http://").split(":")
    cells: list[Cell] = []
    with simproc.link(host, int(port), in_process=config.sim_in_process) as sim:
        base = Target(sim.endpoint, server.bucket, "", server.access_key, server.secret_key)
        for fmt in formats:
            ctx = Context(
                {"eeg": made[fmt]},
                {("eeg", src): base.with_key(key) for src, key in where[fmt].items()},
            )
            chosen = [c for c in chosen_all if fmt in c.formats]
            for n in concurrency:
                with zarr.config.set({"async.concurrency": n}):
                    broken = runner.warm_up(chosen, lambda c, ctx=ctx: verify(c, ctx), log)
                    cells += runner.run_matrix(
                        sim,
                        config,
                        scenarios,
                        chosen,
                        ctx,
                        _limit(ctx),
                        broken=broken,
                        variant=f"zarr format {fmt}, concurrency {n}",
                        log=log,
                    )
    result = _result(config, server, chosen_all, scenarios, cells)
    result["config"]["zarr_async_concurrency"] = list(concurrency)
    result["archives"] = {f"v{fmt}": _archive_facts(made[fmt]) for fmt in formats}
    result["targets"] = unzipped_targets(result)
    return result


def _zarr_concurrency() -> Any:
    import zarr

    return zarr.config.get("async.concurrency")


# -- targets and report ---------------------------------------------------------------------------


def check_targets(
    result: dict[str, Any], condition: str, *, limits: bool = True
) -> list[dict[str, Any]]:
    """Issue 10's targets on ``condition`` (``met`` None when a figure is missing);
    ``limits=False`` (loopback: no limit to compare with) checks only "faster than every
    peer"."""
    cells = [c for c in result["cells"] if c.condition == condition and c.times]
    ours = set(result["ours"])
    targets = Targets(cells, prefix=f"{condition}: ")
    add = targets.add

    for name in ours:
        for scenario in result["scenarios"]:
            mine = targets.get(condition, scenario, name)
            peers = [c for c in cells if c.scenario == scenario and c.contender not in ours]
            if not peers:
                continue
            best = min(peers, key=lambda c: c.median)
            label = f"{result['scenarios'][scenario]}: faster than every peer"
            if mine is None:
                add(label, None, "ours not measured")
                continue
            add(
                label,
                mine.median < best.median,
                f"{mine.median * 1000:.0f} ms vs best peer {best.contender} "
                f"{best.median * 1000:.0f} ms ({best.median / mine.median:.1f}x)",
            )
        if not limits:
            continue
        channel = targets.get(condition, "channel", name)
        peers = [c for c in cells if c.scenario == "channel" and c.contender not in ours]
        if peers:
            best = min(peers, key=lambda c: c.median)
            add(
                "one channel <= 1/5 of the best peer's time",
                None if channel is None else channel.median * 5 <= best.median,
                "ours not measured"
                if channel is None
                else f"{channel.median / best.median:.3f} of {best.contender} "
                f"({channel.median * 1000:.0f} ms vs {best.median * 1000:.0f} ms)",
            )
        for scenario, factor in (("open", 1.5), ("channel", 1.3)):
            if scenario in result["scenarios"]:  # else not run (--scenarios)
                label = result["scenarios"][scenario]
                targets.within_limit(label, targets.get(condition, scenario, name), factor, ms=True)
    return targets.rows


def unzipped_targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Per variant and scenario: the store on the zip against the best unzipped reader
    (no target of the issue: "met" says whether the zip read is at least as fast)."""
    cells: list[Cell] = result["cells"]
    targets = Targets(cells)
    for variant in dict.fromkeys(c.variant for c in cells):
        for cond in dict.fromkeys(c.condition for c in cells):
            for scenario, label in result["scenarios"].items():
                row = [
                    c
                    for c in cells
                    if (c.variant, c.condition, c.scenario) == (variant, cond, scenario)
                ]
                best = report.best_of(("obstore-objects", "icechunk"), "").pick(row)
                for ours in result["ours"]:
                    mine = next((c for c in row if c.contender == ours and c.times), None)
                    if mine is None or best is None:
                        continue
                    targets.add(
                        f"{cond}, {variant}: {label}: {ours} on the zip <= best unzipped",
                        mine.median <= best.median,
                        f"{mine.median / best.median:.2f}x ({mine.median * 1000:.0f} ms vs "
                        f"{best.contender} {best.median * 1000:.0f} ms)",
                    )
    return targets.rows


PEERS_TABLE = Table(ms=True, phase=True, reference=None)
UNZIPPED_TABLE = Table(
    ms=True, cpu=True, reference=report.best_of(("obstore-objects", "icechunk"), "× best unzipped")
)


def markdown(result: dict[str, Any], table: Table = PEERS_TABLE) -> str:
    """The run's header lines, the suite's tables (:func:`benchmarks.report.markdown`) and
    the targets."""
    setup = result["setup"]
    lines = [
        f"zarr-3 peers, {result['date']}; server {setup['server']}; "
        + ", ".join(f"{k} {v}" for k, v in setup["versions"].items())
        + f"; zarr async.concurrency {result['config']['zarr_async_concurrency']}",
        "",
    ]
    for name, a in result["archives"].items():
        lines.append(
            f"- `{name}`: {a['file']}, {a['bytes'] / 1e6:.1f} MB, {a['entries']} entries, "
            f"zarr format {a['zarr_format']}, written by {a['written_by']}"
        )
    lines += ["", report.markdown(result, table)]
    if result.get("targets"):
        lines += ["Targets:", "", report.targets_markdown(result), ""]
    return "\n".join(lines)


# -- command line ---------------------------------------------------------------------------------


def build_config(args: argparse.Namespace) -> Config:
    archives = Path(args.archives) if args.archives else None
    if args.quick:
        config = quick_config(archives or ARCHIVES / "quick", args.matrix)
    else:
        config = full_config(args.matrix)
        config.archives = archives or ARCHIVES
    return runner.apply_arguments(config, args)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.zarr3_peers", description=__doc__.splitlines()[0]
    )
    runner.add_arguments(
        parser,
        f"{','.join(SCENARIO_NAMES)} (unzipped: {','.join(UNZIPPED_SCENARIO_NAMES)})",
        f"{','.join(BY_NAME)} (unzipped: {','.join(UNZIPPED_BY_NAME)})",
    )
    parser.add_argument(
        "--matrix",
        choices=("peers", "unzipped"),
        default="peers",
        help="peers: the zip readers (issue 10); unzipped: the zip against the same "
        "hierarchy unzipped and in Icechunk (issue 20)",
    )
    parser.add_argument("--out", help="also write the markdown report to this file")
    parser.add_argument("--json", help="also write the raw results to this file")
    parser.add_argument("--archives", help="folder of the generated archives (cached)")
    parser.add_argument(
        "--zarr-concurrency",
        type=int,
        help="zarr's async.concurrency for every zarr-python contender (default: zarr's, 10)",
    )
    parser.add_argument(
        "--handshake-at-connect",
        action="store_true",
        help="the link charges connection setup from the connect, not at the first request "
        "(netsim's Condition.handshake_at_connect: credits spare connections, preconnect)",
    )
    parser.add_argument("--formats", default="2,3", help="unzipped: zarr formats (2,3)")
    parser.add_argument(
        "--concurrency", default="10,64", help="unzipped: zarr async.concurrency values (10,64)"
    )
    args = parser.parse_args(argv)
    config = build_config(args)
    if args.handshake_at_connect:
        config.conditions = tuple(
            dataclasses.replace(c, handshake_at_connect=True) for c in config.conditions
        )
    if args.zarr_concurrency:
        import zarr

        zarr.config.set({"async.concurrency": args.zarr_concurrency})
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    started = time.perf_counter()
    log: Callable[[str], None] = lambda line: print(line, flush=True)  # noqa: E731
    with runner.server(args.server) as server:
        print(f"server: {server.name} at {server.endpoint_url}", flush=True)
        if args.matrix == "unzipped":
            result = run_unzipped(
                config,
                server,
                formats=[int(f) for f in args.formats.split(",")],
                concurrency=[int(n) for n in args.concurrency.split(",")],
                log=log,
            )
        else:
            result = run_suite(config, server, log=log)
    result["wall_s"] = round(time.perf_counter() - started, 1)
    result["command"] = "python -m benchmarks.zarr3_peers " + " ".join(
        argv if argv is not None else sys.argv[1:]
    )
    table = UNZIPPED_TABLE if args.matrix == "unzipped" else PEERS_TABLE
    text = markdown(result, table) + f"\nCommand: `{result['command']}` ({result['wall_s']} s)\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    if args.json:
        Path(args.json).write_text(json.dumps(report.to_json(result), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
