"""xarray and dask on top of the store: open_zarr, from_zarr, tokenize, worker processes."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from remote_zip_store import ArchiveChangedError
from remote_zip_store.testing.sample import write_sample_archive
from remote_zip_store.testing.servers import S3Server

from .httpserver import file_server
from .worlds import (
    ZARR3,
    RemoteZipStore,
    directory_store,
    open_group,
    open_zarr,
    zarr_store,
    zip_store,
)

xr = pytest.importorskip("xarray")
da = pytest.importorskip("dask.array")
dask_base = pytest.importorskip("dask.base")
dask = pytest.importorskip("dask")


def write_xarray_archive(path: Path, *, consolidated: bool) -> str:
    """An xarray Dataset written with ``to_zarr`` into zarr's own ZipStore."""
    rng = np.random.default_rng(3)
    ds = xr.Dataset(
        {
            "eeg": (("channel", "time"), rng.standard_normal((3, 4000)).astype("f4")),
            "quality": (("channel",), np.array([0.9, 0.5, 0.7])),
        },
        coords={"time": np.arange(4000) / 256.0, "channel": ["Fz", "Cz", "Pz"]},
        attrs={"subject": "S001"},
    )
    ds = ds.chunk({"time": 1000})
    # In this process, even when a distributed client is active (a ZipStore being written
    # must not travel to workers).
    if ZARR3:
        # zarr 3.1's ZipStore writes a corrupt zip from xarray's writes (3.4's does not):
        # under zarr 3 the dataset goes to a directory, zipped as ZipStore lays it out
        folder = path.with_suffix(".zarr")
        with dask.config.set(scheduler="synchronous"):
            ds.to_zarr(directory_store(folder, mode="w"), consolidated=consolidated)
        with zipfile.ZipFile(path, "w") as z:
            for file in sorted(folder.rglob("*")):
                if file.is_file():
                    z.write(file, file.relative_to(folder).as_posix())
        return str(path)
    with dask.config.set(scheduler="synchronous"), zip_store(path, mode="w") as store:
        ds.to_zarr(store, consolidated=consolidated)
    return str(path)


def local_dataset(path: str, consolidated: bool = True) -> object:
    """The reference: zarr's own ZipStore on the local file, computed in this process."""
    with dask.config.set(scheduler="synchronous"):
        return xr.open_zarr(zip_store(path), consolidated=consolidated).load()


@pytest.mark.parametrize("consolidated", [True, False])
def test_open_zarr_matches_local(moto: S3Server, tmp_path: Path, consolidated: bool) -> None:
    path = write_xarray_archive(tmp_path / "ds.zip", consolidated=consolidated)
    url = moto.put_file(path)
    with RemoteZipStore(url, **moto.store_kwargs()) as store:
        remote = xr.open_zarr(zarr_store(store), consolidated=consolidated)
        assert remote["eeg"].chunks == ((3,), (1000,) * 4)
        xr.testing.assert_identical(remote.load(), local_dataset(path, consolidated))


def test_dask_from_zarr(moto: S3Server, tmp_path: Path) -> None:
    path = write_sample_archive(tmp_path / "rec.zip", channels=2, seconds=120)
    url = moto.put_file(path)
    expected = open_zarr(zip_store(path))["signals/ch01"][:]
    with RemoteZipStore(url, **moto.store_kwargs()) as store:
        array = da.from_zarr(zarr_store(store), component="signals/ch01")
        assert array.numblocks == (4,)
        np.testing.assert_array_equal(array.compute(), expected)
        np.testing.assert_allclose(float(array.mean().compute()), float(expected.mean()))


