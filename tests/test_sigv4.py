"""Our SigV4 signer gives botocore's ``S3SigV4Auth`` canonical request and signature.

botocore is run with a fixed timestamp through its own steps (the ones its
``add_auth`` runs after reading the clock), so both sign the same request.
"""

from __future__ import annotations

import string
from typing import Any

import botocore.auth
import botocore.awsrequest
import botocore.config
import botocore.credentials
import botocore.utils
import pytest
from hypothesis import given
from hypothesis import strategies as st

from remote_zip_store.transport import _sigv4 as sigv4

TIMESTAMP = "20261207T013000Z"


def botocore_signed(
    url: str,
    headers: dict[str, str],
    *,
    region: str,
    token: str | None,
    unsigned_payload: bool = False,
    method: str = "GET",
    secret: str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
) -> tuple[str, dict[str, str]]:
    credentials = botocore.credentials.Credentials("AKIDEXAMPLE", secret, token)
    auth: Any = botocore.auth.S3SigV4Auth(credentials, "s3", region)  # private steps used
    request = botocore.awsrequest.AWSRequest(method=method, url=url, headers=dict(headers))
    request.context["timestamp"] = TIMESTAMP
    if unsigned_payload:
        config = botocore.config.Config(s3={"payload_signing_enabled": False})
        request.context["client_config"] = config
    auth._modify_request_before_signing(request)
    canonical = auth.canonical_request(request)
    signature = auth.signature(auth.string_to_sign(request, canonical), request)
    auth._inject_signature_to_request(request, signature)
    return canonical, dict(request.headers.items())


def ours(
    scheme: str,
    host: str,
    port: int | None,
    bucket: str,
    key: str,
    params: dict[str, str],
    headers: dict[str, str],
    *,
    region: str,
    token: str | None,
    unsigned_payload: bool = False,
    method: str = "GET",
    secret: str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
) -> tuple[str, str, dict[str, str]]:
    """(the URL sent, our canonical request, our headers)."""
    path = f"/{bucket}/{sigv4.quote_key(key)}"
    query = sigv4.canonical_query(params)
    netloc = host if port is None else f"{host}:{port}"
    url = f"{scheme}://{netloc}{path}{'?' + query if query else ''}"
    payload = sigv4.UNSIGNED_PAYLOAD if unsigned_payload else sigv4.EMPTY_SHA256
    signed_host = sigv4.host_header(scheme, host, port)
    signed = sigv4.sign(
        method,
        signed_host,
        path,
        query,
        headers,
        access_key="AKIDEXAMPLE",
        secret_key=secret,
        token=token,
        region=region,
        timestamp=TIMESTAMP,
        payload_hash=payload,
    )
    canonical, _ = sigv4.canonical_request(
        method,
        path,
        query,
        {**{k: v for k, v in signed.items() if k != "Authorization"}, "host": signed_host},
        payload,
    )
    return url, canonical, signed


def assert_same(
    scheme: str,
    host: str,
    port: int | None,
    bucket: str,
    key: str,
    params: dict[str, str],
    headers: dict[str, str],
    **kwargs: Any,
) -> dict[str, str]:
    url, canonical, signed = ours(scheme, host, port, bucket, key, params, headers, **kwargs)
    theirs_canonical, theirs = botocore_signed(url, headers, **kwargs)
    assert canonical == theirs_canonical
    assert signed == theirs  # Authorization (so the signature), date, payload, token
    return signed


def test_a_range_get_signs_like_botocore() -> None:
    signed = assert_same(
        "http",
        "127.0.0.1",
        9000,
        "bucket",
        "t/a.zip",
        {},
        {"Range": "bytes=100-199"},
        region="us-east-1",
        token=None,
    )
    assert signed["X-Amz-Content-SHA256"] == sigv4.EMPTY_SHA256
    assert "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date," in signed["Authorization"]


