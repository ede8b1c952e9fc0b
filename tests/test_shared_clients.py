"""Shared connections: stores with equal connection settings use one client and one pool.

A cohort loop (open, read root attributes, close) must not pay a new client
and new TCP connections per archive; one store's ``close()`` must not break
another; different settings (credentials, endpoint, timeouts) must not share;
a forked child builds its own; a user's ``client=`` is used as is.
"""

from __future__ import annotations

import json
import os
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from remote_zip_store.testing.netsim import NetSim
from remote_zip_store.testing.servers import S3Server
from remote_zip_store.transport import HTTPOptions, HTTPSource
from remote_zip_store.transport._s3 import S3Options, S3Source, shared_client
from tests.archives import make_zarr_zip
from tests.faultproxy import fault_proxy
from tests.httpserver import file_server
from tests.test_fork import _fork_and_check
from tests.worlds import RemoteZipStore, array, open_zarr


def _group(root: Any) -> None:
    root.attrs["subject"] = "s01"
    array(root, "x", np.arange(100), chunks=(10,))


@pytest.fixture(scope="module")
def zarr_zip(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return make_zarr_zip(tmp_path_factory.mktemp("shared") / "a.zip", _group)


def _client(store: RemoteZipStore) -> Any:
    source = store.archive.source
    assert isinstance(source, S3Source)
    return source.client()


def test_two_stores_with_equal_settings_share_one_client(moto: S3Server, zarr_zip: bytes) -> None:
    a_url, b_url = moto.put(zarr_zip), moto.put(zarr_zip)
    with (
        RemoteZipStore(a_url, **moto.store_kwargs()) as a,
        RemoteZipStore(b_url, **moto.store_kwargs()) as b,
    ):
        assert _client(a) is _client(b)


def test_closing_one_store_leaves_the_other_reading(moto: S3Server, zarr_zip: bytes) -> None:
    a = RemoteZipStore(moto.put(zarr_zip), **moto.store_kwargs())
    b = RemoteZipStore(moto.put(zarr_zip), **moto.store_kwargs())
    shared = _client(b)
    a.close()
    assert a.closed and not b.closed
    root = open_zarr(b)
    assert root.attrs["subject"] == "s01"
    assert list(root["x"][:]) == list(range(100))
    assert _client(b) is shared
    # A new store after the close still gets the same (working) client.
    with RemoteZipStore(moto.put(zarr_zip), **moto.store_kwargs()) as c:
        assert _client(c) is shared
        assert open_zarr(c).attrs["subject"] == "s01"
    b.close()


@pytest.mark.parametrize(
    "change",
    [
        {"aws_access_key_id": "another-key"},
        {"aws_secret_access_key": "another-secret"},
        {"aws_session_token": "a-token"},
        {"connect_timeout": 3.0},
        {"read_timeout": 7.0},
        {"max_attempts": 2},
        {"region_name": "eu-west-1"},
    ],
)
def test_different_connection_settings_get_different_clients(
    moto: S3Server, zarr_zip: bytes, change: dict[str, Any]
) -> None:
    url = moto.put(zarr_zip)
    with (
        RemoteZipStore(url, **moto.store_kwargs()) as a,
        RemoteZipStore(url, **{**moto.store_kwargs(), **change}) as b,
    ):
        assert _client(a) is not _client(b)
        assert b[".zattrs"]  # moto accepts any credentials: it reads


def test_body_retries_and_pool_size_do_not_split_the_client(moto: S3Server) -> None:
    base = S3Options(
        endpoint_url=moto.endpoint_url, aws_access_key_id="k1", aws_secret_access_key="s"
    )
    other = S3Options(
        endpoint_url=moto.endpoint_url,
        aws_access_key_id="k1",
        aws_secret_access_key="s",
        body_retries=0,
        retry_backoff=0.5,
    )
    assert shared_client(base) is shared_client(other)


def test_a_caller_needing_a_larger_pool_gets_one(moto: S3Server) -> None:
    key = uuid.uuid4().hex  # settings no other test uses
    small = shared_client(
        S3Options(
            endpoint_url=moto.endpoint_url,
            aws_access_key_id=key,
            aws_secret_access_key="s",
            max_pool_connections=4,
        )
    )
    assert small.meta.config.max_pool_connections == 4
    large = shared_client(
        S3Options(
            endpoint_url=moto.endpoint_url,
            aws_access_key_id=key,
            aws_secret_access_key="s",
            max_pool_connections=64,
        )
    )
    assert large is not small and large.meta.config.max_pool_connections == 64
    # Later callers that need less get the larger one.
    again = shared_client(
        S3Options(
            endpoint_url=moto.endpoint_url,
            aws_access_key_id=key,
            aws_secret_access_key="s",
            max_pool_connections=8,
        )
    )
    assert again is large


def test_a_changed_aws_environment_gets_a_new_default_chain_client(
    moto: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "env-key-1")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
    options = S3Options(endpoint_url=moto.endpoint_url, region_name="us-east-1")
    first = shared_client(options)
    assert shared_client(options) is first
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "env-key-2")
    second = shared_client(options)
    assert second is not first
    credentials = second._request_signer._credentials
    assert credentials.access_key == "env-key-2"


