"""Where a zarr hierarchy starts inside a zip: given, or a lone top-level folder."""

from __future__ import annotations

import os

from ..archive._reader import ZipArchive
from ..errors import KeyNotFoundError
from ..zipfmt._index import ZipIndex
from ._names import ROOT_MARKERS, ZARR_V2_MARKERS, ZARR_V3_METADATA

#: What a zarr-2 reader is told about a format-3 hierarchy (zarr 2 finds "nothing" there).
FORMAT_3_UNDER_ZARR_2 = (
    "the hierarchy is zarr format 3 (zarr.json at its root), which zarr-python 2 cannot "
    "read: zarr >= 3 (Python >= 3.11) reads it"
)


def normalize_path(path: str | None) -> str:
    """A storage path as zarr writes it: ``/`` separators, no leading/trailing/double ``/``."""
    if not path:
        return ""
    parts = [part for part in path.replace("\\", "/").split("/") if part]
    if any(part in (".", "..") for part in parts):
        raise ValueError("path containing '.' or '..' segment not allowed")
    return "/".join(parts)


def detect_root(index: ZipIndex) -> str:
    """The single top-level folder holding zarr metadata (v2 or v3), else ``""``.

    ``zip -r x.zip data.zarr`` puts everything under ``data.zarr/``; a reader
    should not have to say so. Only the smallest and largest names are looked at.
    """
    bounds = index.name_bounds()
    if bounds is None:
        return ""
    # Every name starts with the common prefix of the smallest and the largest
    # (character-wise on purpose: "/" is looked for in it next).
    common = os.path.commonprefix(list(bounds))  # noqa: RUF071
    top, sep, _ = common.partition("/")
    if not sep:
        return ""  # a top-level file, or more than one top-level folder
    if any(f"{top}/{marker}" in index for marker in ROOT_MARKERS):
        return top
    return ""


def resolve_root(archive: ZipArchive, root: str | None) -> str:
    """``root`` normalized (detected when None); an error when nothing lies under it."""
    if root is None:
        return detect_root(archive.index)
    chosen = normalize_path(root)
    if chosen and not archive.index.any_under(chosen + "/"):
        raise KeyNotFoundError(f"no entries under root {chosen!r}", archive=archive.url, key=chosen)
    return chosen


def stored_format(index: ZipIndex, root: str) -> int | None:
    """The zarr format at ``root``: 2 (``.zgroup``/``.zarray``/``.zmetadata``), 3
    (``zarr.json`` only), None when neither is there."""
    prefix = root + "/" if root else ""
    if any(prefix + marker in index for marker in ZARR_V2_MARKERS):
        return 2
    if prefix + ZARR_V3_METADATA in index:
        return 3
    return None
