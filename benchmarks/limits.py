"""The physical limit of a read on a simulated link: what no client can beat.

Reusable by any benchmark: give :func:`physical_limit` the entries each archive must
yield and the link condition.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from pathlib import Path

from benchmarks.archives import Archive
from remote_zip_store import LocalSource, ZipArchive
from remote_zip_store.testing.netsim import Condition
from remote_zip_store.zipfmt._index import ZipIndex
from remote_zip_store.zipfmt._parse import data_end, span

_INDEXES: dict[Path, ZipIndex] = {}


def index_of(archive: Archive) -> ZipIndex:
    """The archive's directory, parsed once per process (local file, no network)."""
    if archive.path not in _INDEXES:
        with contextlib.closing(ZipArchive(LocalSource(archive.path))) as zip_archive:
            _INDEXES[archive.path] = zip_archive.open().index
    return _INDEXES[archive.path]


Need = str | tuple[str, int]
"""An entry read whole (its name), or a part of one: ``(name, bytes of its data)``."""


def physical_limit(
    needs: Iterable[tuple[Archive, Iterable[Need]]], condition: Condition, *, unzipped: bool = False
) -> tuple[float, int, int]:
    """``(seconds, round trips, bytes)``: a lower bound no client can beat on this link.

    2 round trips (connection setup; one round of GETs) plus the fewest bytes that hold
    what is needed (``needs``: each opened archive with the entries read from it, a name
    or ``(name, bytes)`` for part of an entry's data; an archive opened twice appears
    twice), all archives at once (concurrently), over the bandwidth: the fewer of
    *targeted* (each archive's central directory and end records plus exactly the local
    headers and data of the needed entries) and *whole object* (the archives' sizes).
    A client cannot know where entries lie before it has the directory, so it usually
    needs a third round trip; a lucky guess (the store's head GET) can save it, so the
    bound does not charge it. ``unzipped``: the same hierarchy one object per entry, so
    only the needed data counts (no directory, no local headers).

    It ignores the order the scenario's code reads in (zarr reads arrays one after the
    other), HTTP headers and CPU time. Loopback has no RTT or bandwidth: the limit is 0.
    """
    targeted = whole = objects = 0
    for archive, names in needs:
        index = index_of(archive)
        cd_start = index.location.cd_start
        targeted += archive.size - cd_start
        for need in names:
            name, part = (need, None) if isinstance(need, str) else need
            entry = index.get(name)
            if entry is None:
                continue
            begin, end = span(entry)
            if part is not None:  # the local header, then only the bytes needed
                end = data_end(entry) - entry.compressed_size + part
            targeted += min(end, cd_start) - begin
            objects += entry.uncompressed_size if part is None else part
        whole += archive.size

    nbytes = objects if unzipped else min(targeted, whole)
    return condition.lower_bound(nbytes), 2, nbytes
