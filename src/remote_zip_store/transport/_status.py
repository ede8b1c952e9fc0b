"""One table from an HTTP status (or an S3 error code) to this library's errors.

S3 (through a botocore ``ClientError``'s status and code) and plain HTTP both
end here, so a 404 reads the same whichever transport saw it, and "the object
changed" is written once.
"""

from __future__ import annotations

from ..errors import (
    ArchiveAccessError,
    ArchiveChangedError,
    ArchiveNotFoundError,
    SourceError,
)

#: Statuses worth another attempt (throttling, server trouble).
RETRY_STATUS = frozenset({429, 500, 502, 503, 504})

#: S3 error codes worth another attempt whatever their status (botocore's "standard" mode's).
RETRY_CODES = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "RequestThrottled",
        "RequestTimeout",
        "PriorRequestNotComplete",
        "InternalError",
    }
)

#: S3 error codes whose status a server may get wrong (or a HEAD reports without a body).
CODE_STATUS = {
    "NoSuchKey": 404,
    "NoSuchBucket": 404,
    "NotFound": 404,
    "NoSuchVersion": 404,
    "AccessDenied": 403,
    "InvalidAccessKeyId": 403,
    "SignatureDoesNotMatch": 403,
    "InvalidToken": 403,
    "ExpiredToken": 403,
    "AllAccessDisabled": 403,
    "AccountProblem": 403,
    "PreconditionFailed": 412,
}

CHANGED = "the object changed since the store opened it"
_CHANGED_ADVICE = "open a new store to read the new version"

_TABLE: dict[int, tuple[type[SourceError], str]] = {
    401: (ArchiveAccessError, "access denied"),
    403: (ArchiveAccessError, "access denied"),
    404: (ArchiveNotFoundError, "object not found"),
    410: (ArchiveNotFoundError, "object not found"),
    412: (ArchiveChangedError, CHANGED),
}

#: Codes that say more than their status: a missing bucket is not a missing object.
_CODE_TEXT = {"NoSuchBucket": "bucket not found"}


def changed(archive: str, why: str = "") -> ArchiveChangedError:
    """The error for a replaced object; ``why`` says how it was noticed (ETag, size...)."""
    return ArchiveChangedError(
        f"{CHANGED}{f' ({why})' if why else ''}; {_CHANGED_ADVICE}", archive=archive
    )


def error_for_status(
    status: int | None, archive: str, *, code: str = "", reason: str = "", hint: str = ""
) -> SourceError:
    """The error for an answer with ``status`` (and S3 ``code``); ``reason`` is the server's."""
    canonical = CODE_STATUS.get(code, status)
    said = " ".join(str(part) for part in (status and f"HTTP {status}", code, reason) if part)
    if canonical in _TABLE:
        cls, what = _TABLE[canonical]
        what = _CODE_TEXT.get(code, what)
        if cls is ArchiveChangedError:
            return changed(archive, said)
        return cls(f"{what} ({said}){'; ' + hint if hint else ''}", archive=archive)
    return SourceError(f"server answered {said}", archive=archive)
