"""Every error a user can act on, against real servers: right class, archive named, no secret.

moto does not validate request signatures (any key pair is accepted), so the
wrong-credentials cases run on SeaweedFS, which checks them against its admin keys.
"""

from __future__ import annotations

import io
import os
import pickle
import struct
import traceback
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from remote_zip_store import (
    ArchiveAccessError,
    ArchiveChangedError,
    ArchiveNotFoundError,
    BadArchiveError,
    CorruptEntryError,
    InvalidURLError,
    RemoteZipError,
    SourceError,
)
from remote_zip_store.testing.servers import S3Server

from .archives import make_zip
from .worlds import RemoteZipStore, create, group, open_zarr, zip_store

SECRETS = ("rzs-test-secret-key", "WRONG-secret-0123456789")


def assert_clear(exc: BaseException, url: str, key: str | None = None) -> None:
    """Names the archive (and key); no secret anywhere in the message or the chained traceback."""
    assert isinstance(exc, RemoteZipError)
    text = str(exc)
    assert url in text
    assert exc.archive == url
    if key is not None:
        assert repr(key) in text
        assert exc.key == key
    full = "".join(traceback.format_exception(exc)) + repr(exc)
    for secret in SECRETS:
        assert secret not in full
    clone = pickle.loads(pickle.dumps(exc))  # errors cross process boundaries (dask)
    assert type(clone) is type(exc) and str(clone) == text and clone.key == exc.key


