"""remote-zip-store: a zarr v2 store over a zip archive in S3-compatible storage.

>>> import zarr
>>> from remote_zip_store import RemoteZipStore
>>> store = RemoteZipStore("s3://bucket/recording.zarr.zip", endpoint_url="https://minio:9000")
>>> root = zarr.open(store, mode="r")

The names below load on first use (module ``__getattr__``): ``import
remote_zip_store`` imports neither zarr nor boto3, so the command line and the
core stay quick to start.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .archive import ReadOptions, ZipArchive
    from .errors import (
        ArchiveAccessError,
        ArchiveChangedError,
        ArchiveNotFoundError,
        BadArchiveError,
        CorruptEntryError,
        InvalidURLError,
        KeyNotFoundError,
        RemoteZipError,
        SourceError,
        StoreClosedError,
        UnsupportedArchiveError,
    )
    from .many import open_many
    from .sources import HTTPSource, LocalSource, S3Options, S3Source, Source
    from .store import ReadOnlyStoreError, RemoteZipStore

#: Public name -> the module that defines it.
_LAZY = {
    "ReadOptions": "archive",
    "ZipArchive": "archive",
    "ArchiveAccessError": "errors",
    "ArchiveChangedError": "errors",
    "ArchiveNotFoundError": "errors",
    "BadArchiveError": "errors",
    "CorruptEntryError": "errors",
    "InvalidURLError": "errors",
    "KeyNotFoundError": "errors",
    "RemoteZipError": "errors",
    "SourceError": "errors",
    "StoreClosedError": "errors",
    "UnsupportedArchiveError": "errors",
    "open_many": "many",
    "HTTPSource": "sources",
    "LocalSource": "sources",
    "S3Options": "sources",
    "S3Source": "sources",
    "Source": "sources",
    "ReadOnlyStoreError": "store",
    "RemoteZipStore": "store",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # resolved once
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


__all__ = [
    "ArchiveAccessError",
    "ArchiveChangedError",
    "ArchiveNotFoundError",
    "BadArchiveError",
    "CorruptEntryError",
    "HTTPSource",
    "InvalidURLError",
    "KeyNotFoundError",
    "LocalSource",
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
    "ZipArchive",
    "__version__",
    "open_many",
]
