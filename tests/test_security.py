"""Credentials never leak into repr/str/logs/exception text; TLS is verified by default."""

from __future__ import annotations

import logging
import os
import pickle
import re
import subprocess
import sys
import time
import traceback
import uuid
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from remote_zip_store import (
    ArchiveAccessError,
    ArchiveNotFoundError,
    BadArchiveError,
    S3Options,
    SourceError,
)
from remote_zip_store.testing.servers import S3Server, free_port

from .archives import make_zip
from .faultproxy import FaultProxy, fault_proxy
from .httpserver import self_signed_cert
from .worlds import RemoteZipStore

ENTRIES = {f"s/{i}": os.urandom(5000) for i in range(20)}
SECRET = "rzs-very-secret-value-0123456789"


def leaks(text: str, *secrets: str) -> list[str]:
    return [s for s in secrets if s in text]


def test_repr_and_str_never_show_keys(moto: S3Server) -> None:
    url = moto.put(make_zip(ENTRIES))
    store = RemoteZipStore(url, root="", **moto.store_kwargs(), aws_session_token="tok-" + SECRET)
    source = store.archive.source
    texts = [repr(store), str(store), repr(store.archive), repr(source), str(source)]
    texts.append(repr(source.options))  # type: ignore[attr-defined]
    for text in texts:
        assert not leaks(text, moto.secret_key, moto.access_key, SECRET), text


def test_wrong_credentials_error_and_logs_never_show_the_secret(
    seaweedfs: S3Server, caplog: pytest.LogCaptureFixture
) -> None:
    """SeaweedFS checks signatures (moto does not): a wrong secret is refused."""
    url = seaweedfs.put(make_zip(ENTRIES))
    caplog.set_level(logging.DEBUG)  # every logger, botocore's included
    with pytest.raises(ArchiveAccessError) as info:
        RemoteZipStore(
            url,
            endpoint_url=seaweedfs.endpoint_url,
            aws_access_key_id=seaweedfs.access_key,
            aws_secret_access_key=SECRET,
            max_attempts=1,
        )
    error = info.value
    rendered = "".join(traceback.format_exception(error))
    assert url in str(error) and "access denied" in str(error)
    for text in (str(error), repr(error), rendered, repr(pickle.loads(pickle.dumps(error)))):
        assert not leaks(text, SECRET), text
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("remote_zip_store")]
    everything = "\n".join(r.getMessage() for r in caplog.records)
    assert not leaks("\n".join(ours), SECRET)
    # botocore's own DEBUG output is outside this library; today it does not log the secret
    # either (it logs the signature). If this starts failing, document it, do not hide it.
    assert not leaks(everything, SECRET)


# -- marked credentials on every failure path (issue 23) --------------------------------------

#: Unique strings: if one shows up anywhere below, it leaked.
_MARK = uuid.uuid4().hex[:12].upper()
KEY_ID = f"AKIARZS{_MARK}"
SECRET_KEY = f"rzs-secret-key-{_MARK}"
TOKEN = f"rzs-session-token-{_MARK}"
PASSWORD = f"rzs-endpoint-pw-{_MARK}"
MARKED = (KEY_ID, SECRET_KEY, TOKEN, PASSWORD)
#: A request signature (SigV4 header or presigned query), whatever its value.
SIGNATURE = re.compile(r"Signature=(?!\(redacted\))[^&\s'\"]{8}|AWS4-HMAC-SHA256 Credential")


def with_password(endpoint: str) -> str:
    """``http://127.0.0.1:port`` with user info carrying the marked password."""
    scheme, rest = endpoint.split("://", 1)
    return f"{scheme}://rzs-user:{PASSWORD}@{rest}"


def error_texts(error: BaseException) -> list[str]:
    """Everything an error shows: message, repr, the whole chained traceback, a pickle."""
    copy = pickle.loads(pickle.dumps(error))
    return [
        str(error),
        repr(error),
        "".join(traceback.format_exception(error)),
        str(copy),
        repr(copy),
    ]


def assert_clean(texts: list[str], *secrets: str) -> None:
    for text in texts:
        found = [s for s in (*MARKED, *secrets) if s and s in text]
        assert not found, (found, text)
        assert not SIGNATURE.search(text), text


@pytest.fixture
def our_logs(caplog: pytest.LogCaptureFixture) -> Callable[[], list[str]]:
    """The project's own log records (``remote_zip_store.*``) at DEBUG, as printed."""
    caplog.set_level(logging.DEBUG, logger="remote_zip_store")
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")

    def ours() -> list[str]:
        return [
            formatter.format(r) for r in caplog.records if r.name.startswith("remote_zip_store")
        ]

    return ours


