"""Error paths of the zarr-3 store: each names the archive (and key) and is also the
builtin (or zarr 3's ValueError) callers catch."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("zarr", minversion="3.1")

import zarr
from zarr.core.buffer import cpu, default_buffer_prototype
from zarr.core.sync import sync

from remote_zip_store.errors import (
    ArchiveAccessError,
    ArchiveNotFoundError,
    BadArchiveError,
    CorruptEntryError,
    RemoteZipError,
    StoreClosedError,
)
from remote_zip_store.testing.servers import S3Server
from remote_zip_store.zarr3._store import MissingKeyError, ReadOnlyStoreError, RemoteZipStore

from .helpers import make_zip


def test_missing_object(s3: S3Server) -> None:
    url = f"s3://{s3.bucket}/no/such.zip"
    with pytest.raises(ArchiveNotFoundError, match=r"no/such\.zip") as info:
        RemoteZipStore(url, **s3.store_kwargs())
    assert isinstance(info.value, FileNotFoundError)


@pytest.mark.seaweedfs
def test_bad_credentials(seaweedfs: S3Server) -> None:
    """SeaweedFS checks signatures (moto accepts any key pair)."""
    url = seaweedfs.put(make_zip({"zarr.json": b"{}"}))
    kwargs = {**seaweedfs.store_kwargs(), "aws_secret_access_key": "rzs-wrong-secret"}
    with pytest.raises(ArchiveAccessError, match="SignatureDoesNotMatch") as info:
        RemoteZipStore(url, max_attempts=1, **kwargs)
    assert isinstance(info.value, PermissionError) and "rzs-wrong-secret" not in str(info.value)


def test_anonymous_access_denied(s3: S3Server) -> None:
    url = s3.put(make_zip({"zarr.json": b"{}"}))
    with pytest.raises(ArchiveAccessError, match=url):
        RemoteZipStore(url, endpoint_url=s3.endpoint_url, region_name=s3.region, anon=True)


def test_not_a_zip(moto: S3Server) -> None:
    url = moto.put(b"not a zip at all" * 100)
    with pytest.raises(BadArchiveError, match=url):
        RemoteZipStore(url, **moto.store_kwargs())


def test_corrupt_entry_is_an_error_never_bytes(moto: S3Server) -> None:
    payload = b"0123456789" * 30_000
    data = bytearray(make_zip({"pad": b"p" * 300_000, "c/0": payload, "after": b"a" * 300_000}))
    data[data.index(payload) + 5] ^= 0xFF  # one flipped byte: the CRC-32 catches it
    store = RemoteZipStore(moto.put(bytes(data)), root="", head_size=0, **moto.store_kwargs())
    with pytest.raises(CorruptEntryError, match=r"key 'c/0' in archive s3://.*CRC-32"):
        sync(store.get("c/0", default_buffer_prototype()))
    store.close()


def test_missing_key_and_sizes(tmp_path: Path) -> None:
    path = tmp_path / "a.zip"
    path.write_bytes(make_zip({"zarr.json": b"{}"}))
    store = RemoteZipStore(path, root="")
    assert sync(store.get("nope", default_buffer_prototype())) is None
    with pytest.raises(MissingKeyError, match="'nope'") as info:
        sync(store.getsize("nope"))
    assert isinstance(info.value, FileNotFoundError) and isinstance(info.value, KeyError)
    with pytest.raises(TypeError, match="Unexpected byte_range"):
        sync(store.get("zarr.json", default_buffer_prototype(), (0, 1)))  # type: ignore[arg-type]
    store.close()
    with pytest.raises(StoreClosedError):
        sync(store.get("zarr.json", default_buffer_prototype()))


def test_writes_are_zarrs_read_only_error(tmp_path: Path) -> None:
    path = tmp_path / "a.zip"
    path.write_bytes(make_zip({"zarr.json": b'{"zarr_format": 3, "node_type": "group"}'}))
    store = RemoteZipStore(path)
    with pytest.raises(ValueError, match="read-only"):
        zarr.open_group(store, mode="a")
    group = zarr.open_group(store, mode="r")
    with pytest.raises(ValueError):
        group.attrs["x"] = 1
    with pytest.raises(ReadOnlyStoreError) as info:
        sync(store.set("k", cpu.Buffer.from_bytes(b"x")))
    error = info.value
    assert isinstance(error, RemoteZipError) and isinstance(error, ValueError)
    assert isinstance(error, PermissionError) and error.key == "k" and str(path) in str(error)
    with pytest.raises(ReadOnlyStoreError):
        RemoteZipStore(path, read_only=False)


def test_timeout_and_partial_keys_under_zarr3() -> None:
    """``timeout=`` bounds the zarr-3 store's open too; one key alone is refused up front."""
    import time

    from remote_zip_store.errors import DeadlineExceededError, PartialCredentialsError
    from remote_zip_store.testing.servers import silent_server

    keys = {"aws_access_key_id": "k", "aws_secret_access_key": "s", "region_name": "us-east-1"}
    with silent_server() as endpoint:
        started = time.monotonic()
        with pytest.raises(DeadlineExceededError, match="1 s deadline") as info:
            RemoteZipStore("s3://b/k.zip", endpoint_url=endpoint, timeout=1, **keys)
        assert time.monotonic() - started < 1 + 5
        assert isinstance(info.value, TimeoutError)
        with pytest.raises(PartialCredentialsError, match="aws_secret_access_key given without"):
            RemoteZipStore("s3://b/k.zip", endpoint_url=endpoint, aws_secret_access_key="s")
