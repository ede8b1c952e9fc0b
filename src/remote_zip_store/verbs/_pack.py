"""Repack a zarr hierarchy (directory or zip, local or remote) into the metadata-last layout.

Archives written by zarr's ``ZipStore`` put each ``.zarray`` in front of its
chunks and keep every rewritten key as a duplicate entry, so a remote reader
pays a range GET per metadata key. :func:`pack` copies the newest version of
every entry through a :class:`~remote_zip_store.zarr2.ZipWriteStore`:
chunks first, in key order (``c/9`` before ``c/10``: the order zarr reads them, so
read-ahead follows a whole-array read), then all metadata beside the central
directory, where the reader's one suffix GET at open already has them.
:func:`open_cost` measures what that saves.

``layout="ozx"`` (the default for a destination ending in ``.ozx``) writes a
single-file OME-Zarr (RFC-9) instead: since every key is known before the first
is written, the ``zarr.json`` entries go first in the file as well as in the
central directory (root, then breadth-first), then the rest in key
order; stored entries, ZIP64 end records, the RFC-9 comment. A hierarchy that
is not zarr v3, or has no root ``zarr.json``, is refused before anything is written.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from ..archive._writer import WriteOptions
from ..errors import InvalidURLError, LayoutError
from ..hierarchy._frontend import READ_OPTION_NAMES, open_archive
from ..hierarchy._names import ZARR_V3_METADATA, is_metadata, key_order
from ..hierarchy._roots import detect_root, resolve_root
from ..hierarchy._session import (  # ZipWriteStore's rules without zarr (zarr 2 or 3)
    WriteSession,
    resolve_layout,
)
from ..zipfmt._conventions import json_first_key
from ..zipfmt._parse import Entry

#: Bytes read from a source zip per batch (one coalesced ``read_many``): bounds memory.
BATCH_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class OpenCost:
    """Requests and bytes to open an archive and read every metadata key once, one by one."""

    requests: int
    bytes: int
    metadata_keys: int
    open_requests: int = 0
    """Of ``requests``, the open's (the rest are the metadata reads after it)."""

    @property
    def after_open_requests(self) -> int:
        return self.requests - self.open_requests


@dataclass(frozen=True)
class PackResult:
    src: str
    dst: str
    entries: int
    """Entries written (duplicates in the source dropped)."""
    records_dropped: int
    """Source records not copied: shadowed duplicates and directory records (``name/``)."""
    bytes_written: int


def open_cost(url: str | os.PathLike[str], *, client: Any = None, **options: Any) -> OpenCost:
    """Open ``url`` and read each metadata key the way the stores serve zarr (one at a time).

    Keys go through the stores' :class:`~remote_zip_store.hierarchy._prefetch.MetadataCache`
    (consolidated metadata, the prefetch round), so the figures are what a
    ``tree()`` plus every metadata read costs a store: the source's own counters
    (``source.stats``), every request and the bytes they brought. ``options``: read
    options and connection arguments, as for the stores.
    """
    from ..hierarchy._prefetch import MetadataCache  # prefetch imports frontend, which this imports

    archive = open_archive(url, client=client, **options)
    try:
        opened = archive.source.stats.requests
        root = resolve_root(archive, None)
        cache = MetadataCache(archive, root + "/" if root else "", "auto")
        names = [name for name in archive.index.names() if is_metadata(name)]
        for name in names:
            if cache.get(name) is None:
                cache.remember(name, archive.read(name))
        requests, nbytes = archive.source.stats.snapshot()
    finally:
        archive.close()
    return OpenCost(requests=requests, bytes=nbytes, metadata_keys=len(names), open_requests=opened)


def is_remote(url: str) -> bool:
    return url.startswith(("s3://", "http://", "https://"))


def pack(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    *,
    mode: str = "w",
    write: WriteOptions | None = None,
    client: Any = None,
    layout: str | None = None,
    on_total: Callable[[int], None] | None = None,
    on_entry: Callable[[int], None] | None = None,
    **connection: Any,
) -> PackResult:
    """Copy the hierarchy at ``src`` into a new archive at ``dst`` in the metadata-last layout.

    ``src``: a local zarr directory, a local zip, or an ``s3://``/``http(s)://``
    zip (read through our reader); ``dst``: a local path or ``s3://`` URL,
    written through :class:`ZipWriteStore` (``mode`` ``"w"`` or ``"w-"``).
    Entry names are kept as they are (a top-level folder too). Connection
    arguments and ``client`` serve both ends. ``on_total(n)`` is called once
    with the entry count, ``on_entry(nbytes)`` after each entry (a progress bar).
    Any failure aborts the upload: nothing appears at ``dst``.

    ``layout``: ``"zip"`` (metadata last), ``"ozx"`` (OME-Zarr RFC-9: the source
    must be a zarr v3 hierarchy; a zip's detected root folder becomes the
    archive root) or None (``"ozx"`` when ``dst`` ends in ``.ozx``).
    """
    src_text, dst_text = os.fspath(src), os.fspath(dst)
    if dst_text.startswith(("http://", "https://")):
        raise InvalidURLError(
            "pack writes to a local path or an s3:// URL, not HTTP", archive=dst_text
        )
    ozx = resolve_layout(dst_text, layout) == "ozx"
    if not is_remote(src_text) and os.path.isdir(src_text):
        files = _directory_files(src_text)
        if ozx:
            files = _ozx_order(files, src_text)
        items: Iterator[tuple[str, bytes]] = _directory_items(files, on_total)
        dropped = 0
        source_close: Callable[[], None] = lambda: None  # noqa: E731
    else:
        archive = open_archive(src_text, client=client, **connection)
        source_close = archive.close
        try:
            index = archive.index
            names = index.names()
            dropped = index.location.entry_count - len(names)
            entries = _entries(index, names)
            rename: Callable[[str], str] = lambda name: name  # noqa: E731
            if ozx:
                entries, rename = _ozx_entries(archive, entries)
            items = _archive_items(archive, entries, rename, on_total)
        except BaseException:
            source_close()
            raise
    try:
        out_client = client if dst_text.startswith("s3://") else None
        with WriteSession(
            dst_text,
            mode,
            write,
            out_client,
            # read options (``timeout``...) are the source's; the sink takes connection ones
            {k: v for k, v in connection.items() if k not in READ_OPTION_NAMES},
            layout="ozx" if ozx else "zip",
            hold_metadata=not ozx,  # .ozx: zarr.json first, in the order given
        ) as out:
            count = 0
            for name, data in items:
                out.put(name, data)
                count += 1
                if on_entry is not None:
                    on_entry(len(data))
        return PackResult(
            src=src_text,
            dst=out.url,
            entries=count,
            records_dropped=max(0, dropped),
            bytes_written=out.bytes_written,
        )
    finally:
        source_close()


