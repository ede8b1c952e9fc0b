"""Zip builders for the zarr-3 tests (zipfile and zarr 3's own ZipStore)."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import zarr
from zarr.storage import ZipStore


def make_zip(entries: Mapping[str, bytes], *, compression: int = zipfile.ZIP_STORED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return buf.getvalue()


def write_hierarchy(
    path: Path, build: Callable[[Any], None], *, zarr_format: int = 3, consolidated: bool = False
) -> bytes:
    """A hierarchy written by zarr 3 through its own ZipStore; the zip's bytes."""
    with ZipStore(path, mode="w") as store:
        build(zarr.open_group(store, mode="w", zarr_format=zarr_format))
        if consolidated:
            zarr.consolidate_metadata(store)
    return path.read_bytes()
