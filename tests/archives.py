"""Builders for test archives: zip bytes from a dict, and zarr hierarchies in a zip."""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Callable, Mapping
from typing import Any

from .worlds import group, one_write_at_a_time, zip_store


def make_zip(
    entries: Mapping[str, bytes],
    *,
    compression: int = zipfile.ZIP_STORED,
    compresslevel: int | None = None,
    comment: bytes = b"",
    prefix: bytes = b"",
) -> bytes:
    """A zip written by CPython's zipfile, optionally with data prepended (like an SFX)."""
    buf = io.BytesIO()
    buf.write(prefix)
    with zipfile.ZipFile(
        buf, "a" if prefix else "w", compression, compresslevel=compresslevel
    ) as z:
        for name, data in entries.items():
            z.writestr(name, data)
        z.comment = comment
    return buf.getvalue()


def make_zarr_zip(
    path: str | os.PathLike[str],
    build: Callable[[Any], None],
    *,
    compression: int = zipfile.ZIP_STORED,
) -> bytes:
    """Write a hierarchy with zarr's own ZipStore (``build(root_group)``); return the bytes.

    Chunks are written one at a time, so they lie in the zip in chunk order under both
    zarrs (zarr 3 writes concurrently, in completion order: tests that count coalesced
    GETs would depend on the schedule).
    """
    path = os.fspath(path)
    if os.path.exists(path):
        os.remove(path)
    with one_write_at_a_time(), zip_store(path, mode="w", compression=compression) as store:
        build(group(store))
    with open(path, "rb") as f:
        return f.read()


def read_all_with_zipfile(data: bytes) -> dict[str, bytes]:
    """The reference: every name's bytes as CPython's zipfile reads them (last one wins)."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {info.filename: z.read(info) for info in z.infolist() if not info.is_dir()}
