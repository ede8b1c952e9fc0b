"""The lean S3 read path: GET and HEAD signed by :mod:`.sigv4` and sent on :mod:`.wire`.

botocore's ``get_object`` costs ~1.7 ms of client CPU per small GET (see
shared/notes/request-path-cpu.md); this path costs about an eighth of that. boto3
still decides *what* to send: a boto3 session resolves the credentials (the whole
chain: explicit keys, environment, profiles, SSO, roles, ``credential_process``,
instance metadata), the region and a configured endpoint (``AWS_ENDPOINT_URL_S3``,
``AWS_ENDPOINT_URL``, ``services`` in the config file). No boto3 *client* is
built, so botocore's S3 model (~300 ms of CPU) is never loaded for reading;
listing and uploads keep the client.

:class:`LeanS3` answers :class:`S3Source`'s ``_call`` with botocore's response
shape (``Body``, ``ContentRange``, ``ContentLength``, ``ETag``, ``VersionId``)
and raises botocore's ``ClientError`` for an error answer, so the source's
version pinning, body checks and error translation (the one status table in
:mod:`.status`) are the same code on both paths. Transient answers (5xx, 429,
throttling codes) and connection failures raise :class:`retry.Retry`: the
source's one retry loop counts them against ``max_attempts`` and logs each.

Per request: the credentials' ``get_frozen_credentials()`` (refreshable
credentials refresh there, under botocore's lock), one signature, one request
on the process's shared pool of :mod:`.wire` connections (:func:`.http.shared_pool`:
TLS, ``verify``, timeouts, keep-alive as the HTTP source; a seventh of urllib3's CPU
per small GET). Also handled here:

* a bucket in another region (301/400 with ``x-amz-bucket-region``): the
  request is signed for that region and sent again, once; the region is
  remembered for the bucket in this process;
* expired credentials (``ExpiredToken``, ``RequestTimeTooSkewed``, ...):
  refreshable credentials are resolved anew and the request sent again, once;
  otherwise the error says the credentials expired.

Never in a message, log line, ``repr`` or pickle: the signature, the token, the
secret (a :class:`LeanS3` refuses to pickle; its ``repr`` names the endpoint).
"""

from __future__ import annotations

import importlib.util
import os
import ssl
import sys
import time
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit
from urllib.request import getproxies

import botocore.credentials
import botocore.exceptions

from . import _deadline as deadline
from . import _retry as retry
from . import _sigv4 as sigv4
from ._forksafe import ForkSafeLock, SharedByKey
from ._http import _TRANSIENT, HTTPOptions, _discard, shared_pool
from ._status import RETRY_CODES, RETRY_STATUS
from ._wire import Origin, Response

if TYPE_CHECKING:
    from ._s3config import S3Options

#: Selects the transport when :attr:`S3Options.transport` is None: ``lean``, ``botocore`` or
#: ``obstore`` (:mod:`.obstore`, needs the ``obstore`` extra).
TRANSPORT_VARIABLE = "RZS_S3_TRANSPORT"
TRANSPORTS = ("lean", "botocore", "obstore")

#: Error codes that mean "these credentials are stale": refresh once and send again.
STALE_CREDENTIAL_CODES = frozenset(
    {"ExpiredToken", "TokenRefreshRequired", "RequestTimeTooSkewed", "RequestExpired"}
)
_STALE_HINT = (
    "the credentials expired or the clock is off; refresh them (or use a profile, role or "
    "SSO session, which boto3 refreshes)"
)


def transport_of(options: S3Options) -> str:
    """``"lean"``, ``"botocore"`` or ``"obstore"`` for ``options`` (the field, else the
    environment variable).

    Options the lean path cannot honour pick botocore: a ``config=`` (a
    ``botocore.config.Config`` may hold proxies, accelerate, FIPS, custom retries
    or signers) and an HTTP(S) proxy in the environment (botocore honours it).
    """
    chosen = options.transport or os.environ.get(TRANSPORT_VARIABLE) or "lean"
    if chosen not in TRANSPORTS:
        raise ValueError(f"S3 transport must be one of {TRANSPORTS}, not {chosen!r}")
    if chosen == "lean" and (options.config is not None or _proxied()):
        return "botocore"
    if chosen == "obstore" and options.config is not None:
        if options.transport == "obstore":
            raise ValueError("config= is a botocore Config: transport='obstore' cannot honour it")
        return "botocore"
    if chosen == "obstore" and importlib.util.find_spec("obstore") is None:
        raise ImportError(
            "transport='obstore' needs the obstore package: pip install 'remote-zip-store[obstore]'"
        )
    return chosen


