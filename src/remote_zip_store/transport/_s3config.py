"""S3 connection settings (plain, picklable data) and the boto3 sessions built from them.

Shared by the read paths (``s3``: botocore's client, ``s3lean``: our signer on urllib3)
and the sinks, so neither read path imports the other.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any

import boto3
import botocore
import botocore.config
import botocore.hooks
import botocore.loaders
import botocore.retries.standard
import botocore.session

from ..errors import PartialCredentialsError, scrub
from . import _deadline as deadline
from . import _retry as retry
from ._base import redact, warn_insecure
from ._forksafe import ForkSafeLock

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
    #: False: a pickled source holds no keys or token; the process that unpickles it
    #: resolves its own through boto3's default chain (environment, profile, role).
    pickle_credentials: bool = True

    def __post_init__(self) -> None:
        if self.body_retries < 0 or self.retry_backoff < 0:
            raise ValueError("body_retries and retry_backoff must be >= 0")
        check_credentials(
            self.aws_access_key_id, self.aws_secret_access_key, self.aws_session_token
        )
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
        bound_attempts(client)
        return client

    def client_key(self) -> tuple[S3Options, str]:
        """What a shared client is keyed by (never logged).

        These options without the pool size and the body retries (which the client
        does not hold), plus, when credentials come from boto3's default chain, a
        digest of the ``AWS_*`` environment (so a changed environment gets a new
        client, as an unshared one would).
        """
        # A copy with four fields changed: these options were checked (and warned about)
        # when made, so ``dataclasses.replace`` (which runs ``__init__`` and the checks
        # again, under a warnings filter) is not needed; it cost more than a signature.
        options = object.__new__(S3Options)
        state = options.__dict__
        state.update(self.__dict__)
        state.update(
            max_pool_connections=0, body_retries=0, retry_backoff=0.0, pickle_credentials=True
        )
        return options, environment_digest() if self.aws_access_key_id is None else ""

    def describe_endpoint(self) -> str:
        return redact(self.endpoint_url) if self.endpoint_url else "AWS S3"

    def __repr__(self) -> str:
        # The dataclass repr, minus keys (repr=False) and any password in the endpoint URL.
        shown = (f"{f.name}={getattr(self, f.name)!r}" for f in fields(self) if f.repr)
        return scrub(f"S3Options({', '.join(shown)})")

    def without_credentials(self) -> S3Options:
        """These options without explicit keys or token (what ``pickle_credentials=False``
        pickles)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # verify=False warned when these were made
            return replace(
                self, aws_access_key_id=None, aws_secret_access_key=None, aws_session_token=None
            )

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


def check_credentials(key_id: str | None, secret: str | None, token: str | None) -> None:
    """Refuse explicit credentials with a part missing, before any request.

    boto3's ``client()`` raises ``PartialCredentialsError`` for a key without its
    secret (or the reverse); a ``Session`` accepts them and fails at the first
    request. A session token alone, which boto3 ignores, is refused too: it would
    sign with no key.
    """
    if (key_id is None) != (secret is None):
        given, missing = (
            ("aws_access_key_id", "aws_secret_access_key")
            if secret is None
            else ("aws_secret_access_key", "aws_access_key_id")
        )
        raise PartialCredentialsError(
            f"{given} given without {missing}: pass both, or neither to use the "
            "environment or a profile"
        )
    if token is not None and key_id is None:
        raise PartialCredentialsError(
            "aws_session_token given without aws_access_key_id and aws_secret_access_key: "
            "pass all three, or none to use the environment or a profile"
        )


