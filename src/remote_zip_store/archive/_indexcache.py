"""A small per-process cache of parsed directories, keyed by the *pinned* object version.

dask deserialises a store for every graph it runs, in every worker; each copy
would re-read the directory (one suffix GET, more for a large directory). A
copy that already knows the version it is pinned to (``source.version``: the
ETag, a local file's size and mtime) can reuse the directory that another copy
in the same process parsed for exactly that version: the bytes are the same by
construction, and every later read still checks the version (``If-Match``), so
a replaced object raises ``ArchiveChangedError`` as it would without the cache.
Only copies that arrive pinned (unpickled) use it: the first of them in a
process reads and fills it, the next ones reuse it. A store opened from
scratch neither reads nor fills it, so opening behaves exactly as without it.
Directories of more than ``MAX_TAIL`` bytes are kept without their raw tail.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..transport._forksafe import ForkSafeLock
from ..zipfmt._index import ZipIndex

if TYPE_CHECKING:
    from ..transport import Source

MAX_ENTRIES = 16
"""Directories kept per process (least recently used dropped): bounded memory."""
MAX_TAIL = 1024 * 1024
"""Raw tail bytes kept per directory; beyond it only the parsed index is kept."""


@dataclass(frozen=True)
class OpenedDirectory:
    """What opening an archive produced: the index and the tail buffer it came from."""

    index: ZipIndex
    tail: bytes
    tail_start: int
    size: int
    head: bytes = b""


Key = tuple[Hashable, ...]
_cache: OrderedDict[Key, OpenedDirectory] = OrderedDict()
_lock = ForkSafeLock()


def version_key(source: Source, options: Hashable) -> Key | None:
    """Which object, which pinned version, read how; None before the source pinned one."""
    version = source.version
    if version is None:
        return None
    return (source.identity, version, options)


def lookup(key: Key) -> OpenedDirectory | None:
    with _lock:
        found = _cache.get(key)
        if found is not None:
            _cache.move_to_end(key)
        return found


def remember(key: Key, opened: OpenedDirectory) -> None:
    if len(opened.tail) + len(opened.head) > MAX_TAIL:
        opened = OpenedDirectory(opened.index, b"", opened.size, opened.size)
    with _lock:
        _cache[key] = opened
        _cache.move_to_end(key)
        while len(_cache) > MAX_ENTRIES:
            _cache.popitem(last=False)


def clear() -> None:
    """Forget every cached directory (tests, or to release memory)."""
    with _lock:
        _cache.clear()