def _proxied() -> bool:
    """Whether an HTTP(S) proxy is configured (botocore would use it; the lean path cannot).

    Elsewhere than Linux and the BSDs, ``urllib``'s ``getproxies()`` (which also reads the
    system's settings); there, the variables themselves: ``getproxies()`` walks the whole
    environment (~70 us, twice per open), and only its ``http_proxy``/``HTTP_PROXY``
    spellings (and ``https_``) are in use (an empty lowercase one unsets the other, and
    ``REQUEST_METHOD``, a CGI request, voids ``HTTP_PROXY``, as in ``getproxies``).
    """
    if sys.platform in ("darwin", "win32"):
        proxies = getproxies()
        return "http" in proxies or "https" in proxies
    env = os.environ
    for scheme in ("http", "https"):
        lower = env.get(f"{scheme}_proxy")
        upper = env.get(f"{scheme.upper()}_PROXY")
        if scheme == "http" and "REQUEST_METHOD" in env:
            upper = None
        if lower or (lower is None and upper):
            return True
    return False


@dataclass(frozen=True)
class _Endpoint:
    """Where a bucket's requests go: an origin (its ``Host`` is the one signed) + path prefix."""

    origin: Origin
    prefix: str  # "/bucket" (path style) or "" (virtual-hosted)

    @property
    def signed_host(self) -> str:
        return self.origin.host_header