def _marked_kwargs(server: S3Server, **extra: Any) -> dict[str, Any]:
    """moto checks no signature: every credential can be a marked string."""
    kwargs: dict[str, Any] = dict(
        endpoint_url=with_password(server.endpoint_url),
        aws_access_key_id=KEY_ID,
        aws_secret_access_key=SECRET_KEY,
        aws_session_token=TOKEN,
        region_name=server.region,
        max_attempts=2,
        retry_backoff=0.01,
    )
    kwargs.update(extra)
    return kwargs


def _missing_object(moto: S3Server) -> BaseException:
    with pytest.raises(ArchiveNotFoundError) as info:
        RemoteZipStore(f"s3://{moto.bucket}/no/such-{_MARK}.zip", **_marked_kwargs(moto))
    return info.value


def _missing_bucket(moto: S3Server) -> BaseException:
    with pytest.raises(ArchiveNotFoundError) as info:
        RemoteZipStore(f"s3://no-such-bucket-{_MARK.lower()}/k.zip", **_marked_kwargs(moto))
    return info.value


def _missing_key(moto: S3Server) -> BaseException:
    store = RemoteZipStore(moto.put(make_zip(ENTRIES)), root="", **_marked_kwargs(moto))
    texts = [repr(store), str(store), repr(store.archive), repr(store.archive.source)]
    texts.append(repr(store.archive.source.options))  # type: ignore[attr-defined]
    assert_clean(texts)
    assert "127.0.0.1" in repr(store)  # the endpoint is shown, without its password
    with pytest.raises(KeyError) as info:
        store["s/no-such-key"]
    return info.value


def _corrupt_archive(moto: S3Server) -> BaseException:
    with pytest.raises(BadArchiveError) as info:
        RemoteZipStore(moto.put(b"not a zip at all" * 100), **_marked_kwargs(moto))
    return info.value


def _closed_port(moto: S3Server) -> BaseException:
    endpoint = with_password(f"http://127.0.0.1:{free_port()}")
    kwargs = _marked_kwargs(moto, endpoint_url=endpoint, connect_timeout=1.0)
    with pytest.raises(SourceError) as info:
        RemoteZipStore(f"s3://{moto.bucket}/k.zip", **kwargs)
    return info.value


FAILURES: dict[str, Callable[[S3Server], BaseException]] = {
    "missing-object": _missing_object,
    "missing-bucket": _missing_bucket,
    "missing-key-in-archive": _missing_key,
    "corrupt-archive": _corrupt_archive,
    "closed-port": _closed_port,
}


@pytest.mark.parametrize("case", list(FAILURES))
def test_marked_credentials_never_leak_on_a_failure_path(
    case: str, moto: S3Server, our_logs: Callable[[], list[str]]
) -> None:
    error = FAILURES[case](moto)
    assert_clean(error_texts(error))
    logs = our_logs()
    assert_clean(logs)
    if case == "closed-port":
        # The retry line was written (botocore's connection error, which quotes the URL).
        retries = [line for line in logs if "attempt 1 of 2" in line]
        assert retries and "127.0.0.1" in retries[0], logs
        assert "127.0.0.1" in str(error)


def test_wrong_secret_refused_by_seaweedfs_leaks_nothing(
    seaweedfs: S3Server, our_logs: Callable[[], list[str]]
) -> None:
    url = seaweedfs.put(make_zip(ENTRIES))
    kwargs = _marked_kwargs(seaweedfs, aws_access_key_id=seaweedfs.access_key)
    kwargs.pop("aws_session_token")  # SeaweedFS would refuse the token before the secret
    with pytest.raises(ArchiveAccessError) as info:
        RemoteZipStore(url, **kwargs)
    assert "SignatureDoesNotMatch" in str(info.value) or "access denied" in str(info.value)
    assert_clean(error_texts(info.value), seaweedfs.secret_key)
    assert_clean(our_logs(), seaweedfs.secret_key)


def _presigned(seaweedfs: S3Server, expires: int) -> str:
    bucket, key = seaweedfs.put(make_zip(ENTRIES))[5:].split("/", 1)
    url = seaweedfs.client().generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=expires
    )
    return with_password(str(url))


def _forge(url: str) -> str:
    """The URL with its signature's first character changed (SigV2 or SigV4)."""
    head, _, rest = url.partition("Signature=")
    return f"{head}Signature={'1' if rest[0] == '0' else '0'}{rest[1:]}"


def _query_values(url: str) -> list[str]:
    """The signature and credential values of a presigned URL (what must not show)."""
    found = re.findall(r"(X-Amz-[A-Za-z]+|Signature|AWSAccessKeyId)=([^&]+)", url)
    return [v for k, v in found if k != "X-Amz-Expires"]


