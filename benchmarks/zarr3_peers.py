"""zarr-python 3: the ways to read a zarr zip in S3, side by side (issue 10).

Run in the Python 3.12 environment (zarr >= 3.2, the ``bench-zarr3`` extra)::

    python -m benchmarks.zarr3_peers [--quick] [--server seaweedfs|moto] [--out results.md]

Starts SeaweedFS (or moto) on 127.0.0.1, uploads two archives and puts every contender
through the same :mod:`remote_zip_store.testing.netsim` proxy, condition by condition
(loopback, then 20 ms RTT / 400 Mbit/s):

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
this project's ``RemoteZipStore`` under zarr 3. Every run is cold (new clients, fsspec
instance caches dropped); the proxy counts requests and bytes. A cell repeats up to
``--reps`` times while its runs have taken less than ``--cell-budget`` seconds, so the
slow peers get one run. The physical limit is the suite's: 2 round trips plus the fewest
bytes that hold what the scenario needs (directory, end records, local headers and the
needed data), over the bandwidth.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import platform
import statistics
import struct
import sys
import tempfile
import time
import warnings
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # ``python benchmarks/zarr3_peers.py``
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # benchmarks.contenders

import numpy as np

from benchmarks.contenders import Target  # the suite's: one object, endpoint, credentials
from remote_zip_store.testing.cold import forget_process_state
from remote_zip_store.testing.netsim import LOOPBACK, Condition, Counts, NetSim
from remote_zip_store.testing.servers import S3Server, moto_server, seaweedfs_server

OUT = Path(__file__).resolve().parent / "out"
ARCHIVES = OUT / "archives"
RATE = 256
EPOCH = 30 * RATE
"""Samples per chunk (one 30 s epoch) in both archives; the inner chunk of the sharded one."""
SHARD_EPOCHS = 40
"""Inner chunks per shard of the sharded archive (20 minutes, 1.2 MB)."""
TUNED_BLOCK_SIZE = 256 * 1024
COND_20MS = Condition.of("20ms-400Mbit", 20, 400)

# -- archives -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Archive:
    """A generated archive on disk, its S3 key, and the arrays the scenarios read."""

    name: str
    path: Path
    key: str
    arrays: tuple[str, ...]
    zarr_format: int
    written_by: str

    @property
    def size(self) -> int:
        return self.path.stat().st_size


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


def _write_hierarchy(path: Path, channels: int, seconds: int, *, sharded: bool) -> None:
    """The recording written by zarr 3 into a directory, consolidated, then zipped."""
    import zarr

    with tempfile.TemporaryDirectory(prefix="rzs-z3-") as tmp:
        store = zarr.storage.LocalStore(tmp)
        fmt = 3 if sharded else 2
        root = zarr.group(store=store, zarr_format=fmt)
        root.attrs.update(
            {"subject": "S001", "sampling_rate_hz": RATE, "channels": channels, "seconds": seconds}
        )
        signals = root.create_group("signals")
        for c, data in enumerate(_signals(channels, seconds)):
            extra: dict[str, Any] = (
                {"shards": (EPOCH * SHARD_EPOCHS,), "dimension_names": ["time"]}
                if sharded
                else {"filters": None, "attributes": {"_ARRAY_DIMENSIONS": ["time"]}}
            )
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


def _generated(path: Path, write: Callable[[Path], object]) -> Path:
    if not (path.exists() and path.stat().st_size > 0):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        write(tmp)
        tmp.rename(path)
    return path


def eeg_archive(directory: Path, channels: int, seconds: int) -> Archive:
    """The zarr-2 suite's EEG file when cached, else the same recording written by zarr 3."""
    arrays = tuple(f"signals/ch{c:02d}" for c in range(channels))
    suite = directory / f"eeg-{channels}ch-{seconds}s-stored.zip"
    if suite.exists() and suite.stat().st_size > 0:
        return Archive("eeg", suite, "bench/eeg.zip", arrays, 2, "zarr 2 ZipStore (suite cache)")
    path = _generated(
        directory / f"eeg-{channels}ch-{seconds}s-stored-z3f2.zip",
        lambda tmp: _write_hierarchy(tmp, channels, seconds, sharded=False),
    )
    return Archive("eeg", path, "bench/eeg.zip", arrays, 2, "zarr 3 (format 2) + zipfile")


