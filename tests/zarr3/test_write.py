"""``RemoteZipStore(url, mode="w")`` under zarr 3: zarr writes a zip straight into S3 (moto).

Every archive is compared entry by entry, byte for byte, with the same hierarchy
written by zarr's own ``ZipStore`` (last value of a duplicate), checked with
``zipfile.testzip()``, and read back with our zarr-3 read store and with
``ZipStore`` on the downloaded file.
"""

from __future__ import annotations

import asyncio
import io
import threading
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("zarr", minversion="3.1")

import zarr
from zarr.core.buffer import default_buffer_prototype
from zarr.storage import ZipStore

from remote_zip_store.errors import (
    ArchiveExistsError,
    ChunkNotReadableError,
    InvalidKeyError,
    InvalidValueError,
    WriterClosedError,
)
from remote_zip_store.hierarchy._names import is_metadata
from remote_zip_store.testing.servers import S3Server
from remote_zip_store.zarr3._store import RemoteZipStore
from remote_zip_store.zarr3._write import ZipWriteStore

from .test_roundtrip import _build, _same

BUF = default_buffer_prototype().buffer


def new_url(s3: S3Server) -> str:
    return f"s3://{s3.bucket}/w3/{uuid.uuid4().hex}.zarr.zip"


def _key(url: str) -> str:
    return url.split("/", 3)[3]


def download(s3: S3Server, url: str) -> bytes:
    body: bytes = s3.client().get_object(Bucket=s3.bucket, Key=_key(url))["Body"].read()
    return body


def exists(s3: S3Server, url: str) -> bool:
    listed = s3.client().list_objects_v2(Bucket=s3.bucket, Prefix=_key(url))
    return any(item["Key"] == _key(url) for item in listed.get("Contents", []))


def entries(body: bytes) -> dict[str, bytes]:
    """Each name's last entry (what every reader uses)."""
    with zipfile.ZipFile(io.BytesIO(body)) as zf:
        return {info.filename: zf.read(info) for info in zf.infolist()}


def group_v(fmt: int) -> Callable[[Any], None]:
    def build(store: Any) -> None:
        _build(zarr.create_group(store, zarr_format=fmt))

    return build


def root_array(store: Any) -> None:
    arr = zarr.create_array(store, shape=(25, 25), chunks=(10, 10), dtype="f8", fill_value=np.nan)
    arr[:20, :] = np.arange(500, dtype="f8").reshape(20, 25)
    arr.attrs["kind"] = "root array"


def sharded(store: Any) -> None:
    arr = zarr.create_array(
        store, name="sh", shape=(64, 64), chunks=(8, 8), shards=(32, 32), dtype="uint16"
    )
    arr[:] = np.arange(64 * 64, dtype="uint16").reshape(64, 64)


def consolidated(store: Any) -> None:
    _build(zarr.create_group(store, zarr_format=3))
    zarr.consolidate_metadata(store)


SHAPES: dict[str, Callable[[Any], None]] = {
    "group_v2": group_v(2),
    "group_v3": group_v(3),
    "root_array": root_array,
    "sharded": sharded,
    "consolidated": consolidated,
}


def check_archive(body: bytes, reference: bytes, tmp_path: Path) -> None:
    """testzip passes; no duplicate; metadata last; entries equal ZipStore's; ZipStore reads."""
    with zipfile.ZipFile(io.BytesIO(body)) as zf:
        assert zf.testzip() is None
        names = zf.namelist()
    assert len(names) == len(set(names)), "a duplicate entry"
    kinds = [is_metadata(name) for name in names]
    assert kinds == sorted(kinds), "a metadata entry before a chunk"
    assert entries(body) == entries(reference)
    downloaded = tmp_path / "ours.zip"
    downloaded.write_bytes(body)
    theirs = ZipStore(downloaded, mode="r")
    try:
        zarr.open(theirs, mode="r")  # opens as zarr 3 sees it
    finally:
        theirs.close()


def reference(tmp_path: Path, build: Callable[[Any], None]) -> bytes:
    path = tmp_path / "ref.zip"
    with ZipStore(path, mode="w") as store:
        build(store)
    return path.read_bytes()


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_round_trip(moto: S3Server, tmp_path: Path, shape: str) -> None:
    build = SHAPES[shape]
    url = new_url(moto)
    with RemoteZipStore(url, mode="w", **moto.store_kwargs()) as store:
        assert isinstance(store, ZipWriteStore)
        assert store.supports_writes and not store.read_only and not store.supports_deletes
        build(store)
    body = download(moto, url)
    ref = reference(tmp_path, build)
    check_archive(body, ref, tmp_path)
    ref_path = tmp_path / "ref.zip"
    oracle_store = ZipStore(ref_path, mode="r")
    with RemoteZipStore(url, **moto.store_kwargs()) as ours:
        got, want = zarr.open(ours, mode="r"), zarr.open(oracle_store, mode="r")
        if isinstance(want, zarr.Group):
            assert isinstance(got, zarr.Group)
            _same(got, want)
        else:
            np.testing.assert_array_equal(got[...], want[...])
            assert dict(got.attrs) == dict(want.attrs)
    oracle_store.close()


