"""A cohort catalog: many archives' parsed directories in one compressed object.

Opening a thousand archives costs a thousand round trips of directory reads.
A catalog holds, for every archive of a cohort, what its open produced: the
directory as columns (the parser's :class:`~remote_zip_store.zipfmt._parse.Records`),
the end records' location, the object's size, ETag and VersionId, and the raw
bytes (local header and data) of the small entries the layer above reads at open
(``pieces``: zarr metadata), so that one GET of the catalog opens every archive
and metadata reads cost nothing. The archive reader pins each archive's reads to
the catalogued version (:meth:`~remote_zip_store.archive.ZipArchive.adopt`).

Format (version :data:`FORMAT_VERSION`), all integers little-endian::

    magic "RZSCATLG" | u32 format version | u8 codec (0 zlib) | u32 crc32 of the body
    | u64 body length | compressed body
    body: u32 header length | header (JSON) | columns, concatenated

The JSON header lists the archives (url, size, etag, version_id, the location's
fields, entry and piece counts, layout) and the columns' byte lengths. Names are stored
once per *layout* (archives whose entry names are the same list, as in a cohort). Each column runs
over every archive in order (column-major across the cohort: archives of one
layout compress together); header offsets are stored as differences from the
previous row. Reading is defensive: sizes are bounded before allocation, every
count and length is checked against what is there, every offset against the
archive's size, and any failure is a :class:`BadArchiveError` naming the catalog.
No pickle: the catalog is read from storage.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import BadArchiveError
from ..zipfmt import _planner as planner
from ..zipfmt._index import ZipIndex
from ..zipfmt._parse import DirectoryLocation, Records, span
from ..zipfmt._planner import ByteRange
from . import _cohort as cohort
from ._reader import ReadOptions, ZipArchive

MAGIC = b"RZSCATLG"
FORMAT_VERSION = 1
CODEC_ZLIB = 0
_PREAMBLE = struct.Struct("<8sIBIQ")
#: A catalog body larger than this is refused before it is inflated (a hostile catalog's bound).
MAX_BODY = 2 * 1024**3
#: Header bytes refused beyond this.
MAX_HEADER = 256 * 1024**2
#: The largest catalog read (one GET); larger is refused as corrupt.
MAX_CATALOG = 1024**3

# (column, typecode) in the body's order; "names" is UTF-8 joined by NUL.
_COLUMNS: tuple[tuple[str, str], ...] = (
    ("header_offset", "q"),  # deltas
    ("compressed_size", "Q"),
    ("uncompressed_size", "Q"),
    ("crc32", "I"),
    ("method", "H"),
    ("flags", "H"),
    ("name_length", "H"),
    ("extra_length", "H"),
    ("piece_start", "Q"),
    ("piece_length", "Q"),
)


@dataclass(frozen=True)
class CatalogEntry:
    """One archive as its open left it: directory, version and the pieces kept."""

    url: str
    size: int
    etag: str
    version_id: str | None
    location: DirectoryLocation
    records: Records
    pieces: Sequence[tuple[int, bytes]] = field(default=())
    """``(offset, raw bytes)`` of whole entries' spans (local header + data), by offset."""

    @property
    def directory_size(self) -> int:
        return self.location.cd_size


@dataclass(frozen=True)
class Catalog:
    """Archives by URL, and where the catalog was read from (for messages)."""

    entries: dict[str, CatalogEntry]
    source: str = "<catalog>"

    def __len__(self) -> int:
        return len(self.entries)

    def get(self, url: str) -> CatalogEntry | None:
        return self.entries.get(url)


