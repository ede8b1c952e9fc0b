"""The library's exceptions.

Every error derives from :class:`RemoteZipError` *and* from the builtin that
callers already catch (``FileNotFoundError``, ``PermissionError``,
``KeyError``, ``ValueError``, ...), so code written against
``zarr.storage.ZipStore`` keeps working while new code can catch one base.
Messages always name the archive (and the key, where there is one) and never
contain credentials.
"""

from __future__ import annotations

import re

#: A URL anywhere in a text (botocore's messages quote the endpoint URL): its user info
#: (``user:password@``) is dropped, and an http(s) URL's query (a presigned signature).
_URL = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?:[^/\s@'\"?#]*@)?"
    r"(?P<rest>[^\s'\"?#]*)(?P<query>\?[^\s'\"#]*)?"
)
#: Query parameters that carry a credential or a signature, wherever they appear (urllib3
#: quotes "url: /b/k?..." without a scheme).
_SECRET_PARAMS = re.compile(
    r"(?i)\b(X-Amz-Signature|X-Amz-Credential|X-Amz-Security-Token|Signature|AWSAccessKeyId"
    r"|password|secret)=[^&\s'\"]+"
)


def scrub(text: str) -> str:
    """``text`` with the user info and query of every URL in it, and every signature or
    credential query parameter, removed: what an error message or a log line may show.

    Applied where messages are composed (:class:`RemoteZipError`, the retry log line,
    ``repr``), so a dependency's message copied into ours cannot carry a password.
    """

    def url(match: re.Match[str]) -> str:
        web = match["scheme"].lower() in ("http://", "https://")
        return match["scheme"] + match["rest"] + ("" if web else match["query"] or "")

    text = _URL.sub(url, text)
    return _SECRET_PARAMS.sub(lambda m: f"{m[1]}=(redacted)", text)


def scrub_chain(exc: BaseException | None) -> None:
    """Scrub the text of ``exc`` and of the exceptions it chains (``__cause__``,
    ``__context__``) in place, so a printed traceback cannot show a password either.

    Called where a dependency's exception becomes this library's (the one translation
    of botocore's, urllib3's, and the retry loop's last failure).
    """
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if not isinstance(exc, RemoteZipError):
            exc.args = tuple(scrub(a) if isinstance(a, str) else a for a in exc.args)
            extra = getattr(exc, "kwargs", None)  # botocore keeps its message's fields
            if isinstance(extra, dict):
                for name, value in list(extra.items()):
                    if isinstance(value, str):
                        extra[name] = scrub(value)
        exc = exc.__cause__ or exc.__context__


class RemoteZipError(Exception):
    """Base class of every error raised by remote_zip_store.

    ``detail`` says what went wrong and nothing about where: pure code (the
    parser, decode) cannot know the archive, and a source does not know which
    key a read is for. The boundary that knows adds ``archive`` and ``key``
    (:func:`context`), and the message is composed from all three, so no layer
    formats another layer's context into its text.
    """

    def __init__(self, detail: str, *, archive: str | None = None, key: str | None = None):
        detail = scrub(detail)  # dependencies' messages are copied in: never a password
        super().__init__(detail)
        self.detail = detail
        self.archive = scrub(archive) if archive else archive
        self.key = key

    def __str__(self) -> str:
        # KeyError.__str__ would repr() the message; keep it readable everywhere.
        if self.archive is None and self.key is None:
            return self.detail
        return f"{describe(self.archive, self.key)}: {self.detail}"

    def add_context(self, archive: str | None, key: str | None = None) -> None:
        """Fill in ``archive``/``key`` where still unknown (never overwrite them)."""
        if self.archive is None:
            self.archive = scrub(archive) if archive else archive
        if self.key is None:
            self.key = key

    def __reduce__(self) -> tuple[object, ...]:
        # Exceptions cross process boundaries (dask, multiprocessing): keep attributes.
        return (_rebuild, (type(self), self.detail, self.archive, self.key))


def _rebuild(
    cls: type[RemoteZipError], detail: str, archive: str | None, key: str | None
) -> RemoteZipError:
    return cls(detail, archive=archive, key=key)


class context:  # lower case: used as a function, ``with context(url, key):``
    """The one boundary where errors learn where they happened (archive, key).

    A class, not a generator: it wraps every entry of a read and every data start
    of an export (100,000 per Icechunk export of 100 archives), where contextlib's
    generator machinery cost several times more than this.
    """

    __slots__ = ("archive", "key")

    def __init__(self, archive: str | None, key: str | None = None):
        self.archive = archive
        self.key = key

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, exc: BaseException | None, traceback: object) -> None:
        if isinstance(exc, RemoteZipError):
            exc.add_context(self.archive, self.key)


