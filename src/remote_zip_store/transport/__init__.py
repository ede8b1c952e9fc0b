"""Byte-range sources behind one small Protocol: S3 (boto3), HTTP(S) (urllib3), local files.

Importing this package loads neither boto3 nor urllib3: :func:`open_source`
imports the transport a URL needs when it is opened, and the S3/HTTP names
below are resolved on first use (module ``__getattr__``).
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any

from ..errors import context
from .base import Ends, Source, SourceIdentity, Stats
from .local import LocalSource
from .urls import check_names, classify

if TYPE_CHECKING:
    from .http import HTTPOptions, HTTPSource
    from .s3 import S3Options, S3Source, list_objects, parse_s3_url, translate_error

__all__ = [
    "CONNECTION_ARGUMENTS",
    "Ends",
    "HTTPOptions",
    "HTTPSource",
    "LocalSource",
    "S3Options",
    "S3Source",
    "Source",
    "SourceIdentity",
    "Stats",
    "list_objects",
    "open_source",
    "parse_s3_url",
    "translate_error",
]

_LAZY = {
    "HTTPOptions": "http",
    "HTTPSource": "http",
    "S3Options": "s3config",
    "S3Source": "s3",
    "list_objects": "s3",
    "parse_s3_url": "s3",
    "translate_error": "s3",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)


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
        from .http import HTTPOptions, HTTPSource

        if http is None:
            http = HTTPOptions(
                **{_HTTP_ARGUMENTS[k]: v for k, v in given.items() if k in _HTTP_ARGUMENTS}
            )
        elif any(name in _HTTP_ARGUMENTS for name in given):
            raise TypeError("pass either http=HTTPOptions(...) or connection arguments, not both")
        return HTTPSource(text, http)
    if scheme == "s3":
        from .s3 import S3Options, S3Source, parse_s3_url

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