def serialize(entries: Iterable[CatalogEntry], *, level: int = 9) -> bytes:
    """The catalog of ``entries`` as bytes (zlib-compressed; see the module doc)."""
    listed = list(entries)
    header: list[dict[str, Any]] = []
    names: list[str] = []
    layouts: dict[tuple[str, ...], int] = {}  # archives of one layout share their names
    layout_sizes: list[int] = []
    columns: dict[str, array[int]] = {name: array(code) for name, code in _COLUMNS}
    blobs: list[bytes] = []
    for entry in listed:
        rec = entry.records
        if any("\x00" in name for name in rec.names):
            raise ValueError(f"{entry.url}: an entry name holds a NUL byte; not catalogued")
        loc = entry.location
        key = tuple(rec.names)
        layout = layouts.get(key)
        if layout is None:
            layout = layouts[key] = len(layout_sizes)
            layout_sizes.append(len(key))
            names.extend(key)
        header.append(
            {
                "url": entry.url,
                "size": entry.size,
                "etag": entry.etag,
                "version_id": entry.version_id,
                "n": len(rec),
                "layout": layout,
                "pieces": len(entry.pieces),
                "cd_start": loc.cd_start,
                "cd_size": loc.cd_size,
                "entry_count": loc.entry_count,
                "prefix": loc.prefix,
                "zip64": loc.zip64,
                "end_records_start": loc.end_records_start,
                "comment": loc.comment.hex(),
            }
        )
        offsets = np.frombuffer(rec.header_offset, dtype=np.uint64).astype(np.int64)
        if len(offsets):
            columns["header_offset"].frombytes(np.diff(offsets, prepend=0).tobytes())
        for name, _ in _COLUMNS[1:8]:
            columns[name].extend(getattr(rec, name))
        for start, data in entry.pieces:
            columns["piece_start"].append(start)
            columns["piece_length"].append(len(data))
            blobs.append(data)
    name_blob = "\x00".join(names).encode("utf-8", "surrogatepass")
    parts = [name_blob] + [columns[name].tobytes() for name, _ in _COLUMNS] + [b"".join(blobs)]
    meta = {
        "archives": header,
        "layouts": layout_sizes,
        "lengths": [len(part) for part in parts],
    }
    head = json.dumps(meta, separators=(",", ":")).encode()
    body = struct.pack("<I", len(head)) + head + b"".join(parts)
    compressed = zlib.compress(body, level)
    preamble = _PREAMBLE.pack(MAGIC, FORMAT_VERSION, CODEC_ZLIB, zlib.crc32(body), len(body))
    return preamble + compressed


def deserialize(data: bytes, *, source: str = "<catalog>", max_body: int = MAX_BODY) -> Catalog:
    """The catalog in ``data``; any structural problem is a BadArchiveError naming ``source``."""
    try:
        return _deserialize(data, source, max_body)
    except BadArchiveError:
        raise
    except (ValueError, KeyError, TypeError, IndexError, OverflowError, zlib.error) as exc:
        raise BadArchiveError(
            f"corrupt catalog: {type(exc).__name__}: {exc}", archive=source
        ) from exc


def _bad(detail: str, source: str) -> BadArchiveError:
    return BadArchiveError(f"corrupt catalog: {detail}", archive=source)


