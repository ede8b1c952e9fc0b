"""The ways to read a zarr zip in S3 that the suite compares, each behind one ``open`` call.

``open_fsmap_chain`` is the chain exactly as users write it today (importable, so the
CLI's ``bench``/``demo`` can reuse it)::

    fs = s3fs.S3FileSystem(key=..., secret=..., client_kwargs={"endpoint_url": EP})
    zip_fs = fsspec.implementations.zip.ZipFileSystem(fo=fs.open("bucket/archive.zip", "rb"))
    root = zarr.open(fsspec.mapping.FSMap(root="", fs=zip_fs), mode="r")

Each contender returns an :class:`OpenedRoot` (the zarr group and how to release it). The
harness calls :func:`forget_fsspec_instances` before every run so that fsspec's instance
and listing caches, our shared clients and cohort hints never carry a warm state from one
run into the next.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import zarr

from remote_zip_store import RemoteZipStore
from remote_zip_store.testing.cold import forget_process_state


@dataclass(frozen=True)
class Target:
    """One object in one S3 endpoint, with the credentials that read it."""

    endpoint_url: str
    bucket: str
    key: str
    access_key: str
    secret_key: str
    region: str = "us-east-1"

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    @property
    def path(self) -> str:
        return f"{self.bucket}/{self.key}"

    def with_key(self, key: str) -> Target:
        return Target(
            self.endpoint_url, self.bucket, key, self.access_key, self.secret_key, self.region
        )


@dataclass
class OpenedRoot:
    """An opened hierarchy and the callbacks that release what opening it acquired."""

    root: Any
    closers: list[Callable[[], object]] = field(default_factory=list)

    def close(self) -> None:
        for close in reversed(self.closers):
            close()


def forget_fsspec_instances() -> None:
    """Each run starts cold, as a new process: fsspec's cached filesystems, our shared
    clients and cohort hints dropped (``testing.cold.forget_process_state``)."""
    forget_process_state()


def open_fsmap_chain(
    endpoint_url: str,
    path: str,
    *,
    key: str,
    secret: str,
    **open_kwargs: Any,
) -> OpenedRoot:
    """s3fs -> ``fs.open()`` -> fsspec ``ZipFileSystem`` -> ``FSMap`` -> ``zarr.open``.

    ``path`` is ``bucket/key``. ``open_kwargs`` go to ``fs.open`` (the tuned chain passes
    ``block_size`` and ``cache_type``); without them this is the chain as users write it.
    """
    import fsspec.implementations.zip
    import fsspec.mapping
    import s3fs

    fs = s3fs.S3FileSystem(key=key, secret=secret, client_kwargs={"endpoint_url": endpoint_url})
    f = fs.open(path, "rb", **open_kwargs)
    zip_fs = fsspec.implementations.zip.ZipFileSystem(fo=f)
    root = zarr.open(fsspec.mapping.FSMap(root="", fs=zip_fs), mode="r")
    return OpenedRoot(root, [f.close, zip_fs.close])


#: The tuned chain's settings: small blocks, and each of fsspec's simplest caches.
TUNED_BLOCK_SIZE = 256 * 1024


def _chain(t: Target) -> OpenedRoot:
    return open_fsmap_chain(t.endpoint_url, t.path, key=t.access_key, secret=t.secret_key)


def _chain_tuned(cache_type: str) -> Callable[[Target], OpenedRoot]:
    """The chain with small blocks and the given fsspec ``cache_type``."""

    def open_tuned(t: Target) -> OpenedRoot:
        return open_fsmap_chain(
            t.endpoint_url,
            t.path,
            key=t.access_key,
            secret=t.secret_key,
            block_size=TUNED_BLOCK_SIZE,
            cache_type=cache_type,
        )

    return open_tuned


def _fsstore(t: Target) -> OpenedRoot:
    """zarr's ``FSStore`` over the chained URL ``zip::s3://bucket/key``."""
    store = zarr.storage.FSStore(
        f"zip::{t.url}",
        mode="r",
        s3={
            "key": t.access_key,
            "secret": t.secret_key,
            "client_kwargs": {"endpoint_url": t.endpoint_url},
        },
    )
    return OpenedRoot(zarr.open(store, mode="r"), [])


def _download(t: Target) -> OpenedRoot:
    """boto3 ``download_file`` of the whole object, then zarr's ``ZipStore`` on the copy."""
    import boto3

    tmp = tempfile.mkdtemp(prefix="rzs-bench-")
    path = os.path.join(tmp, "archive.zip")
    client = boto3.client(
        "s3",
        endpoint_url=t.endpoint_url,
        region_name=t.region,
        aws_access_key_id=t.access_key,
        aws_secret_access_key=t.secret_key,
    )
    client.download_file(t.bucket, t.key, path)
    store = zarr.ZipStore(path, mode="r")
    return OpenedRoot(
        zarr.open(store, mode="r"),
        [lambda: shutil.rmtree(tmp, ignore_errors=True), store.close, client.close],
    )


def _remote_zip_store(t: Target) -> OpenedRoot:
    store = RemoteZipStore(
        t.url,
        endpoint_url=t.endpoint_url,
        region_name=t.region,
        aws_access_key_id=t.access_key,
        aws_secret_access_key=t.secret_key,
    )
    return OpenedRoot(zarr.open(store, mode="r"), [store.close])


@dataclass(frozen=True)
class Contender:
    name: str
    label: str
    open: Callable[[Target], OpenedRoot]


CHAIN = Contender("fsmap-chain", "s3fs+ZipFileSystem+FSMap (defaults)", _chain)
CHAIN_TUNED = Contender(
    "fsmap-tuned", "same chain, block_size=256 KiB, cache_type='bytes'", _chain_tuned("bytes")
)
CHAIN_TUNED_NONE = Contender(
    "fsmap-tuned-none", "same chain, block_size=256 KiB, cache_type='none'", _chain_tuned("none")
)
FSSTORE = Contender("fsstore-zip", "zarr FSStore('zip::s3://...')", _fsstore)
DOWNLOAD = Contender("download", "boto3 download_file + zarr.ZipStore", _download)
STORE = Contender("remote-zip-store", "RemoteZipStore", _remote_zip_store)

ALL = (CHAIN, CHAIN_TUNED, CHAIN_TUNED_NONE, FSSTORE, DOWNLOAD, STORE)
BY_NAME = {c.name: c for c in ALL}
