"""``RemoteZipStore(url, mode="w")``: zarr writes a zip straight into S3 (moto; SeaweedFS once).

Every written archive is read back three ways: our store, zarr's ``ZipStore``
after download, and CPython's ``zipfile.testzip()``; values compare byte for
byte with the same hierarchy written by ``ZipStore``.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import subprocess
import sys
import uuid
import zipfile
from collections.abc import Callable, Iterator, MutableMapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr
from numcodecs.compat import ensure_bytes

from remote_zip_store import RemoteZipStore
from remote_zip_store.errors import (
    ArchiveExistsError,
    DuplicateEntryError,
    InvalidKeyError,
    InvalidValueError,
    KeyNotFoundError,
    SourceError,
    WriterClosedError,
)
from remote_zip_store.hierarchy._names import is_metadata
from remote_zip_store.testing.servers import S3Server
from remote_zip_store.zarr2._write import ChunkNotReadableError, ZipWriteStore

from .faultproxy import Fault, fault_proxy
from .test_producers import need
from .zarr_trees import assert_same_hierarchy, rich_tree, write_zip


def new_url(s3: S3Server) -> str:
    return f"s3://{s3.bucket}/w/{uuid.uuid4().hex}.zarr.zip"


def download(s3: S3Server, url: str) -> bytes:
    key = url.split("/", 3)[3]
    body: bytes = s3.client().get_object(Bucket=s3.bucket, Key=key)["Body"].read()
    return body


def exists(s3: S3Server, url: str) -> bool:
    key = url.split("/", 3)[3]
    listed = s3.client().list_objects_v2(Bucket=s3.bucket, Prefix=key)
    return any(item["Key"] == key for item in listed.get("Contents", []))


def array_at_root(store: Any) -> None:
    arr = zarr.create(shape=(25, 25), chunks=(10, 10), dtype="f8", store=store, fill_value=np.nan)
    arr[:20, :] = np.arange(500, dtype="f8").reshape(20, 25)
    arr.attrs["kind"] = "root array"


def rich_group(store: Any) -> None:
    rich_tree(zarr.group(store=store))


def rich_consolidated(store: Any) -> None:
    rich_tree(zarr.group(store=store))
    zarr.consolidate_metadata(store)


SHAPES: dict[str, Callable[[Any], None]] = {
    "rich": rich_group,
    "consolidated": rich_consolidated,
    "array_at_root": array_at_root,
}


def reference(tmp_path: Path, build: Callable[[Any], None]) -> str:
    path = str(tmp_path / "ref.zip")
    with zarr.ZipStore(path, mode="w") as store:
        build(store)
    return path


class Tee(MutableMapping[str, Any]):
    """Forwards to the write store and records the last value written under each key."""

    def __init__(self, store: ZipWriteStore):
        self.store = store
        self.written: dict[str, bytes] = {}

    def __setitem__(self, key: str, value: Any) -> None:
        self.store[key] = value
        self.written[key] = bytes(ensure_bytes(value))

    def __getitem__(self, key: str) -> Any:
        return self.store[key]

    def __delitem__(self, key: str) -> None:
        del self.store[key]
        del self.written[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.store)

    def __len__(self) -> int:
        return len(self.store)


def written_through(store: ZipWriteStore, build: Callable[[Any], None]) -> dict[str, bytes]:
    """``build`` run on ``store``; the bytes it wrote, key by key (last value wins)."""
    tee = Tee(store)
    build(tee)
    return tee.written


def check_archive(body: bytes, written: dict[str, bytes], tmp_path: Path) -> None:
    """zipfile's CRC check passes; ZipStore reads back exactly what was written; metadata last."""
    with zipfile.ZipFile(io.BytesIO(body)) as zf:
        assert zf.testzip() is None
        names = zf.namelist()
        ours = {name: zf.read(name) for name in names}
    assert len(names) == len(set(names)), "a duplicate entry"
    assert ours == written
    kinds = [is_metadata(name) for name in names]
    assert kinds == sorted(kinds), "a metadata entry before a chunk"
    downloaded = tmp_path / "ours.zip"
    downloaded.write_bytes(body)
    with zarr.ZipStore(str(downloaded), mode="r") as theirs:
        assert dict(theirs.items()) == written


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_round_trip(moto: S3Server, tmp_path: Path, shape: str) -> None:
    build = SHAPES[shape]
    url = new_url(moto)
    with RemoteZipStore(url, mode="w", **moto.store_kwargs()) as store:
        assert isinstance(store, ZipWriteStore)
        written = written_through(store, build)
    check_archive(download(moto, url), written, tmp_path)
    ref_path = reference(tmp_path, build)
    with RemoteZipStore(url, **moto.store_kwargs()) as ours, zarr.ZipStore(ref_path) as ref:
        assert {key: ours[key] for key in ours} == written
        if shape == "array_at_root":
            got, want = zarr.open_array(ours, mode="r"), zarr.open_array(ref, mode="r")
            np.testing.assert_array_equal(got[...], want[...])
            assert dict(got.attrs) == dict(want.attrs)
        else:
            assert_same_hierarchy(zarr.open_group(ours, mode="r"), zarr.open_group(ref, mode="r"))


