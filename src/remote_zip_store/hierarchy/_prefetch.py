"""Zarr metadata prefetch: one concurrent round instead of one round trip per node.

zarr reads ``.zgroup``/``.zarray``/``.zattrs`` one key at a time through
``store[key]``, so walking a hierarchy (``tree()``, ``group.arrays()``,
xarray without consolidated metadata) costs one round trip per node. This
cache fetches *all* small metadata entries of the archive in one
:meth:`~remote_zip_store.archive.ZipArchive.read_many` call (coalesced,
concurrent) the first time it is worth it, and serves them from memory after.

Policies (``metadata_prefetch=``):

* ``"auto"`` (default): the *second* metadata miss below the root (for example
  ``signals/ch00/.zarray`` after ``signals/.zgroup``) triggers the round; the first
  miss does when the archive's RFC-9 comment declares ``jsonFirst`` (every
  ``zarr.json`` lies together: at the start, or beside the directory for our
  write store's ``.ozx``, so the round is one GET).
  Root-level keys and the first key below the root are read singly, so opening
  a group, reading root attributes or opening one array costs one request per
  key, and anything that walks the hierarchy pays one round for the rest.
* ``"open"``: the round runs at the first metadata read, whatever the key.
* ``"off"``: never; every key is one request.

Entries served from the open's head or tail buffer cost no request and never
count as a miss. A key read singly under "auto" is kept (:meth:`MetadataCache.remember`)
and left out of the round, so no byte is fetched twice.

Consolidated metadata (``"auto"`` and ``"open"``): when the root's ``.zmetadata``
lies in the open's tail buffer (zarr writes it last, so it usually does), every
``.zgroup``/``.zarray``/``.zattrs`` it holds is re-serialized the way zarr 2
writes metadata (:func:`zarr_json`) and used only when its size and CRC-32
equal the directory's record of that entry: the bytes are then the entry's own
bytes, checked as strictly as a read is, and cost no request. A stale or
differently formatted document fails the check and the key is read from the
archive as before. A ``tree()`` of such an archive costs the open and nothing else.

Bounds (``MAX_ENTRIES``, ``MAX_ENTRY_SIZE``, ``MAX_TOTAL``) keep a
pathological archive from turning the round into a download.
"""

from __future__ import annotations

import contextlib
import json
import zlib
from typing import Any, Literal

from ..archive._reader import ZipArchive
from ..errors import RemoteZipError
from ..transport._forksafe import ForkSafeLock
from ._names import CONSOLIDATED, is_metadata

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
        self._single: set[str] = set()  # read singly under "auto": not fetched again
        self._consolidated = policy == "off"  # whether .zmetadata was looked at
        self._document: Consolidated | None = None

    def _derive(self) -> None:
        """Load a free ``.zmetadata`` once (see module doc); values are checked when asked."""
        with self._lock:
            if self._consolidated:
                return
            self._consolidated = True
            with contextlib.suppress(RemoteZipError, ValueError, TypeError, RecursionError):
                self._document = Consolidated.load(self.archive, self.prefix)

    def _derived(self, name: str) -> bytes | None:
        """``name`` from the consolidated document, if it has a checked value for it."""
        document = self._document
        if document is None:
            return None
        value = document.get(name)
        if value is not None:
            self._values[name] = value
        return value

    def get(self, name: str) -> bytes | None:
        """Cached bytes of ``name``, running the round if this miss triggers it."""
        value = self._values.get(name)
        if value is not None or not is_metadata(name):
            return value
        entry = self.archive.index.get(name)
        if entry is None or self.archive.is_buffered(entry):
            # absent, or free to read (the open's buffers, a catalog's pieces): not a miss,
            # and no reason to parse a consolidated .zmetadata for it
            return None
        if not self._consolidated:
            self._derive()
        value = self._derived(name)
        if value is not None or self._started:
            return value
        with self._lock:  # claim the round; the I/O runs outside the lock
            if self._started:
                return self._values.get(name)
            if self.policy == "auto" and "/" in name[len(self.prefix) :]:
                self._misses += 1
            if (
                self.policy == "auto"
                and self._misses < TRIGGER_MISSES
                and not _json_first(self.archive)
            ):
                self._single.add(name)
                return None
            self._started = True
        with contextlib.suppress(RemoteZipError):  # then each key is read (and fails) alone
            self._values.update(self._round())
        return self._values.get(name)

    def peek(self, name: str) -> bytes | None:
        """Cached bytes of ``name``, or None: never a request, never a miss counted."""
        value = self._values.get(name)
        return value if value is not None else self._derived(name) if is_metadata(name) else None

    def remember(self, name: str, value: bytes) -> None:
        """Keep a key read singly under "auto" (the round leaves it out: no byte twice)."""
        if name in self._single:
            self._values[name] = value

    def _round(self) -> dict[str, bytes]:
        index = self.archive.index
        prefix = self.prefix
        wanted = []
        total = 0
        # distinct files (no folders, no shadowed duplicates); not a listing served
        for name in index.names(listed=False):
            if name.startswith(prefix) and is_metadata(name):
                if name in self._values or name in self._single or self._derived(name):
                    continue  # derived from .zmetadata, or already read singly
                entry = index.get(name)
                if entry is None or entry.compressed_size > MAX_ENTRY_SIZE:
                    continue
                wanted.append(entry)
                total += entry.compressed_size
                if len(wanted) > MAX_ENTRIES or total > MAX_TOTAL:
                    return {}
        return self.archive.read_many(wanted) if wanted else {}


