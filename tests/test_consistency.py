"""Consistent snapshots: an object replaced under an open store is never mixed with the old one."""

from __future__ import annotations

import os
import pickle
import shutil
import uuid
from collections.abc import Iterator

import pytest

from remote_zip_store import ArchiveChangedError, LocalSource, ReadOptions
from remote_zip_store.testing.servers import S3Server

from .archives import make_zip
from .faultproxy import FaultProxy, fault_proxy
from .worlds import RemoteZipStore

NAMES = [f"c/{i}" for i in range(30)]


def version(seed: int) -> dict[str, bytes]:
    """Same names and sizes each time (same layout), different bytes."""
    return {name: bytes([seed]) * 12_000 + os.urandom(8) for name in NAMES}


def open_store(s3: S3Server, url: str, **kwargs: object) -> RemoteZipStore:
    """A small first GET (~66 kB at least) and no head GET, so most entries are fetched
    after the change."""
    options = dict(s3.store_kwargs(), tail_size=1024, head_size=0, root="")
    options.update(kwargs)
    return RemoteZipStore(url, **options)


def test_overwritten_object_raises_archive_changed(s3: S3Server) -> None:
    old, new = version(1), version(2)
    url = s3.put(make_zip(old))
    store = open_store(s3, url)
    assert store[NAMES[0]] == old[NAMES[0]]
    s3.put(make_zip(new), key=url.split("/", 3)[3])
    for read in (lambda: store[NAMES[1]], lambda: store.getitems(NAMES[:10])):
        with pytest.raises(ArchiveChangedError) as info:
            read()
        assert url in str(info.value) and "open a new store" in str(info.value)
    fresh = open_store(s3, url)  # reopening reads the new object
    assert fresh.getitems(NAMES[:10]) == {n: new[n] for n in NAMES[:10]}


def test_unpickled_store_keeps_the_pinned_etag(s3: S3Server) -> None:
    url = s3.put(make_zip(version(3)))
    blob = pickle.dumps(open_store(s3, url))
    s3.put(make_zip(version(4)), key=url.split("/", 3)[3])
    with pytest.raises(ArchiveChangedError):
        pickle.loads(blob)[NAMES[2]]


@pytest.fixture
def if_match_ignored(moto: S3Server) -> Iterator[FaultProxy]:
    """moto behind a proxy that strips If-Match: a server that ignores the precondition."""
    with fault_proxy(moto.endpoint_url, lifetime=60) as proxy:
        proxy.drop_headers.add("if-match")
        yield proxy


def test_server_ignoring_if_match_still_cannot_mix_versions(
    moto: S3Server, if_match_ignored: FaultProxy
) -> None:
    old = version(5)
    url = moto.put(make_zip(old))
    store = open_store(moto, url, endpoint_url=if_match_ignored.endpoint_url)
    assert store[NAMES[0]] == old[NAMES[0]]
    moto.put(make_zip(version(6)), key=url.split("/", 3)[3])
    with pytest.raises(ArchiveChangedError, match="ETag"):
        store[NAMES[1]]
    # The request did reach the server without the precondition: the ETag check caught it.
    last = if_match_ignored.requests("GET")[-1]
    assert last.if_match is not None  # the store sent it; the proxy dropped it


@pytest.fixture
def versioned(s3: S3Server) -> Iterator[S3Server]:
    bucket = f"rzs-versioned-{uuid.uuid4().hex[:8]}"
    client = s3.client()
    client.create_bucket(Bucket=bucket)
    client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    yield S3Server(s3.name, s3.endpoint_url, bucket, s3.access_key, s3.secret_key, s3.region)


def test_versioned_bucket_keeps_reading_the_pinned_version(versioned: S3Server) -> None:
    old, new = version(7), version(8)
    url = versioned.put(make_zip(old))
    store = open_store(versioned, url)
    source = store.archive.source
    assert getattr(source, "version_id", None)  # pinned at open
    versioned.put(make_zip(new), key=url.split("/", 3)[3])
    assert store.getitems(NAMES) == old  # every byte from the pinned version
    assert open_store(versioned, url).getitems(NAMES) == new


def test_local_file_replaced_by_rename_keeps_old_bytes(tmp_path: os.PathLike[str]) -> None:
    path = os.path.join(tmp_path, "a.zip")
    old = version(9)
    with open(path, "wb") as f:
        f.write(make_zip(old))
    store = RemoteZipStore.from_source(LocalSource(path), root="")
    assert store[NAMES[0]] == old[NAMES[0]]
    with open(path + ".new", "wb") as f:
        f.write(make_zip(version(10)))
    os.replace(path + ".new", path)
    assert store.getitems(NAMES) == old  # the open descriptor still points at the old file
    blob = pickle.dumps(store)
    with pytest.raises(ArchiveChangedError, match="changed since the store opened it"):
        pickle.loads(blob)[NAMES[0]]


def test_local_file_truncated_in_place_raises_archive_changed(tmp_path: os.PathLike[str]) -> None:
    path = os.path.join(tmp_path, "b.zip")
    data = make_zip(version(11))
    with open(path, "wb") as f:
        f.write(data)
    store = RemoteZipStore.from_source(
        LocalSource(path), root="", options=ReadOptions(tail_size=1024)
    )
    with open(path, "r+b") as f:
        f.truncate(len(data) // 4)
    with pytest.raises(
        ArchiveChangedError, match=r"changed since the store opened it .its size went from"
    ):
        store.getitems(NAMES)


def test_local_file_overwritten_in_place_raises_archive_changed(tmp_path: os.PathLike[str]) -> None:
    """``cp other.zip archive.zip``: the same inode, other bytes under the open descriptor."""
    path = os.path.join(tmp_path, "a.zip")
    other = os.path.join(tmp_path, "other.zip")
    with open(path, "wb") as f:
        f.write(make_zip(version(12)))
    with open(other, "wb") as f:
        f.write(make_zip({**version(13), "extra": b"x" * 5000}))  # another size and layout
    store = RemoteZipStore.from_source(
        LocalSource(path), root="", options=ReadOptions(tail_size=1024, head_size=0)
    )
    assert store[NAMES[0]].startswith(bytes([12]))
    inode = os.stat(path).st_ino
    shutil.copyfile(other, path)  # what cp does: truncate and write the same file
    assert os.stat(path).st_ino == inode
    with pytest.raises(ArchiveChangedError, match="changed since the store opened it"):
        store[NAMES[20]]
