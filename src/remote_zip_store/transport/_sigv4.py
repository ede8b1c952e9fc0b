"""AWS Signature Version 4 for S3 requests: strings in, headers out, no I/O, no clock.

botocore's signer sits behind its request objects and event hooks (~0.2 ms of a
GET's ~1.7 ms of client CPU, the rest of its path several times that); the lean
S3 read path signs its few GETs here instead. The rules are botocore's
``S3SigV4Auth``, and ``tests/test_sigv4.py`` checks that both give the same
canonical request and signature for the same inputs: the path is signed as sent
(S3 does not normalise it), the query as given, every header but the hop-by-hop
ones botocore leaves out, and the payload as ``X-Amz-Content-SHA256``.

The returned headers hold the signature (and a session token): they are a
credential. Callers send them and drop them; they never go into a message.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from functools import lru_cache
from urllib.parse import quote

ALGORITHM = "AWS4-HMAC-SHA256"
TIMESTAMP_FORMAT = "%Y%m%dT%H%M%SZ"
#: ``X-Amz-Content-SHA256`` of a request without a body (a GET, a HEAD).
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
#: ``X-Amz-Content-SHA256`` when the body is not signed (S3 over TLS).
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"

#: Headers never signed (botocore's ``SIGNED_HEADERS_BLACKLIST``): proxies and
#: clients may change them in flight.
UNSIGNED_HEADERS = frozenset(
    {
        "baggage",
        "connection",
        "expect",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "traceparent",
        "tracestate",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "user-agent",
        "x-amzn-trace-id",
    }
)


def quote_key(key: str) -> str:
    """An S3 key as it goes into the path (and is signed): ``/`` and ``~`` kept, as botocore."""
    return quote(key, safe="/~")


def quote_query(value: str) -> str:
    """A query parameter's name or value in canonical form (RFC 3986 unreserved kept)."""
    return quote(value, safe="-_.~")


def canonical_query(params: Mapping[str, str]) -> str:
    """``params`` as the canonical (and sent) query string: encoded, sorted by name."""
    return "&".join(
        f"{k}={v}" for k, v in sorted((quote_query(k), quote_query(v)) for k, v in params.items())
    )


def host_header(scheme: str, host: str, port: int | None) -> str:
    """The ``Host`` value botocore signs: lowercase, without the scheme's default port."""
    host = host.lower()
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 literal
    if port is not None and port != {"http": 80, "https": 443}.get(scheme):
        return f"{host}:{port}"
    return host


@lru_cache(maxsize=64)
def signing_key(secret_key: str, date: str, region: str, service: str) -> bytes:
    """The day's derived key: four HMACs, the same for every request of a day (cached)."""
    key = hmac.new(f"AWS4{secret_key}".encode(), date.encode(), hashlib.sha256).digest()
    for part in (region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def canonical_request(
    method: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
    payload_hash: str,
) -> tuple[str, str]:
    """``(canonical request, signed header names)``; ``headers`` must hold ``host``.

    ``path`` and ``query`` are exactly what is sent (already encoded); a query
    given in another order is sorted here, as botocore does for a URL's query.
    """
    names: dict[str, list[str]] = {}
    for name, value in headers.items():
        lowered = name.lower()
        if lowered not in UNSIGNED_HEADERS:
            found = names.get(lowered)
            if found is None:
                names[lowered] = [value]
            else:
                found.append(value)
    ordered = sorted(names)
    lines = "".join([f"{n}:{','.join([' '.join(v.split()) for v in names[n]])}\n" for n in ordered])
    signed = ";".join(ordered)
    if query:
        pairs = sorted(pair.partition("=")[::2] for pair in query.split("&"))
        query = "&".join(f"{k}={v}" for k, v in pairs)
    return f"{method.upper()}\n{path}\n{query}\n{lines}\n{signed}\n{payload_hash}", signed


#: Headers :func:`sign` sets itself (a caller's copy is dropped), lowercase.
_SIGNING_HEADERS = frozenset(
    {"authorization", "x-amz-date", "x-amz-content-sha256", "date", "x-amz-security-token"}
)


def sign(
    method: str,
    host: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
    *,
    access_key: str,
    secret_key: str,
    token: str | None,
    region: str,
    timestamp: str,
    service: str = "s3",
    payload_hash: str = EMPTY_SHA256,
) -> dict[str, str]:
    """``headers`` plus the SigV4 ones (``X-Amz-Date``, ``X-Amz-Content-SHA256``, the token,
    ``Authorization``), signed for ``method host path?query`` at ``timestamp``
    (``YYYYMMDDTHHMMSSZ``, UTC). ``host`` is the ``Host`` value (see :func:`host_header`).
    """
    out = {k: v for k, v in headers.items() if k.lower() not in _SIGNING_HEADERS}
    has_host = any(k.lower() == "host" for k in out)
    out["X-Amz-Date"] = timestamp
    out["X-Amz-Content-SHA256"] = payload_hash
    if token:
        out["X-Amz-Security-Token"] = token
    to_sign = out if has_host else {**out, "host": host}
    request, signed = canonical_request(method, path, query, to_sign, payload_hash)
    date = timestamp[:8]
    scope = f"{date}/{region}/{service}/aws4_request"
    string_to_sign = (
        f"{ALGORITHM}\n{timestamp}\n{scope}\n{hashlib.sha256(request.encode()).hexdigest()}"
    )
    key = signing_key(secret_key, date, region, service)
    # hmac.digest: the one-shot C path (hmac.new builds a Python HMAC object per call)
    signature = hmac.digest(key, string_to_sign.encode(), "sha256").hex()
    out["Authorization"] = (
        f"{ALGORITHM} Credential={access_key}/{scope}, SignedHeaders={signed}, "
        f"Signature={signature}"
    )
    return out
