"""transport="obstore" (transport/obstore.py) on real servers: what it sends, version pinning,
error mapping, a user's own S3Store, pickling. The shared S3 suites (test_faults,
test_errors, test_consistency, test_requests) run on it with RZS_S3_TRANSPORT=obstore."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from typing import Any

import pytest

from remote_zip_store import ArchiveAccessError, ArchiveChangedError, ArchiveNotFoundError
from remote_zip_store.archive._reader import ZipArchive
from remote_zip_store.hierarchy._frontend import open_archive
from remote_zip_store.testing.servers import S3Server
from remote_zip_store.transport import S3Options, open_source
from remote_zip_store.transport import _s3lean as s3lean

from .archives import make_zip

obstore = pytest.importorskip("obstore")
from obstore.store import S3Store  # noqa: E402

from remote_zip_store.transport._obstore import ObstoreS3, clear_shared_obstore  # noqa: E402

ENTRIES = {".zgroup": b'{"zarr_format": 2}', **{f"a/{i}": os.urandom(3000) for i in range(20)}}


@pytest.fixture(scope="module", params=["moto", "seaweedfs"])
def server(request: pytest.FixtureRequest) -> S3Server:
    found: S3Server = request.getfixturevalue(request.param)
    return found


def kwargs(server: S3Server, **more: Any) -> dict[str, Any]:
    options: dict[str, Any] = dict(server.store_kwargs(), transport="obstore")
    options.update(tail_size=2048, head_size=0, max_attempts=2, retry_backoff=0.01)
    options.update(more)
    return options


def user_store(server: S3Server, secret: str | None = None) -> Any:
    return S3Store(
        server.bucket,
        endpoint=server.endpoint_url,
        access_key_id=server.access_key,
        secret_access_key=secret or server.secret_key,
        region=server.region,
        virtual_hosted_style_request=False,
        client_options={"allow_http": True},
    )


def test_reads_through_obstore_one_get_per_entry(server: S3Server) -> None:
    url = server.put(make_zip(ENTRIES))
    archive = open_archive(url, **kwargs(server))
    assert isinstance(archive.source._lean.get(), ObstoreS3)  # type: ignore[attr-defined]
    assert archive.source.stats.requests == 1  # the suffix GET holds the directory
    for name in ("a/3", "a/7", "a/11"):
        assert archive.read(name) == ENTRIES[name]
    assert archive.source.stats.requests == 4
    archive.close()


def test_replaced_object_is_changed_error_never_mixed_bytes(server: S3Server) -> None:
    url = server.put(make_zip(ENTRIES))
    key = url.split("/", 3)[3]
    archive = open_archive(url, **kwargs(server))
    assert archive.read("a/1") == ENTRIES["a/1"]
    server.put(make_zip({k: os.urandom(len(v)) for k, v in ENTRIES.items()}), key)
    with pytest.raises(ArchiveChangedError, match="changed") as info:
        archive.read("a/2")
    assert url in str(info.value)
    archive.close()


def test_missing_object_names_the_archive(server: S3Server) -> None:
    url = f"s3://{server.bucket}/no/such.zip"
    with pytest.raises(ArchiveNotFoundError, match="not found") as info:
        open_archive(url, **kwargs(server))
    assert url in str(info.value)


def test_wrong_secret_is_access_error(seaweedfs: S3Server) -> None:
    """SeaweedFS checks signatures (moto does not): a 403 becomes ArchiveAccessError."""
    url = seaweedfs.put(make_zip(ENTRIES))
    with pytest.raises(ArchiveAccessError, match="access denied") as info:
        open_archive(url, **kwargs(seaweedfs, aws_secret_access_key="wrong-secret-key-0123"))
    assert url in str(info.value)
    assert "wrong-secret-key-0123" not in str(info.value)


def test_a_users_store_reads_and_pickles_without_credentials(
    server: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = server.put(make_zip(ENTRIES))
    archive = open_archive(url, client=user_store(server), head_size=0)
    assert archive.read("a/4") == ENTRIES["a/4"]
    data = pickle.dumps(archive)
    assert server.secret_key.encode() not in data and server.access_key.encode() not in data
    archive.close()
    # Another process resolves its own credentials through boto3's chain.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", server.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", server.secret_key)
    clear_shared_obstore()
    again: ZipArchive = pickle.loads(data)
    assert again.source.options.transport == "obstore"  # type: ignore[attr-defined]
    assert again.read("a/5") == ENTRIES["a/5"]
    assert isinstance(again.source._lean.get(), ObstoreS3)  # type: ignore[attr-defined]
    again.close()


def test_pickled_source_carries_options_and_pinned_etag(server: S3Server) -> None:
    url = server.put(make_zip(ENTRIES))
    source = open_source(url, **{k: v for k, v in kwargs(server).items() if "_size" not in k})
    ends = source.read_ends(100)
    copy = pickle.loads(pickle.dumps(source))
    assert copy.version == source.version is not None
    assert copy.read_range(ends.size - 100, ends.size) == ends.tail
    source.close()
    copy.close()


def test_config_is_refused_and_the_environment_selects(monkeypatch: pytest.MonkeyPatch) -> None:
    import botocore.config

    with pytest.raises(ValueError, match="cannot honour"):
        s3lean.transport_of(S3Options(transport="obstore", config=botocore.config.Config()))
    monkeypatch.setenv("RZS_S3_TRANSPORT", "obstore")
    assert s3lean.transport_of(S3Options()) == "obstore"
    assert s3lean.transport_of(S3Options(config=botocore.config.Config())) == "botocore"


def test_cli_transport_obstore(moto: S3Server) -> None:
    url = moto.put(make_zip(ENTRIES))
    env = dict(
        os.environ,
        AWS_ACCESS_KEY_ID=moto.access_key,
        AWS_SECRET_ACCESS_KEY=moto.secret_key,
        AWS_DEFAULT_REGION=moto.region,
        PYTHONPATH=os.pathsep.join(sys.path),
    )
    args = [url, "--endpoint-url", moto.endpoint_url, "--transport", "obstore"]
    code = f"import sys; from remote_zip_store.cli import main; sys.exit(main(['ls', *{args!r}]))"
    command = [sys.executable, "-c", code]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "a/19" in done.stdout


def test_importing_the_package_does_not_import_obstore() -> None:
    from .imports import loaded_by

    assert loaded_by(["remote_zip_store", "remote_zip_store.transport._s3"], ["obstore"]) == []


def test_open_many_takes_the_transport(moto: S3Server) -> None:
    from remote_zip_store.verbs._many import open_many

    urls = [moto.put(make_zip(ENTRIES)) for _ in range(3)]
    opened = open_many(urls, **kwargs(moto, root=""))
    try:
        for url in urls:
            store = opened[url]
            assert not isinstance(store, Exception), store
            source = store.archive.source
            assert isinstance(source._lean.get(), ObstoreS3)  # type: ignore[union-attr]
            assert store.archive.read("a/9") == ENTRIES["a/9"]
    finally:
        for store in opened.values():
            if not isinstance(store, Exception):
                store.close()


def test_a_forked_child_is_refused_not_hung(moto: S3Server) -> None:
    """obstore's runtime does not survive fork(): the child gets an error, never a hang."""
    url = moto.put(make_zip(ENTRIES))
    archive = open_archive(url, **kwargs(moto))
    assert archive.read("a/1") == ENTRIES["a/1"]
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report what a read does, then leave at once
        try:
            archive.read("a/2")
            outcome = b"read"
        except Exception as exc:
            outcome = f"{type(exc).__name__}: {exc}".encode()
        os.write(write, outcome[:2000])
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    with os.fdopen(read, "rb") as pipe:
        outcome = pipe.read().decode()
    assert "SourceError" in outcome and "forked" in outcome and url in outcome, outcome
    assert archive.read("a/3") == ENTRIES["a/3"]  # the parent goes on
    archive.close()