def sharded_archive(directory: Path, channels: int, seconds: int) -> Archive:
    path = _generated(
        directory / f"eeg-{channels}ch-{seconds}s-sharded{SHARD_EPOCHS}-v3.zip",
        lambda tmp: _write_hierarchy(tmp, channels, seconds, sharded=True),
    )
    arrays = tuple(f"signals/ch{c:02d}" for c in range(channels))
    return Archive("sharded", path, "bench/sharded.zip", arrays, 3, "zarr 3 (format 3) + zipfile")


# -- what an ideal client reads -------------------------------------------------------------------


@dataclass(frozen=True)
class Layout:
    """A local archive's directory: where the central directory starts, each entry's span."""

    size: int
    cd_start: int
    entries: dict[str, tuple[int, int, int]]
    """name -> (local header offset, data offset, data end)."""

    @classmethod
    def of(cls, path: Path) -> Layout:
        entries: dict[str, tuple[int, int, int]] = {}
        with zipfile.ZipFile(path) as zf, open(path, "rb") as f:
            for info in zf.infolist():
                f.seek(info.header_offset)
                head = f.read(30)
                name_len, extra_len = struct.unpack("<HH", head[26:30])
                data = info.header_offset + 30 + name_len + extra_len
                entries[info.filename] = (info.header_offset, data, data + info.compress_size)
            return cls(path.stat().st_size, zf.start_dir, entries)

    def chunks(self, array: str) -> list[str]:
        """The chunk entries directly under ``array`` (no metadata), in archive order."""
        prefix = array + "/"
        names = [
            n
            for n in self.entries
            if n.startswith(prefix) and "/" not in n[len(prefix) :] and n[len(prefix)].isdigit()
        ]
        return sorted(names, key=lambda n: self.entries[n][0])


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


@dataclass(frozen=True)
class Need:
    """What a scenario needs from one archive: whole entries, and parts of entries."""

    archive: Archive
    whole: tuple[str, ...] = ()
    parts: tuple[tuple[str, int], ...] = ()
    """(entry, bytes needed from its data)."""


def limit_bytes(need: Need) -> int:
    """The fewest bytes holding what is needed: the directory and end records, plus the
    local header and data of each needed entry (header and the needed part for a part),
    or the whole object when that is fewer."""
    layout = _layout(need.archive.path)
    total = layout.size - layout.cd_start
    for name in need.whole:
        header, _, end = layout.entries[name]
        total += end - header
    for name, nbytes in need.parts:
        header, data, _ = layout.entries[name]
        total += data - header + nbytes
    return min(total, layout.size)


def physical_limit(need: Need, condition: Condition) -> tuple[float, int]:
    """``(seconds, bytes)``: 2 round trips (connection, one round of GETs) plus the bytes
    over the bandwidth; 0 on loopback (``Condition.lower_bound``, as in ``benchmarks.limits``)."""
    nbytes = limit_bytes(need)
    return condition.lower_bound(nbytes), nbytes


_LAYOUTS: dict[Path, Layout] = {}


def _layout(path: Path) -> Layout:
    if path not in _LAYOUTS:
        _LAYOUTS[path] = Layout.of(path)
    return _LAYOUTS[path]


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