def _deserialize(data: bytes, source: str, max_body: int) -> Catalog:
    if len(data) < _PREAMBLE.size or data[:8] != MAGIC:
        raise BadArchiveError("not a remote-zip-store catalog (bad magic)", archive=source)
    _, version, codec, crc, length = _PREAMBLE.unpack_from(data)
    if version != FORMAT_VERSION:
        raise BadArchiveError(
            f"catalog format {version}; this version reads format {FORMAT_VERSION}", archive=source
        )
    if codec != CODEC_ZLIB:
        raise _bad(f"unknown codec {codec}", source)
    if length > max_body:
        raise _bad(f"body of {length} bytes exceeds the limit of {max_body}", source)
    inflater = zlib.decompressobj()
    body = inflater.decompress(memoryview(data)[_PREAMBLE.size :], length + 1)
    if len(body) != length or not inflater.eof or inflater.unused_data:
        raise _bad(f"body is {len(body)} bytes or truncated, header says {length}", source)
    if zlib.crc32(body) != crc:
        raise _bad("CRC-32 of the body does not match", source)
    (head_length,) = struct.unpack_from("<I", body)
    if head_length > min(MAX_HEADER, len(body) - 4):
        raise _bad(f"header length {head_length} runs past the body", source)
    meta = json.loads(body[4 : 4 + head_length])
    if not isinstance(meta, dict):
        raise _bad("header is not an object", source)
    archives, lengths = meta["archives"], meta["lengths"]
    if not isinstance(archives, list) or not isinstance(lengths, list):
        raise _bad("header fields have the wrong types", source)
    if len(lengths) != len(_COLUMNS) + 2 or not all(isinstance(n, int) and n >= 0 for n in lengths):
        raise _bad("column lengths are malformed", source)
    if 4 + head_length + sum(lengths) != len(body):
        raise _bad("column lengths do not add up to the body", source)
    view = memoryview(body)
    position = 4 + head_length
    parts: list[memoryview] = []
    for n in lengths:
        parts.append(view[position : position + n])
        position += n
    names_blob, blobs = parts[0], parts[-1]
    columns: dict[str, array[int]] = {}
    for (name, code), part in zip(_COLUMNS, parts[1:-1], strict=True):
        column = array(code)
        if len(part) % column.itemsize:
            raise _bad(f"column {name} is not a whole number of items", source)
        column.frombytes(part)
        columns[name] = column
    counts = [_int(a, "n", source) for a in archives]
    piece_counts = [_int(a, "pieces", source) for a in archives]
    total = sum(counts)
    sizes = meta.get("layouts")
    if not isinstance(sizes, list) or not all(
        isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in sizes
    ):
        raise _bad("layouts are malformed", source)
    named = sum(sizes)
    all_names = bytes(names_blob).decode("utf-8", "surrogatepass").split("\x00") if named else []
    if len(all_names) != named:
        raise _bad(f"{len(all_names)} names for {named} in the layouts", source)
    layouts: list[list[str]] = []
    at = 0
    for n in sizes:
        layouts.append(all_names[at : at + n])
        at += n
    for name, _ in _COLUMNS[:8]:
        if len(columns[name]) != total:
            raise _bad(f"column {name} has {len(columns[name])} items for {total}", source)
    if len(columns["piece_start"]) != sum(piece_counts) or len(columns["piece_length"]) != sum(
        piece_counts
    ):
        raise _bad("piece columns do not match the piece counts", source)
    if sum(columns["piece_length"]) != len(blobs):
        raise _bad("piece lengths do not add up to the piece bytes", source)
    # Absolute offsets: each archive's first delta is absolute, so subtract the running
    # sum of the rows before it (one cumulative sum for the whole catalog).
    deltas = np.frombuffer(columns["header_offset"], dtype=np.int64)
    running = np.cumsum(deltas)
    starts = np.cumsum([0, *counts])[:-1]
    before = np.where(starts > 0, running[np.maximum(starts - 1, 0)] if total else 0, 0)
    offsets = running - np.repeat(before, counts) if total else running
    offset_bytes = memoryview(offsets.astype(np.uint64).tobytes())
    # each archive's smallest and largest offset, in one pass (checked per archive below)
    filled = np.flatnonzero(np.asarray(counts) > 0)
    lows, highs = [0] * len(counts), [0] * len(counts)
    if total:
        first_rows = starts[filled]
        for i, low, high in zip(
            filled.tolist(),
            np.minimum.reduceat(offsets, first_rows).tolist(),
            np.maximum.reduceat(offsets, first_rows).tolist(),
            strict=True,
        ):
            lows[i], highs[i] = low, high
    entries: dict[str, CatalogEntry] = {}
    row = piece_row = blob_at = 0
    for number, (item, n, pn) in enumerate(zip(archives, counts, piece_counts, strict=True)):
        url = item.get("url") if isinstance(item, dict) else None
        if not isinstance(url, str):
            raise _bad("an archive without a URL", source)
        layout = _int(item, "layout", source)
        if layout >= len(layouts) or len(layouts[layout]) != n:
            raise _bad(f"{url}: layout {layout} does not have {n} names", source)
        bounds = (lows[number], highs[number])
        entry = _entry(item, url, layouts[layout], row, columns, bounds, offset_bytes, source)
        pieces: list[tuple[int, bytes]] = []
        last_end = 0
        for i in range(piece_row, piece_row + pn):
            start, plen = columns["piece_start"][i], columns["piece_length"][i]
            if start < last_end or start + plen > entry.location.cd_start:
                raise _bad(f"{url}: piece at {start} overlaps or runs into the directory", source)
            pieces.append((start, bytes(blobs[blob_at : blob_at + plen])))
            blob_at += plen
            last_end = start + plen
        object.__setattr__(entry, "pieces", pieces)  # (frozen: built here, not yet shared)
        entries[url] = entry
        row += n
        piece_row += pn
    return Catalog(entries, source)