def describe(archive: str | None, key: str | None = None) -> str:
    """``"archive s3://b/k"`` or ``"key 'x' in archive s3://b/k"`` for messages."""
    where = f"archive {archive}" if archive else "archive"
    return f"key {key!r} in {where}" if key is not None else where


# -- the archive itself (transport / object level) ---------------------------------


class SourceError(RemoteZipError, OSError):
    """The archive could not be read (network, server or file-system failure)."""


class ArchiveNotFoundError(SourceError, FileNotFoundError):
    """The object (or bucket, or local file) does not exist."""


class ArchiveAccessError(SourceError, PermissionError):
    """Access denied: missing or wrong credentials, or no permission on the object."""


class ArchiveChangedError(SourceError):
    """The object was replaced after the store opened it.

    The store pins the ETag (and VersionId on versioned buckets) it saw at open;
    it never mixes bytes of two versions. Open a new store to read the new object.
    """


class DeadlineExceededError(SourceError, TimeoutError):
    """An operation (the open, one read) ran out of its ``timeout``: the request in flight
    was abandoned and no retry started that the deadline could not hold."""


class PartialCredentialsError(RemoteZipError, ValueError):
    """Only one of ``aws_access_key_id``/``aws_secret_access_key`` was given (as boto3's
    ``client()`` refuses): raised when the options are built, before any request."""


class InvalidURLError(RemoteZipError, ValueError):
    """The URL is malformed or its scheme is not supported (``s3://``, ``http(s)://``, a path)."""


# -- the zip format -----------------------------------------------------------------


class BadArchiveError(RemoteZipError, ValueError):
    """The object is not a zip archive, or its structure is corrupt."""


class CorruptEntryError(BadArchiveError):
    """An entry's bytes fail a check (CRC-32, size, local header); nothing is returned."""


class UnsupportedArchiveError(RemoteZipError, NotImplementedError):
    """A valid zip feature this library does not read (multi-disk, encryption, a method)."""


# -- the store ----------------------------------------------------------------------


class KeyNotFoundError(RemoteZipError, KeyError):
    """The key is not in the archive (zarr treats this as 'absent')."""


class StoreClosedError(RemoteZipError, ValueError):
    """The store was closed; ``zarr.storage.ZipStore`` raises ``ValueError`` here too."""


# -- writing ------------------------------------------------------------------------


class ArchiveExistsError(SourceError, FileExistsError):
    """Mode ``"w-"``: an object (or file) already exists under the key; it is left unchanged."""


class InvalidKeyError(RemoteZipError, ValueError):
    """The key cannot be a zip entry name (empty, absolute, ``..``, NUL, not UTF-8...)."""


class InvalidValueError(RemoteZipError, TypeError):
    """The value to write is not bytes-like (``bytes``, ``bytearray``, a contiguous buffer)."""


class DuplicateEntryError(RemoteZipError, ValueError):
    """The writer already wrote an entry with this name (``duplicates="error"``)."""


class LayoutError(RemoteZipError, ValueError):
    """The hierarchy cannot be written in the requested layout.

    ``.ozx`` (OME-Zarr RFC-9) holds one zarr v3 hierarchy with its ``zarr.json`` at
    the archive root: zarr v2 metadata, a ``zarr.json`` that is not zarr v3, or
    no root ``zarr.json`` are refused before the archive appears.
    """


class WriterClosedError(StoreClosedError):
    """The writer was closed or aborted; nothing more can be written to it."""


class ChunkNotReadableError(RemoteZipError, OSError):
    """A chunk already streamed out cannot be read back from a write store.

    Deliberately not a ``KeyError``: zarr would take the chunk for missing and
    silently rebuild it from the fill value on a partial chunk update.
    """


class MissingKeyError(KeyNotFoundError, FileNotFoundError):
    """A key that is not in the archive where zarr 3 expects ``FileNotFoundError``
    (``getsize``, ``get_ranges``); also a ``KeyError`` like the zarr-2 store's."""


class ReadOnlyStoreError(RemoteZipError, ValueError, PermissionError):
    """A write to a read-only store.

    zarr 3 raises ``ValueError`` for writes to a read-only store; it is also a
    ``PermissionError``, as zarr 2's ``ReadOnlyError`` is, so code written for
    either keeps catching it. The zarr-2 front end raises its subclass that is
    also zarr 2's ``ReadOnlyError`` (it cannot be defined here without zarr).
    """


class ZarrFormatWarning(UserWarning):
    """The archive holds a zarr format the installed zarr-python cannot read (format 3
    under zarr 2): the store still serves its keys, zarr finds no hierarchy in them."""
