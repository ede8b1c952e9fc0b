"""remote-zip-store: zarr stores (zarr-python 2 and 3) over a zip archive in S3, HTTP(S) or on disk.

>>> import zarr
>>> from remote_zip_store import RemoteZipStore
>>> store = RemoteZipStore("s3://bucket/recording.zarr.zip", endpoint_url="https://minio:9000")
>>> root = zarr.open_group(store, mode="r")

The package root is the face of the package; the layers below it, in the order
their dependencies point, are ``zipfmt`` (the pure zip format), ``transport``
(byte sources and sinks), ``archive`` (one zip over a transport, no zarr),
``hierarchy`` (zarr knowledge without importing zarr), ``zarr2`` and ``zarr3``
(the front ends), ``verbs`` (``open_many``, ``scan``, ``pack``...) and ``cli``.

The names below load on first use (module ``__getattr__``): ``import
remote_zip_store`` imports neither zarr nor boto3. ``RemoteZipStore``,
``ZipWriteStore`` and ``ReadOnlyStoreError`` are those of the installed zarr's
front end (:mod:`.zarr3` under zarr >= 3, :mod:`.zarr2` under zarr 2.18).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import _lazy, _legacy

__version__ = "0.1.0"

_legacy.install()

if TYPE_CHECKING:
    from .archive._reader import ReadOptions, ZipArchive
    from .archive._writer import WriteOptions
    from .errors import (
        ArchiveAccessError,
        ArchiveChangedError,
        ArchiveNotFoundError,
        BadArchiveError,
        ChunkNotReadableError,
        CorruptEntryError,
        DeadlineExceededError,
        InvalidURLError,
        KeyNotFoundError,
        PartialCredentialsError,
        RemoteZipError,
        SourceError,
        StoreClosedError,
        UnsupportedArchiveError,
    )
    from .transport import HTTPSource, LocalSource, S3Options, S3Source, Source
    from .verbs._many import open_many
    from .zarr2._store import ReadOnlyStoreError, RemoteZipStore
    from .zarr2._write import ZipWriteStore

#: Public name -> the module that defines it.
_LAZY = {
    "ReadOptions": "archive._reader",
    "ZipArchive": "archive._reader",
    "ArchiveAccessError": "errors",
    "ArchiveChangedError": "errors",
    "ArchiveNotFoundError": "errors",
    "BadArchiveError": "errors",
    "ChunkNotReadableError": "errors",
    "CorruptEntryError": "errors",
    "DeadlineExceededError": "errors",
    "InvalidURLError": "errors",
    "KeyNotFoundError": "errors",
    "PartialCredentialsError": "errors",
    "RemoteZipError": "errors",
    "SourceError": "errors",
    "StoreClosedError": "errors",
    "UnsupportedArchiveError": "errors",
    "open_many": "verbs._many",
    "HTTPSource": "transport",
    "LocalSource": "transport",
    "S3Options": "transport",
    "S3Source": "transport",
    "Source": "transport",
    "ReadOnlyStoreError": "store",  # the installed zarr's front end (verbs._frontends)
    "RemoteZipStore": "store",
    "ZipWriteStore": "write",
    "WriteOptions": "archive._writer",
}


def zarr_front_end() -> str:
    """The front-end package for the installed zarr: ``"zarr3"`` (zarr >= 3) or ``"zarr2"``."""
    from .verbs._frontends import front_end

    return front_end()


def _module(listed: str) -> str:
    """``store``/``write`` are the installed zarr's front end's; the rest as listed."""
    return f"{zarr_front_end()}._{listed}" if listed in ("store", "write") else listed


__getattr__, __dir__ = _lazy.lazy_names(__name__, _LAZY, globals(), _module)

__all__ = [
    "ArchiveAccessError",
    "ArchiveChangedError",
    "ArchiveNotFoundError",
    "BadArchiveError",
    "ChunkNotReadableError",
    "CorruptEntryError",
    "DeadlineExceededError",
    "HTTPSource",
    "InvalidURLError",
    "KeyNotFoundError",
    "LocalSource",
    "PartialCredentialsError",
    "ReadOnlyStoreError",
    "ReadOptions",
    "RemoteZipError",
    "RemoteZipStore",
    "S3Options",
    "S3Source",
    "Source",
    "SourceError",
    "StoreClosedError",
    "UnsupportedArchiveError",
    "WriteOptions",
    "ZipArchive",
    "ZipWriteStore",
    "__version__",
    "open_many",
]
