"""The store contract (tests/store_suite.py) on three backends: moto, SeaweedFS, a local file."""

from __future__ import annotations

import os
import pickle
from typing import Any

import pytest

from remote_zip_store import RemoteZipStore
from remote_zip_store.testing.servers import S3Server

from .store_suite import OpenStore, StoreSuite


class TestLocalFile(StoreSuite):
    @pytest.fixture
    def open_store(self) -> OpenStore:
        def open_local(path: str, **kwargs: Any) -> RemoteZipStore:
            return RemoteZipStore(path, **kwargs)

        return open_local

    def test_path_like_and_file_url(self, archive_path: str) -> None:
        from pathlib import Path

        with (
            RemoteZipStore(Path(archive_path)) as a,
            RemoteZipStore(f"file://{archive_path}") as b,
        ):
            assert a == b
            assert a.url == os.path.abspath(archive_path)
            assert a[".zgroup"] == b[".zgroup"]


class S3Suite(StoreSuite):
    """S3 backends: each local archive is uploaded once per class (same path, same URL)."""

    server_name = ""

    @pytest.fixture(scope="class")
    @classmethod
    def server(cls, request: pytest.FixtureRequest) -> S3Server:
        server: S3Server = request.getfixturevalue(cls.server_name)
        return server

    @pytest.fixture(scope="class")
    @classmethod
    def uploads(cls) -> dict[str, str]:
        return {}

    @pytest.fixture
    def open_store(self, server: S3Server, uploads: dict[str, str]) -> OpenStore:
        def open_s3(path: str, **kwargs: Any) -> RemoteZipStore:
            if path not in uploads:
                uploads[path] = server.put_file(path)
            return RemoteZipStore(uploads[path], **server.store_kwargs(), **kwargs)

        return open_s3

    def test_repr_never_shows_secrets(self, server: S3Server, archive_path: str) -> None:
        url = server.put_file(archive_path)
        with RemoteZipStore(url, **server.store_kwargs()) as store:
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
            assert url in repr(store)
            assert server.endpoint_url in repr(store)

    def test_client_argument(self, server: S3Server, archive_path: str) -> None:
        url = server.put_file(archive_path)
        client = server.client()
        with RemoteZipStore(url, client=client) as store:
            assert store.archive.source.client() is client
            assert store[".zgroup"] == RemoteZipStore(archive_path)[".zgroup"]
            # A pickled store carries no client and no credentials of its own.
            blob = pickle.dumps(store)
            assert server.secret_key.encode() not in blob

    def test_pickle_keeps_the_pinned_version(
        self, server: S3Server, archive_path: str, tmp_path: Any
    ) -> None:
        url = server.put_file(archive_path)
        with RemoteZipStore(url, **server.store_kwargs()) as store:
            etag = store.archive.source.etag
            assert etag
            clone = pickle.loads(pickle.dumps(store))
            assert clone.archive.source.etag == etag
            assert clone.archive.source.stats.requests == 0


class TestMoto(S3Suite):
    server_name = "moto"


@pytest.mark.seaweedfs
class TestSeaweedFS(S3Suite):
    server_name = "seaweedfs"


def test_read_options_come_as_one_value_and_names_override_it(tmp_path: Any) -> None:
    """``read=ReadOptions(...)`` is the base; read options given by name replace its fields."""
    from remote_zip_store import ReadOptions

    from .archives import make_zip

    path = tmp_path / "a.zip"
    path.write_bytes(make_zip({".zgroup": b'{"zarr_format": 2}'}))
    base = ReadOptions(max_workers=3, verify_crc=False, tail_size=4096)
    with RemoteZipStore(path, read=base, max_workers=5, coalesce_gap=None) as store:
        # None means "not given" (the documented defaults of the old signature).
        assert store.archive.options == ReadOptions(max_workers=5, verify_crc=False, tail_size=4096)
    with RemoteZipStore(path, read=base) as store:
        assert store.archive.options is base
    with RemoteZipStore(path, max_workers=7) as store:
        assert store.archive.options == ReadOptions(max_workers=7)


def test_an_unknown_keyword_is_a_type_error_naming_it(tmp_path: Any) -> None:
    from .archives import make_zip

    path = tmp_path / "a.zip"
    path.write_bytes(make_zip({".zgroup": b'{"zarr_format": 2}'}))
    with pytest.raises(TypeError, match="max_worker"):
        RemoteZipStore(path, max_worker=4)  # a typo must not pass silently
