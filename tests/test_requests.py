"""Request counts on the read path on a real moto server, for each S3 transport: a
ready boto3 client (counted by its botocore events) and the lean path (counted at a
pass-through proxy): one round trip of two GETs to open (the tail and the head), one
exact GET per chunk, coalesced getitems, no requests for listings, and the metadata
prefetch policy."""

from __future__ import annotations

import threading
import zipfile
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

from remote_zip_store import ReadOptions
from remote_zip_store.testing.sample import write_sample_archive
from remote_zip_store.testing.servers import S3Server
from remote_zip_store.transport import LocalSource
from remote_zip_store.zipfmt._parse import span
from remote_zip_store.zipfmt._planner import ByteRange, plan

from .archives import make_zip
from .faultproxy import FaultProxy, fault_proxy
from .worlds import ZARR3, RemoteZipStore, open_consolidated, open_group, tree

CHUNK = 30 * 256  # samples per chunk in the sample archive (30 s epochs at 256 Hz)


class Calls:
    """Every HTTP request a boto3 client sends: (method, Range header); or, given a proxy,
    every request that reached it (``threads`` then stays empty: the proxy cannot tell)."""

    def __init__(self, client: Any = None, proxy: FaultProxy | None = None):
        self.seen: list[tuple[str, str | None]] = []
        self.threads: list[str] = []
        self._lock = threading.Lock()
        self._proxy = proxy
        self._taken = 0
        self.knows_threads = client is not None
        if client is not None:
            client.meta.events.register("before-send.s3", self._record)

    def _record(self, request: Any, **_: Any) -> None:
        value = request.headers.get("Range")
        if isinstance(value, bytes):
            value = value.decode()
        with self._lock:
            self.seen.append((request.method, value))
            self.threads.append(threading.current_thread().name)

    def take(self) -> list[tuple[str, str | None]]:
        if self._proxy is not None:
            records = self._proxy.records[self._taken :]
            self._taken += len(records)
            return [(r.method, r.range) for r in records]
        with self._lock:
            seen, self.seen, self.threads = self.seen, [], []
        return seen


Opener = Callable[..., tuple[RemoteZipStore, Calls]]


@pytest.fixture(params=["client", "lean"])
def counted(request: pytest.FixtureRequest, moto: S3Server) -> Iterator[Opener]:
    """``open(url, **kwargs) -> (store, calls)``: a store on a ready boto3 client (botocore
    reads), or on the lean transport through a counting proxy."""
    with fault_proxy(moto.endpoint_url, lifetime=120) as proxy:

        def open_store(url: str, **kwargs: Any) -> tuple[RemoteZipStore, Calls]:
            if request.param == "client":
                client = moto.client(max_pool_connections=16)
                calls = Calls(client)
                return RemoteZipStore(url, client=client, **kwargs), calls
            calls = Calls(proxy=proxy)
            calls._taken = len(proxy.records)
            options = dict(moto.store_kwargs(), endpoint_url=proxy.endpoint_url)
            store = RemoteZipStore(url, transport="lean", **options, **kwargs)
            return store, calls

        yield open_store