def _directory_files(root: str) -> list[tuple[str, str]]:
    """Every file under ``root`` as (key with ``/`` separators, path), in key order.

    Key order (:func:`~remote_zip_store.hierarchy._names.key_order`) is the order zarr
    reads an array's chunks in (``c/9`` before ``c/10``), so a whole-array read is a
    scan of the archive that read-ahead serves; a sorted-name walk put ``c/10`` ..
    ``c/109`` right after ``c/1``, which left read-ahead nothing to follow (issue 19).
    """
    files: list[tuple[str, str]] = []
    for folder, _, filenames in os.walk(root):
        for filename in filenames:
            path = os.path.join(folder, filename)
            files.append((os.path.relpath(path, root).replace(os.sep, "/"), path))
    files.sort(key=lambda item: key_order(item[0]))
    return files


def _check_ozx_names(names: list[str], src: str) -> None:
    """Refuse, before anything is written, a hierarchy an ``.ozx`` cannot hold."""
    v2 = [n for n in names if is_metadata(n) and n.rpartition("/")[2] != ZARR_V3_METADATA]
    if v2:
        shown = ", ".join(v2[:5]) + (f" (and {len(v2) - 5} more)" if len(v2) > 5 else "")
        raise LayoutError(
            f"zarr v2 metadata ({shown}): an .ozx (OME-Zarr RFC-9) holds a zarr v3 "
            "hierarchy only; pack it into a .zip, or convert it to zarr v3 first",
            archive=src,
        )
    if ZARR_V3_METADATA not in names:
        raise LayoutError(
            "no zarr.json at the hierarchy's root: an .ozx (OME-Zarr RFC-9) holds one "
            "zarr v3 hierarchy rooted at the archive root",
            archive=src,
        )


def _ozx_order(files: list[tuple[str, str]], src: str) -> list[tuple[str, str]]:
    """Every ``zarr.json`` first (root, then breadth-first), the rest in the given order."""
    _check_ozx_names([key for key, _ in files], src)
    return sorted(files, key=lambda item: json_first_key(item[0]))


def _ozx_entries(archive: Any, entries: list[Entry]) -> tuple[list[Entry], Callable[[str], str]]:
    """A zip's entries in RFC-9 order, and the renaming that puts its root at the archive root."""
    root = detect_root(archive.index)
    prefix = root + "/" if root else ""
    outside = [e.name for e in entries if not e.name.startswith(prefix)]
    if outside:
        raise LayoutError(
            f"{len(outside)} entries outside the hierarchy's root folder {root!r} "
            f"(such as {outside[0]!r}): an .ozx holds one hierarchy at the archive root",
            archive=archive.url,
        )

    def rename(name: str) -> str:
        return name[len(prefix) :]

    _check_ozx_names([rename(e.name) for e in entries], archive.url)
    ordered = sorted(entries, key=lambda e: json_first_key(rename(e.name)))
    return ordered, rename


def _directory_items(
    files: list[tuple[str, str]], on_total: Callable[[int], None] | None
) -> Iterator[tuple[str, bytes]]:
    """Each (key, path) of ``files`` as (key, bytes), in that order."""
    if on_total is not None:
        on_total(len(files))
    for key, path in files:
        with open(path, "rb") as f:
            yield key, f.read()


def _entries(index: Any, names: list[str]) -> list[Entry]:
    """The newest entry of each name, in key order (see :func:`_directory_files`)."""
    entries: list[Entry] = [e for e in (index.get(n) for n in names) if e is not None]
    entries.sort(key=lambda e: key_order(e.name))
    return entries


def _archive_items(
    archive: Any,
    entries: list[Entry],
    rename: Callable[[str], str],
    on_total: Callable[[int], None] | None,
) -> Iterator[tuple[str, bytes]]:
    """``entries`` in the given order as (renamed key, bytes), read in coalesced batches."""
    if on_total is not None:
        on_total(len(entries))
    batch: list[Entry] = []
    size = 0
    for entry in entries:
        batch.append(entry)
        size += entry.compressed_size
        if size >= BATCH_BYTES:
            yield from _read_batch(archive, batch, rename)
            batch, size = [], 0
    if batch:
        yield from _read_batch(archive, batch, rename)


def _read_batch(
    archive: Any, batch: list[Entry], rename: Callable[[str], str]
) -> Iterator[tuple[str, bytes]]:
    data = archive.read_many(batch)
    for entry in batch:
        yield rename(entry.name), data[entry.name]