class LeanS3:
    """Signed GET/HEAD of S3 objects for one set of :class:`S3Options`, in one process."""

    def __init__(self, options: S3Options):
        from ._s3config import credential_session

        self.options = options
        self._session = credential_session(
            aws_access_key_id=options.aws_access_key_id,
            aws_secret_access_key=options.aws_secret_access_key,
            aws_session_token=options.aws_session_token,
            profile_name=options.profile_name,
            region_name=options.region_name,
        )
        core = self._session
        region = options.region_name or core.get_config_variable("region")
        self.region: str = region or "us-east-1"
        self.endpoint_url = options.endpoint_url or _configured_endpoint(core)
        verify: bool | str | None = options.verify
        if verify is None or verify is True:
            verify = core.get_config_variable("ca_bundle") or _default_ca_bundle()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # verify=False warned when the options were made
            http = HTTPOptions(
                verify=verify,
                connect_timeout=options.connect_timeout,
                read_timeout=options.read_timeout,
                max_connections=max(1, options.max_pool_connections),
            )
        self._pool = shared_pool(http)
        self._credentials_lock = ForkSafeLock()
        self._regions: dict[str, str] = {}  # bucket -> region, learned from a redirect
        self._endpoints: dict[tuple[str, str], _Endpoint] = {}  # (bucket, region) -> where
        self._credentials: Any = None if options.anon else self._resolve_credentials()

    def _resolve_credentials(self) -> Any:
        credentials = self._session.get_credentials()
        if credentials is None:
            raise botocore.exceptions.NoCredentialsError()
        return credentials

    def describe(self, bucket: str, key: str) -> str:
        """The request URL without query or credentials, for log lines."""
        endpoint = self._endpoint(bucket)
        netloc = endpoint.signed_host
        return f"{endpoint.origin.scheme}://{netloc}{endpoint.prefix}/{sigv4.quote_key(key)}"

    # -- the calls S3Source makes -----------------------------------------------------------
    def call(self, operation: str, bucket: str, key: str, **kwargs: Any) -> dict[str, Any]:
        """``get_object`` or ``head_object`` with botocore's argument and response names."""
        headers: dict[str, str] = {}
        if "Range" in kwargs:
            headers["Range"] = kwargs["Range"]
        if "IfMatch" in kwargs:
            headers["If-Match"] = kwargs["IfMatch"]
        params = {"versionId": kwargs["VersionId"]} if "VersionId" in kwargs else {}
        method = "GET" if operation == "get_object" else "HEAD"
        if operation not in ("get_object", "head_object"):
            raise ValueError(f"the lean S3 path sends GET and HEAD only, not {operation}")
        response = self._send(method, bucket, key, headers, params)
        got = response.headers
        result: dict[str, Any] = {
            "ContentLength": int(got.get("Content-Length", "0") or 0),
            "ETag": got.get("ETag"),
            "ResponseMetadata": {"HTTPStatusCode": response.status},
        }
        if "Content-Range" in got:
            result["ContentRange"] = got["Content-Range"]
        if "x-amz-version-id" in got:
            result["VersionId"] = got["x-amz-version-id"]
        if method == "GET":
            result["Body"] = _Body(response)
        else:
            _release(response)
        return result

    def _send(
        self, method: str, bucket: str, key: str, headers: dict[str, str], params: dict[str, str]
    ) -> Response:
        """One request; a region redirect or stale credentials cost one more, at most."""
        redirected = refreshed = False
        while True:
            response = self._send_once(method, bucket, key, headers, params)
            status = response.status
            if status < 300:
                return response
            body = _read_error(response)  # (a HEAD has none: this releases the connection)
            code, message = _error_fields(body)
            code = code or str(status)
            region = response.headers.get("x-amz-bucket-region") or _between(body, b"Region", 40)
            if (
                status in (301, 307, 400)
                and region
                and region != self._region_of(bucket)
                and not redirected
            ):
                self._regions[bucket] = region
                redirected = True
                continue
            if code in STALE_CREDENTIAL_CODES and not refreshed and self._refresh():
                refreshed = True
                continue
            if status in RETRY_STATUS or code in RETRY_CODES:
                raise retry.Retry(f"HTTP {status} {code}")
            if code in STALE_CREDENTIAL_CODES:
                message = f"{message}; {_STALE_HINT}" if message else _STALE_HINT
            error: Any = {
                "Error": {"Code": code, "Message": message},
                "ResponseMetadata": {"HTTPStatusCode": status},
            }
            raise botocore.exceptions.ClientError(error, method)

    def _send_once(
        self, method: str, bucket: str, key: str, headers: dict[str, str], params: dict[str, str]
    ) -> Response:
        endpoint = self._endpoint(bucket)
        path = f"{endpoint.prefix}/{sigv4.quote_key(key)}"
        query = sigv4.canonical_query(params) if params else ""
        if self._credentials is not None:
            frozen = self._credentials.get_frozen_credentials()
            headers = sigv4.sign(
                method,
                endpoint.signed_host,
                path,
                query,
                headers,
                access_key=frozen.access_key,
                secret_key=frozen.secret_key,
                token=frozen.token,
                region=self._region_of(bucket),
                timestamp=time.strftime(sigv4.TIMESTAMP_FORMAT, time.gmtime()),
            )
        # The operation's deadline, if any: no wait beyond the time left.
        bounded = deadline.timeouts(self.options.connect_timeout, self.options.read_timeout)
        try:
            return self._pool.request(
                method,
                endpoint.origin,
                f"{path}?{query}" if query else path,
                headers,
                timeout=bounded,
            )
        except _TRANSIENT as exc:
            raise retry.Retry(f"{type(exc).__name__}: {exc}") from exc
        except ssl.SSLError as exc:
            raise botocore.exceptions.SSLError(
                endpoint_url=self.describe(bucket, key), error=exc
            ) from exc

    def _refresh(self) -> bool:
        """Resolve refreshable credentials anew (True), or say there is nothing to refresh."""
        if not isinstance(self._credentials, botocore.credentials.RefreshableCredentials):
            return False
        with self._credentials_lock:
            from ._s3config import credential_session

            options = self.options
            self._session = credential_session(profile_name=options.profile_name)
            self._credentials = self._resolve_credentials()
        return True

    def preconnect(self, bucket: str, connections: int) -> None:
        """Spare connections to where ``bucket``'s requests go (:meth:`.WirePool.preconnect`)."""
        self._pool.preconnect(self._endpoint(bucket).origin, connections)

    def _region_of(self, bucket: str) -> str:
        return self._regions.get(bucket, self.region)

    def _endpoint(self, bucket: str) -> _Endpoint:
        region = self._region_of(bucket)
        found = self._endpoints.get((bucket, region))
        if found is None:
            found = self._endpoints[bucket, region] = self._new_endpoint(bucket, region)
        return found

    def _new_endpoint(self, bucket: str, region: str) -> _Endpoint:
        style = self.options.addressing_style
        if self.endpoint_url:
            parts = urlsplit(self.endpoint_url)
            scheme, host, port = parts.scheme, parts.hostname or "", parts.port
            base_path = parts.path.rstrip("/")
            style = style or "path"
        else:
            suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
            scheme, host, port, base_path = "https", f"s3.{region}.{suffix}", None, ""
            if style is None or style == "auto":
                style = "virtual" if _dns_compatible(bucket) else "path"
        if style == "virtual":
            host = f"{bucket}.{host}"
            prefix = base_path
        else:
            prefix = f"{base_path}/{bucket}"
        return _Endpoint(Origin.of(scheme, host, port), prefix)

    def __reduce__(self) -> Any:
        raise TypeError("LeanS3 holds credentials and connections: pickle its S3Options instead")

    def __repr__(self) -> str:
        return f"LeanS3(endpoint={self.endpoint_url or 'AWS S3'!r}, region={self.region!r})"