def test_round_trip_seaweedfs(seaweedfs: S3Server, tmp_path: Path) -> None:
    url = new_url(seaweedfs)
    with RemoteZipStore(url, mode="w", **seaweedfs.store_kwargs()) as store:
        written = written_through(store, rich_group)
    check_archive(download(seaweedfs, url), written, tmp_path)


def test_unzip_and_7z_accept_the_archive(moto: S3Server, tmp_path: Path) -> None:
    url = new_url(moto)
    with RemoteZipStore(url, mode="w", compress=True, **moto.store_kwargs()) as store:
        written = written_through(store, rich_group)  # deflate on request
    path = tmp_path / "w.zip"
    path.write_bytes(download(moto, url))
    unzip = subprocess.run([need("unzip"), "-t", str(path)], capture_output=True, text=True)
    assert unzip.returncode == 0 and "No errors detected" in unzip.stdout, unzip.stdout
    seven = subprocess.run([need("7z"), "t", str(path)], capture_output=True, text=True)
    assert seven.returncode == 0 and "Everything is Ok" in seven.stdout, seven.stdout
    check_archive(path.read_bytes(), written, tmp_path)


def test_open_group_mode_w_and_copy_store(moto: S3Server, tmp_path: Path) -> None:
    src = write_zip(tmp_path / "src.zip", rich_tree)
    url = new_url(moto)
    with zarr.ZipStore(src, mode="r") as source:
        with RemoteZipStore(url, mode="w", **moto.store_kwargs()) as store:
            zarr.copy_store(source, store)
        with RemoteZipStore(url, **moto.store_kwargs()) as ours:
            assert_same_hierarchy(zarr.open_group(ours, mode="r"), zarr.open_group(source))
    url2 = new_url(moto)
    with RemoteZipStore(url2, mode="w", **moto.store_kwargs()) as store:
        group = zarr.open_group(store, mode="w")
        group.create_dataset("a", data=np.arange(10), chunks=(4,))
        group.attrs["x"] = 1
    with RemoteZipStore(url2, **moto.store_kwargs()) as ours:
        np.testing.assert_array_equal(zarr.open_group(ours, mode="r")["a"][:], np.arange(10))


def test_xarray_to_zarr(moto: S3Server) -> None:
    xr = pytest.importorskip("xarray")
    ds = xr.Dataset(
        {"v": (("t", "c"), np.random.default_rng(1).standard_normal((100, 3)))},
        coords={"t": np.arange(100), "c": ["a", "b", "c"]},
        attrs={"title": "t"},
    )
    url = new_url(moto)
    with RemoteZipStore(url, mode="w", **moto.store_kwargs()) as store:
        ds.to_zarr(store, consolidated=True)
    with RemoteZipStore(url, **moto.store_kwargs()) as ours:
        back = xr.open_zarr(ours, consolidated=True).load()
    xr.testing.assert_identical(back, ds)


def test_metadata_written_twice_is_one_entry_with_the_last_value(moto: S3Server) -> None:
    url = new_url(moto)
    with RemoteZipStore(url, mode="w", **moto.store_kwargs()) as store:
        store[".zattrs"] = b'{"v": 1}'
        store["a/0"] = b"chunk"
        store[".zattrs"] = b'{"v": 2}'
        assert store[".zattrs"] == b'{"v": 2}'  # served from memory while writing
    with zipfile.ZipFile(io.BytesIO(download(moto, url))) as zf:
        assert zf.namelist() == ["a/0", ".zattrs"]
        assert zf.read(".zattrs") == b'{"v": 2}'


def test_chunk_written_twice_is_an_error(moto: S3Server) -> None:
    url = new_url(moto)
    with RemoteZipStore(url, mode="w", **moto.store_kwargs()) as store:
        store["a/0"] = b"one"
        with pytest.raises(DuplicateEntryError, match="a/0") as info:
            store["a/0"] = b"two"
        assert isinstance(info.value, ValueError)
    with zipfile.ZipFile(io.BytesIO(download(moto, url))) as zf:
        assert zf.namelist() == ["a/0"]
        assert zf.read("a/0") == b"one"


