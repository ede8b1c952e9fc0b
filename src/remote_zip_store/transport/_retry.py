"""The one retry loop and backoff formula of every source, and the log line of each retry.

A source runs one attempt as a function that either returns the bytes or
raises :class:`Retry` (a transient failure: a reset, a short body, a 503, a
timeout); anything else propagates at once. Each retry is logged at WARNING on
the ``remote_zip_store`` logger (attempt, maximum, URL without credentials,
reason), so a user waiting on a slow or failing endpoint sees why.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TypeVar

from ..errors import SourceError, scrub, scrub_chain
from . import _deadline as deadline

T = TypeVar("T")

logger = logging.getLogger("remote_zip_store")


class Retry(Exception):
    """One attempt failed in a way another attempt may not: ``reason`` says how.

    ``budget`` names the attempt counter it draws on: ``"body"`` for failures
    while streaming a body (S3's ``body_retries``), ``"status"`` otherwise.
    """

    def __init__(self, reason: str, *, budget: str = "status"):
        reason = scrub(reason)  # often a dependency's message, which may quote a URL
        super().__init__(reason)
        self.reason = reason
        self.budget = budget


#: Inside :func:`speculative`: how many times the request has been sent (a one-item list).
_SPECULATIVE: ContextVar[list[int] | None] = ContextVar(
    "remote_zip_store_speculative", default=None
)


@contextmanager
def speculative() -> Iterator[None]:
    """A request whose failure only drops an optimisation (the head GET): one attempt.

    Sources do not retry it; on the botocore path a ``before-send`` handler refuses
    botocore's second attempt (:func:`sent`), and nothing is logged above DEBUG.
    """
    token = _SPECULATIVE.set([0])
    try:
        yield
    finally:
        _SPECULATIVE.reset(token)


def is_speculative() -> bool:
    """Whether the request being made is inside :func:`speculative`."""
    return _SPECULATIVE.get() is not None


def sent() -> int:
    """Count one sending of the current request; its number inside :func:`speculative`, else 0."""
    state = _SPECULATIVE.get()
    if state is None:
        return 0
    state[0] += 1
    return state[0]


def delay(attempt: int, backoff: float) -> float:
    """Seconds before retry number ``attempt`` (1, 2, ...): jittered exponential backoff."""
    return float(backoff * (2 ** (attempt - 1)) * (0.5 + random.random()))


def log_retry(
    url: str, what: str, attempt: int, attempts: int, reason: str, wait: float | None
) -> None:
    """The WARNING record of one retry, never with credentials: the URL and the reason (a
    dependency's message, which may quote the endpoint URL) are scrubbed here.

    ``wait`` is None where another layer (botocore) picks the delay. Inside
    :func:`speculative` it is a DEBUG record: that request is not really retried.
    """
    logger.log(
        logging.DEBUG if _SPECULATIVE.get() is not None else logging.WARNING,
        "%s: %s failed on attempt %d of %d (%s); retrying%s",
        scrub(url),
        what,
        attempt,
        attempts,
        scrub(reason),
        "" if wait is None else f" in {wait:.2f} s",
    )


class _Schedule:
    """The attempt budgets of one retried request and what each failure leaves of them."""

    __slots__ = ("budget", "limits", "url", "used", "what")

    def __init__(
        self,
        url: str,
        what: str | Callable[[], str],
        attempts: int,
        body_attempts: int | None,
    ):
        body = attempts if body_attempts is None else body_attempts
        self.url = url
        self.what = what
        self.limits = {"status": max(1, attempts), "body": max(1, body)}
        self.used = {"status": 0, "body": 0}
        self.budget = deadline.current()
        if self.budget is not None and self.budget.remaining() <= 0:  # an earlier step used it
            raise self.budget.exceeded(_said(what), url, 0, "no time left for a first attempt")

    def failed(self, problem: Retry, backoff: float) -> float:
        """The seconds to wait before the next attempt (logged); raises when there is none."""
        used, url, what, budget = self.used, self.url, self.what, self.budget
        used[problem.budget] += 1
        limit = self.limits[problem.budget]
        tried = sum(used.values())
        if budget is not None and budget.remaining() <= 0:
            raise budget.exceeded(_said(what), url, tried, problem.reason) from problem
        if used[problem.budget] >= limit:
            scrub_chain(problem)  # the traceback shows the chained dependency errors
            tries = used[problem.budget]
            raise SourceError(
                f"{_said(what)} failed after {tries} attempts ({problem.reason})", archive=url
            ) from problem
        wait = delay(tried, backoff)
        if budget is not None and budget.remaining() <= wait + deadline.MIN_WAIT:
            # The backoff alone would reach the deadline: stop now, not after it.
            raise budget.exceeded(_said(what), url, tried, problem.reason) from problem
        log_retry(url, _said(what), used[problem.budget], limit, problem.reason, wait)
        return wait


def run(
    attempt: Callable[[], T],
    *,
    url: str,
    what: str | Callable[[], str],
    attempts: int,
    backoff: float,
    body_attempts: int | None = None,
) -> T:
    """``attempt()`` until it returns; each :class:`Retry` costs one of its budget's attempts.

    ``attempts`` bounds the ``"status"`` budget, ``body_attempts`` (default: the
    same) the ``"body"`` one. When a budget runs out, a :class:`SourceError`
    naming ``what``, the attempt count and the last reason is raised; when the
    operation's deadline (:mod:`.deadline`) has passed, or the next backoff would
    reach it, a :class:`~remote_zip_store.errors.DeadlineExceededError`. ``what`` may be
    a function that says it: called only for such an error or a log line (the request
    URL a source names costs more than a successful read's whole retry loop).
    """
    schedule = _Schedule(url, what, attempts, body_attempts)
    while True:
        try:
            return attempt()
        except Retry as problem:
            time.sleep(schedule.failed(problem, backoff))


async def run_async(
    attempt: Callable[[], Awaitable[T]],
    *,
    url: str,
    what: str | Callable[[], str],
    attempts: int,
    backoff: float,
    body_attempts: int | None = None,
) -> T:
    """:func:`run` on an event loop: ``await attempt()``, the backoff an ``asyncio.sleep``.

    The same budgets, deadline, errors and log lines as :func:`run` (one schedule).
    """
    schedule = _Schedule(url, what, attempts, body_attempts)
    while True:
        try:
            return await attempt()
        except Retry as problem:
            await asyncio.sleep(schedule.failed(problem, backoff))


def _said(what: str | Callable[[], str]) -> str:
    return what if isinstance(what, str) else what()