def log_retries(client: S3Client) -> None:
    """Log each of botocore's own retries at WARNING, as ours are (:func:`retry.log_retry`).

    botocore decides and sleeps; this handler on ``needs-retry`` asks the same
    ``standard``-mode conditions and logs, or raises instead of retrying when
    botocore's longest next backoff would not fit the operation's deadline
    (:class:`~remote_zip_store.errors.DeadlineExceededError`) or the request is
    speculative. Clients in another retry mode are left alone (their decision
    cannot be replayed here; :func:`bound_attempts` still applies).
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
        budget = deadline.current()
        # botocore's next backoff is up to 2^(n-1) s (at most 20): stop if it may not fit.
        longest = min(20.0, 2.0 ** (context.attempt_number - 1))
        if budget is not None and budget.remaining() <= longest:
            # No archive here: the source's caller adds it (and the key).
            raise budget.exceeded("a GET", None, context.attempt_number, reason)
        if retry.is_speculative():
            raise SpeculativeNotRetried(reason)  # before botocore sleeps
        url = redact(str(kwargs["request_dict"].get("url", "")))
        name = getattr(kwargs.get("operation"), "name", "request")
        retry.log_retry(url, name, context.attempt_number, attempts, reason, None)

    client.meta.events.register("needs-retry.s3", on_needs_retry)


def bound_attempts(client: S3Client) -> None:
    """Keep botocore's own attempts inside ours: the operation's deadline, and one attempt
    of a speculative request (:func:`retry.speculative`).

    A ``before-send`` handler shrinks each attempt's read timeout to the time left
    (botocore >= 1.42 reads ``read_timeout`` from the request context; an older one
    keeps the client's, and an operation may then overrun by one ``read_timeout``),
    and raises instead of sending once no time is left: botocore does not retry that
    error. The connect timeout stays the client's.
    """
    read_timeout = float(getattr(client.meta.config, "read_timeout", None) or 60)

    def on_before_send(**kwargs: Any) -> None:
        if retry.sent() > 1:
            raise SpeculativeNotRetried("a speculative request is sent once")
        budget = deadline.current()
        if budget is None:
            return
        left = budget.remaining()
        if left <= 0:
            # No archive here: the source's caller adds it (and the key).
            raise budget.exceeded("a GET", None, 0, "no time left for another attempt")
        context = getattr(kwargs.get("request"), "context", None)
        if isinstance(context, dict):
            context["read_timeout"] = max(deadline.MIN_WAIT, min(read_timeout, left))

    client.meta.events.register("before-send.s3", on_before_send)


class SpeculativeNotRetried(Exception):
    """botocore's second attempt at a speculative request (the head GET), refused."""


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


_EMITTER: Any = botocore.hooks.HierarchicalEmitter  # (its private methods are not in the stubs)


class _DeferredBuiltins(botocore.hooks.HierarchicalEmitter):
    """An event emitter that registers botocore's builtin handlers at its first use.

    A botocore session registers ~500 builtin event handlers when it is made (~10 ms
    of CPU, most of a new session's cost); resolving credentials, region and
    configuration uses none of them. They are registered here before the first event
    is emitted or handler registered (a credential provider building an STS or SSO
    client, any client of the session), so such clients see exactly what they would
    have seen.
    """

    def __init__(self) -> None:
        super().__init__()
        self._pending: Any = None  # the session whose builtins are not registered yet
        self._pending_lock = ForkSafeLock()

    def defer_to(self, session: botocore.session.Session) -> None:
        self._pending = session

    def _ensure(self) -> None:
        if self._pending is None:
            return
        with self._pending_lock:
            session, self._pending = self._pending, None
            if session is not None:
                session._register_builtin_handlers(session._events)

    def _emit(self, *args: Any, **kwargs: Any) -> Any:
        self._ensure()
        return _EMITTER._emit(self, *args, **kwargs)

    def _register_section(self, *args: Any, **kwargs: Any) -> Any:
        self._ensure()
        return _EMITTER._register_section(self, *args, **kwargs)

    def unregister(self, *args: Any, **kwargs: Any) -> Any:
        self._ensure()
        return super().unregister(*args, **kwargs)

    def __copy__(self) -> Any:
        self._ensure()
        return super().__copy__()


def credential_session(
    *,
    aws_access_key_id: str | None = None,
    aws_secret_access_key: str | None = None,
    aws_session_token: str | None = None,
    profile_name: str | None = None,
    region_name: str | None = None,
) -> botocore.session.Session:
    """A botocore session for credentials, region and configuration (the read paths
    that build no client): what :func:`new_session` resolves, set up as boto3's
    ``Session`` does, without its cost.

    The credential chain, profiles, refresh and the config file are botocore's as
    in any session; its builtin event handlers are registered only if something
    uses its events (:class:`_DeferredBuiltins`): 0.4 ms instead of 13 ms of CPU
    (measured 2026-12-07), paid by the first open of every process.
    """
    emitter = _DeferredBuiltins()
    core: Any = botocore.session.Session(event_hooks=emitter, include_builtin_handlers=False)
    emitter.defer_to(core)
    core.register_component("data_loader", _data_loader())
    if profile_name is not None:
        core.set_config_variable("profile", profile_name)
    if aws_access_key_id or aws_secret_access_key or aws_session_token:
        core.set_credentials(aws_access_key_id, aws_secret_access_key, aws_session_token)
    if region_name is not None:
        core.set_config_variable("region", region_name)
    session: botocore.session.Session = core
    return session


def _data_loader() -> botocore.loaders.Loader:
    """The process's one botocore data loader (see :func:`new_session`)."""
    global _LOADER
    with _LOADER_LOCK:
        if _LOADER is None:
            _LOADER = botocore.loaders.create_loader()
        return _LOADER


def environment_digest() -> str:
    """A digest of the ``AWS_*`` variables boto3's default chain reads (values never kept)."""
    data = getattr(os.environ, "_data", None)  # the encoded mapping (POSIX: bytes names)
    if os.name == "posix" and isinstance(data, dict):
        # Only the AWS_* items decoded (os.environ.items() decodes every name and value).
        decode = os.fsdecode
        items = sorted((decode(k), decode(v)) for k, v in data.items() if k.startswith(b"AWS_"))
    else:
        items = sorted((k, v) for k, v in os.environ.items() if k.startswith("AWS_"))
    return hashlib.sha256(repr(items).encode()).hexdigest()[:32]