def test_if_match_version_id_and_session_token_are_signed() -> None:
    signed = assert_same(
        "https",
        "s3.eu-west-3.amazonaws.com",
        None,
        "bucket",
        "a/b c/ü+~=&?.zip",
        {"versionId": "3/L4kqtJl40Nr8X8gdRQBpUMLUo+=&x y"},
        {"Range": "bytes=-65536", "If-Match": '"0123abc-2"'},
        region="eu-west-3",
        token="FQoGZXIvYXdzE//token+with/odd=chars",
    )
    assert signed["X-Amz-Security-Token"].startswith("FQoG")
    assert "x-amz-security-token" in signed["Authorization"]


def test_unsigned_payload_header() -> None:
    signed = assert_same(
        "https",
        "bucket.s3.us-west-2.amazonaws.com",
        443,
        "bucket",
        "k",
        {},
        {"Range": "bytes=0-0"},
        region="us-west-2",
        token=None,
        unsigned_payload=True,
    )
    assert signed["X-Amz-Content-SHA256"] == "UNSIGNED-PAYLOAD"


def test_head_and_extra_headers_trimmed_and_blacklisted() -> None:
    assert_same(
        "http",
        "LOCALHOST",
        80,
        "b",
        "k",
        {},
        {"Range": "  bytes=1-2  ", "User-Agent": "x", "X-Amz-Meta-A": "a   b"},
        region="us-east-1",
        token=None,
        method="HEAD",
    )


def test_the_signing_key_is_cached_per_day_and_region() -> None:
    sigv4.signing_key.cache_clear()
    for _ in range(3):
        sigv4.signing_key("secret", "20261207", "us-east-1", "s3")
    assert sigv4.signing_key.cache_info().hits == 2


keys = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"),
    min_size=1,
    max_size=40,
)
values = st.text(alphabet=string.printable + "äé€/+=&?", max_size=20)


@given(
    key=keys,
    bucket=st.from_regex(r"[a-z0-9][a-z0-9.-]{1,20}[a-z0-9]", fullmatch=True),
    version=st.one_of(st.none(), values),
    etag=st.one_of(st.none(), st.from_regex(r'"[0-9a-f]{32}(-[0-9]+)?"', fullmatch=True)),
    token=st.one_of(st.none(), st.text(alphabet=string.ascii_letters + "+/=", min_size=1)),
    region=st.sampled_from(["us-east-1", "eu-central-1", "ap-southeast-2", "cn-north-1"]),
    secret=st.text(alphabet=string.ascii_letters + string.digits + "+/", min_size=1),
    scheme=st.sampled_from(["http", "https"]),
    port=st.sampled_from([None, 80, 443, 8333]),
    unsigned=st.booleans(),
    start=st.integers(0, 2**40),
)
def test_signatures_match_botocore(
    key: str,
    bucket: str,
    version: str | None,
    etag: str | None,
    token: str | None,
    region: str,
    secret: str,
    scheme: str,
    port: int | None,
    unsigned: bool,
    start: int,
) -> None:
    # the key goes into the path as botocore's serializer puts it there
    assert sigv4.quote_key(key) == botocore.utils.percent_encode(key, safe="/~")
    headers = {"Range": f"bytes={start}-{start + 1023}"}
    if etag is not None:
        headers["If-Match"] = etag
    params = {"versionId": version} if version is not None else {}
    assert_same(
        scheme,
        "127.0.0.1",
        port,
        bucket,
        key,
        params,
        headers,
        region=region,
        token=token,
        unsigned_payload=unsigned,
        secret=secret,
    )


@pytest.mark.parametrize(
    ("scheme", "host", "port", "expected"),
    [
        ("http", "127.0.0.1", 80, "127.0.0.1"),
        ("http", "127.0.0.1", 8333, "127.0.0.1:8333"),
        ("https", "S3.Example.COM", 443, "s3.example.com"),
        ("https", "::1", 9000, "[::1]:9000"),
    ],
)
def test_host_header_is_botocores(scheme: str, host: str, port: int, expected: str) -> None:
    assert sigv4.host_header(scheme, host, port) == expected
    netloc = f"[{host}]" if ":" in host else host
    host_from_url: Any = getattr(botocore.auth, "_host_from_url")  # noqa: B009
    assert host_from_url(f"{scheme}://{netloc}:{port}/b/k") == expected