def _json_first(archive: ZipArchive) -> bool:
    """An RFC-9 archive declaring its zarr.json first: they lie together, one GET reads all."""
    ome = archive.ome
    return ome is not None and ome.json_first


def zarr_json(value: Any) -> bytes:
    """``value`` serialized exactly as zarr 2 writes metadata (``zarr.util.json_dumps``)."""
    return json.dumps(
        value, indent=4, sort_keys=True, ensure_ascii=True, separators=(",", ": ")
    ).encode("ascii")


def zarr3_json(value: Any) -> bytes:
    """``value`` serialized as zarr 3 writes format-2 metadata (indent 2, keys in order):
    without it an archive written by zarr 3 derives nothing from its ``.zmetadata``."""
    return json.dumps(value, indent=2).encode("ascii")


class Consolidated:
    """A buffered root ``.zmetadata``: each key's value serialized and checked when asked.

    Loading parses the JSON once; :meth:`get` re-serializes one value and keeps it only
    when its size and CRC-32 are the directory's record of that entry, so what it
    returns is byte-for-byte the entry's contents. Opening a group and reading its
    attributes checks two or three keys, not the whole hierarchy's.
    """

    def __init__(self, archive: ZipArchive, prefix: str, metadata: dict[str, Any]):
        self._archive = archive
        self._prefix = prefix
        self._pending = {
            prefix + key: value
            for key, value in metadata.items()
            if isinstance(key, str) and is_metadata(key)
        }
        self._lock = ForkSafeLock()

    @classmethod
    def load(cls, archive: ZipArchive, prefix: str) -> Consolidated | None:
        """The root ``.zmetadata`` if it lies in the open's buffers (no request), else None."""
        entry = archive.index.get(prefix + CONSOLIDATED)
        if (
            entry is None
            or entry.uncompressed_size > MAX_ENTRY_SIZE
            or not archive.is_buffered(entry)
        ):
            return None
        document = json.loads(archive.read_entry(entry))
        metadata = document.get("metadata") if isinstance(document, dict) else None
        return cls(archive, prefix, metadata) if isinstance(metadata, dict) else None

    def names(self) -> list[str]:
        """Archive names the document has an (unchecked) value for."""
        with self._lock:
            return list(self._pending)

    def get(self, name: str) -> bytes | None:
        """The checked bytes of ``name`` (once: the caller keeps them), or None."""
        with self._lock:
            value = self._pending.pop(name, _MISSING)
        if value is _MISSING:
            return None
        target = self._archive.index.get(name)
        if target is None:
            return None
        for serialize in (zarr_json, zarr3_json):
            try:
                data = serialize(value)
            except (TypeError, ValueError, RecursionError):
                continue
            if len(data) == target.uncompressed_size and zlib.crc32(data) == target.crc32:
                return data
        return None


_MISSING = object()


def from_consolidated(archive: ZipArchive, prefix: str) -> dict[str, bytes]:
    """Every metadata entry recoverable from a buffered root ``.zmetadata``, each CRC-checked
    (:class:`Consolidated`, all keys at once)."""
    document = Consolidated.load(archive, prefix)
    if document is None:
        return {}
    found = {name: document.get(name) for name in document.names()}
    return {name: data for name, data in found.items() if data is not None}
