"""Byte-range sources behind one small Protocol: S3 (boto3), HTTP(S) (urllib3), local files."""

from __future__ import annotations

import os

from ..errors import InvalidURLError
from .base import Ends, RangeReader, Source, SourceIdentity, Stats, TailReader
from .http import HTTPSource
from .local import LocalSource
from .s3 import S3Options, S3Source, parse_s3_url, translate_error

__all__ = [
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


def open_source(
    url: str | os.PathLike[str],
    *,
    client: object | None = None,
    options: S3Options | None = None,
    body_retries: int = 3,
    retry_backoff: float = 0.1,
) -> Source:
    """The source for ``url``: ``s3://bucket/key``, ``http(s)://...``, ``file://path`` or a path.

    For ``http(s)://`` only ``verify`` and the timeouts/attempts of ``options``
    apply (a presigned or public URL needs no AWS credentials).
    """
    if isinstance(url, str) and url.lower().startswith(("http://", "https://")):
        if client is not None:
            raise ValueError("client= is for s3:// URLs; an http(s):// URL needs none")
        opts = options or S3Options()
        return HTTPSource(
            url,
            verify=opts.verify,
            connect_timeout=opts.connect_timeout,
            read_timeout=opts.read_timeout,
            max_attempts=opts.max_attempts,
            max_connections=opts.max_pool_connections,
            retry_backoff=retry_backoff,
            warn_insecure=options is None,  # S3Options warned already
        )
    if isinstance(url, str) and url.startswith("s3://"):
        bucket, key = parse_s3_url(url)
        return S3Source(
            bucket,
            key,
            options=options,
            client=client,  # type: ignore[arg-type]
            body_retries=body_retries,
            retry_backoff=retry_backoff,
        )
    if isinstance(url, str) and "://" in url and not url.startswith("file://"):
        scheme = url.split("://", 1)[0]
        raise InvalidURLError(
            f"unsupported URL scheme {scheme!r} in {url!r}; use s3://bucket/key, "
            "http(s)://... or a path",
            archive=url,
        )
    path = url[len("file://") :] if isinstance(url, str) and url.startswith("file://") else url
    return LocalSource(path)