def test_a_users_client_is_used_as_is_and_left_open(moto: S3Server, zarr_zip: bytes) -> None:
    mine = moto.client()
    url = moto.put(zarr_zip)
    with RemoteZipStore(url, client=mine) as store:
        assert _client(store) is mine
        assert store[".zattrs"]
    bucket, key = url[5:].split("/", 1)
    assert mine.head_object(Bucket=bucket, Key=key)["ContentLength"] == len(zarr_zip)


@pytest.mark.skipif(
    os.environ.get("RZS_S3_TRANSPORT") == "obstore",
    reason="obstore's runtime does not survive fork(): refused in the child (test_obstore.py)",
)
def test_a_forked_child_builds_its_own_shared_client(moto: S3Server, zarr_zip: bytes) -> None:
    store = RemoteZipStore(moto.put(zarr_zip), **moto.store_kwargs())
    parent = _client(store)
    parent_id = id(parent)
    assert store[".zattrs"]

    def child() -> bool:
        mine = _client(store)
        fresh = RemoteZipStore(moto.put(zarr_zip), **moto.store_kwargs())
        ok = (
            id(mine) != parent_id
            and _client(fresh) is mine  # shared again, inside the child
            and json.loads(store[".zattrs"]) == {"subject": "s01"}
            and json.loads(fresh[".zattrs"]) == {"subject": "s01"}
        )
        fresh.close()
        return ok

    _fork_and_check(child)
    assert _client(store) is parent
    assert json.loads(store[".zattrs"]) == {"subject": "s01"}
    store.close()


def test_a_second_open_on_a_warm_client_opens_no_connection(
    moto: S3Server, zarr_zip: bytes
) -> None:
    """The cohort loop: open, read root attributes, close. The second archive's open and
    read reuse the first one's keep-alive connections (counted at a TCP proxy in front of
    the fault proxy, which keeps connections alive where moto's server closes each one)."""
    urls = [moto.put(zarr_zip) for _ in range(3)]
    with fault_proxy(moto.endpoint_url) as proxy, NetSim(*_host_port(proxy.endpoint_url)) as sim:
        # A credential no other test uses: a client of its own, cold.
        kwargs = {**moto.store_kwargs(), "endpoint_url": sim.endpoint}
        kwargs["aws_access_key_id"] = f"warm-{uuid.uuid4().hex}"
        seen = []
        for url in urls:
            before = sim.counts()
            with RemoteZipStore(url, **kwargs) as store:
                assert open_zarr(store).attrs["subject"] == "s01"
            seen.append(sim.counts() - before)
    assert seen[0].connections >= 1
    for counts in seen[1:]:
        assert counts.connections == 0, seen
        # a small sibling (cohort hint): one GET of the whole object, attrs included
        assert counts.requests == 1, seen


def _host_port(url: str) -> tuple[str, int]:
    host, port = url.removeprefix("http://").split(":")
    return host, int(port)


