"""Layer 1, the zip format: bytes in, records out, no I/O (fuzzable).

``_parse`` locates and parses the end records and the central directory, ``_index``
maps names to records, ``_listing`` answers sorted-key listings, ``_planner``
coalesces byte ranges, ``_decode`` turns an entry's stored bytes into its contents,
``_encode`` writes records and ``_conventions`` reads and writes the single-file
OME-Zarr (RFC-9) comment. Nothing here imports zarr, a transport or a thread.
The names below are its API; the modules are private.
"""

from ._conventions import OzxInfo, is_ozx_name, json_first_key, ozx_comment, parse_ozx_comment
from ._index import ZipIndex
from ._parse import Entry, NeedMoreBytes, locate_directory, parse_central_directory

__all__ = [
    "Entry",
    "NeedMoreBytes",
    "OzxInfo",
    "ZipIndex",
    "is_ozx_name",
    "json_first_key",
    "locate_directory",
    "ozx_comment",
    "parse_central_directory",
    "parse_ozx_comment",
]
