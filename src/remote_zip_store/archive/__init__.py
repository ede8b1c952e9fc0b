"""Layer 3, the archive: reads and writes one zip over a transport; knows no zarr.

``_reader.ZipArchive`` opens a directory with one round trip and serves entries
(``_readahead``, ``_indexcache`` and ``_cohort`` are its per-process helpers);
``_writer.ZipWriter`` streams entries to a sink and writes the directory last;
``_catalog`` is the cohort catalog's format (many archives' directories in one
object; imported on demand, it needs numpy). What the archive needs from above
(which entries are worth keeping in the first GET, where an array's bytes end) comes
in as plain values. The names below are its API; the modules are private.
"""

from ._reader import ReadOptions, ZipArchive
from ._writer import WriteOptions, ZipWriter

__all__ = ["ReadOptions", "WriteOptions", "ZipArchive", "ZipWriter"]
