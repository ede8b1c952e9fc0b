"""Layer 2, transports: byte-range sources (S3, HTTP(S), local files) and sinks (S3
multipart uploads, local files), each behind one small Protocol.

The names below are the transports' API; the modules that define them are private.

Importing this package loads neither boto3 nor urllib3: :func:`open_source`
imports the transport a URL needs when it is opened, and the S3/HTTP names
below are resolved on first use (module ``__getattr__``).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from .._lazy import lazy_names
from ..errors import context
from ._base import Ends, Preconnects, ReadsInto, Source, SourceIdentity, Stats
from ._local import LocalSource
from ._urls import check_names, classify

if TYPE_CHECKING:
    from ._http import HTTPOptions, HTTPSource
    from ._s3 import S3Options, S3Source, list_objects, parse_s3_url, translate_error
    from ._sinks import LocalSink, PartOptions, S3MultipartSink, Sink, open_sink

__all__ = [
    "CONNECTION_ARGUMENTS",
    "Ends",
    "HTTPOptions",
    "HTTPSource",
    "LocalSink",
    "LocalSource",
    "PartOptions",
    "Preconnects",
    "ReadsInto",
    "S3MultipartSink",
    "S3Options",
    "S3Source",
    "Sink",
    "Source",
    "SourceIdentity",
    "Stats",
    "list_objects",
    "open_sink",
    "open_source",
    "parse_s3_url",
    "translate_error",
]

_LAZY = {
    "HTTPOptions": "_http",
    "HTTPSource": "_http",
    "S3Options": "_s3config",
    "S3Source": "_s3",
    "list_objects": "_s3",
    "parse_s3_url": "_s3",
    "translate_error": "_s3",
    "LocalSink": "_sinks",
    "PartOptions": "_sinks",
    "S3MultipartSink": "_sinks",
    "Sink": "_sinks",
    "open_sink": "_sinks",
}


__getattr__, __dir__ = lazy_names(__name__, _LAZY, globals())


#: The connection keyword arguments :func:`open_source` takes (each an S3Options field).
CONNECTION_ARGUMENTS = frozenset(
    {
        "endpoint_url",
        "region_name",
        "verify",
        "anon",
        "aws_access_key_id",
        "aws_secret_access_key",
        "aws_session_token",
        "profile_name",
        "config",
        "connect_timeout",
        "read_timeout",
        "max_attempts",
        "body_retries",
        "retry_backoff",
        "max_pool_connections",
        "transport",
        "pickle_credentials",
    }
)
#: The ones that apply to ``http(s)://`` URLs, and their HTTPOptions names.
_HTTP_ARGUMENTS = {
    "verify": "verify",
    "connect_timeout": "connect_timeout",
    "read_timeout": "read_timeout",
    "max_attempts": "max_attempts",
    "retry_backoff": "retry_backoff",
    "max_pool_connections": "max_connections",
}


def open_source(
    url: str | os.PathLike[str],
    *,
    client: Any = None,
    s3: S3Options | None = None,
    http: HTTPOptions | None = None,
    **connection: Any,
) -> Source:
    """The source for ``url``: ``s3://bucket/key``, ``http(s)://...``, ``file://path`` or a path.

    ``connection`` takes the names in :data:`CONNECTION_ARGUMENTS` (None = the
    default); each source builds its own options from the ones it uses (an
    ``http(s)://`` URL uses ``verify``, the timeouts, attempts and backoff: a
    presigned or public URL needs no AWS credentials; a path uses none).
    ``s3=``/``http=`` pass ready options instead; ``client=`` a boto3 client.
    """
    check_names(connection, CONNECTION_ARGUMENTS, "open_source()")
    given = {name: value for name, value in connection.items() if value is not None}
    scheme, text = classify(url)
    if scheme == "http":
        if client is not None:
            raise ValueError("client= is for s3:// URLs; an http(s):// URL needs none")
        from ._http import HTTPOptions, HTTPSource

        if http is None:
            http = HTTPOptions(
                **{_HTTP_ARGUMENTS[k]: v for k, v in given.items() if k in _HTTP_ARGUMENTS}
            )
        elif any(name in _HTTP_ARGUMENTS for name in given):
            raise TypeError("pass either http=HTTPOptions(...) or connection arguments, not both")
        return HTTPSource(text, http)
    if scheme == "s3":
        from ._s3 import S3Options, S3Source, parse_s3_url

        bucket, key = parse_s3_url(text)
        if client is not None:
            # The client is built already: only the retries of bodies apply.
            return S3Source(
                bucket,
                key,
                options=s3,
                client=client,
                body_retries=given.get("body_retries"),
                retry_backoff=given.get("retry_backoff"),
            )
        if s3 is None:
            with context(text):  # a refused option names the archive
                s3 = S3Options(**given)
        elif given:
            raise TypeError("pass either s3=S3Options(...) or connection arguments, not both")
        return S3Source(bucket, key, options=s3)
    return LocalSource(text)
