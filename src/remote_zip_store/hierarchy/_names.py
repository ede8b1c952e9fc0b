"""zarr's file names, formats 2 and 3, as plain strings: what the layers below are told.

The archive layer sizes its first GET with :data:`OPEN_PROFILE` (metadata is worth
having in the head; a consolidated ``.zmetadata`` before the directory answers every
metadata read), without knowing what zarr is.
"""

from __future__ import annotations

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
