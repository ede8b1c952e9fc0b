"""S3 connection settings (plain, picklable data) and the boto3 sessions built from them.

Shared by the read paths (``s3``: botocore's client, ``s3lean``: our signer on urllib3)
and the sinks, so neither read path imports the other.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import boto3
import botocore
import botocore.config
import botocore.loaders
import botocore.retries.standard
import botocore.session

from . import retry
from .base import redact, warn_insecure
from .forksafe import ForkSafeLock

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
else:
    S3Client = Any


@dataclass(frozen=True)
class S3Options:
    """Everything needed to build a boto3 S3 client and retry its reads: plain data, so it pickles.

    Explicit keys given by the user are part of it (a pickled store carries
    them to dask workers); credentials from boto3's default chain are not:
    each process resolves its own.
    """

    endpoint_url: str | None = None
    region_name: str | None = None
    verify: bool | str | None = None
    anon: bool = False
    aws_access_key_id: str | None = field(default=None, repr=False)
    aws_secret_access_key: str | None = field(default=None, repr=False)
    aws_session_token: str | None = field(default=None, repr=False)
    profile_name: str | None = None
    max_pool_connections: int = 32
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    max_attempts: int = 5
    addressing_style: str | None = None
    config: botocore.config.Config | None = None
    #: Retries of a body that breaks off or comes back short (on top of botocore's).
    body_retries: int = 3
    #: Base of the jittered exponential backoff between those retries, in seconds.
    retry_backoff: float = 0.1
    #: How reads are sent: ``"lean"`` (our signer on urllib3), ``"botocore"`` (the client's
    #: ``get_object``), ``"obstore"`` (:mod:`.obstore`, the ``obstore`` extra), None:
    #: ``RZS_S3_TRANSPORT``, else lean (see :func:`.s3lean.transport_of`).
    transport: str | None = None

    def __post_init__(self) -> None:
        if self.body_retries < 0 or self.retry_backoff < 0:
            raise ValueError("body_retries and retry_backoff must be >= 0")
        if self.verify is False:  # where the user asked for it, once
            warn_insecure()

    def make_client(self) -> S3Client:
        session = new_session(
            aws_access_key_id=self.aws_access_key_id,
            aws_secret_access_key=self.aws_secret_access_key,
            aws_session_token=self.aws_session_token,
            profile_name=self.profile_name,
            region_name=self.region_name,
        )
        style = self.addressing_style or ("path" if self.endpoint_url else "auto")
        config = botocore.config.Config(
            max_pool_connections=self.max_pool_connections,
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            retries={"mode": "standard", "total_max_attempts": self.max_attempts},
            s3={"addressing_style": style},  # type: ignore[arg-type]
            signature_version=botocore.UNSIGNED if self.anon else None,
        )
        if self.config is not None:
            config = config.merge(self.config)
        client: S3Client = session.client(
            "s3", endpoint_url=self.endpoint_url, verify=self.verify, config=config
        )
        log_retries(client)
        return client

    def client_key(self) -> tuple[S3Options, str]:
        """What a shared client is keyed by (never logged).

        These options without the pool size and the body retries (which the client
        does not hold), plus, when credentials come from boto3's default chain, a
        digest of the ``AWS_*`` environment (so a changed environment gets a new
        client, as an unshared one would).
        """
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # verify=False warned when these were made
            options = replace(self, max_pool_connections=0, body_retries=0, retry_backoff=0.0)
        return options, environment_digest() if self.aws_access_key_id is None else ""

    def describe_endpoint(self) -> str:
        return self.endpoint_url or "AWS S3"

    def with_retries(self, body_retries: int | None, retry_backoff: float | None) -> S3Options:
        """These options with other body retries (None keeps a value), without warning again."""
        changes: dict[str, Any] = {}
        if body_retries is not None and body_retries != self.body_retries:
            changes["body_retries"] = body_retries
        if retry_backoff is not None and retry_backoff != self.retry_backoff:
            changes["retry_backoff"] = retry_backoff
        if not changes:
            return self
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # verify=False warned when these were made
            return replace(self, **changes)


def log_retries(client: S3Client) -> None:
    """Log each of botocore's own retries at WARNING, as ours are (:func:`retry.log_retry`).

    botocore decides and sleeps; this handler on ``needs-retry`` asks the same
    ``standard``-mode conditions and only logs. Clients in another retry mode
    are left alone (their decision cannot be replayed here).
    """
    retries: dict[str, Any] = getattr(client.meta.config, "retries", None) or {}
    if retries.get("mode") != "standard":
        return
    attempts = int(retries.get("total_max_attempts") or retries.get("max_attempts", 2) + 1)
    conditions = botocore.retries.standard.StandardRetryConditions(max_attempts=attempts)
    adapter = botocore.retries.standard.RetryEventAdapter()

    def on_needs_retry(**kwargs: Any) -> None:
        response = kwargs.get("response")
        if kwargs.get("caught_exception") is None and response is not None:
            status = getattr(response[0], "status_code", 500)
            if status < 400:  # a success is never retried: skip building a context (CPU)
                return
        context = adapter.create_retry_context(**kwargs)
        if not conditions.is_retryable(context):
            return
        if context.caught_exception is not None:
            exc = context.caught_exception
            reason = f"{type(exc).__name__}: {exc}"
        else:
            status = context.http_response.status_code if context.http_response else None
            reason = " ".join(str(p) for p in (f"HTTP {status}", context.get_error_code()) if p)
        url = redact(str(kwargs["request_dict"].get("url", "")))
        name = getattr(kwargs.get("operation"), "name", "request")
        retry.log_retry(url, name, context.attempt_number, attempts, reason, None)

    client.meta.events.register("needs-retry.s3", on_needs_retry)


_LOADER: botocore.loaders.Loader | None = None
_LOADER_LOCK = ForkSafeLock()


def new_session(**kwargs: Any) -> boto3.session.Session:
    """A fresh boto3 session that shares one botocore data loader per process.

    Loading botocore's JSON service models is most of a new session's cost
    (~100 ms against ~8 ms with a warm loader, measured 2026-11-23), paid once
    per store otherwise: opening 100 archives spent most of its time here.
    Only the loader (static model data) is shared; each session still resolves
    its own credentials and configuration, so environment and profile changes
    apply to the next store.
    """
    global _LOADER
    with _LOADER_LOCK:  # boto3 sessions are not thread-safe while being built
        if _LOADER is None:
            _LOADER = botocore.loaders.create_loader()
        core = botocore.session.Session()
        core.register_component("data_loader", _LOADER)
        session = boto3.session.Session(botocore_session=core, **kwargs)
        # boto3 appends its own data path to the loader on every session: keep it once.
        paths = _LOADER.search_paths
        paths[:] = list(dict.fromkeys(paths))
        return session


def environment_digest() -> str:
    """A digest of the ``AWS_*`` variables boto3's default chain reads (values never kept)."""
    items = sorted((k, v) for k, v in os.environ.items() if k.startswith("AWS_"))
    return hashlib.sha256(repr(items).encode()).hexdigest()[:32]