def test_pickle_is_cheap_deterministic_and_makes_no_request(moto: S3Server, tmp_path: Path):
    path = write_sample_archive(tmp_path / "rec.zip", channels=2, seconds=60)
    url = moto.put_file(path)
    store = RemoteZipStore(url, **moto.store_kwargs())
    assert store["signals/ch00/0"]  # a read: the pool and client exist now
    blob = pickle.dumps(store)
    assert blob == pickle.dumps(store) and len(blob) < 2000  # configuration, no index
    copy = pickle.loads(blob)
    source = copy.archive.source
    assert source.stats.snapshot() == (0, 0)
    transport = source._lean if source._lean is not None else source._client  # lean: default
    assert transport.peek() is None  # created lazily, in the process that reads
    assert copy.archive._index is None  # re-read on first use
    assert copy["signals/ch00/0"] == store["signals/ch00/0"]
    assert transport.peek() is not None and source.stats.requests >= 1
    assert pickle.dumps(copy) == blob  # reading does not change what travels


def _subprocess_env() -> dict[str, str]:
    """No AWS_* variables: a worker gets its credentials from the pickle alone."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull)
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    env["PYTHONHASHSEED"] = "12345"
    return env


def test_tokenize_is_stable_across_calls_and_processes(moto: S3Server, tmp_path: Path) -> None:
    path = write_sample_archive(tmp_path / "rec.zip", channels=1, seconds=60)
    url = moto.put_file(path)
    store = RemoteZipStore(url, **moto.store_kwargs())
    token = dask_base.tokenize(store)
    assert (
        token == dask_base.tokenize(store) == dask_base.tokenize(pickle.loads(pickle.dumps(store)))
    )
    other = RemoteZipStore(moto.put_file(path), **moto.store_kwargs())
    assert dask_base.tokenize(other) != token
    script = (
        "import pickle, sys\n"
        "from dask.base import tokenize\n"
        "store = pickle.loads(sys.stdin.buffer.read())\n"
        "print(tokenize(store)); print(store.archive.source.stats.requests)\n"
        "print(len(store['signals/ch00/0']))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        input=pickle.dumps(store),
        capture_output=True,
        env=_subprocess_env(),
        timeout=120,
        check=True,
    )
    lines = result.stdout.decode().split()
    assert lines[0] == token  # same token in another process (another hash seed)
    assert lines[1] == "0"  # unpickling made no request
    assert int(lines[2]) == len(store["signals/ch00/0"])  # explicit keys travelled


@pytest.fixture(scope="module")
def dask_client() -> Iterator[Any]:
    """Two worker *processes*, one thread each: every task unpickles the store it reads."""
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            worker_dashboard_address=None,
            silence_logs=40,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


def test_distributed_worker_processes_read_through_xarray(
    seaweedfs: S3Server, tmp_path: Path, dask_client: Any
) -> None:
    path = write_xarray_archive(tmp_path / "ds.zip", consolidated=True)
    url = seaweedfs.put_file(path)
    expected = local_dataset(path)
    store = RemoteZipStore(url, **seaweedfs.store_kwargs())
    remote = xr.open_zarr(zarr_store(store))
    computed = remote.compute()
    xr.testing.assert_identical(computed, expected)
    means = remote["eeg"].mean("time").compute()
    np.testing.assert_allclose(means.values, expected["eeg"].mean("time").values, rtol=1e-6)
    # The blocks that read chunks ran in the two worker processes, not here.
    blocks = remote["eeg"].data.map_blocks(_pid_of_block, dtype="i8", chunks=(1, 1))
    block_pids = set(blocks.compute().ravel().tolist())
    workers = set(dask_client.run(os.getpid).values())
    assert len(workers) == 2 and os.getpid() not in workers
    assert block_pids <= workers


def _pid_of_block(block: np.ndarray) -> np.ndarray:
    assert block.size > 0
    return np.full((1, 1), os.getpid(), dtype="i8")


def test_workers_read_the_directory_once_per_process(tmp_path: Path, dask_client: Any) -> None:
    """Every graph unpickles the store again; the directory is read once per worker process."""
    path = write_xarray_archive(tmp_path / "ds.zip", consolidated=True)
    with file_server() as server:
        url = server.put("/ds.zip", Path(path).read_bytes())
        store = RemoteZipStore(url, tail_size=1024)
        remote = xr.open_zarr(zarr_store(store))
        before = len(server.requests)
        xr.testing.assert_identical(remote.compute(), local_dataset(path))
        first = server.requests[before:]
        again = len(server.requests)
        remote["eeg"].sum().compute()
        remote["eeg"].mean("time").compute()
        second = server.requests[again:]

    def directory_reads(requests: list[dict[str, str]]) -> int:
        return sum(r["Range"].startswith("bytes=-") for r in requests)

    assert 1 <= directory_reads(first) <= 2  # at most one per worker process
    assert directory_reads(second) == 0  # later graphs reuse it
    assert all("If-Match" in r for r in first + second)  # pinned to the version opened


def test_unpickled_copies_share_one_directory_read(moto: S3Server, tmp_path: Path) -> None:
    path = write_sample_archive(tmp_path / "rec.zip", channels=2, seconds=1200)  # 2.5 MB
    key = f"t/shared-{os.getpid()}-{id(tmp_path)}.zip"
    url = moto.put_file(path, key)
    store = RemoteZipStore(url, **moto.store_kwargs())  # ch00/5 lies outside head and tail
    blob = pickle.dumps(store)
    chunk = store["signals/ch00/5"]
    first = pickle.loads(blob)
    assert first["signals/ch00/5"] == chunk
    # the directory and the .zmetadata before it, sized by the original's end record (the
    # pickle carries it; no head: the consolidated metadata serves the root), the chunk
    assert first.archive.source.stats.requests == 2
    second = pickle.loads(blob)
    assert second["signals/ch00/5"] == chunk
    assert second[".zgroup"] == store[".zgroup"]  # the cached tail's .zmetadata serves it
    assert second.archive.source.stats.requests == 1  # the chunk only
    # A store opened from scratch does not use the cache: it reads the directory itself.
    assert RemoteZipStore(url, **moto.store_kwargs()).archive.source.stats.requests == 2
    # The object is replaced: a copy reusing the old directory still refuses to mix versions.
    moto.put(b"replaced" * 1000, key)
    with pytest.raises(ArchiveChangedError):
        pickle.loads(blob)["signals/ch00/5"]


def test_index_cache_is_bounded() -> None:
    from remote_zip_store.archive import _indexcache as indexcache

    index: Any = object()  # stands in for a parsed index
    indexcache.clear()
    try:
        for i in range(indexcache.MAX_ENTRIES + 1):
            indexcache.remember(("k", i), indexcache.OpenedDirectory(index, b"t", 9, 10))
        assert indexcache.lookup(("k", 0)) is None  # least recently used: dropped
        assert indexcache.lookup(("k", indexcache.MAX_ENTRIES)) is not None
        big = b"x" * (indexcache.MAX_TAIL + 1)
        indexcache.remember(("big",), indexcache.OpenedDirectory(index, big, 0, len(big)))
        kept = indexcache.lookup(("big",))
        assert kept is not None and kept.tail == b"" and kept.tail_start == len(big)
    finally:
        indexcache.clear()


def test_open_zarr_on_sample_archive(moto: S3Server, tmp_path: Path) -> None:
    """The demo's sample archive names its dimensions, so xarray opens it as written."""
    path = write_sample_archive(tmp_path / "sample.zip", channels=2, seconds=60)
    url = moto.put_file(path)
    local = open_group(zip_store(path))
    with RemoteZipStore(url, **moto.store_kwargs()) as store:
        ds = xr.open_zarr(zarr_store(store), group="signals")
        assert set(ds.data_vars) == {"ch00", "ch01"}
        assert ds["ch00"].dims == ("time",)
        assert ds["ch00"].attrs["unit"] == "uV"
        with dask.config.set(scheduler="synchronous"):
            np.testing.assert_array_equal(ds["ch01"].values, local["signals/ch01"][:])
