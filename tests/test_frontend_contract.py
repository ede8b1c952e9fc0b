"""The front-end contract (remote_zip_store.testing.contract) run against the installed zarr's
front end, on a local file, moto and SeaweedFS: under zarr 2.18 it drives the zarr-2 store's
mapping API, under zarr 3 the zarr-3 store's async API."""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import pytest

from remote_zip_store.testing.contract import (
    FrontEnd,
    FrontEndContract,
    LocalFiles,
    Zarr2FrontEnd,
    Zarr3FrontEnd,
    installed_front_end,
)
from remote_zip_store.testing.servers import S3Server

from .backends import OnS3
from .worlds import ZARR3


def test_the_contract_drives_the_installed_front_end() -> None:
    front_end = installed_front_end()
    assert type(front_end) is (Zarr3FrontEnd if ZARR3 else Zarr2FrontEnd)
    assert front_end.store_class.__module__ == f"remote_zip_store.{front_end.name}._store"


class TestLocalFile(FrontEndContract):
    def test_path_like_and_file_url(
        self, front_end: FrontEnd, archive_path: str, entries: dict[str, bytes]
    ) -> None:
        a = front_end.open(Path(archive_path))
        b = front_end.open(f"file://{archive_path}")
        try:
            assert a == b
            assert a.url == os.path.abspath(archive_path)
            key = sorted(entries)[0]
            assert front_end.get(a, key) == front_end.get(b, key) == entries[key]
        finally:
            a.close()
            b.close()


class S3Contract(OnS3, FrontEndContract):
    """The contract on an S3 server (the session's ``server_name`` fixture), plus what
    only a networked backend can show: credentials kept out of reprs and pickles."""

    def test_repr_never_shows_secrets(self, server: S3Server, store: Any) -> None:
        texts = [
            repr(store),
            str(store),
            repr(store.archive),
            repr(store.archive.source),
            repr(store.archive.source.options),
        ]
        for text in texts:
            assert server.secret_key not in text
            assert server.access_key not in text
        assert store.url in repr(store)
        assert server.endpoint_url in repr(store)

    def test_a_given_client_is_used_and_never_pickled(
        self, front_end: FrontEnd, server: S3Server, archive_path: str, entries: Any
    ) -> None:
        url = server.put_file(archive_path)
        client = server.client()
        store = front_end.open(url, client=client)
        try:
            assert store.archive.source.client() is client
            key = sorted(entries)[0]
            assert front_end.get(store, key) == entries[key]
            # A pickled store carries no client and no credentials of its own.
            assert server.secret_key.encode() not in pickle.dumps(store)
        finally:
            store.close()

    def test_a_pickle_keeps_the_pinned_etag(self, front_end: FrontEnd, store: Any) -> None:
        etag = store.archive.source.etag
        assert etag
        clone = pickle.loads(pickle.dumps(store))
        assert clone.archive.source.etag == etag
        assert clone.stats().requests == 0


class TestMoto(S3Contract):
    server_name = "moto"


@pytest.mark.seaweedfs
class TestSeaweedFS(S3Contract):
    server_name = "seaweedfs"


def test_a_local_backend_places_a_file_as_itself(tmp_path: Path) -> None:
    path = tmp_path / "x.zip"
    path.write_bytes(b"old")
    backend = LocalFiles()
    placed = backend.place(str(path))
    assert placed.url == str(path) and placed.options == {}
    backend.replace(placed, b"new")
    assert path.read_bytes() == b"new"
