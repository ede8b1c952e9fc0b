"""remote-zip-store: a read-only zarr store over a zip archive in S3-compatible storage.

>>> import zarr
>>> from remote_zip_store import RemoteZipStore
>>> store = RemoteZipStore("s3://bucket/recording.zarr.zip", endpoint_url="https://minio:9000")
>>> root = zarr.open(store, mode="r")

The names below load on first use (module ``__getattr__``): ``import
remote_zip_store`` imports neither zarr nor boto3, so the command line and the
core stay quick to start. ``RemoteZipStore`` and ``ReadOnlyStoreError`` are the
zarr-python 3 front end (:mod:`.zarr3`) when the installed zarr is 3 or later,
the zarr-2 one (:mod:`.store`) under zarr 2.18; the choice is made at first access.
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
    from .writestore import ChunkNotReadableError, ZipWriteStore
    from .zipwrite import WriteOptions

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
    "ReadOnlyStoreError": "",  # the zarr front end (zarr_front_end())
    "RemoteZipStore": "",
    "ChunkNotReadableError": "writecore",
    "ZipWriteStore": "write",  # writestore (zarr 2) or zarr3write (zarr 3)
    "WriteOptions": "zipwrite",
}


def zarr_front_end() -> str:
    """The front-end module for the installed zarr: ``"zarr3"`` (zarr >= 3) or ``"store"``."""
    import zarr

    major = str(getattr(zarr, "__version__", "2")).split(".", 1)[0]
    return "zarr3" if major.isdigit() and int(major) >= 3 else "store"


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if not module:
        module = zarr_front_end()
    elif module == "write":
        module = "zarr3write" if zarr_front_end() == "zarr3" else "writestore"
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
    "ChunkNotReadableError",
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
    "WriteOptions",
    "ZipArchive",
    "ZipWriteStore",
    "__version__",
    "open_many",
]