def test_round_trip_seaweedfs(seaweedfs: S3Server, tmp_path: Path) -> None:
    url = new_url(seaweedfs)
    build = SHAPES["group_v3"]
    with RemoteZipStore(url, mode="w", **seaweedfs.store_kwargs()) as store:
        build(store)
    check_archive(download(seaweedfs, url), reference(tmp_path, build), tmp_path)


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_xarray_to_zarr(moto: S3Server, tmp_path: Path, zarr_format: int) -> None:
    xr = pytest.importorskip("xarray")
    ds = xr.Dataset(
        {"eeg": (("channel", "time"), np.arange(4 * 500, dtype="float32").reshape(4, 500))},
        coords={"time": np.arange(500) / 250.0},
        attrs={"subject": "s01"},
    )
    encoding = {"eeg": {"chunks": (1, 100)}}
    url = new_url(moto)
    with RemoteZipStore(url, mode="w", **moto.store_kwargs()) as store:
        ds.to_zarr(store, mode="w", encoding=encoding, zarr_format=zarr_format, consolidated=True)
    with ZipStore(tmp_path / "ref.zip", mode="w") as zs:
        ds.to_zarr(zs, mode="w", encoding=encoding, zarr_format=zarr_format, consolidated=True)
    check_archive(download(moto, url), (tmp_path / "ref.zip").read_bytes(), tmp_path)
    with RemoteZipStore(url, **moto.store_kwargs()) as ours:
        xr.testing.assert_identical(xr.open_zarr(ours, zarr_format=zarr_format).load(), ds)


def test_packed_layout_opens_with_metadata_and_no_request_after(moto: S3Server) -> None:
    url = new_url(moto)
    with RemoteZipStore(url, mode="w", **moto.store_kwargs()) as store:
        _build(zarr.create_group(store, zarr_format=3))
    with RemoteZipStore(url, **moto.store_kwargs()) as ours:
        stats = ours.archive.source.stats
        opened = stats.snapshot()[0]
        assert 1 <= opened <= 2, opened  # the tail GET (and the head GET beside it)
        group = zarr.open_group(ours, mode="r")
        members = dict(group.members(max_depth=None))
        assert len(members) == 7 and {k: dict(v.attrs) for k, v in members.items()}
        assert stats.snapshot()[0] == opened, "a metadata read cost a request"


def test_exception_in_with_leaves_no_object_and_no_upload(moto: S3Server) -> None:
    url = new_url(moto)
    store = RemoteZipStore(url, mode="w", part_size=5 * 2**20, **moto.store_kwargs())
    with pytest.raises(RuntimeError, match="boom"), store:
        n = 6 * 2**20
        arr = zarr.create_array(store, shape=(n,), chunks=(n,), dtype="u1", compressors=None)
        arr[:] = 7  # one 6 MiB chunk, stored: the multipart upload has started
        uploads = moto.client().list_multipart_uploads(Bucket=moto.bucket, Prefix=_key(url))
        assert uploads.get("Uploads"), "the test needs a multipart upload in progress"
        raise RuntimeError("boom")
    assert store.closed and store.aborted
    assert not exists(moto, url)
    uploads = moto.client().list_multipart_uploads(Bucket=moto.bucket, Prefix=_key(url))
    assert not uploads.get("Uploads")


def test_w_dash_on_an_existing_object(moto: S3Server) -> None:
    url = moto.put(b"already here", key=f"w3/{uuid.uuid4().hex}.zip")
    with pytest.raises(ArchiveExistsError) as info:
        RemoteZipStore(url, mode="w-", **moto.store_kwargs())
    assert isinstance(info.value, FileExistsError)
    assert download(moto, url) == b"already here"


@pytest.mark.parametrize("key", ["", "/abs", "a//b", "a/../b", "a\\b", "nul\x00", 7])
async def test_invalid_key(tmp_path: Path, key: Any) -> None:
    with RemoteZipStore(str(tmp_path / "k.zip"), mode="w") as store:
        with pytest.raises(InvalidKeyError) as info:
            await store.set(key, BUF.from_bytes(b"x"))
        assert isinstance(info.value, ValueError) and "k.zip" in str(info.value)


