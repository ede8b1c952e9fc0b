"""zarr's file names, formats 2 and 3, as plain strings: what the layers below are told.

The archive layer sizes its first GET with :data:`OPEN_PROFILE` (metadata is worth
having in the head; a consolidated ``.zmetadata`` before the directory answers every
metadata read), without knowing what zarr is.
"""

from __future__ import annotations

import re

from ..archive._cohort import OpenProfile

#: Files whose presence marks the root of a zarr v2 hierarchy.
ZARR_V2_MARKERS = (".zgroup", ".zarray", ".zmetadata")
#: Zarr v3 metadata: one ``zarr.json`` per group and array.
ZARR_V3_METADATA = "zarr.json"
#: Files whose presence marks a hierarchy's root (either version).
ROOT_MARKERS = (*ZARR_V2_MARKERS, ZARR_V3_METADATA)
#: Zarr v2's consolidated metadata (the whole hierarchy in one JSON document).
CONSOLIDATED = ".zmetadata"
#: Zarr v2's attributes document (format 3 keeps attributes inside ``zarr.json``).
ZATTRS = ".zattrs"
#: Every zarr metadata file name (v2 and v3); all of them hold JSON.
METADATA_FILES = (".zgroup", ".zarray", ZATTRS, CONSOLIDATED, ZARR_V3_METADATA)
#: Files that mark an array (its chunks live in the folder beside it).
ARRAY_MARKERS = (".zarray", ZARR_V3_METADATA)

#: What the archive's first GET is sized for (archive._cohort).
OPEN_PROFILE = OpenProfile(head_names=METADATA_FILES, tail_names=(CONSOLIDATED,))


def is_metadata(name: str) -> bool:
    """Whether the entry ``name`` is a zarr metadata file (``a/b/.zarray``, ``zarr.json``)."""
    return name.rpartition("/")[2] in METADATA_FILES


_DIGITS = re.compile(r"(\d+)")


def key_order(name: str) -> tuple[tuple[str | int, ...], str]:
    """Sort key putting chunk keys in the order zarr reads them: their numbers as numbers.

    ``c/5/9`` before ``c/5/10`` (a plain sort puts ``c/5/10`` .. ``c/5/109`` first), and
    ``5.9`` before ``5.10`` (zarr 2's separator): C order of the chunk grid, the order
    zarr asks for an array's chunks. Other names sort the same way (``ch2`` before
    ``ch10``); the name itself breaks ties (``a01`` and ``a1``).
    """
    parts = _DIGITS.split(name)  # text at even positions, digits at odd: comparable
    return tuple(int(p) if i % 2 else p for i, p in enumerate(parts)), name
