"""The parsed central directory as a lookup table: name -> entry in O(1).

Records stay in compact columns (see :class:`~remote_zip_store.zipformat.Records`);
an :class:`~remote_zip_store.zipformat.Entry` is built only when a key is read.
"""

from __future__ import annotations

from array import array

import numpy as np

from .zipformat import DirectoryLocation, Entry, Records


class ZipIndex:
    """Names to records; the last central-directory entry for a name wins."""

    def __init__(self, records: Records, location: DirectoryLocation):
        self.records = records
        self.location = location
        self.span_end = _span_ends(records.header_offset, location.cd_start)
        # Later duplicates overwrite earlier ones: zarr's ZipStore appends a rewritten chunk.
        self.lookup: dict[str, int] = {
            name: i for i, name in enumerate(records.names) if not name.endswith("/")
        }

    def __len__(self) -> int:
        """Number of distinct file names (directory entries and duplicates excluded)."""
        return len(self.lookup)

    def __contains__(self, name: object) -> bool:
        return name in self.lookup

    def get(self, name: str) -> Entry | None:
        i = self.lookup.get(name)
        return None if i is None else self.entry(i)

    def entry(self, i: int) -> Entry:
        r = self.records
        return Entry(
            name=r.names[i],
            header_offset=r.header_offset[i],
            compressed_size=r.compressed_size[i],
            uncompressed_size=r.uncompressed_size[i],
            crc32=r.crc32[i],
            method=r.method[i],
            flags=r.flags[i],
            name_length=r.name_length[i],
            extra_length=r.extra_length[i],
            span_end=self.span_end[i],
        )

    def names(self) -> list[str]:
        """Distinct file names, in directory order (directory entries excluded)."""
        return list(self.lookup)


def _span_ends(offsets: array[int], cd_start: int) -> array[int]:
    """For each record, the next local header's offset (or the directory's start)."""
    count = len(offsets)
    ends = array("Q")
    if count == 0:
        return ends
    column = np.frombuffer(offsets, dtype=np.uint64)
    order = np.argsort(column, kind="stable")
    ordered = column[order]
    following = np.empty_like(ordered)
    following[:-1] = ordered[1:]
    following[-1] = cd_start
    result = np.empty_like(ordered)
    result[order] = following
    ends.frombytes(result.tobytes())
    return ends
