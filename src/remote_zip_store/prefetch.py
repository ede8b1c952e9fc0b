"""Zarr metadata prefetch: one concurrent round instead of one round trip per node.

zarr reads ``.zgroup``/``.zarray``/``.zattrs`` one key at a time through
``store[key]``, so walking a hierarchy (``tree()``, ``group.arrays()``,
xarray without consolidated metadata) costs one round trip per node. This
cache fetches *all* small metadata entries of the archive in one
:meth:`~remote_zip_store.archive.ZipArchive.read_many` call (coalesced,
concurrent) the first time it is worth it, and serves them from memory after.

Policies (``metadata_prefetch=``):

* ``"auto"`` (default): the *second* metadata miss below the root (for example
  ``signals/ch00/.zarray`` after ``signals/.zgroup``) triggers the round.
  Root-level keys and the first key below the root are read singly, so opening
  a group, reading root attributes or opening one array costs one request per
  key, and anything that walks the hierarchy pays one round for the rest.
* ``"open"``: the round runs at the first metadata read, whatever the key.
* ``"off"``: never; every key is one request.

Entries served from the open's head or tail buffer cost no request and never
count as a miss. Bounds (``MAX_ENTRIES``, ``MAX_ENTRY_SIZE``, ``MAX_TOTAL``) keep a
pathological archive from turning the round into a download.
"""

from __future__ import annotations

import contextlib
from typing import Literal

from .archive import ZipArchive
from .errors import RemoteZipError
from .forksafe import ForkSafeLock
from .frontend import is_metadata

Policy = Literal["auto", "open", "off"]
POLICIES: tuple[str, ...] = ("auto", "open", "off")

#: Under "auto", the below-root metadata miss that triggers the round.
TRIGGER_MISSES = 2
#: Skip the round when an archive has more metadata entries than this.
MAX_ENTRIES = 4096
#: Larger metadata entries (a huge .zmetadata) are read on demand, not prefetched.
MAX_ENTRY_SIZE = 1024 * 1024
#: Upper bound on the bytes one round may move.
MAX_TOTAL = 16 * 1024 * 1024


class MetadataCache:
    """Decoded metadata entries by archive name, filled by at most one round."""

    def __init__(self, archive: ZipArchive, prefix: str, policy: Policy):
        if policy not in POLICIES:
            raise ValueError(f"metadata_prefetch must be one of {POLICIES}, not {policy!r}")
        self.archive = archive
        self.prefix = prefix
        self.policy = policy
        self._values: dict[str, bytes] = {}
        self._lock = ForkSafeLock()
        self._started = policy == "off"
        self._misses = 0

    def get(self, name: str) -> bytes | None:
        """Cached bytes of ``name``, running the round if this miss triggers it."""
        value = self._values.get(name)
        if value is not None or self._started or not is_metadata(name):
            return value
        entry = self.archive.index.get(name)
        if entry is None or self.archive.is_buffered(entry):
            return None  # absent, or free to read: not a miss
        with self._lock:  # claim the round; the I/O runs outside the lock
            if self._started:
                return self._values.get(name)
            if self.policy == "auto" and "/" in name[len(self.prefix) :]:
                self._misses += 1
            if self.policy == "auto" and self._misses < TRIGGER_MISSES:
                return None
            self._started = True
        with contextlib.suppress(RemoteZipError):  # then each key is read (and fails) alone
            self._values.update(self._round())
        return self._values.get(name)

    def _round(self) -> dict[str, bytes]:
        index = self.archive.index
        prefix = self.prefix
        wanted = []
        total = 0
        for name in index.names():  # distinct files: no folders, no shadowed duplicates
            if name.startswith(prefix) and is_metadata(name):
                entry = index.get(name)
                if entry is None or entry.compressed_size > MAX_ENTRY_SIZE:
                    continue
                wanted.append(entry)
                total += entry.compressed_size
                if len(wanted) > MAX_ENTRIES or total > MAX_TOTAL:
                    return {}
        return self.archive.read_many(wanted)