def test_http_sources_with_equal_settings_share_one_pool(zarr_zip: bytes) -> None:
    with file_server() as files:
        a = HTTPSource(files.put("/a.zip", zarr_zip), HTTPOptions(read_timeout=31.0))
        b = HTTPSource(files.put("/b.zip", zarr_zip), HTTPOptions(read_timeout=31.0))
        c = HTTPSource(files.put("/c.zip", zarr_zip), HTTPOptions(read_timeout=32.0))
        assert a.pool() is b.pool()
        assert c.pool() is not a.pool()
        assert a.read_range(0, 4) == b"PK\x03\x04"
        a.close()
        assert b.read_range(0, 4) == b"PK\x03\x04"
        with RemoteZipStore(files.put("/d.zip", zarr_zip), read_timeout=31.0) as store:
            assert store.archive.source.pool() is b.pool()  # type: ignore[attr-defined]
            assert json.loads(store[".zattrs"]) == {"subject": "s01"}
        assert b.read_range(0, 4) == b"PK\x03\x04"
        b.close()
        c.close()


def test_refreshing_credentials_keep_refreshing_in_a_shared_client(
    moto: S3Server, zarr_zip: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Credentials from a ``credential_process`` that expire within minutes: botocore
    refreshes them before each request; two stores on the shared client both see fresh
    ones (the process runs again), and both read."""
    calls = tmp_path / "calls"
    script = tmp_path / "creds.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import datetime, json
            with open({str(calls)!r}, "a") as f:
                f.write("x")
            soon = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=1)
            print(json.dumps({{"Version": 1, "AccessKeyId": "process-key",
                "SecretAccessKey": "process-secret", "SessionToken": "process-token",
                "Expiration": soon.isoformat()}}))
            """
        )
    )
    config = tmp_path / "config"
    config.write_text(f"[profile rzs-process]\ncredential_process = {sys.executable} {script}\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)
    kwargs = {"endpoint_url": moto.endpoint_url, "profile_name": "rzs-process"}
    kwargs["region_name"] = "us-east-1"
    a = RemoteZipStore(moto.put(zarr_zip), **kwargs)
    assert json.loads(a[".zattrs"]) == {"subject": "s01"}
    after_a = len(calls.read_text())
    b = RemoteZipStore(moto.put(zarr_zip), **kwargs)
    assert _client(a) is _client(b)
    assert json.loads(b[".zattrs"]) == {"subject": "s01"}
    a.close()
    assert list(open_zarr(b)["x"][:]) == list(range(100))
    assert len(calls.read_text()) > after_a  # refreshed again for b's requests
    assert _client(b)._request_signer._credentials.access_key == "process-key"
    b.close()


def test_the_client_key_is_what_dataclasses_replace_and_the_aws_environment_give(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """client_key() copies the options without re-running their checks, and digests only the
    AWS_* variables (decoded as os.environ does): the same key as the plain formulas."""
    import dataclasses
    import hashlib

    from remote_zip_store.transport._s3config import environment_digest

    monkeypatch.setenv("AWS_PROFILE_NOT_USED", "caf\u00e9")
    monkeypatch.setenv("AWS_ANOTHER", "x y")
    monkeypatch.setenv("NOT_AWS_X", "ignored")
    items = sorted((k, v) for k, v in os.environ.items() if k.startswith("AWS_"))
    assert environment_digest() == hashlib.sha256(repr(items).encode()).hexdigest()[:32]
    before = environment_digest()
    monkeypatch.setenv("AWS_ANOTHER", "changed")
    assert environment_digest() != before
    for options in (
        S3Options(endpoint_url="http://e", max_pool_connections=64, body_retries=7),
        S3Options(aws_access_key_id="k", aws_secret_access_key="s", retry_backoff=2.0),
    ):
        key, digest = options.client_key()
        assert key == dataclasses.replace(
            options,
            max_pool_connections=0,
            body_retries=0,
            retry_backoff=0.0,
            pickle_credentials=True,
        )
        assert type(key) is S3Options and hash(key) == hash(dataclasses.replace(key))
        assert digest == ("" if options.aws_access_key_id else environment_digest())