def test_chunk_written_twice_with_duplicates_warn_appends_like_zipstore(tmp_path: Path) -> None:
    path = tmp_path / "dup.zip"
    with RemoteZipStore(path, mode="w", duplicates="warn") as store:
        store["a/0"] = b"one"
        with pytest.warns(UserWarning, match="a/0"):
            store["a/0"] = b"two"
    with zipfile.ZipFile(path) as zf:
        assert zf.namelist() == ["a/0", "a/0"]
    with RemoteZipStore(path) as back:
        assert back["a/0"] == b"two"


def test_partial_chunk_update_fails_instead_of_losing_data(moto: S3Server) -> None:
    url = new_url(moto)
    store = RemoteZipStore(url, mode="w", **moto.store_kwargs())
    arr = zarr.create(shape=(10,), chunks=(10,), dtype="i4", store=store)
    arr[:5] = 1
    # zarr reads the chunk back to merge; a KeyError would make it rebuild from fill_value.
    with pytest.raises(ChunkNotReadableError, match="already streamed"):
        arr[5:] = 2
    assert "0" in store and ".zarray" in store
    assert store.listdir() == [".zarray", "0"]
    with pytest.raises(KeyNotFoundError):
        store["1"]
    store.abort()


def test_exception_in_with_leaves_no_object(moto: S3Server) -> None:
    url = new_url(moto)
    store = RemoteZipStore(url, mode="w", **moto.store_kwargs())
    with pytest.raises(RuntimeError, match="boom"), store:
        rich_group(store)
        raise RuntimeError("boom")
    assert store.closed and store.aborted
    assert not exists(moto, url)
    uploads = moto.client().list_multipart_uploads(Bucket=moto.bucket, Prefix=url.split("/", 3)[3])
    assert not uploads.get("Uploads")


def test_w_dash_on_an_existing_object(moto: S3Server) -> None:
    url = moto.put(b"already here", key=f"w/{uuid.uuid4().hex}.zip")
    with pytest.raises(ArchiveExistsError) as info:
        RemoteZipStore(url, mode="w-", **moto.store_kwargs())
    assert isinstance(info.value, FileExistsError)
    assert download(moto, url) == b"already here"


def test_mode_w_replaces_only_when_complete(moto: S3Server) -> None:
    url = moto.put(b"old bytes", key=f"w/{uuid.uuid4().hex}.zip")
    with RemoteZipStore(url, mode="w", **moto.store_kwargs()) as store:
        store["a/0"] = b"x" * 1000
        assert download(moto, url) == b"old bytes"
    with zipfile.ZipFile(io.BytesIO(download(moto, url))) as zf:
        assert zf.read("a/0") == b"x" * 1000


@pytest.mark.parametrize(
    "key", ["", "/abs", "a//b", "a/../b", "./a", "a\\b", "nul\x00", "bad\udcff", 7, None]
)
def test_invalid_key(tmp_path: Path, key: Any) -> None:
    with RemoteZipStore(str(tmp_path / "k.zip"), mode="w") as store:
        with pytest.raises(InvalidKeyError) as info:
            store[key] = b"x"
        assert isinstance(info.value, ValueError)
        assert "k.zip" in str(info.value)


@pytest.mark.parametrize("value", ["text", 3, None, [1, 2], np.arange(10)[::2]])
def test_value_not_bytes_like(tmp_path: Path, value: Any) -> None:
    with RemoteZipStore(str(tmp_path / "v.zip"), mode="w") as store:
        for key in ("a/0", ".zattrs"):
            with pytest.raises(InvalidValueError, match=key) as info:
                store[key] = value
            assert isinstance(info.value, TypeError)


def test_arrays_and_bytearrays_are_written_as_their_bytes(tmp_path: Path) -> None:
    path = tmp_path / "b.zip"
    values = {"a/0": bytearray(b"ab"), "a/1": np.arange(3, dtype="<u2"), "a/2": memoryview(b"c")}
    with RemoteZipStore(str(path), mode="w") as store:
        for key, value in values.items():
            store[key] = value
    with zipfile.ZipFile(path) as zf:
        assert {n: zf.read(n) for n in zf.namelist()} == {
            k: bytes(memoryview(v).cast("B")) for k, v in values.items()
        }


def test_write_after_close_and_after_abort(tmp_path: Path) -> None:
    store = RemoteZipStore(str(tmp_path / "c.zip"), mode="w")
    store.close()
    with pytest.raises(WriterClosedError, match="closed"):
        store["a/0"] = b"x"
    store.close()  # idempotent
    aborted = RemoteZipStore(str(tmp_path / "d.zip"), mode="w")
    aborted.abort()
    with pytest.raises(WriterClosedError, match="aborted"):
        aborted[".zattrs"] = b"{}"
    assert not (tmp_path / "d.zip").exists()


