"""Hierarchies written by zarr 3 (and xarray) read back through the store from S3.

Formats 2 and 3, sharded, consolidated, zarr 3's default codecs, string dtypes; zarr's
own ``ZipStore`` on the same file is the oracle.
"""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("zarr", minversion="3.1")

import zarr
from zarr.storage import ZipStore

import remote_zip_store
from remote_zip_store.testing.servers import S3Server
from remote_zip_store.zarr3._store import RemoteZipStore

from .helpers import write_hierarchy


def _build(group: Any) -> None:
    fmt = group.metadata.zarr_format
    group.attrs["title"] = "rec"
    sig = group.create_group("signals")
    for i in range(3):
        a = sig.create_array(f"ch{i}", shape=(1000,), chunks=(100,), dtype="int16")
        a[:] = np.arange(1000, dtype="int16") * (i + 1)
        a.attrs["unit"] = "uV"
    f = group.create_array("f", shape=(30, 40), chunks=(7, 9), dtype="float64")
    f[:] = np.random.default_rng(1).normal(size=(30, 40))
    s = group.create_array("labels", shape=(5,), dtype=str)
    s[:] = ["a", "bb", "ccc", "", "ümlaut"]
    if fmt == 3:
        sh = group.create_array(
            "sharded", shape=(64, 64), chunks=(8, 8), shards=(32, 32), dtype="uint16"
        )
        sh[:] = np.arange(64 * 64, dtype="uint16").reshape(64, 64)


def _same(ours: Any, oracle: Any) -> None:
    assert dict(ours.attrs) == dict(oracle.attrs)
    ours_members = dict(ours.members(max_depth=None))
    oracle_members = dict(oracle.members(max_depth=None))
    assert sorted(ours_members) == sorted(oracle_members)
    for path, node in oracle_members.items():
        mine = ours_members[path]
        assert dict(mine.attrs) == dict(node.attrs)
        if isinstance(node, zarr.Array):
            np.testing.assert_array_equal(mine[...], node[...])


@pytest.mark.parametrize("zarr_format", [2, 3])
@pytest.mark.parametrize("consolidated", [False, True])
def test_hierarchy_reads_like_zipstore(
    s3: S3Server, tmp_path: Path, zarr_format: int, consolidated: bool
) -> None:
    path = tmp_path / "h.zip"
    data = write_hierarchy(path, _build, zarr_format=zarr_format, consolidated=consolidated)
    url = s3.put(data)
    oracle_store = ZipStore(path, mode="r")
    with RemoteZipStore(url, **s3.store_kwargs()) as store:
        assert isinstance(store, zarr.abc.store.Store)
        oracle = zarr.open_group(oracle_store, mode="r")
        _same(zarr.open_group(store, mode="r"), oracle)
        if consolidated:
            group = zarr.open_consolidated(store, mode="r")
            assert group.metadata.consolidated_metadata is not None
            _same(group, oracle)
        region = zarr.open_array(store, path="f", mode="r")
        np.testing.assert_array_equal(region[3:20, 5:33], oracle["f"][3:20, 5:33])
        if zarr_format == 3:
            np.testing.assert_array_equal(
                zarr.open_array(store, path="sharded", mode="r")[9:41, 3:5],
                oracle["sharded"][9:41, 3:5],
            )
    oracle_store.close()


def test_deflated_archive_and_root_folder(moto: S3Server, tmp_path: Path) -> None:
    """``zip -r x.zip data.zarr`` layout, deflated: the root folder is detected."""
    import zipfile

    path = tmp_path / "h.zip"
    write_hierarchy(path, _build)
    nested = tmp_path / "nested.zip"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(nested, "w", zipfile.ZIP_DEFLATED) as dst:
        for name in src.namelist():
            dst.writestr(f"data.zarr/{name}", src.read(name))
    with RemoteZipStore(moto.put(nested.read_bytes()), **moto.store_kwargs()) as store:
        assert store.root == "data.zarr"
        oracle_store = ZipStore(path, mode="r")
        _same(zarr.open_group(store, mode="r"), zarr.open_group(oracle_store, mode="r"))
        oracle_store.close()


def test_xarray_round_trip(moto: S3Server, tmp_path: Path) -> None:
    xr = pytest.importorskip("xarray")
    ds = xr.Dataset(
        {
            "eeg": (("channel", "time"), np.arange(4 * 500, dtype="float32").reshape(4, 500)),
            "name": ("channel", np.array(["Fz", "Cz", "Pz", "Oz"], dtype=object)),
        },
        coords={"time": np.arange(500) / 250.0},
        attrs={"subject": "s01"},
    )
    path = tmp_path / "xr.zip"
    with ZipStore(path, mode="w") as zs:
        ds.to_zarr(zs, encoding={"eeg": {"chunks": (1, 100)}}, zarr_format=3, consolidated=True)
    with RemoteZipStore(moto.put(path.read_bytes()), **moto.store_kwargs()) as store:
        opened = xr.open_zarr(store)
        xr.testing.assert_identical(opened.load(), ds)
        assert opened.attrs["subject"] == "s01"


def test_dask_distributed_workers(moto: S3Server, tmp_path: Path) -> None:
    """The store pickles to worker processes, which read the same chunks."""
    da = pytest.importorskip("dask.array")
    distributed = pytest.importorskip("distributed")
    path = tmp_path / "h.zip"
    url = moto.put(write_hierarchy(path, _build))
    store = RemoteZipStore(url, **moto.store_kwargs())
    copy = pickle.loads(pickle.dumps(store))
    assert copy == store and copy.archive._index is None  # no request on unpickle
    with (
        distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True) as cluster,
        distributed.Client(cluster),
    ):
        arr = da.from_zarr(store, component="signals/ch1")
        assert int(arr.sum().compute()) == int((np.arange(1000) * 2).sum())
    store.close()


def test_package_name_is_the_zarr3_store() -> None:
    assert remote_zip_store.RemoteZipStore is RemoteZipStore
    code = (
        "import sys, remote_zip_store; assert 'zarr' not in sys.modules; "
        "print(remote_zip_store.RemoteZipStore.__module__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "remote_zip_store.zarr3._store"


def test_cli_under_zarr3(moto: S3Server, tmp_path: Path) -> None:
    from remote_zip_store import cli

    path = tmp_path / "h.zip"
    url = moto.put(write_hierarchy(path, _build))
    args = [
        "--endpoint-url",
        moto.endpoint_url,
        "--aws-access-key-id",
        moto.access_key,
        "--aws-secret-access-key",
        moto.secret_key,
    ]
    for command in ("ls", "info", "tree"):
        assert cli.main([command, url, *args]) == 0, command