@pytest.fixture(scope="module")
def sample_url(moto: S3Server, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("req") / "rec.zip"
    write_sample_archive(path, channels=16, seconds=1200, consolidated=True)
    return moto.put_file(path)


@pytest.fixture(scope="module")
def plain_url(moto: S3Server, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The sample without consolidated metadata: zarr reads every node's own metadata."""
    path = tmp_path_factory.mktemp("req") / "plain.zip"
    write_sample_archive(path, channels=16, seconds=1200, consolidated=False)
    return moto.put_file(path)


@pytest.fixture
def store_and_calls(counted: Opener, sample_url: str) -> Iterator[tuple[RemoteZipStore, Calls]]:
    store, calls = counted(sample_url)
    with store:
        yield store, calls


def _span(store: RemoteZipStore, key: str) -> tuple[int, int]:
    entry = store.archive.index.get(key)
    assert entry is not None
    return span(entry)


TAIL = ("GET", f"bytes=-{ReadOptions().tail_size}")
HEAD = ("GET", f"bytes=0-{ReadOptions().head_size - 1}")


def test_open_is_a_suffix_get_and_a_head_get_side_by_side(
    store_and_calls: tuple[RemoteZipStore, Calls],
) -> None:
    store, calls = store_and_calls
    threads = list(calls.threads)
    assert sorted(calls.take()) == sorted([TAIL, HEAD])  # no HEAD: size from Content-Range
    if calls.knows_threads:  # the head GET ran on its own thread, in the same round
        assert len(set(threads)) == 2
    assert store.archive.source.stats.requests == 2


def test_head_size_zero_opens_with_one_suffix_get(counted: Opener, plain_url: str) -> None:
    # the archive without .zmetadata: the zarr-3 front end answers .zgroup from a
    # consolidated document in the tail (no GET), which would say nothing here
    store, calls = counted(plain_url, head_size=0, metadata_prefetch="off")
    with store:
        assert calls.take() == [TAIL]
        store[".zgroup"]
        assert len(calls.take()) == 1  # not in any buffer now: one GET


def test_open_group_is_two_requests_in_one_round_trip(counted: Opener, sample_url: str) -> None:
    store, calls = counted(sample_url)
    with store:
        root = open_group(store)
        dict(root.attrs)
        root["signals/ch00"]
        # .zgroup, .zattrs, signals/.zgroup and ch00/.zarray come from the head GET
        assert sorted(calls.take()) == sorted([TAIL, HEAD])


def test_open_makes_a_second_get_only_for_a_larger_directory(
    moto: S3Server, counted: Opener
) -> None:
    names = {f"array/{i // 100:04d}.{i % 100:04d}.padding-padding": b"x" for i in range(12_000)}
    data = make_zip(names)
    url = moto.put(data)
    store, calls = counted(url)
    with store:
        location = store.archive.index.location
        assert location.cd_size > ReadOptions().tail_size  # the case under test
        seen = calls.take()
        assert len(seen) == 3
        assert sorted(seen[:2]) == sorted([TAIL, HEAD])  # the first round
        start = len(data) - ReadOptions().tail_size
        assert seen[2] == ("GET", f"bytes={location.cd_start}-{start - 1}")
        assert len(store) == 12_000


def test_one_chunk_is_one_exact_get(store_and_calls: tuple[RemoteZipStore, Calls]) -> None:
    store, calls = store_and_calls
    array = open_group(store)["signals/ch03"]
    calls.take()
    before = store.archive.source.stats.bytes
    got = array[CHUNK * 5 : CHUNK * 6]
    seen = calls.take()
    entry = store.archive.index.get("signals/ch03/5")
    assert entry is not None
    start, end = _span(store, "signals/ch03/5")
    assert seen == [("GET", f"bytes={start}-{end - 1}")]  # exactly header + data
    moved = store.archive.source.stats.bytes - before
    assert moved == end - start <= entry.compressed_size + 1024
    expected = np.frombuffer(store["signals/ch03/5"], dtype="<f4")
    np.testing.assert_array_equal(got, expected)


def test_store_getitem_is_one_get(store_and_calls: tuple[RemoteZipStore, Calls]) -> None:
    store, calls = store_and_calls
    calls.take()
    value = store["signals/ch00/7"]
    start, end = _span(store, "signals/ch00/7")
    assert calls.take() == [("GET", f"bytes={start}-{end - 1}")]
    assert len(value) == CHUNK * 4


def test_getitems_coalesces_neighbouring_chunks(
    store_and_calls: tuple[RemoteZipStore, Calls],
) -> None:
    store, calls = store_and_calls
    keys = [f"signals/ch02/{i}" for i in range(40)]  # the whole channel: 40 x 30 KiB
    calls.take()
    got = store.getitems(keys, contexts={})
    seen = calls.take()
    options = store.archive.options
    batches = plan(
        [ByteRange(*_span(store, k)) for k in keys],
        coalesce_gap=options.coalesce_gap,
        coalesce_max=options.coalesce_max,
    )
    assert len(seen) == len(batches) == 1  # 1.2 MB: one GET (coalesce_max is 4 MiB)
    assert sorted(got) == sorted(keys)
    for key in keys[:3]:
        assert got[key] == store[key]


def test_sixteen_scattered_chunks_take_at_most_sixteen_requests(
    store_and_calls: tuple[RemoteZipStore, Calls],
) -> None:
    store, calls = store_and_calls
    keys = [f"signals/ch{c:02d}/17" for c in range(16)]
    calls.take()
    got = store.getitems(keys, contexts={})
    assert 1 <= len(calls.take()) <= 16
    assert sorted(got) == sorted(keys)


def test_one_epoch_of_sixteen_channels_through_zarr(
    store_and_calls: tuple[RemoteZipStore, Calls],
) -> None:
    store, calls = store_and_calls
    root = open_group(store)
    arrays = [root[f"signals/ch{c:02d}"] for c in range(16)]
    calls.take()
    epoch = [a[CHUNK * 9 : CHUNK * 10] for a in arrays]
    assert len(calls.take()) == 16 and all(len(e) == CHUNK for e in epoch)


def test_listing_makes_no_requests(store_and_calls: tuple[RemoteZipStore, Calls]) -> None:
    """zarr 2's listdir/keys/getsize, or (worlds.MappingView) zarr 3's list_dir, list,
    exists, getsize and getsize_prefix: answered from the index, no request."""
    store, calls = store_and_calls
    calls.take()
    listed = store.listdir("signals")
    # zarr 3 writes the sample with a signals/.zattrs, zarr 2 without
    assert [n for n in listed if n != ".zattrs"] == [".zgroup"] + [f"ch{c:02d}" for c in range(16)]
    assert len(store.listdir("signals/ch00")) == 40 + 2  # chunks, .zarray, .zattrs
    assert len(list(store.keys())) == len(store)
    assert "signals/ch00/.zarray" in store and "nope" not in store
    assert store.getsize("signals/ch00") > 0
    assert calls.take() == []


def test_metadata_round_serves_a_tree_walk(moto: S3Server, counted: Opener, plain_url: str) -> None:
    counts = {}
    later = {}
    for policy in ("off", "auto"):
        store, calls = counted(plain_url, metadata_prefetch=policy)
        with store:
            calls.take()
            root = open_group(store)
            tree(root)
            pool_threads = {t for t in calls.threads if t.startswith("remote-zip-store")}
            counts[policy] = len(calls.take())
            for c in range(16):
                dict(root[f"signals/ch{c:02d}"].attrs)
            later[policy] = len(calls.take())
        if policy == "auto" and calls.knows_threads:
            # the round ran on the pool, concurrently, not one key after the other
            assert len(pool_threads) > 1
    nodes = 1 + 1 + 16  # root, signals, 16 arrays: "off" reads one key per node, in turn
    probe = RemoteZipStore(plain_url, client=moto.client())
    metadata = [".zgroup", "signals/.zgroup"] + [f"signals/ch{c:02d}/.zarray" for c in range(16)]
    entries = [probe.archive.index.get(name) for name in metadata]
    probe_buffered = {e.name: probe.archive.is_buffered(e) for e in entries if e is not None}
    in_memory = sum(probe_buffered.values())
    probe.close()
    assert 0 < in_memory < 4  # the head GET holds the first few nodes' metadata
    # "off": a GET per node not in the head (zarr 3 asks for a node's .zarray and .zattrs
    # in one tick: one coalesced GET; zarr 2 for .zarray, then .zattrs of the group)
    assert counts["off"] == nodes - in_memory
    if ZARR3:  # each array's metadata again (zarr 3 keeps no node): one GET each
        arrays_in_memory = sum(b for n, b in probe_buffered.items() if n.endswith("/.zarray"))
        assert later["off"] == 16 - arrays_in_memory
    else:
        assert later["off"] >= 16  # each array again (.zarray) and its .zattrs
    # "auto": the root and the first node below it singly, then one round covering the
    # rest, attributes included (coalesced where entries are adjacent)
    assert counts["auto"] <= nodes
    assert later["auto"] == 0


def test_metadata_auto_keeps_root_reads_single(counted: Opener, sample_url: str) -> None:
    store, calls = counted(sample_url)
    with store:
        calls.take()
        root = open_group(store)
        dict(root.attrs)
        assert len(calls.take()) <= 2  # .zgroup and .zattrs, one GET each at most
        root["signals/ch00"]  # one array: its .zarray (first miss below the root)
        assert len(calls.take()) <= 2


def test_consolidated_metadata_comes_from_the_tail(counted: Opener, sample_url: str) -> None:
    store, calls = counted(sample_url)
    with store:
        calls.take()
        root = open_consolidated(store)
        assert root["signals/ch05"].shape == (1200 * 256,)
        assert calls.take() == []  # .zmetadata is written last: inside the open's GET


class BarrierSource(LocalSource):
    """A local file whose reads wait until ``parties`` reads are in flight at once."""

    def __init__(self, path: str, parties: int):
        super().__init__(path)
        self.barrier = threading.Barrier(parties, timeout=10)

    def read_range(self, start: int, end: int) -> bytes:
        self.barrier.wait()  # BrokenBarrierError if reads were serialized by a lock
        return super().read_range(start, end)


def test_reads_run_concurrently_without_a_shared_lock(tmp_path: Any) -> None:
    entries = {f"k{i}": bytes([i]) * 200_000 for i in range(4)}
    path = tmp_path / "a.zip"
    path.write_bytes(make_zip(entries, compression=zipfile.ZIP_STORED))
    source = BarrierSource(str(path), parties=4)
    archive_options = ReadOptions(tail_size=1024, coalesce_gap=0, coalesce_max=1024)
    source.barrier = threading.Barrier(1)  # the open's reads are not under test
    store = RemoteZipStore.from_source(source, options=archive_options)
    source.barrier = threading.Barrier(4, timeout=10)
    results: dict[str, bytes] = {}

    def read(key: str) -> None:
        results[key] = store[key]

    threads = [threading.Thread(target=read, args=(k,)) for k in entries]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == entries
    # getitems over the pool: four separate batches in flight together
    source.barrier = threading.Barrier(4, timeout=10)
    assert store.getitems(list(entries), contexts={}) == entries
