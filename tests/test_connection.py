"""Building a store: the default credential chain, profiles, TLS options, ``config=``."""

from __future__ import annotations

import logging
import os
import pickle
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import botocore.config
import pytest

from remote_zip_store import ArchiveChangedError, S3Source, SourceError
from remote_zip_store.testing.servers import S3Server, silent_server

from .archives import make_zip
from .worlds import RemoteZipStore

ENTRIES = {".zgroup": b'{"zarr_format": 2}', "a/0": b"chunk"}


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for var in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
        "AWS_DEFAULT_REGION",
        "AWS_REGION",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return monkeypatch


@pytest.mark.parametrize("endpoint_var", ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"])
def test_default_chain_from_environment(
    moto: S3Server, clean_env: pytest.MonkeyPatch, endpoint_var: str
) -> None:
    url = moto.put(make_zip(ENTRIES))
    clean_env.setenv("AWS_ACCESS_KEY_ID", moto.access_key)
    clean_env.setenv("AWS_SECRET_ACCESS_KEY", moto.secret_key)
    clean_env.setenv("AWS_DEFAULT_REGION", moto.region)
    clean_env.setenv(endpoint_var, moto.endpoint_url)
    with RemoteZipStore(url) as store:
        assert store["a/0"] == b"chunk"
        # Credentials from the chain are not part of the pickle: each process resolves its own.
        assert moto.secret_key.encode() not in pickle.dumps(store)


@pytest.mark.seaweedfs
def test_profile_from_shared_files(
    seaweedfs: S3Server, clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """SeaweedFS checks signatures, so reading proves the profile's keys were used."""
    url = seaweedfs.put(make_zip(ENTRIES))
    credentials = tmp_path / "credentials"
    credentials.write_text(
        "[default]\naws_access_key_id = wrong\naws_secret_access_key = wrong\n"
        f"[rzs]\naws_access_key_id = {seaweedfs.access_key}\n"
        f"aws_secret_access_key = {seaweedfs.secret_key}\n"
    )
    clean_env.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    kwargs: dict[str, Any] = {
        "endpoint_url": seaweedfs.endpoint_url,
        "region_name": seaweedfs.region,
    }
    with RemoteZipStore(url, profile_name="rzs", **kwargs) as store:
        assert store["a/0"] == b"chunk"
    with pytest.raises(PermissionError):
        RemoteZipStore(url, max_attempts=1, **kwargs)  # the default profile's wrong keys


def test_verify_false_warns(moto: S3Server) -> None:
    url = moto.put(make_zip(ENTRIES))
    with pytest.warns(UserWarning, match="verify=False"):
        store = RemoteZipStore(url, verify=False, **moto.store_kwargs())
    with store:
        assert store[".zgroup"] == ENTRIES[".zgroup"]


def test_verify_ca_bundle_path_reaches_the_client(moto: S3Server, tmp_path: Path) -> None:
    import certifi

    url = moto.put(make_zip(ENTRIES))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a CA bundle is the quiet, safe way
        store = RemoteZipStore(url, verify=certifi.where(), **moto.store_kwargs())
    with store:
        source = store.archive.source
        assert isinstance(source, S3Source)
        assert source.options.verify == certifi.where()
        assert store["a/0"] == b"chunk"  # (the endpoint is plain HTTP: the bundle is unused)


def test_config_is_merged(moto: S3Server) -> None:
    url = moto.put(make_zip(ENTRIES))
    config = botocore.config.Config(user_agent_extra="rzs-test", max_pool_connections=3)
    with RemoteZipStore(url, config=config, **moto.store_kwargs()) as store:
        client = store.archive.source.client()
        assert client.meta.config.max_pool_connections == 3
        assert "rzs-test" in client.meta.config.user_agent_extra
        assert client.meta.config.s3["addressing_style"] == "path"  # ours, kept
        assert store["a/0"] == b"chunk"


def test_unpickled_store_refuses_a_replaced_object(s3: S3Server) -> None:
    key = "t/pickled-then-replaced.zip"
    url = s3.put(make_zip(ENTRIES), key)
    with RemoteZipStore(url, **s3.store_kwargs()) as store:
        blob = pickle.dumps(store)
    s3.put(make_zip({".zgroup": b'{"zarr_format": 2}', "a/0": b"other"}), key)
    clone = pickle.loads(blob)
    with pytest.raises(ArchiveChangedError) as info:
        clone["a/0"]
    assert url in str(info.value)


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "remote_zip_store" and r.levelno == logging.WARNING
    ]


def test_silent_s3_endpoint_fails_fast_and_logs_each_retry(
    moto: S3Server, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="remote_zip_store")
    with silent_server() as endpoint:
        started = time.monotonic()
        with pytest.raises(SourceError, match=r"(?i)timeout") as info:
            RemoteZipStore(
                f"s3://{moto.bucket}/a.zip",
                **dict(moto.store_kwargs(), endpoint_url=endpoint),
                read_timeout=1,
                max_attempts=2,
                head_size=0,  # the head GET beside the tail would log its own retry
            )
        assert time.monotonic() - started < 8  # 2 attempts x 1 s, not 5 x 60 s
    assert f"s3://{moto.bucket}/a.zip" in str(info.value)
    lines = warnings_of(caplog)
    # botocore names the timeout; obstore (reqwest) says "(timeout)"; the wire client the wait
    timed_out = {
        "obstore": "(timeout)",
        "botocore": "ReadTimeoutError",
        "lean": "TimeoutError: read timed out after 1 s",
    }[os.environ.get("RZS_S3_TRANSPORT") or "lean"]
    assert len(lines) == 1 and "attempt 1 of 2" in lines[0] and timed_out in lines[0]
    assert endpoint in lines[0] and moto.secret_key not in lines[0]


def test_silent_http_endpoint_fails_fast_and_logs_each_retry(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="remote_zip_store")
    with silent_server() as endpoint:
        started = time.monotonic()
        with pytest.raises(SourceError, match="failed after 2 attempts"):
            RemoteZipStore(
                f"{endpoint}/a.zip?X-Sig=secret", read_timeout=1, max_attempts=2, head_size=0
            )
        assert time.monotonic() - started < 8
    lines = warnings_of(caplog)
    assert len(lines) == 1 and "attempt 1 of 2" in lines[0] and "Timeout" in lines[0]
    assert f"{endpoint}/a.zip" in lines[0] and "secret" not in lines[0]


def test_importing_sources_loads_no_transport(tmp_path: Path) -> None:
    """``import remote_zip_store.transport`` (and a local open) loads no boto3, urllib3 or zarr.

    A plain import, package ``__init__`` included: a local ``ls`` pays for none of them.
    """
    path = tmp_path / "a.zip"
    path.write_bytes(make_zip(ENTRIES))
    code = f"""
import sys
import remote_zip_store.transport as sources
source = sources.open_source({str(path)!r})
assert source.read_ends(1024).size > 0
heavy = ("boto3", "botocore", "urllib3", "zarr", "numcodecs")
loaded = sorted(m for m in sys.modules if m.split(".")[0] in heavy)
assert not loaded, loaded
assert sources.S3Options.__module__ == "remote_zip_store.transport._s3config"  # lazy names work
assert "boto3" in sys.modules
"""
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