def entry_data_offset(data: bytes, name: str) -> int:
    """Where entry ``name``'s data starts (after its local header)."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        info = z.getinfo(name)
    name_len, extra_len = struct.unpack_from("<HH", data, info.header_offset + 26)
    start: int = info.header_offset + 30 + name_len + extra_len
    return start


def flip_byte(data: bytes, name: str, at: int = 0) -> bytes:
    out = bytearray(data)
    out[entry_data_offset(data, name) + at] ^= 0xFF
    return bytes(out)


ENTRIES = {"a": b"hello world " * 100, "b/c": b"second " * 50}


# -- the object --------------------------------------------------------------------------
def test_missing_object(s3: S3Server) -> None:
    url = f"s3://{s3.bucket}/does/not/exist.zip"
    with pytest.raises(FileNotFoundError) as info:
        RemoteZipStore(url, **s3.store_kwargs())
    assert isinstance(info.value, ArchiveNotFoundError)
    assert_clear(info.value, url)


def test_missing_bucket(s3: S3Server) -> None:
    url = "s3://no-such-bucket-rzs/data.zip"
    with pytest.raises(FileNotFoundError) as info:
        RemoteZipStore(url, **s3.store_kwargs())
    assert isinstance(info.value, ArchiveNotFoundError)
    assert "NoSuchBucket" in str(info.value)
    assert_clear(info.value, url)


def test_local_missing_file(tmp_path: Path) -> None:
    path = str(tmp_path / "missing.zip")
    with pytest.raises(FileNotFoundError) as info:
        RemoteZipStore(path)
    assert isinstance(info.value, ArchiveNotFoundError)
    assert_clear(info.value, path)


def test_local_directory_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(OSError) as info:
        RemoteZipStore(tmp_path)
    assert isinstance(info.value, SourceError)
    assert_clear(info.value, str(tmp_path))


@pytest.mark.parametrize(
    "url", ["ftp://example.invalid/x.zip", "gs://bucket/x.zip", "s3://bucket-only", "s3:///key"]
)
def test_bad_urls(url: str) -> None:
    with pytest.raises(ValueError) as info:
        RemoteZipStore(url)
    assert isinstance(info.value, InvalidURLError)
    assert_clear(info.value, url)


# -- credentials -----------------------------------------------------------------------
@pytest.mark.seaweedfs
@pytest.mark.parametrize("wrong", ["secret", "access_key"])
def test_wrong_credentials(seaweedfs: S3Server, wrong: str) -> None:
    url = seaweedfs.put(make_zip(ENTRIES))
    kwargs = seaweedfs.store_kwargs()
    kwargs["aws_secret_access_key"] = SECRETS[1]
    if wrong == "access_key":
        kwargs["aws_access_key_id"] = "rzs-unknown-access-key"
    with pytest.raises(PermissionError) as info:
        RemoteZipStore(url, max_attempts=1, **kwargs)
    assert isinstance(info.value, ArchiveAccessError)
    assert "access denied" in str(info.value)
    expected = "SignatureDoesNotMatch" if wrong == "secret" else "InvalidAccessKeyId"
    assert expected in str(info.value)
    assert_clear(info.value, url)


def test_moto_does_not_check_signatures(moto: S3Server) -> None:
    """Why the wrong-credentials tests use SeaweedFS (moto accepts any key pair)."""
    url = moto.put(make_zip(ENTRIES))
    kwargs = dict(moto.store_kwargs(), aws_secret_access_key=SECRETS[1])
    with RemoteZipStore(url, **kwargs) as store:
        assert store["a"] == ENTRIES["a"]


def test_anonymous_access_denied(s3: S3Server) -> None:
    url = s3.put(make_zip(ENTRIES))
    with pytest.raises(PermissionError) as info:
        RemoteZipStore(url, endpoint_url=s3.endpoint_url, region_name=s3.region, anon=True)
    assert isinstance(info.value, ArchiveAccessError)
    assert_clear(info.value, url)


def test_anonymous_read_of_a_public_object(moto: S3Server) -> None:
    key = "public/open.zip"
    moto.client().put_object(Bucket=moto.bucket, Key=key, Body=make_zip(ENTRIES), ACL="public-read")
    url = f"s3://{moto.bucket}/{key}"
    with RemoteZipStore(url, endpoint_url=moto.endpoint_url, anon=True) as store:
        assert store["b/c"] == ENTRIES["b/c"]


def test_no_credentials_anywhere(moto: S3Server, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    url = moto.put(make_zip(ENTRIES))
    with pytest.raises(PermissionError) as info:
        RemoteZipStore(url, endpoint_url=moto.endpoint_url, region_name=moto.region)
    assert isinstance(info.value, ArchiveAccessError)
    assert "anon=True" in str(info.value)
    assert_clear(info.value, url)


# -- not a zip --------------------------------------------------------------------------
NOT_ZIPS = {
    "random": bytes(range(256)) * 64,
    "empty": b"",
    "html": b"<!DOCTYPE html><html><body><h1>404 Not Found</h1></body></html>\n" * 3,
    "tiny": b"PK",
    "truncated": make_zip(ENTRIES)[:-10],
    "end_record_only_garbage": b"\x00" * 100 + b"PK\x05\x06" + b"\xff" * 18,
}


@pytest.mark.parametrize("kind", sorted(NOT_ZIPS))
def test_not_a_zip(s3: S3Server, kind: str) -> None:
    url = s3.put(NOT_ZIPS[kind])
    with pytest.raises(ValueError) as info:
        RemoteZipStore(url, **s3.store_kwargs())
    assert isinstance(info.value, BadArchiveError)
    assert_clear(info.value, url)


def test_not_a_zip_local(tmp_path: Path) -> None:
    path = tmp_path / "page.html"
    path.write_bytes(NOT_ZIPS["html"])
    with pytest.raises(BadArchiveError) as info:
        RemoteZipStore(path)
    assert_clear(info.value, str(path))


# -- corrupt entries ----------------------------------------------------------------------
@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_corrupt_entry_fails_its_crc(s3: S3Server, compression: int) -> None:
    data = make_zip(ENTRIES, compression=compression)
    url = s3.put(flip_byte(data, "a", at=7))
    with RemoteZipStore(url, **s3.store_kwargs()) as store:
        assert store["b/c"] == ENTRIES["b/c"]  # the other entry is intact
        with pytest.raises(ValueError) as info:
            store["a"]
        assert isinstance(info.value, CorruptEntryError)
        assert "CRC" in str(info.value)
        assert_clear(info.value, url, "a")
        with pytest.raises(CorruptEntryError) as many:
            store.getitems(["a", "b/c", "missing"], contexts={})
        assert_clear(many.value, url, "a")


def test_one_corrupt_entry_fails_a_concurrent_getitems(s3: S3Server) -> None:
    """Batches run on the thread pool; one failure fails the call, nothing partial returns."""
    entries = {f"k/{i:02d}": os.urandom(10_000) for i in range(20)}
    url = s3.put(flip_byte(make_zip(entries), "k/05"))
    options: dict[str, Any] = {"tail_size": 1024, "coalesce_max": 1, "max_workers": 4}
    with RemoteZipStore(url, **s3.store_kwargs(), **options) as store:
        with pytest.raises(CorruptEntryError) as info:
            store.getitems(list(entries), contexts={})
        assert_clear(info.value, url, "k/05")
        intact = [key for key in entries if key != "k/05"]
        assert store.getitems(intact, contexts={}) == {key: entries[key] for key in intact}


def test_verify_crc_false_skips_the_check(tmp_path: Path) -> None:
    path = tmp_path / "flipped.zip"
    path.write_bytes(flip_byte(make_zip(ENTRIES), "a", at=3))
    with RemoteZipStore(path, verify_crc=False) as store:
        got = store["a"]
    assert len(got) == len(ENTRIES["a"]) and got != ENTRIES["a"]


def test_corrupt_chunk_fails_the_zarr_read(s3: S3Server, tmp_path: Path) -> None:
    """A corrupt chunk is an error, never silently replaced by the fill value."""
    path = tmp_path / "arr.zip"
    with zip_store(path, mode="w") as zs:
        array = create(group(zs), "x", shape=(40,), chunks=(10,), dtype="i4", compressor=None)
        array[:] = np.arange(40)
    url = s3.put(flip_byte(path.read_bytes(), "x/2"))
    with RemoteZipStore(url, **s3.store_kwargs()) as store:
        x = open_zarr(store)["x"]
        np.testing.assert_array_equal(x[:20], np.arange(20))
        with pytest.raises(CorruptEntryError) as info:
            x[:]
        assert_clear(info.value, url, "x/2")


def test_entry_offset_past_the_directory(tmp_path: Path) -> None:
    data = bytearray(make_zip(ENTRIES))
    record = data.index(b"PK\x01\x02")  # the first central-directory record: entry "a"
    assert data[record + 46 : record + 47] == b"a"
    # Its local header offset (at +42) now points past the directory's start.
    struct.pack_into("<I", data, record + 42, len(data) - 30)
    path = tmp_path / "bad-offset.zip"
    path.write_bytes(bytes(data))
    with RemoteZipStore(path) as store:  # the directory itself parses
        assert store["b/c"] == ENTRIES["b/c"]
        with pytest.raises(CorruptEntryError) as info:
            store["a"]
    assert "central directory" in str(info.value)
    assert_clear(info.value, str(path), "a")


# -- the object changes ---------------------------------------------------------------------
def test_object_replaced_after_open(s3: S3Server) -> None:
    key = "t/replaced-after-open.zip"
    big = {"a": os.urandom(600_000), "b/c": b"x"}  # larger than the tail: "a" needs a GET
    url = s3.put(make_zip(big), key)
    with RemoteZipStore(url, **s3.store_kwargs()) as store:
        s3.put(make_zip({"a": b"new", "b/c": b"new"}), key)
        with pytest.raises(OSError) as info:
            store["a"]
        assert isinstance(info.value, ArchiveChangedError)
        assert_clear(info.value, url)


def test_object_deleted_after_open_fails_the_read(s3: S3Server, tmp_path: Path) -> None:
    """Chunks of a vanished object are an error, never "missing" (zarr would fill them)."""
    path = tmp_path / "vanish.zip"
    with zip_store(path, mode="w") as zs:
        array = create(
            group(zs), "x", shape=(200_000,), chunks=(50_000,), dtype="f8", compressor=None
        )
        array[:] = np.arange(200_000)
    key = "t/vanishes.zip"
    url = s3.put(path.read_bytes(), key)
    with RemoteZipStore(url, tail_size=1024, **s3.store_kwargs()) as store:
        x = open_zarr(store)["x"]
        s3.client().delete_object(Bucket=s3.bucket, Key=key)
        with pytest.raises(FileNotFoundError) as info:
            x[:100_000]  # chunks 0 and 1 lie far before the tail
        assert isinstance(info.value, ArchiveNotFoundError)
        assert_clear(info.value, url)
        with pytest.raises(FileNotFoundError):
            store.getitems(["x/0", "x/1"], contexts={})
