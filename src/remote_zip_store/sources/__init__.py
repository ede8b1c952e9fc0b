"""Byte-range sources behind one small Protocol: S3 (boto3), HTTP(S) (urllib3), local files.

TEMP front stand-in (the sources branch wins): importing this package loads
neither boto3 nor urllib3; the S3/HTTP names resolve on first use, and
:func:`open_source` takes the connection names of contract 4.
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any

from ..errors import InvalidURLError
from .base import Ends, RangeReader, Source, SourceIdentity, Stats, TailReader
from .local import LocalSource

if TYPE_CHECKING:
    from .http import HTTPSource
    from .s3 import S3Options, S3Source, parse_s3_url, translate_error

__all__ = [
    "CONNECTION_ARGUMENTS",
    "Ends",
    "HTTPSource",
    "LocalSource",
    "RangeReader",
    "S3Options",
    "S3Source",
    "Source",
    "SourceIdentity",
    "Stats",
    "TailReader",
    "open_source",
    "parse_s3_url",
    "translate_error",
]

_LAZY = {
    "HTTPSource": "http",
    "S3Options": "s3",
    "S3Source": "s3",
    "parse_s3_url": "s3",
    "translate_error": "s3",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)


#: The connection keyword arguments :func:`open_source` takes.
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
    }
)
_SOURCE_ARGUMENTS = ("body_retries", "retry_backoff")


def open_source(
    url: str | os.PathLike[str],
    *,
    client: Any = None,
    s3: S3Options | None = None,
    http: Any = None,
    **connection: Any,
) -> Source:
    """The source for ``url``: ``s3://bucket/key``, ``http(s)://...``, ``file://path`` or a path."""
    unknown = sorted(set(connection) - CONNECTION_ARGUMENTS)
    if unknown:
        raise TypeError(f"open_source() got unexpected keyword argument(s): {', '.join(unknown)}")
    given = {name: value for name, value in connection.items() if value is not None}
    extra = {name: given.pop(name) for name in _SOURCE_ARGUMENTS if name in given}
    text = os.fspath(url)
    if text.lower().startswith(("http://", "https://")):
        if client is not None:
            raise ValueError("client= is for s3:// URLs; an http(s):// URL needs none")
        from .http import HTTPSource
        from .s3 import S3Options

        opts = s3 or S3Options(**given)
        return HTTPSource(
            text,
            verify=opts.verify,
            connect_timeout=opts.connect_timeout,
            read_timeout=opts.read_timeout,
            max_attempts=opts.max_attempts,
            max_connections=opts.max_pool_connections,
            retry_backoff=extra.get("retry_backoff", 0.1),
            warn_insecure=False,  # S3Options warned already
        )
    if text.startswith("s3://"):
        from .s3 import S3Options, S3Source, parse_s3_url

        bucket, key = parse_s3_url(text)
        return S3Source(
            bucket,
            key,
            options=None if client is not None else (s3 or S3Options(**given)),
            client=client,
            **extra,
        )
    if "://" in text and not text.startswith("file://"):
        scheme = text.split("://", 1)[0]
        raise InvalidURLError(
            f"unsupported URL scheme {scheme!r}; use s3://bucket/key, http(s)://... or a path",
            archive=text,
        )
    path = text[len("file://") :] if text.startswith("file://") else text
    return LocalSource(os.path.expanduser(path))