@pytest.mark.parametrize("value", [b"raw bytes", "text", None, 3])
async def test_value_not_a_buffer(tmp_path: Path, value: Any) -> None:
    with RemoteZipStore(str(tmp_path / "v.zip"), mode="w") as store:
        with pytest.raises(InvalidValueError) as info:
            await store.set("a/0", value)
        assert isinstance(info.value, TypeError) and "a/0" in str(info.value)


async def test_write_after_close_and_after_abort(tmp_path: Path) -> None:
    store = RemoteZipStore(str(tmp_path / "c.zip"), mode="w")
    await store.set("a/0", BUF.from_bytes(b"x"))
    store.close()
    with pytest.raises(WriterClosedError, match="closed"):
        await store.set("a/1", BUF.from_bytes(b"y"))
    aborted = RemoteZipStore(str(tmp_path / "d.zip"), mode="w")
    aborted.abort()
    with pytest.raises(WriterClosedError, match="aborted"):
        await aborted.set("zarr.json", BUF.from_bytes(b"{}"))
    assert not (tmp_path / "d.zip").exists()
    assert entries((tmp_path / "c.zip").read_bytes()) == {"a/0": b"x"}


async def test_reading_back_while_writing(tmp_path: Path) -> None:
    store = RemoteZipStore(str(tmp_path / "r.zip"), mode="w")
    await store.set("a/zarr.json", BUF.from_bytes(b'{"x": 1}'))
    await store.set("a/zarr.json", BUF.from_bytes(b'{"x": 2}'))  # last value wins
    await store.set("a/c/0", BUF.from_bytes(b"chunk"))
    proto = default_buffer_prototype()
    got = await store.get("a/zarr.json", proto)
    assert got is not None and got.to_bytes() == b'{"x": 2}'
    assert await store.get("a/c/1", proto) is None
    with pytest.raises(ChunkNotReadableError):
        await store.get("a/c/0", proto)
    assert await store.exists("a/c/0") and not await store.exists("a/c/1")
    assert [k async for k in store.list()] == ["a/c/0", "a/zarr.json"]
    assert [k async for k in store.list_dir("a")] == ["c", "zarr.json"]
    assert await store.getsize("a/c/0") == 5
    await store.delete("a/c/9")  # never written: zarr 3 deletes all-fill chunks
    with pytest.raises(ChunkNotReadableError):
        await store.delete("a/c/0")
    store.close()
    assert entries((tmp_path / "r.zip").read_bytes()) == {
        "a/c/0": b"chunk",
        "a/zarr.json": b'{"x": 2}',
    }


def test_partial_chunk_update_fails_instead_of_losing_data(tmp_path: Path) -> None:
    store = RemoteZipStore(str(tmp_path / "p.zip"), mode="w")
    arr = zarr.create_array(store, shape=(10,), chunks=(10,), dtype="i4", fill_value=0)
    arr[:5] = 1
    with pytest.raises(ChunkNotReadableError):
        arr[5:] = 2
    store.abort()


def test_set_runs_off_the_event_loop_thread(tmp_path: Path) -> None:
    store = RemoteZipStore(str(tmp_path / "t.zip"), mode="w")
    threads: list[int] = []
    session = store._session
    put = session.put

    def recording(key: object, value: object) -> None:
        threads.append(threading.get_ident())
        put(key, value)

    session.put = recording  # type: ignore[method-assign]

    async def main() -> int:
        await store.set("a/0", BUF.from_bytes(b"x"))
        return threading.get_ident()

    loop_thread = asyncio.run(main())
    store.close()
    assert threads and loop_thread not in threads


def test_pack_runs_under_zarr3(moto: S3Server, tmp_path: Path) -> None:
    """``pack`` and ``remote-zip-store pack`` work in a zarr-3 environment (no zarr-2 import)."""
    from remote_zip_store.cli import main
    from remote_zip_store.verbs._pack import pack

    build = SHAPES["group_v3"]
    ref = reference(tmp_path, build)  # ZipStore's rewrites: duplicate entries
    src = tmp_path / "src.zip"
    src.write_bytes(ref)
    url = new_url(moto)
    result = pack(src, url, **moto.store_kwargs())
    assert result.records_dropped > 0
    check_archive(download(moto, url), ref, tmp_path)
    assert main(["pack", str(src), str(tmp_path / "cli.zip")]) == 0
    check_archive((tmp_path / "cli.zip").read_bytes(), ref, tmp_path)
