"""How failures and warnings reach the terminal: one line each, no traceback."""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING, TextIO

from ..errors import ArchiveAccessError, RemoteZipError, scrub

if TYPE_CHECKING:
    pass

from ._common import CREDENTIALS_HINT, PROG


class _OneLine(logging.Formatter):
    """``remote-zip-store: warning: ...`` on one line (a retry, a fallback)."""

    def format(self, record: logging.LogRecord) -> str:
        text = scrub(" ".join(record.getMessage().split()))  # dependencies' text too
        return f"{PROG}: {record.levelname.lower()}: {text}"


def _log_to_stderr(stream: TextIO) -> logging.Handler:
    """Print the library's WARNING records (each retry, with attempt and reason) to stderr."""
    handler = logging.StreamHandler(stream)
    handler.setLevel(logging.WARNING)
    handler.setFormatter(_OneLine())
    logger = logging.getLogger("remote_zip_store")
    logger.addHandler(handler)
    if logger.getEffectiveLevel() > logging.WARNING:
        logger.setLevel(logging.WARNING)
    return handler


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    """``warnings.showwarning`` for a command: one clean line, no source file and line."""
    text = scrub(" ".join(str(message).split()))
    print(f"{PROG}: warning: {text}", file=sys.stderr)


def _cli_terms(exc: RemoteZipError) -> str:
    """The message, with Python-argument advice replaced by the options a shell user has."""
    if isinstance(exc, ArchiveAccessError) and _caused_by(exc, _CREDENTIAL_ERRORS):
        where = f"archive {exc.archive}: " if exc.archive else ""
        return f"{where}{CREDENTIALS_HINT}"
    return str(exc)


#: botocore's exception names for "no credentials" (named, so the CLI need not import it).
_CREDENTIAL_ERRORS = frozenset({"NoCredentialsError", "PartialCredentialsError"})


def _caused_by(exc: BaseException, names: frozenset[str]) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if type(seen).__name__ in names:
            return True
        seen = seen.__cause__ or seen.__context__
    return False
