"""remote-zip-store: a zarr v2 store over a zip archive in S3-compatible storage.

>>> import zarr
>>> from remote_zip_store import RemoteZipStore
>>> store = RemoteZipStore("s3://bucket/recording.zarr.zip", endpoint_url="https://minio:9000")
>>> root = zarr.open(store, mode="r")
"""

from __future__ import annotations

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
from .sources import HTTPSource, LocalSource, S3Options, S3Source, Source
from .store import ReadOnlyStoreError, RemoteZipStore

__version__ = "0.1.0"

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
]
