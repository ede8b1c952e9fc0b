"""A total time budget for one operation (the open, one read): no retry schedule exceeds it.

``read_timeout`` bounds one wait and ``max_attempts`` the attempts, but their product
(and the backoff) is no bound a user can rely on. The archive layer opens a
:func:`scope` around each operation; inside it, sources shrink every socket timeout
to the time left (:func:`timeouts`), :func:`.retry.run` starts no retry whose backoff
the time left cannot hold, and an exhausted budget raises
:class:`~remote_zip_store.errors.DeadlineExceededError` (a ``TimeoutError``). A context
variable carries it, so a thread doing part of the operation runs in a copied context.
"""

from __future__ import annotations

import time
from contextvars import ContextVar, Token
from dataclasses import dataclass

from ..errors import DeadlineExceededError

#: The shortest socket timeout given to an attempt (a zero would mean "non-blocking").
MIN_WAIT = 0.01


@dataclass(frozen=True, slots=True)
class Deadline:
    """``seconds`` allowed for the operation, which must end by ``at`` (``time.monotonic``)."""

    seconds: float
    at: float

    def remaining(self) -> float:
        return self.at - time.monotonic()

    def exceeded(
        self, what: str, url: str | None, attempts: int, reason: str
    ) -> DeadlineExceededError:
        """The error of an operation that ran out of time (the key is added above)."""
        tried = f"{attempts} attempt{'s' if attempts != 1 else ''}"  # url None: added above
        return DeadlineExceededError(
            f"{what} did not complete within the {self.seconds:g} s deadline "
            f"(timeout={self.seconds:g}; {tried}, last: {reason})",
            archive=url,
        )


_CURRENT: ContextVar[Deadline | None] = ContextVar("remote_zip_store_deadline", default=None)


class scope:  # lower case: used as a function, ``with deadline.scope(seconds):``
    """Run the block under a deadline of ``seconds`` from now (None: none).

    Nested scopes keep the outer deadline: an operation made of smaller ones
    (an entry read that also reads its local header) has one budget. A class,
    not a generator: it wraps every entry read.
    """

    __slots__ = ("_seconds", "_token")

    def __init__(self, seconds: float | None):
        self._seconds = seconds
        self._token: Token[Deadline | None] | None = None

    def __enter__(self) -> Deadline | None:
        outer = _CURRENT.get()
        seconds = self._seconds
        if seconds is None or outer is not None:
            return outer
        deadline = Deadline(seconds, time.monotonic() + seconds)
        self._token = _CURRENT.set(deadline)
        return deadline

    def __exit__(self, kind: object, exc: BaseException | None, traceback: object) -> None:
        token = self._token
        if token is not None:
            self._token = None
            _CURRENT.reset(token)


def current() -> Deadline | None:
    """The deadline of the operation running in this context, if any."""
    return _CURRENT.get()


def timeouts(connect: float, read: float) -> tuple[float, float] | None:
    """``(connect, read)`` socket timeouts shrunk to the time left; None without a deadline."""
    deadline = _CURRENT.get()
    if deadline is None:
        return None
    left = max(MIN_WAIT, deadline.remaining())
    return min(connect, left), min(read, left)