class _Body:
    """A GET's body as botocore's ``StreamingBody`` is used: ``read()`` once, ``close()``."""

    __slots__ = ("_done", "_response")

    def __init__(self, response: Response):
        self._response = response
        self._done = False

    def read(self, amt: int | None = None) -> bytes:
        """The rest of the body, or at most ``amt`` bytes of it (a streamed read)."""
        data = self._response.read(amt)
        if amt is None or self._response.complete:
            self._done = True
            self._response.release_conn()  # read to the end: the connection goes back
        return data

    def close(self) -> None:
        if not self._done:  # unread or broken: the connection cannot be reused
            self._done = True
            _discard(self._response)


def _release(response: Response) -> None:
    response.drain_conn()
    response.release_conn()


def _read_error(response: Response) -> bytes:
    """At most 4 KiB of an error answer (its ``<Code>`` and ``<Message>``)."""
    try:
        data = response.read(4096)
    except OSError:  # (what the wire client raises: resets, early closes, timeouts)
        data = b""
    _discard(response)
    return data


def _between(body: bytes, tag: bytes, limit: int) -> str:
    start = body.find(b"<" + tag + b">")
    end = body.find(b"</" + tag + b">", start)
    if start < 0 or end < 0 or end - start > limit:
        return ""
    return body[start + len(tag) + 2 : end].decode("utf-8", "replace")


def _error_fields(body: bytes) -> tuple[str, str]:
    """An S3 error body's ``<Code>`` and ``<Message>`` (never anything else of it)."""
    return _between(body, b"Code", 80), _between(body, b"Message", 400)


def _dns_compatible(bucket: str) -> bool:
    """Whether ``bucket`` can be a host name label under TLS (no dots, lowercase, 3-63)."""
    return (
        3 <= len(bucket) <= 63
        and bucket == bucket.lower()
        and "." not in bucket
        and "_" not in bucket
        and bucket[0].isalnum()
        and bucket[-1].isalnum()
    )


def _configured_endpoint(core: Any) -> str | None:
    """An endpoint set in the environment or the config file, as botocore would use it."""
    from botocore.configprovider import ConfiguredEndpointProvider

    if core.get_config_variable("ignore_configured_endpoint_urls"):
        return None
    provider = ConfiguredEndpointProvider(
        full_config=core.full_config, scoped_config=core.get_scoped_config(), client_name="s3"
    )
    found: str | None = provider.provide()
    return found


def _default_ca_bundle() -> str | bool:
    """botocore's default CA bundle (certifi's), so the lean path trusts what botocore does."""
    from botocore.httpsession import get_cert_path

    path: Any = get_cert_path(True)
    return path if isinstance(path, str) else True


_SHARED: SharedByKey[tuple[Any, ...], LeanS3] = SharedByKey()


def shared_lean(options: S3Options) -> LeanS3:
    """The process's :class:`LeanS3` for ``options`` (keyed as the shared boto3 clients are)."""
    return _SHARED.get(options.client_key(), lambda: LeanS3(options))


def clear_shared_lean() -> None:
    """Forget this process's lean transports (sources holding one keep it)."""
    _SHARED.clear()