def _int(item: Any, key: str, source: str) -> int:
    value = item.get(key) if type(item) is dict else None
    if type(value) is not int or value < 0:  # (JSON's own types: no subclass, no bool)
        raise _bad(f"field {key!r} is not a non-negative integer", source)
    return value


def _entry(
    item: dict[str, Any],
    url: str,
    names: list[str],
    row: int,
    columns: dict[str, array[int]],
    bounds: tuple[int, int],
    offset_bytes: memoryview,
    source: str,
) -> CatalogEntry:
    """The archive at ``row`` (``bounds``: its smallest and largest entry offset)."""
    n = len(names)
    size = _int(item, "size", source)
    etag, version_id, comment = item.get("etag"), item.get("version_id"), item.get("comment")
    if not isinstance(etag, str) or not etag:
        raise _bad(f"{url}: no ETag", source)
    if version_id is not None and not isinstance(version_id, str):
        raise _bad(f"{url}: VersionId is not a string", source)
    if not isinstance(comment, str) or not isinstance(item.get("zip64"), bool):
        raise _bad(f"{url}: malformed end records", source)
    location = DirectoryLocation(
        cd_start=_int(item, "cd_start", source),
        cd_size=_int(item, "cd_size", source),
        entry_count=_int(item, "entry_count", source),
        prefix=_int(item, "prefix", source),
        zip64=item["zip64"],
        end_records_start=_int(item, "end_records_start", source),
        comment=bytes.fromhex(comment),
    )
    if not location.cd_start + location.cd_size <= location.end_records_start <= size:
        raise _bad(f"{url}: directory at {location.cd_start} does not fit {size} bytes", source)
    if n and (bounds[0] < 0 or bounds[1] >= max(location.cd_start, 1)):
        raise _bad(f"{url}: an entry's offset lies outside the archive's data", source)
    header_offset = array("Q")
    header_offset.frombytes(offset_bytes[8 * row : 8 * (row + n)])
    records = Records(
        names,  # shared by the archives of one layout (ZipIndex(like=) shares their table)
        header_offset,
        *(columns[name][row : row + n] for name, _ in _COLUMNS[1:8]),
    )
    return CatalogEntry(url, size, etag, version_id, location, records)


#: Entries larger than this (compressed) are left out of the pieces (read when asked).
MAX_PIECE = 64 * 1024
#: Piece bytes kept per archive, at most.
MAX_PIECES_TOTAL = 1024 * 1024


def capture(archive: ZipArchive, etag: str, version_id: str | None) -> CatalogEntry:
    """What ``archive`` (opened) contributes to a catalog: its directory, and the raw spans
    of the entries its profile names (``head_names``/``tail_names``: read at open), read
    from the open's buffers or by coalesced GETs."""
    index = archive.index
    names = set(archive.profile.head_names) | set(archive.profile.tail_names)
    spans: list[ByteRange] = []
    total = 0
    limit = index.location.cd_start
    for name in index.names():
        if name.rpartition("/")[2] not in names:
            continue
        entry = index.get(name)
        if entry is None or entry.compressed_size > MAX_PIECE:
            continue
        start, end = span(entry)
        end = min(end, limit)
        if total + end - start > MAX_PIECES_TOTAL:
            break
        total += end - start
        spans.append(ByteRange(start, end))
    spans = _merged(spans)
    pieces = []
    for batch in planner.plan(spans, coalesce_gap=4096, coalesce_max=MAX_PIECES_TOTAL):
        data = archive.read_raw(batch.start, batch.end)
        for i in batch.members:
            pieces.append((spans[i].start, bytes(batch.cut(data, spans[i]))))
    size = archive.size
    assert size is not None  # opened
    return CatalogEntry(
        archive.url, size, etag, version_id, index.location, index.records, _merged_pieces(pieces)
    )


