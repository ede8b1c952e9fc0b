"""One explicit key without the other is refused when the options are built, before any
request, as boto3's ``client()`` refuses it (``PartialCredentialsError``); a session token
without keys too. Counted at the fault proxy: no request reaches the server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from remote_zip_store import PartialCredentialsError, RemoteZipError
from remote_zip_store.testing.servers import S3Server
from remote_zip_store.transport import S3Options

from .archives import make_zip
from .faultproxy import FaultProxy, fault_proxy
from .test_cli import no_credentials_env, run_plain
from .worlds import RemoteZipStore

ENTRIES = {".zgroup": b'{"zarr_format": 2}', "a/0": b"x" * 100}

PARTS = {
    "secret-only": (
        {"aws_secret_access_key": "s"},
        "aws_secret_access_key given without aws_access_key_id: pass both, or neither",
    ),
    "key-only": (
        {"aws_access_key_id": "k"},
        "aws_access_key_id given without aws_secret_access_key: pass both, or neither",
    ),
    "token-only": (
        {"aws_session_token": "t"},
        "aws_session_token given without aws_access_key_id and aws_secret_access_key",
    ),
}


@pytest.fixture
def proxy(moto: S3Server) -> Iterator[FaultProxy]:
    with fault_proxy(moto.endpoint_url, lifetime=120) as p:
        yield p


@pytest.mark.parametrize("part", list(PARTS))
def test_one_part_of_the_keys_is_refused_before_any_request(
    moto: S3Server, proxy: FaultProxy, part: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The environment holds a full pair: it does not complete explicit keys (as in boto3).
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", moto.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", moto.secret_key)
    url = moto.put(make_zip(ENTRIES))
    given, message = PARTS[part]
    kwargs: dict[str, Any] = dict(endpoint_url=proxy.endpoint_url, region_name=moto.region)
    with pytest.raises(PartialCredentialsError) as info:
        RemoteZipStore(url, **kwargs, **given)
    error = info.value
    assert isinstance(error, ValueError) and isinstance(error, RemoteZipError)
    assert message in str(error) and url in str(error)
    assert "'s'" not in str(error) and proxy.records == []  # no request at all
    with pytest.raises(PartialCredentialsError, match=message):
        S3Options(**given)
    # Both keys (or none: the environment's) read.
    with RemoteZipStore(url, **kwargs) as store:
        assert store["a/0"] == ENTRIES["a/0"]


@pytest.mark.seaweedfs
def test_a_key_id_alone_is_refused_not_a_signature_mismatch(
    seaweedfs: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a server that checks signatures, a key id with the secret left to the environment
    used to sign with no secret (SignatureDoesNotMatch); now it is refused up front."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "other")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", seaweedfs.secret_key)
    url = seaweedfs.put(make_zip(ENTRIES))
    with fault_proxy(seaweedfs.endpoint_url, lifetime=120) as proxy:
        kwargs = dict(endpoint_url=proxy.endpoint_url, region_name=seaweedfs.region)
        with pytest.raises(PartialCredentialsError, match="aws_access_key_id given without"):
            RemoteZipStore(url, aws_access_key_id=seaweedfs.access_key, **kwargs)
        assert proxy.records == []
        keys = dict(
            aws_access_key_id=seaweedfs.access_key, aws_secret_access_key=seaweedfs.secret_key
        )
        with RemoteZipStore(url, **kwargs, **keys) as store:  # the pair signs correctly
            assert store["a/0"] == ENTRIES["a/0"]


@pytest.mark.parametrize(
    ("flag", "missing"),
    [
        ("--aws-secret-access-key", "--aws-access-key-id"),
        ("--aws-access-key-id", "--aws-secret-access-key"),
    ],
)
def test_cli_one_key_alone_is_bad_usage(flag: str, missing: str) -> None:
    env = no_credentials_env(AWS_ACCESS_KEY_ID="k", AWS_SECRET_ACCESS_KEY="s")
    # Nothing listens on port 9: a request would fail with exit 1, not 2.
    argv = ["ls", "s3://b/k.zip", "--endpoint-url", "http://127.0.0.1:9", flag, "x"]
    result = run_plain(*argv, env=env, timeout=60)
    assert result.returncode == 2, result.stderr
    text = result.stderr.decode()
    assert f"{flag} given without {missing}: pass both, or neither" in text
    assert "TypeError" not in text and "NoneType" not in text
