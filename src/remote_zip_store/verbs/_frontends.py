"""The front end of the installed zarr: the one dispatch the verbs and the package use.

``open_many``, ``scan``, ``bench``, ``demo`` and ``remote_zip_store.RemoteZipStore``
serve whichever zarr major is installed, so they ask here instead of importing
a front end by name (importing ``zarr2._store`` under zarr 3 fails).
"""

from __future__ import annotations

import importlib
from typing import Any

_PACKAGE = __name__.rpartition(".")[0].rpartition(".")[0]


def zarr_major() -> int:
    """The installed zarr's major version (2 or 3 and later)."""
    import zarr

    major = str(getattr(zarr, "__version__", "2")).split(".", 1)[0]
    return int(major) if major.isdigit() else 2


def front_end() -> str:
    """``"zarr3"`` under zarr >= 3, else ``"zarr2"``: the package holding the stores."""
    return "zarr3" if zarr_major() >= 3 else "zarr2"


def store_class() -> Any:
    """``RemoteZipStore`` of the installed zarr's front end."""
    return importlib.import_module(f"{_PACKAGE}.{front_end()}._store").RemoteZipStore


def write_store_class() -> Any:
    """``ZipWriteStore`` of the installed zarr's front end."""
    return importlib.import_module(f"{_PACKAGE}.{front_end()}._write").ZipWriteStore
