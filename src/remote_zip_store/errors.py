"""The library's exceptions.

Every error derives from :class:`RemoteZipError` *and* from the builtin that
callers already catch (``FileNotFoundError``, ``PermissionError``,
``KeyError``, ``ValueError``, ...), so code written against
``zarr.storage.ZipStore`` keeps working while new code can catch one base.
Messages always name the archive (and the key, where there is one) and never
contain credentials.
"""

from __future__ import annotations

import zarr.errors


class RemoteZipError(Exception):
    """Base class of every error raised by remote_zip_store."""

    def __init__(self, message: str, *, archive: str | None = None, key: str | None = None):
        super().__init__(message)
        self.archive = archive
        self.key = key

    def __str__(self) -> str:
        # KeyError.__str__ would repr() the message; keep it readable everywhere.
        return str(self.args[0]) if self.args else ""

    def __reduce__(self) -> tuple[object, ...]:
        # Exceptions cross process boundaries (dask, multiprocessing): keep attributes.
        return (_rebuild, (type(self), str(self), self.archive, self.key))


def _rebuild(
    cls: type[RemoteZipError], message: str, archive: str | None, key: str | None
) -> RemoteZipError:
    return cls(message, archive=archive, key=key)


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


class ReadOnlyStoreError(RemoteZipError, zarr.errors.ReadOnlyError):  # type: ignore[misc]
    """The store is read-only; zarr's own ``ReadOnlyError`` (a ``PermissionError``)."""

    def __init__(self, message: str, *, archive: str | None = None, key: str | None = None):
        # zarr's ReadOnlyError.__init__ takes no message: skip it in the MRO.
        PermissionError.__init__(self, message)
        self.archive = archive
        self.key = key


class StoreClosedError(RemoteZipError, ValueError):
    """The store was closed; ``zarr.storage.ZipStore`` raises ``ValueError`` here too."""
