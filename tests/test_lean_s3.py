"""The lean S3 read path (sources/s3lean.py) on real servers: what it sends, what it
skips (no boto3 client, no S3 model), region redirects, stale credentials, and the
choice of transport. The shared S3 suites (test_faults, test_errors, ...) run on
whichever transport ``RZS_S3_TRANSPORT`` selects (lean by default)."""

from __future__ import annotations

import json
import os
import pickle
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import botocore
import botocore.config
import botocore.session
import pytest

from remote_zip_store import ArchiveAccessError, S3Source, SourceError
from remote_zip_store.testing.cold import forget_process_state
from remote_zip_store.testing.servers import S3Server
from remote_zip_store.transport import S3Options
from remote_zip_store.transport import _s3config as s3config
from remote_zip_store.transport import _s3lean as s3lean
from remote_zip_store.zipfmt._parse import span

from .archives import make_zip
from .faultproxy import (  # the fixtures: pytest finds them by name
    Fault,
    FaultProxy,
    fault_proxy,
    open_store,
    proxy_fixture,  # noqa: F401
    server_fixture,  # noqa: F401
)
from .worlds import RemoteZipStore

ENTRIES = {".zgroup": b'{"zarr_format": 2}', **{f"a/{i}": os.urandom(3000) for i in range(30)}}

needs_lean = pytest.mark.skipif(
    s3lean.transport_of(S3Options()) != "lean", reason="RZS_S3_TRANSPORT selects botocore"
)


@pytest.fixture(scope="module")
def archive_url(server: S3Server) -> str:
    return server.put(make_zip(ENTRIES))


def chunk_range(store: RemoteZipStore, key: str) -> str:
    entry = store.archive.index.get(key)
    assert entry is not None
    start, end = span(entry)
    return f"bytes={start}-{end - 1}"


# -- transport selection ----------------------------------------------------------------------


def test_transport_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(s3lean.TRANSPORT_VARIABLE, raising=False)
    assert s3lean.transport_of(S3Options()) == "lean"
    assert s3lean.transport_of(S3Options(transport="botocore")) == "botocore"
    # a botocore Config may hold what only botocore honours (proxies, accelerate, signers)
    assert s3lean.transport_of(S3Options(config=botocore.config.Config())) == "botocore"
    monkeypatch.setenv(s3lean.TRANSPORT_VARIABLE, "botocore")
    assert s3lean.transport_of(S3Options()) == "botocore"
    assert s3lean.transport_of(S3Options(transport="lean")) == "lean"  # the field wins
    monkeypatch.setenv(s3lean.TRANSPORT_VARIABLE, "curl")
    with pytest.raises(ValueError, match="curl"):
        s3lean.transport_of(S3Options())
    monkeypatch.delenv(s3lean.TRANSPORT_VARIABLE)
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    assert s3lean.transport_of(S3Options()) == "botocore"  # botocore honours proxies


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"HTTPS_PROXY": "http://p:1"},
        {"http_proxy": "http://p:1"},
        {"HTTP_PROXY": "http://p:1"},
        {"HTTP_PROXY": "http://p:1", "REQUEST_METHOD": "GET"},  # CGI: HTTP_PROXY voided
        {"http_proxy": "http://p:1", "REQUEST_METHOD": "GET"},
        {"HTTPS_PROXY": "http://p:1", "https_proxy": ""},  # an empty lowercase one unsets
        {"HTTPS_PROXY": ""},
        {"NO_PROXY": "*", "ftp_proxy": "http://p:1"},
    ],
)
def test_proxy_detection_agrees_with_urllib(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str]
) -> None:
    from urllib.request import getproxies

    for name in list(os.environ):
        if name.lower().endswith("_proxy") or name == "REQUEST_METHOD":
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    proxies = getproxies()
    assert s3lean._proxied() == ("http" in proxies or "https" in proxies)


@needs_lean
def test_botocore_transport_reads_through_the_client(moto: S3Server) -> None:
    url = moto.put(make_zip(ENTRIES))
    kwargs = moto.store_kwargs()
    with RemoteZipStore(url, transport="botocore", **kwargs) as store:
        source = store.archive.source
        assert isinstance(source, S3Source) and source._lean is None
        assert store["a/3"] == ENTRIES["a/3"]
    with RemoteZipStore(url, **kwargs) as store:
        source = store.archive.source
        assert isinstance(source, S3Source) and source._lean is not None
        assert store["a/3"] == ENTRIES["a/3"]
        # a pickle carries the options, never the transport (nor its credentials)
        blob = pickle.dumps(store)
        assert b"LeanS3" not in blob
        assert pickle.loads(blob)["a/4"] == ENTRIES["a/4"]
    with pytest.raises(TypeError, match="pickle its S3Options"):
        pickle.dumps(source._lean.get())
    # a ready client keeps its own transport: its config and hooks are the user's
    with RemoteZipStore(url, client=moto.client()) as store:
        source = store.archive.source
        assert isinstance(source, S3Source) and source._lean is None


