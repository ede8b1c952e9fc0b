"""Credentials never leak into repr/str/logs/exception text; TLS is verified by default."""

from __future__ import annotations

import logging
import os
import pickle
import traceback
import warnings
from collections.abc import Iterator

import pytest

from remote_zip_store import ArchiveAccessError, S3Options, SourceError
from remote_zip_store.testing.servers import S3Server

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