def _merged(spans: list[ByteRange]) -> list[ByteRange]:
    """Sorted spans with overlaps (two names, one header) joined."""
    out: list[ByteRange] = []
    for item in sorted(spans, key=lambda r: (r.start, r.end)):
        if out and item.start < out[-1].end:
            out[-1] = ByteRange(out[-1].start, max(out[-1].end, item.end))
        else:
            out.append(item)
    return out


def _merged_pieces(pieces: list[tuple[int, bytes]]) -> list[tuple[int, bytes]]:
    """Adjacent pieces as one (fewer, larger buffers)."""
    out: list[tuple[int, bytes]] = []
    for start, data in sorted(pieces):
        if out and out[-1][0] + len(out[-1][1]) == start:
            out[-1] = (out[-1][0], out[-1][1] + data)
        else:
            out.append((start, data))
    return out


# -- reading a catalog and opening an archive from it ---------------------------------------
def load(
    url: str | os.PathLike[str] | Catalog, *, client: Any = None, **connection: Any
) -> tuple[Catalog, int]:
    """``(catalog, requests)``: the catalog at ``url`` (``s3://`` key: one GET; a path),
    or ``url`` itself when it is a :class:`Catalog` already (no request).

    ``connection``: the S3 connection arguments (None values ignored) when no ``client``.
    """
    if isinstance(url, Catalog):
        return url, 0
    from ..transport._s3 import S3Source, parse_s3_url, translate_error

    text = os.fspath(url)
    if text.startswith("s3://"):
        bucket, key = parse_s3_url(text)
        source = S3Source(
            bucket, key, options=None if client else s3_options(connection), client=client
        )
        try:
            ends = source.read_ends(MAX_CATALOG)
        finally:
            source.close()
        if ends.size > len(ends.tail):
            raise BadArchiveError(f"catalog of {ends.size} bytes is too large", archive=text)
        return deserialize(ends.tail, source=text), source.stats.snapshot()[0]
    try:
        with open(text, "rb") as file:
            data = file.read(MAX_CATALOG + 1)
    except OSError as exc:
        raise translate_error(exc, text) from exc
    return deserialize(data, source=text), 0


def s3_options(connection: dict[str, Any]) -> Any:
    """:class:`~remote_zip_store.transport.S3Options` of the connection arguments given."""
    from ..transport._s3config import S3Options

    return S3Options(**{k: v for k, v in connection.items() if v is not None})


def index_of(entry: CatalogEntry, layouts: dict[int, ZipIndex] | None = None) -> ZipIndex:
    """``entry``'s index, sharing the lookup table of an earlier one of the same layout
    (``layouts``: by ``id`` of the names list the catalog shares between them)."""
    if layouts is None:
        return ZipIndex(entry.records, entry.location)
    key = id(entry.records.names)
    index = ZipIndex(entry.records, entry.location, like=layouts.get(key))
    layouts.setdefault(key, index)
    return index


def adopt_entry(
    entry: CatalogEntry,
    *,
    read: ReadOptions,
    profile: cohort.OpenProfile = cohort.NO_PROFILE,
    layouts: dict[int, ZipIndex] | None = None,
    client: Any = None,
    s3: Any = None,
    body_retries: int | None = None,
    retry_backoff: float | None = None,
    like: Any = None,
) -> ZipArchive:
    """``entry``'s archive opened from the catalog: no request; every GET pinned to the
    catalogued ETag (``If-Match``), provisional until one confirms it
    (:meth:`ZipArchive.adopt`). ``s3``: the S3Options when no ``client``. ``like``: the
    source of a sibling opened with the same ``s3`` (its transport choice is reused)."""
    from ..transport._s3 import S3Source, parse_s3_url

    bucket, key = parse_s3_url(entry.url)
    source = S3Source(
        bucket,
        key,
        options=s3 if client is None else None,
        client=client,
        body_retries=body_retries,
        retry_backoff=retry_backoff,
        pinned=(entry.etag, entry.version_id),
        like=like,
    )
    archive = ZipArchive(source, read, profile)
    try:
        return archive.adopt(index_of(entry, layouts), entry.size, entry.pieces)
    except BaseException:
        archive.close()
        raise