@needs_lean
def test_reading_builds_no_boto3_client_and_loads_no_s3_model(moto: S3Server) -> None:
    url = moto.put(make_zip(ENTRIES))
    code = textwrap.dedent(
        f"""
        import json
        from tests.worlds import RemoteZipStore
        from remote_zip_store.transport import _s3 as s3, _s3config as s3config
        kwargs = json.loads({json.dumps(json.dumps(moto.store_kwargs()))})
        with RemoteZipStore({url!r}, **kwargs) as store:
            assert store["a/7"] == bytes.fromhex({ENTRIES["a/7"].hex()!r})
            assert store.getitems(["a/1", "a/20"]).keys() == {{"a/1", "a/20"}}
        assert not s3._SHARED.built(), "a boto3 client was built"
        loaded = [k for k in (s3config._LOADER._cache if s3config._LOADER else {{}}) if "s3" in k]
        assert not loaded, loaded
        from remote_zip_store.transport import _s3lean as s3lean
        (lean,) = s3lean._SHARED.peek().values()
        # botocore's ~500 builtin handlers never registered: no event was needed
        assert lean._session._original_handler._pending is not None
        """
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120, env=env)


def test_a_credential_session_registers_botocore_handlers_before_their_first_use() -> None:
    """The lean and obstore paths' session defers botocore's builtin handlers (most of a
    session's cost); a client made from it (an STS client of a role profile) has them."""
    session = s3config.credential_session(
        aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret", region_name="eu-west-1"
    )
    emitter = session._original_handler
    credentials = session.get_credentials()
    assert credentials is not None and credentials.access_key == "AKIDEXAMPLE"
    assert session.get_config_variable("region") == "eu-west-1"
    assert emitter._pending is session  # nothing used the events yet
    sts = session.create_client("sts")
    assert emitter._pending is None
    # a builtin handler: AssumeRoleWithWebIdentity is sent unsigned, as from any session
    event = "choose-signer.sts.AssumeRoleWithWebIdentity"
    for events in (session.get_component("event_emitter"), sts.meta.events):
        assert events.emit_until_response(event)[1] is botocore.UNSIGNED
    plain = botocore.session.Session().create_client(
        "sts", region_name="eu-west-1", aws_access_key_id="a", aws_secret_access_key="b"
    )
    assert plain.meta.events.emit_until_response(event)[1] is botocore.UNSIGNED


@needs_lean
def test_a_cold_start_forgets_the_lean_layer(moto: S3Server) -> None:
    """Benchmarks start each run as a new process: no resolved session, no warm connection."""
    url = moto.put(make_zip(ENTRIES))
    with RemoteZipStore(url, **moto.store_kwargs(), root="") as store:
        source = store.archive.source
        assert isinstance(source, S3Source) and source._lean is not None
        lean = source._lean.get()
        assert s3lean.shared_lean(source.options) is lean
        forget_process_state()
        assert s3lean.shared_lean(source.options) is not lean


# -- what goes on the wire --------------------------------------------------------------------


@needs_lean
def test_open_and_read_requests(server: S3Server, proxy: FaultProxy, archive_url: str) -> None:
    store = open_store(server, proxy, archive_url, head_size=4096, tail_size=8192)
    gets = proxy.requests("GET")
    assert sorted(r.range or "" for r in gets) == ["bytes=-8192", "bytes=0-4095"]
    assert not proxy.requests("HEAD")
    proxy.clear()
    assert store["a/25"] == ENTRIES["a/25"]
    (get,) = proxy.requests("GET")
    assert get.range == chunk_range(store, "a/25")
    assert get.if_match and get.if_match == store.archive.source.etag  # type: ignore[attr-defined]
    assert get.scope.split("/")[1:] == [server.region, "s3", "aws4_request"]
    assert store.archive.source.stats.snapshot()[0] == 3


@needs_lean
def test_anonymous_requests_are_unsigned(moto: S3Server) -> None:
    key = "t/public-lean.zip"
    moto.client().put_object(Bucket=moto.bucket, Key=key, Body=make_zip(ENTRIES), ACL="public-read")
    with fault_proxy(moto.endpoint_url, lifetime=60) as proxy:
        store = RemoteZipStore(
            f"s3://{moto.bucket}/{key}", endpoint_url=proxy.endpoint_url, anon=True, root=""
        )
        assert store["a/2"] == ENTRIES["a/2"]
        assert all(r.scope == "" for r in proxy.requests("GET"))


# -- region redirects -------------------------------------------------------------------------