@pytest.mark.parametrize("how", ["forged", "expired"])
def test_refused_presigned_url_leaks_nothing(
    how: str, seaweedfs: S3Server, our_logs: Callable[[], list[str]]
) -> None:
    url = _presigned(seaweedfs, 600 if how == "forged" else 1)
    if how == "forged":
        url = _forge(url)
    else:
        time.sleep(2.5)  # SeaweedFS checks X-Amz-Expires
    secrets = [v for v in _query_values(url) if len(v) > 8]
    with pytest.raises(ArchiveAccessError) as info:
        RemoteZipStore(url, max_attempts=2, retry_backoff=0.01)
    assert "127.0.0.1" in str(info.value)
    assert_clean(error_texts(info.value), *secrets, seaweedfs.access_key)
    assert_clean(our_logs(), *secrets, seaweedfs.access_key)


def _run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
    argv = [sys.executable, "-m", "remote_zip_store", *args]
    return subprocess.run(argv, capture_output=True, env=env, timeout=120)


def _marked_env(moto: S3Server) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RZS_"))}
    env.update(
        AWS_ACCESS_KEY_ID=KEY_ID,
        AWS_SECRET_ACCESS_KEY=SECRET_KEY,
        AWS_SESSION_TOKEN=TOKEN,
        AWS_DEFAULT_REGION=moto.region,
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
    )
    return env


def test_cli_output_carries_no_marked_credentials(moto: S3Server, seaweedfs: S3Server) -> None:
    env = _marked_env(moto)
    good = moto.put(make_zip(ENTRIES))
    closed = with_password(f"http://127.0.0.1:{free_port()}")
    runs = {
        "missing-object": ["ls", f"s3://{moto.bucket}/no-{_MARK}.zip"],
        "missing-key": ["cat", good, "s/no-such-key"],
        "closed-port": ["info", good, "--endpoint-url", closed, "--max-attempts", "2"],
        "reads": ["info", good],
    }
    forged = _forge(_presigned(seaweedfs, 600))
    for name, argv in runs.items():
        if "--endpoint-url" not in argv:
            argv = [*argv, "--endpoint-url", with_password(moto.endpoint_url)]
        result = _run_cli(*argv, env=env)
        assert result.returncode == (0 if name == "reads" else 1), (name, result.stderr)
        output = (result.stdout + result.stderr).decode(errors="replace")
        assert_clean([output])
        if name == "closed-port":
            assert "warning" in output and "attempt 1 of 2" in output, output
    result = _run_cli("info", forged, env=env)
    assert result.returncode == 1
    output = (result.stdout + result.stderr).decode(errors="replace")
    assert "access denied" in output
    assert_clean([output], *_query_values(forged))


# -- TLS ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 (a private CA of one)."""
    return self_signed_cert(str(tmp_path_factory.mktemp("tls")))


@pytest.fixture
def tls_proxy(moto: S3Server, certificate: tuple[str, str]) -> Iterator[FaultProxy]:
    """TLS terminated in front of moto, with the private certificate."""
    with fault_proxy(moto.endpoint_url, lifetime=60, tls=certificate) as proxy:
        yield proxy


def _kwargs(moto: S3Server, proxy: FaultProxy) -> dict[str, object]:
    return dict(moto.store_kwargs(), endpoint_url=proxy.endpoint_url, root="", max_attempts=1)


def test_verify_with_a_ca_bundle_path_works(
    moto: S3Server, tls_proxy: FaultProxy, certificate: tuple[str, str]
) -> None:
    url = moto.put(make_zip(ENTRIES))
    assert tls_proxy.endpoint_url.startswith("https://127.0.0.1:")
    store = RemoteZipStore(url, verify=certificate[0], **_kwargs(moto, tls_proxy))  # type: ignore[arg-type]
    assert store.getitems(list(ENTRIES)) == ENTRIES
    assert tls_proxy.requests("GET")  # the traffic did go through TLS


def test_default_verification_rejects_a_private_ca(moto: S3Server, tls_proxy: FaultProxy) -> None:
    url = moto.put(make_zip(ENTRIES))
    with pytest.raises(SourceError) as info:
        RemoteZipStore(url, **_kwargs(moto, tls_proxy))  # type: ignore[arg-type]
    message = str(info.value)
    assert "TLS" in message and "verify=" in message and url in message
    assert not tls_proxy.requests("GET")  # no request got past the handshake


def test_verify_false_warns_and_reads(moto: S3Server, tls_proxy: FaultProxy) -> None:
    url = moto.put(make_zip(ENTRIES))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        store = RemoteZipStore(url, verify=False, **_kwargs(moto, tls_proxy))  # type: ignore[arg-type]
        assert store["s/3"] == ENTRIES["s/3"]
    ours = [w for w in caught if "verify=False" in str(w.message)]
    assert len(ours) == 1 and issubclass(ours[0].category, UserWarning)


def test_s3_options_default_to_verification() -> None:
    assert S3Options().verify is None  # None = botocore's default: verify with certifi's CAs