def _obstore(t: Target) -> Any:
    from obstore.store import S3Store

    return S3Store(
        t.bucket,
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
    """This project's zarr-3 store: ``remote_zip_store.zarr3.store`` (or the package's export
    when it dispatches on the installed zarr)."""
    import zarr.abc.store

    try:
        from remote_zip_store.zarr3.store import RemoteZipStore
    except ImportError:
        from remote_zip_store import RemoteZipStore
    if not issubclass(RemoteZipStore, zarr.abc.store.Store):
        raise TypeError("RemoteZipStore is not a zarr.abc.store.Store under this zarr")
    return RemoteZipStore


def _ours(t: Target) -> Handle:
    store = ours_class()(
        t.url,
        endpoint_url=t.endpoint_url,
        aws_access_key_id=t.access_key,
        aws_secret_access_key=t.secret_key,
        region_name=t.region,
    )
    return ZarrHandle(store, [store.close])


@dataclass(frozen=True)
class Contender:
    name: str
    label: str
    open: Callable[[Target], Handle]
    ours: bool = False


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


# -- scenarios ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Context:
    eeg: Archive
    sharded: Archive
    eeg_target: Target
    sharded_target: Target


@dataclass(frozen=True)
class Scenario:
    name: str
    label: str
    archive: str
    """"eeg" or "sharded": the archive opened."""
    action: Callable[[Handle, Context, Callable[[], None]], object]
    """Runs on the opened handle; calls ``mark()`` right before the measured read."""
    needs: Callable[[Context], Need]


def _middle_chunk(ctx: Context) -> int:
    """The first array's chunk in the middle of the archive's data (neither in the open's
    head nor tail reads), as a chunk number."""
    names = _layout(ctx.eeg.path).chunks(ctx.eeg.arrays[0])
    return int(names[len(names) // 2].rsplit("/", 1)[1])


def _middle_inner(ctx: Context) -> tuple[str, int, int]:
    """(shard entry, inner chunk in shard, inner chunk in the array) in the middle."""
    layout = _layout(ctx.sharded.path)
    shards = [n for n in layout.entries if n.startswith(ctx.sharded.arrays[0] + "/c/")]
    shards.sort(key=lambda n: int(n.rsplit("/", 1)[1]))
    shard = shards[len(shards) // 2]
    inner = SHARD_EPOCHS // 2
    return shard, inner, int(shard.rsplit("/", 1)[1]) * SHARD_EPOCHS + inner


def _nothing(h: Handle, ctx: Context, mark: Callable[[], None]) -> object:
    return None


def _tree(h: Handle, ctx: Context, mark: Callable[[], None]) -> object:
    return h.tree()


def _chunk(h: Handle, ctx: Context, mark: Callable[[], None]) -> object:
    i = _middle_chunk(ctx)
    mark()
    return _check(h.read(ctx.eeg.arrays[0], slice(i * EPOCH, (i + 1) * EPOCH)), EPOCH)


def _channel(h: Handle, ctx: Context, mark: Callable[[], None]) -> object:
    mark()
    n = len(_layout(ctx.eeg.path).chunks(ctx.eeg.arrays[0])) * EPOCH
    return _check(h.read(ctx.eeg.arrays[0], slice(None)), n)


def _inner(h: Handle, ctx: Context, mark: Callable[[], None]) -> object:
    _, _, i = _middle_inner(ctx)
    mark()
    return _check(h.read(ctx.sharded.arrays[0], slice(i * EPOCH, (i + 1) * EPOCH)), EPOCH)


def _check(values: np.ndarray, n: int) -> np.ndarray:
    if values.shape != (n,):
        raise AssertionError(f"read {values.shape}, expected ({n},)")
    return values


def _meta2(ctx: Context, arrays: Sequence[str]) -> tuple[str, ...]:
    return (".zgroup", *(f"{a}/.zarray" for a in arrays))


def _inner_need(ctx: Context) -> Need:
    shard, inner, _ = _middle_inner(ctx)
    index_len, nbytes = inner_chunk_bytes(ctx.sharded.path, shard, inner, SHARD_EPOCHS)
    array = ctx.sharded.arrays[0]
    return Need(ctx.sharded, ("zarr.json", f"{array}/zarr.json"), ((shard, index_len + nbytes),))


SCENARIOS = (
    Scenario("open", "open group", "eeg", _nothing, lambda c: Need(c.eeg, (".zgroup",))),
    Scenario(
        "tree",
        "tree (every node's metadata)",
        "eeg",
        _tree,
        lambda c: Need(
            c.eeg,
            tuple(n for n in _layout(c.eeg.path).entries if n.endswith((".zgroup", ".zarray"))),
        ),
    ),
    Scenario(
        "chunk",
        "one chunk",
        "eeg",
        _chunk,
        lambda c: Need(
            c.eeg, (*_meta2(c, c.eeg.arrays[:1]), f"{c.eeg.arrays[0]}/{_middle_chunk(c)}")
        ),
    ),
    Scenario(
        "channel",
        "one channel",
        "eeg",
        _channel,
        lambda c: Need(
            c.eeg,
            (*_meta2(c, c.eeg.arrays[:1]), *_layout(c.eeg.path).chunks(c.eeg.arrays[0])),
        ),
    ),
    Scenario("inner", "one inner chunk of a sharded array", "sharded", _inner, _inner_need),
)
SCENARIO_NAMES = tuple(s.name for s in SCENARIOS)

# -- running --------------------------------------------------------------------------------------


@dataclass
class Cell:
    condition: str
    scenario: str
    contender: str
    times: list[float] = field(default_factory=list)
    requests: list[int] = field(default_factory=list)
    bytes_down: list[int] = field(default_factory=list)
    phase_requests: list[int] = field(default_factory=list)
    phase_bytes: list[int] = field(default_factory=list)
    limit_s: float = 0.0
    limit_bytes: int = 0
    note: str = ""
    error: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.times) if self.times else float("nan")


def median_low(values: list[int]) -> int:
    return int(statistics.median_low(values)) if values else 0


@dataclass
class Config:
    quick: bool = False
    reps: int = 3
    cell_budget: float = 8.0
    """Stop repeating a cell once its runs took this long (the slow peers get one run)."""
    conditions: tuple[Condition, ...] = (LOOPBACK, COND_20MS)
    scenarios: tuple[str, ...] = SCENARIO_NAMES
    contenders: tuple[str, ...] = tuple(BY_NAME)
    channels: int = 16
    seconds: int = 7200
    archives: Path = ARCHIVES
    skip: dict[tuple[str, str, str], str] = field(default_factory=dict)


def quick_config(archives: Path = ARCHIVES / "quick") -> Config:
    return Config(
        quick=True,
        reps=1,
        cell_budget=5.0,
        conditions=(LOOPBACK, Condition.of("2ms-400Mbit", 2, 400)),
        channels=2,
        seconds=SHARD_EPOCHS * 30 * 2,
        archives=archives,
    )


def run_cell(
    sim: NetSim, contender: Contender, scenario: Scenario, ctx: Context, config: Config, cell: Cell
) -> None:
    target = ctx.eeg_target if scenario.archive == "eeg" else ctx.sharded_target
    started = time.perf_counter()
    while len(cell.times) < config.reps:
        forget_process_state()
        marks: list[Counts] = []

        def mark(marks: list[Counts] = marks) -> None:
            marks.append(sim.counts())

        sim.reset()
        t0 = time.perf_counter()
        handle = contender.open(target)
        try:
            scenario.action(handle, ctx, mark)
        finally:
            handle.close()
        elapsed = time.perf_counter() - t0
        counts = sim.counts()
        cell.times.append(elapsed)
        cell.requests.append(counts.requests)
        cell.bytes_down.append(counts.bytes_down)
        if marks:
            phase = counts - marks[-1]
            cell.phase_requests.append(phase.requests)
            cell.phase_bytes.append(phase.bytes_down)
        if time.perf_counter() - started > config.cell_budget:
            break
    if len(cell.times) < config.reps:
        cell.note = (
            f"{len(cell.times)} of {config.reps} runs (cell budget {config.cell_budget:g} s)"
        )


def verify(contender: Contender, ctx: Context) -> None:
    """Untimed warm-up that also proves the contender reads the right values: one EEG
    chunk and one inner chunk against zarr's own ZipStore on the local files."""
    import zarr

    i = _middle_chunk(ctx)
    _, _, j = _middle_inner(ctx)
    for archive, target, k in ((ctx.eeg, ctx.eeg_target, i), (ctx.sharded, ctx.sharded_target, j)):
        where = slice(k * EPOCH, (k + 1) * EPOCH)
        with zarr.storage.ZipStore(archive.path, mode="r") as local:
            expected = np.asarray(zarr.open_group(local, mode="r")[archive.arrays[0]][where])
        forget_process_state()
        handle = contender.open(target)
        try:
            got = handle.read(archive.arrays[0], where)
        finally:
            handle.close()
        if not np.array_equal(got, expected):
            raise AssertionError(f"{contender.name} read wrong values from {archive.name}")


def run_suite(
    config: Config, server: S3Server, log: Callable[[str], None] = print
) -> dict[str, Any]:
    """Generate and upload the archives, then run the matrix through one proxy."""
    eeg = eeg_archive(config.archives, config.channels, config.seconds)
    sharded = sharded_archive(config.archives, config.channels, config.seconds)
    for a in (eeg, sharded):
        log(f"archive {a.name}: {a.path.name} ({a.size:,} B, {a.written_by})")
        server.put_file(a.path, a.key)
    host, port = server.endpoint_url.removeprefix("http://").split(":")
    chosen = [BY_NAME[n] for n in config.contenders]
    scenarios = [s for s in SCENARIOS if s.name in config.scenarios]
    cells: list[Cell] = []
    with NetSim(host, int(port)) as sim:

        def target(a: Archive) -> Target:
            return Target(sim.endpoint, server.bucket, a.key, server.access_key, server.secret_key)

        ctx = Context(eeg, sharded, target(eeg), target(sharded))
        broken: dict[str, str] = {}
        for contender in chosen:
            try:
                verify(contender, ctx)
            except Exception as exc:  # reported in every cell of that contender
                broken[contender.name] = f"{type(exc).__name__}: {exc}"[:300]
                log(f"  {contender.name}: unusable ({broken[contender.name]})")
        for condition in config.conditions:
            sim.set_condition(condition)
            log(f"== {condition.name}: {condition.describe()}")
            for scenario in scenarios:
                need = scenario.needs(ctx)
                for contender in chosen:
                    cell = Cell(condition.name, scenario.name, contender.name)
                    cell.limit_s, cell.limit_bytes = physical_limit(need, condition)
                    why = config.skip.get((condition.name, scenario.name, contender.name))
                    if contender.name in broken:
                        cell.error = broken[contender.name]
                    elif why:
                        cell.note = why
                    else:
                        try:
                            run_cell(sim, contender, scenario, ctx, config, cell)
                        except Exception as exc:  # reported in the table, the run goes on
                            cell.error = f"{type(exc).__name__}: {exc}"[:300]
                    cells.append(cell)
                    log(_cell_line(cell))
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "setup": _setup(server),
        "config": {
            "quick": config.quick,
            "reps": config.reps,
            "cell_budget_s": config.cell_budget,
            "zarr_async_concurrency": _zarr_concurrency(),
            "conditions": [asdict(c) for c in config.conditions],
        },
        "archives": {
            a.name: {
                "file": a.path.name,
                "bytes": a.size,
                "entries": len(_layout(a.path).entries),
                "zarr_format": a.zarr_format,
                "written_by": a.written_by,
            }
            for a in (eeg, sharded)
        },
        "contenders": {c.name: c.label for c in chosen},
        "ours": [c.name for c in chosen if c.ours],
        "scenarios": {s.name: s.label for s in scenarios},
        "cells": [dict(asdict(c), median=c.median) for c in cells],
    }


def _zarr_concurrency() -> Any:
    import zarr

    return zarr.config.get("async.concurrency")


def _cell_line(cell: Cell) -> str:
    head = f"  {cell.scenario:8} {cell.contender:24}"
    if cell.error:
        return f"{head} ERROR {cell.error}"
    if not cell.times:
        return f"{head} skipped ({cell.note})"
    return (
        f"{head} {cell.median * 1000:9.1f} ms {median_low(cell.requests):6d} req "
        f"{median_low(cell.bytes_down) / 1e6:8.2f} MB (n={len(cell.times)}, "
        f"limit {cell.limit_s * 1000:.1f} ms)"
    )


def _setup(server: S3Server) -> dict[str, Any]:
    versions = {"python": platform.python_version()}
    for module in ("zarr", "numcodecs", "obstore", "zarrista", "s3fs", "fsspec", "boto3"):
        with contextlib.suppress(ImportError, AttributeError):
            versions[module] = __import__(module).__version__
    return {
        "server": server.name,
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "versions": versions,
    }


# -- targets and report ---------------------------------------------------------------------------


def check_targets(
    result: dict[str, Any], condition: str, *, limits: bool = True
) -> list[dict[str, Any]]:
    """Issue 10's targets on ``condition`` (``met`` None when a figure is missing);
    ``limits=False`` (loopback: no limit to compare with) checks only "faster than every
    peer"."""
    cells = [c for c in result["cells"] if c["condition"] == condition and c["times"]]
    ours = set(result["ours"])
    out: list[dict[str, Any]] = []

    def add(target: str, met: bool | None, figure: str) -> None:
        out.append({"target": f"{condition}: {target}", "met": met, "figure": figure})

    def get(scenario: str, contender: str) -> dict[str, Any] | None:
        return next(
            (c for c in cells if (c["scenario"], c["contender"]) == (scenario, contender)), None
        )

    for name in ours:
        for scenario in result["scenarios"]:
            mine = get(scenario, name)
            peers = [c for c in cells if c["scenario"] == scenario and c["contender"] not in ours]
            if not peers:
                continue
            best = min(peers, key=lambda c: c["median"])
            label = f"{result['scenarios'][scenario]}: faster than every peer"
            if mine is None:
                add(label, None, "ours not measured")
                continue
            add(
                label,
                mine["median"] < best["median"],
                f"{mine['median'] * 1000:.0f} ms vs best peer {best['contender']} "
                f"{best['median'] * 1000:.0f} ms ({best['median'] / mine['median']:.1f}x)",
            )
        if not limits:
            continue
        channel = get("channel", name)
        peers = [c for c in cells if c["scenario"] == "channel" and c["contender"] not in ours]
        if peers:
            best = min(peers, key=lambda c: c["median"])
            add(
                "one channel <= 1/5 of the best peer's time",
                None if channel is None else channel["median"] * 5 <= best["median"],
                "ours not measured"
                if channel is None
                else f"{channel['median'] / best['median']:.3f} of {best['contender']} "
                f"({channel['median'] * 1000:.0f} ms vs {best['median'] * 1000:.0f} ms)",
            )
        for scenario, factor in (("open", 1.5), ("channel", 1.3)):
            if scenario not in result["scenarios"]:
                continue  # not run (--scenarios)
            mine = get(scenario, name)
            label = f"{result['scenarios'][scenario]} within {factor}x of the physical limit"
            if mine is None or not mine["limit_s"]:
                add(label, None, "ours not measured")
                continue
            x = mine["median"] / mine["limit_s"]
            add(
                label,
                x <= factor,
                f"{x:.2f}x ({mine['median'] * 1000:.0f} ms vs limit "
                f"{mine['limit_s'] * 1000:.0f} ms)",
            )
    return out


def markdown(result: dict[str, Any]) -> str:
    lines = [
        f"zarr-3 peers, {result['date']}; server {result['setup']['server']}; "
        + ", ".join(f"{k} {v}" for k, v in result["setup"]["versions"].items())
        + f"; zarr async.concurrency {result['config']['zarr_async_concurrency']}",
        "",
    ]
    for name, a in result["archives"].items():
        lines.append(
            f"- `{name}`: {a['file']}, {a['bytes'] / 1e6:.1f} MB, {a['entries']} entries, "
            f"zarr format {a['zarr_format']}, written by {a['written_by']}"
        )
    lines.append("")
    for condition in result["config"]["conditions"]:
        name = condition["name"]
        lines += [
            f"#### {name}",
            "",
            "| scenario | contender | median ms | runs | requests | MB moved "
            "| read-phase req | × limit | note |",
            "|---|---|---:|---:|---:|---:|---:|---:|---|",
        ]
        for scenario, label in result["scenarios"].items():
            row = [
                c for c in result["cells"] if (c["condition"], c["scenario"]) == (name, scenario)
            ]
            for c in row:
                if c["times"]:
                    phase = str(median_low(c["phase_requests"])) if c["phase_requests"] else ""
                    ratio = f"{c['median'] / c['limit_s']:.2f}" if c["limit_s"] else "–"
                    values = (
                        f"{c['median'] * 1000:,.0f} | {len(c['times'])} | "
                        f"{median_low(c['requests'])} | {median_low(c['bytes_down']) / 1e6:.2f} "
                        f"| {phase} | {ratio}"
                    )
                else:
                    values = "– | 0 | – | – | – | –"
                lines.append(
                    f"| {label} | {c['contender']} | {values} | {c['error'] or c['note']} |"
                )
            if row and row[0]["limit_s"]:
                lines.append(
                    f"| {label} | *physical limit* | {row[0]['limit_s'] * 1000:,.0f} | | 2 RTT "
                    f"| {row[0]['limit_bytes'] / 1e6:.2f} | | 1.00 | |"
                )
        lines.append("")
    targets = result.get("targets") or []
    if targets:
        lines += ["Targets:", ""]
        lines += ["| target | met | figure |", "|---|---|---|"]
        for t in targets:
            met = {True: "met", False: "**missed**", None: "n/a"}[t["met"]]
            lines.append(f"| {t['target']} | {met} | {t['figure']} |")
        lines.append("")
    return "\n".join(lines)


# -- command line ---------------------------------------------------------------------------------


@contextlib.contextmanager
def _server(kind: str) -> Iterator[S3Server]:
    with seaweedfs_server() if kind == "seaweedfs" else moto_server() as server:
        yield server


def build_config(args: argparse.Namespace) -> Config:
    config = quick_config() if args.quick else Config()
    if args.archives:
        config.archives = Path(args.archives)
    if args.reps:
        config.reps = args.reps
    if args.cell_budget:
        config.cell_budget = args.cell_budget
    if args.conditions:
        known = {c.name: c for c in (LOOPBACK, COND_20MS, *config.conditions)}
        config.conditions = tuple(known[n] for n in args.conditions.split(","))
    if args.scenarios:
        config.scenarios = tuple(args.scenarios.split(","))
    if args.contenders:
        config.contenders = tuple(args.contenders.split(","))
    return config


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.zarr3_peers", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="tiny archives, 1 run (CI smoke)")
    parser.add_argument("--server", choices=("seaweedfs", "moto"), default="seaweedfs")
    parser.add_argument("--out", help="also write the markdown report to this file")
    parser.add_argument("--json", help="also write the raw results to this file")
    parser.add_argument("--archives", help="folder of the generated archives (cached)")
    parser.add_argument("--reps", type=int, help="runs per cell (default 3; quick 1)")
    parser.add_argument("--cell-budget", type=float, help="seconds after which a cell stops")
    parser.add_argument("--conditions", help="comma-separated, of loopback,20ms-400Mbit")
    parser.add_argument("--scenarios", help=f"comma-separated, of {','.join(SCENARIO_NAMES)}")
    parser.add_argument("--contenders", help=f"comma-separated, of {','.join(BY_NAME)}")
    parser.add_argument(
        "--zarr-concurrency",
        type=int,
        help="zarr's async.concurrency for every zarr-python contender (default: zarr's, 10)",
    )
    args = parser.parse_args(argv)
    config = build_config(args)
    if args.zarr_concurrency:
        import zarr

        zarr.config.set({"async.concurrency": args.zarr_concurrency})
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    started = time.perf_counter()
    with _server(args.server) as server:
        print(f"server: {server.name} at {server.endpoint_url}", flush=True)
        result = run_suite(config, server, log=lambda line: print(line, flush=True))
    result["wall_s"] = round(time.perf_counter() - started, 1)
    result["command"] = "python -m benchmarks.zarr3_peers " + " ".join(
        argv if argv is not None else sys.argv[1:]
    )
    timed = [c.name for c in config.conditions if c.rtt]
    result["targets_condition"] = timed[-1] if timed else config.conditions[-1].name
    result["targets"] = [
        t
        for c in config.conditions
        for t in check_targets(result, c.name, limits=c.name == result["targets_condition"])
    ]
    text = markdown(result) + f"\nCommand: `{result['command']}` ({result['wall_s']} s)\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