@needs_lean
def test_region_redirect_is_signed_again_for_that_region(
    server: S3Server, proxy: FaultProxy, archive_url: str
) -> None:
    store = open_store(server, proxy, archive_url)
    wanted = chunk_range(store, "a/3")
    proxy.clear()
    redirect = {"x-amz-bucket-region": "eu-west-3"}
    proxy.arm(Fault("status", status=301, code="PermanentRedirect", headers=redirect, range=wanted))
    assert store["a/3"] == ENTRIES["a/3"]
    first, second = proxy.requests("GET")
    assert first.scope.split("/")[1] == server.region and first.fault == "status"
    assert second.scope.split("/")[1] == "eu-west-3" and second.fault == ""
    proxy.clear()
    assert store["a/4"] == ENTRIES["a/4"]  # the bucket's region is remembered
    assert [r.scope.split("/")[1] for r in proxy.requests("GET")] == ["eu-west-3"]


@needs_lean
def test_region_redirect_is_followed_once(
    server: S3Server, proxy: FaultProxy, archive_url: str
) -> None:
    store = open_store(server, proxy, archive_url)
    wanted = chunk_range(store, "a/5")
    proxy.clear()
    for region in ("eu-west-3", "ap-south-1"):
        headers = {"x-amz-bucket-region": region}
        proxy.arm(Fault("status", status=301, code="PermanentRedirect", headers=headers))
    with pytest.raises(SourceError, match="301 PermanentRedirect"):
        store["a/5"]
    assert [r.range for r in proxy.requests("GET")] == [wanted, wanted]


# -- stale credentials ------------------------------------------------------------------------


@needs_lean
def test_expired_static_credentials_are_a_clear_access_error(
    server: S3Server, proxy: FaultProxy, archive_url: str
) -> None:
    store = open_store(server, proxy, archive_url)
    proxy.clear()
    proxy.arm(Fault("status", status=400, code="ExpiredToken"))
    with pytest.raises(ArchiveAccessError) as info:
        store["a/6"]
    message = str(info.value)
    assert "ExpiredToken" in message and "refresh" in message and archive_url in message
    assert len(proxy.requests("GET")) == 1  # explicit keys: nothing to refresh, no retry


@needs_lean
@pytest.mark.parametrize("code", ["ExpiredToken", "RequestTimeTooSkewed"])
def test_refreshable_credentials_are_refreshed_once(
    server: S3Server,
    proxy: FaultProxy,
    archive_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    code: str,
) -> None:
    """A profile with ``credential_process`` (boto3's chain, refreshable credentials): a stale
    answer resolves them again (the process runs again) and the GET is sent once more."""
    counter = tmp_path / "runs"
    script = tmp_path / "creds.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import json, pathlib
            runs = pathlib.Path({str(counter)!r})
            runs.write_text(str(int(runs.read_text() or 0) + 1) if runs.exists() else "1")
            print(json.dumps({{"Version": 1, "AccessKeyId": {server.access_key!r},
                "SecretAccessKey": {server.secret_key!r},
                "Expiration": "2999-01-01T00:00:00Z"}}))
            """
        )
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    config = tmp_path / "config"
    config.write_text(f"[profile rzs]\ncredential_process = {sys.executable} {script}\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    store = RemoteZipStore(
        archive_url,
        endpoint_url=proxy.endpoint_url,
        region_name=server.region,
        profile_name="rzs",
        root="",
        head_size=0,
        tail_size=1024,
        max_attempts=1,
    )
    assert counter.read_text() == "1"
    wanted = chunk_range(store, "a/8")
    proxy.clear()
    proxy.arm(Fault("status", status=403, code=code, range=wanted))
    assert store["a/8"] == ENTRIES["a/8"]
    assert [r.fault for r in proxy.requests("GET")] == ["status", ""]
    assert counter.read_text() == "2"
    proxy.arm(Fault("status", status=403, code=code, range=wanted, count=2))
    with pytest.raises(ArchiveAccessError, match=code):
        store["a/8"]  # refreshed once more, then the answer stands


# -- signatures (SeaweedFS checks them) -------------------------------------------------------


@needs_lean
def test_seaweedfs_refuses_a_wrong_secret_and_a_wrong_token(seaweedfs: S3Server) -> None:
    url = seaweedfs.put(make_zip(ENTRIES))
    kwargs = dict(seaweedfs.store_kwargs(), max_attempts=1, root="")
    with RemoteZipStore(url, **kwargs) as store:
        assert store["a/9"] == ENTRIES["a/9"]  # our signature is accepted
    wrong = dict(kwargs, aws_secret_access_key="not-the-secret")
    with pytest.raises(ArchiveAccessError, match="SignatureDoesNotMatch") as info:
        RemoteZipStore(url, **wrong)
    assert "not-the-secret" not in str(info.value)
    # The token is sent and signed: SeaweedFS (no STS configured here) looks the key up
    # among its temporary credentials and refuses it.
    token = "rzs-session-token-0123456789abcdef"
    with pytest.raises(ArchiveAccessError) as info:
        RemoteZipStore(url, **dict(kwargs, aws_session_token=token))
    assert token not in str(info.value) and "InvalidAccessKeyId" in str(info.value)
