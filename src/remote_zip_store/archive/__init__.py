"""Layer 3, the archive: reads and writes one zip over a transport; knows no zarr.

``reader.ZipArchive`` opens a directory with one round trip and serves entries
(``readahead``, ``indexcache`` and ``cohort`` are its per-process helpers);
``writer.ZipWriter`` streams entries to a sink and writes the directory last.
What the archive needs from above (which entries are worth keeping in the first
GET, where an array's bytes end) comes in as plain values.
"""

from .reader import ReadOptions, ZipArchive
from .writer import WriteOptions, ZipWriter

__all__ = ["ReadOptions", "WriteOptions", "ZipArchive", "ZipWriter"]