def test_local_target_and_bad_mode(tmp_path: Path) -> None:
    path = tmp_path / "l.zip"
    with RemoteZipStore(path, mode="w") as store:
        written = written_through(store, rich_group)
    check_archive(path.read_bytes(), written, tmp_path)
    with pytest.raises(FileExistsError):
        RemoteZipStore(path, mode="w-")
    with pytest.raises(ValueError, match="mode"):
        RemoteZipStore(path, mode="a")
    for read_argument in ("root", "tail_size", "metadata_prefetch"):
        with pytest.raises(TypeError, match=read_argument):
            RemoteZipStore(tmp_path / "n.zip", mode="w", **{read_argument: 1})
    with pytest.raises(TypeError, match="bogus"):
        RemoteZipStore(tmp_path / "n.zip", mode="w", bogus=1)
    assert not (tmp_path / "n.zip").exists()
    with RemoteZipStore(tmp_path / "n.zip", mode="w", max_workers=2) as store:  # a write option
        assert store.options.max_workers == 2


def test_write_store_does_not_pickle(tmp_path: Path) -> None:
    store = RemoteZipStore(str(tmp_path / "p.zip"), mode="w")
    with store, pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(store)


def test_rmdir_drops_held_metadata_but_not_streamed_chunks(tmp_path: Path) -> None:
    with RemoteZipStore(str(tmp_path / "r.zip"), mode="w") as store:
        store["g/.zgroup"] = b"{}"
        store["h/.zgroup"] = b"{}"
        store.rmdir("g")
        assert "g/.zgroup" not in store and "h/.zgroup" in store
        store["h/a/0"] = b"x"
        with pytest.raises(ChunkNotReadableError):
            store.rmdir("h")
        del store["h/.zgroup"]
        assert list(store) == ["h/a/0"]


def test_write_benchmark_quick_run() -> None:
    """benchmarks/write.py --quick on moto end to end (figures come from SeaweedFS runs only)."""
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root / "src"), str(root)])}
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.write", "--server", "moto", "--quick", "--reps", "1"],
        capture_output=True,
        text=True,
        cwd=root,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result["open_ours"]["after_open_requests"] == 0
    assert {run["object_size"] for run in result["runs"]["upload_file"]} == {
        result["archive_bytes"]
    }
    assert all(run["object_size"] > 0 for run in result["runs"]["ours"])


def test_a_failed_part_aborts_the_store(moto: S3Server) -> None:
    """Every part PUT answers 500 (fault proxy): the zarr write raises an error naming the
    archive, the store is aborted (later writes refused), and no object or upload is left."""
    url = new_url(moto)
    with fault_proxy(moto.endpoint_url, lifetime=120) as proxy:
        proxy.arm(Fault("status", count=1000, method="PUT", status=500, code="InternalError"))
        kwargs = dict(moto.store_kwargs(), endpoint_url=proxy.endpoint_url, max_attempts=2)
        store = RemoteZipStore(url, mode="w", part_size=5 * 2**20, max_workers=2, **kwargs)
        rng = np.random.default_rng(5)
        with pytest.raises(SourceError, match="upload_part failed") as info, store:
            arr = zarr.create(shape=(4_000_000,), chunks=(250_000,), dtype="f8", store=store)
            arr[:] = rng.standard_normal(4_000_000)  # 32 MB: parts go out while writing
        assert info.value.archive == url
        assert store.aborted
        with pytest.raises(WriterClosedError):
            store["x/0"] = b"more"
    key = url.split("/", 3)[3]
    assert not exists(moto, url)
    assert not moto.client().list_multipart_uploads(Bucket=moto.bucket, Prefix=key).get("Uploads")


def test_ozx_layout_is_refused_under_zarr2(moto: S3Server, tmp_path: Path) -> None:
    """An .ozx is zarr v3 only: the zarr-2 store refuses it at once, before any upload."""
    from remote_zip_store.errors import LayoutError

    url = f"s3://{moto.bucket}/w/{uuid.uuid4().hex}.ozx"
    for target, layout in ((url, None), (url, "ozx"), (str(tmp_path / "x.zip"), "ozx")):
        with pytest.raises(LayoutError, match="zarr v3 only") as caught:
            RemoteZipStore(target, mode="w", layout=layout, **moto.store_kwargs())
        assert target in str(caught.value)
    assert not exists(moto, url) and list(tmp_path.iterdir()) == []
    # layout="zip" writes a plain zip under any name
    plain = str(tmp_path / "plain.ozx")
    with RemoteZipStore(plain, mode="w", layout="zip") as store:
        zarr.open_group(store, mode="w").attrs["a"] = 1
    with zipfile.ZipFile(plain) as z:
        assert z.comment == b"" and ".zattrs" in z.namelist()
    with pytest.raises(ValueError, match="layout must be one of"):
        RemoteZipStore(str(tmp_path / "y.zip"), mode="w", layout="tar")
