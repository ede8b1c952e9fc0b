"""Pure zip-format parsing: bytes in, records out, no I/O.

Everything here works on an in-memory *suffix* of the archive (the "tail":
the last ``len(tail)`` bytes of an object of ``total_size`` bytes). When the
parser needs bytes before the tail it raises :class:`NeedMoreBytes` with the
absolute offset it needs, and the caller (which owns the I/O) fetches more and
calls again. That keeps this module deterministic and fuzzable.

Errors carry a detail only; the archive layer adds the archive and the key
(:func:`remote_zip_store.errors.context`). Layout facts this follows (see
docs/zip-format.md):

* EOCD candidates are validated (the directory must fit and start with a header
  signature). One whose comment reaches the end wins, the earliest first, so
  ``PK\\5\\6`` or a whole fake end record inside a comment cannot fool it. When
  none does, the last valid one followed by trailing bytes (bsdtar's zero padding,
  appended data) is taken, never one inside another valid record's comment.
* ZIP64: locator -> ZIP64 EOCD (at the locator's offset, or right before the
  locator when data was prepended); the ZIP64 extra field holds only the fields
  that overflowed, in the order usize, csize, offset, disk.
* Prepended data (self-extracting archives): every offset is shifted by the
  difference between where the directory is and where the EOCD says it is,
  exactly like CPython's ``concat``.
* Central-directory sizes are authoritative; the local header is read only to
  find where the data starts (its extra field often differs from the central one).
"""

from __future__ import annotations

import struct
from array import array
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import BadArchiveError, CorruptEntryError, RemoteZipError, UnsupportedArchiveError
from ._records import (
    CENTRAL as _CENTRAL,
)
from ._records import (
    CENTRAL_SIGNATURE as CENTRAL_SIGNATURE,
)
from ._records import (
    CENTRAL_SIZE as CENTRAL_SIZE,
)
from ._records import (
    EOCD as _EOCD,
)
from ._records import (
    EOCD_SIGNATURE as EOCD_SIGNATURE,
)
from ._records import (
    EOCD_SIZE as EOCD_SIZE,
)
from ._records import (
    EXTRA_HEADER as _EXTRA_HEADER,
)
from ._records import (
    FLAG_DATA_DESCRIPTOR as FLAG_DATA_DESCRIPTOR,
)
from ._records import (
    FLAG_ENCRYPTED as FLAG_ENCRYPTED,
)
from ._records import (
    FLAG_UTF8 as FLAG_UTF8,
)
from ._records import (
    LOCAL as _LOCAL,
)
from ._records import (
    LOCAL_SIGNATURE as LOCAL_SIGNATURE,
)
from ._records import (
    LOCAL_SIZE as LOCAL_SIZE,
)
from ._records import (
    MAX_COMMENT as MAX_COMMENT,
)
from ._records import (
    MAX_END_RECORDS as MAX_END_RECORDS,
)
from ._records import (
    ZIP64_EOCD as _ZIP64_EOCD,
)
from ._records import (
    ZIP64_EOCD_SIGNATURE as ZIP64_EOCD_SIGNATURE,
)
from ._records import (
    ZIP64_EOCD_SIZE as ZIP64_EOCD_SIZE,
)
from ._records import (
    ZIP64_EXTRA_ID as ZIP64_EXTRA_ID,
)
from ._records import (
    ZIP64_LOCATOR as _ZIP64_LOCATOR,
)
from ._records import (
    ZIP64_LOCATOR_SIGNATURE as ZIP64_LOCATOR_SIGNATURE,
)
from ._records import (
    ZIP64_LOCATOR_SIZE as ZIP64_LOCATOR_SIZE,
)

#: The fixed part of a central-directory record as a numpy record (46 bytes, unaligned).
CENTRAL_DTYPE = np.dtype(
    [
        ("sig", "<u4"),
        ("made_by", "<u2"),
        ("version", "<u2"),
        ("flags", "<u2"),
        ("method", "<u2"),
        ("time", "<u2"),
        ("date", "<u2"),
        ("crc", "<u4"),
        ("csize", "<u4"),
        ("usize", "<u4"),
        ("nlen", "<u2"),
        ("elen", "<u2"),
        ("clen", "<u2"),
        ("disk", "<u2"),
        ("iattr", "<u2"),
        ("eattr", "<u4"),
        ("offset", "<u4"),
    ]
)
#: Below this many bytes of directory the record loop is as fast as the vectorized scan
#: (measured 2026-12-07: even at ~3.5 KB, 54 records; at 58 KB the scan took 0.35 ms, the
#: loop 2.4 ms).
VECTORIZE_FROM = 8 * 1024

U16_MAX = 0xFFFF
U32_MAX = 0xFFFFFFFF


class NeedMoreBytes(Exception):
    """Not an error: the parser needs the archive's bytes from ``start`` onwards."""

    def __init__(self, start: int):
        super().__init__(start)
        self.start = start


@dataclass(frozen=True, slots=True)
class DirectoryLocation:
    """Where the central directory is, in absolute object offsets."""

    cd_start: int
    cd_size: int
    entry_count: int
    prefix: int
    zip64: bool
    end_records_start: int
    comment: bytes


@dataclass(frozen=True, slots=True)
class Entry:
    """One central-directory record, with offsets already shifted by any prefix."""

    name: str
    header_offset: int
    compressed_size: int
    uncompressed_size: int
    crc32: int
    method: int
    flags: int
    name_length: int
    extra_length: int
    span_end: int
    """Upper bound of the entry's bytes: the next entry's local header or the directory."""


#: Extra bytes allowed for a local extra field longer than the central one (Info-ZIP: +4,
#: ZIP64 local extras: up to +20) when the next entry's offset does not bound the span.
LOCAL_EXTRA_SLACK = 64


def span(entry: Entry) -> tuple[int, int]:
    """``(start, end)`` of the bytes holding ``entry``'s local header and data.

    Exact when the next entry's offset (``span_end``) is past the smallest
    possible end, so a zipfile-written archive is fetched to the byte;
    otherwise a guess with room for a longer local extra field. A local header
    that turns out longer still makes the reader fetch the rest.
    """
    minimum = data_end(entry)
    guess = minimum + entry.extra_length + LOCAL_EXTRA_SLACK
    end = min(guess, entry.span_end) if entry.span_end >= minimum else guess
    return entry.header_offset, end


def data_end(entry: Entry) -> int:
    """The smallest end of ``entry``'s data: local header with no extra field, then the data."""
    return entry.header_offset + LOCAL_SIZE + entry.name_length + entry.compressed_size


def locate_directory(tail: bytes, total_size: int) -> DirectoryLocation:
    """Find and validate the (ZIP64) end-of-central-directory records in ``tail``.

    An end record whose comment reaches the object's end is preferred (the
    earliest, so a fake record inside a comment never wins). When none
    validates, the last valid record followed by trailing bytes is taken (bsdtar
    pads to its 10,240-byte block; other tools append data), as every other
    reader does; one lying inside another valid record's comment is skipped.
    """
    tail_start = total_size - len(tail)
    if total_size < EOCD_SIZE:
        raise BadArchiveError(f"not a zip archive ({total_size} bytes, smaller than an end record)")
    whole_window = EOCD_SIZE + MAX_COMMENT
    if len(tail) < whole_window and tail_start > 0:
        if not _ends_with_bare_record(tail):
            raise NeedMoreBytes(max(0, total_size - MAX_END_RECORDS))
        # A short tail ending in a comment-less end record: taken only when the record
        # is a plain archive's (directory right before it, no prefix); anything else,
        # such as a record faked at the end of a real record's comment, gets the window.
        window = max(0, total_size - MAX_END_RECORDS)
        try:
            location = _locate(tail, tail_start)
        except (BadArchiveError, UnsupportedArchiveError):
            raise NeedMoreBytes(window) from None  # judged on the whole window instead
        if location.prefix or location.cd_start + location.cd_size != location.end_records_start:
            raise NeedMoreBytes(window)
        return location
    return _locate(tail, tail_start)


def _locate(tail: bytes, tail_start: int) -> DirectoryLocation:
    """The end records in ``tail`` (which starts at ``tail_start``), validated."""
    search_from = max(0, len(tail) - EOCD_SIZE - MAX_COMMENT)
    exact: list[int] = []  # comment reaches the end; latest first
    trailed: list[int] = []  # comment ends before the end: trailing bytes follow
    position = len(tail)
    while True:
        position = tail.rfind(EOCD_SIGNATURE, search_from, position)
        if position < 0:
            break
        end = position + EOCD_SIZE
        if end > len(tail):
            continue
        comment_end = end + int.from_bytes(tail[end - 2 : end], "little")
        if comment_end == len(tail):
            exact.append(position)
        elif comment_end < len(tail):
            trailed.append(position)
    problem: RemoteZipError | None = None
    # Two exact candidates means the later one lies inside the earlier one's comment.
    for position in reversed(exact):
        try:
            location = _validate_candidate(tail, tail_start, tail_start + position)
        except BadArchiveError as bad:
            problem = bad
            continue
        if location is not None and not _in_comment(tail, tail_start, trailed, position):
            return location
    for position in trailed:
        try:
            location = _validate_candidate(tail, tail_start, tail_start + position, trailing=True)
        except (BadArchiveError, UnsupportedArchiveError) as bad:
            problem = problem or bad
            continue
        if location is not None and not _in_comment(tail, tail_start, trailed, position):
            return location
    if problem is not None:
        raise problem
    raise BadArchiveError("not a zip archive (no end of central directory record)")


def _ends_with_bare_record(tail: bytes) -> bool:
    """Whether ``tail`` ends with an end record without a comment (as almost every zip does).

    Then a tail shorter than the largest possible comment is enough to locate the
    directory (zipfile looks there first too); a cohort hint sizes siblings' first GET
    to just the directory (:mod:`remote_zip_store.archive._cohort`). A record with a comment still
    needs the whole comment window, so a record faked inside a comment is never taken.
    """
    return (
        len(tail) >= EOCD_SIZE
        and tail[-EOCD_SIZE : -EOCD_SIZE + 4] == EOCD_SIGNATURE
        and tail[-2:] == b"\0\0"
    )


def _in_comment(tail: bytes, tail_start: int, trailed: list[int], position: int) -> bool:
    """Whether ``position`` lies inside the comment of a valid end record before it."""
    for before in trailed:
        comment_end = before + EOCD_SIZE + int.from_bytes(tail[before + 20 : before + 22], "little")
        if before < position < comment_end:
            try:
                if _validate_candidate(tail, tail_start, tail_start + before, trailing=True):
                    return True
            except (BadArchiveError, UnsupportedArchiveError):
                continue
    return False


def _validate_candidate(
    tail: bytes, tail_start: int, eocd_pos: int, *, trailing: bool = False
) -> DirectoryLocation | None:
    """Parse an EOCD candidate; ``None`` when it is clearly not the real one.

    ``trailing``: bytes may follow the record's comment (padding, appended data).
    """
    total_size = tail_start + len(tail)
    rel = eocd_pos - tail_start
    (_, disk, cd_disk, entries_here, entries, cd_size, cd_offset, comment_len) = _EOCD.unpack_from(
        tail, rel
    )
    comment_end = eocd_pos + EOCD_SIZE + comment_len
    if comment_end != total_size and not (trailing and comment_end < total_size):
        return None
    comment = bytes(tail[rel + EOCD_SIZE : rel + EOCD_SIZE + comment_len])
    zip64 = False
    end_records_start = eocd_pos
    locator_pos = eocd_pos - ZIP64_LOCATOR_SIZE
    has_locator = False
    if locator_pos >= 0:
        if locator_pos < tail_start:
            raise NeedMoreBytes(locator_pos)
        lrel = locator_pos - tail_start
        has_locator = tail[lrel : lrel + 4] == ZIP64_LOCATOR_SIGNATURE
    if has_locator:
        _, z64_disk, z64_offset, total_disks = _ZIP64_LOCATOR.unpack_from(tail, lrel)
        if z64_disk != 0 or total_disks > 1:
            raise UnsupportedArchiveError("multi-disk (split) zip archives are not supported")
        z64_pos = _find_zip64_eocd(tail, tail_start, locator_pos, z64_offset)
        (_, _, _, _, disk, cd_disk, entries_here, entries, cd_size, cd_offset) = (
            _ZIP64_EOCD.unpack_from(tail, z64_pos - tail_start)
        )
        zip64 = True
        end_records_start = z64_pos
    if disk != 0 or cd_disk != 0 or entries_here != entries:
        raise UnsupportedArchiveError("multi-disk (split) zip archives are not supported")
    cd_start = end_records_start - cd_size
    if cd_size > end_records_start or cd_start < 0:
        raise BadArchiveError(f"corrupt zip: central directory size {cd_size} exceeds the archive")
    prefix = cd_start - cd_offset
    if prefix < 0:
        raise BadArchiveError(
            f"corrupt zip: central directory offset {cd_offset} points past its end"
        )
    if cd_size > 0:
        if cd_start < tail_start:
            # Only fetch for a candidate whose directory is at least plausible.
            raise NeedMoreBytes(cd_start)
        crel = cd_start - tail_start
        if tail[crel : crel + 4] != CENTRAL_SIGNATURE:
            raise BadArchiveError(f"corrupt zip: no central directory header at offset {cd_start}")
    elif entries != 0:
        raise BadArchiveError(f"corrupt zip: {entries} entries declared in an empty directory")
    return DirectoryLocation(
        cd_start=cd_start,
        cd_size=cd_size,
        entry_count=entries,
        prefix=prefix,
        zip64=zip64,
        end_records_start=end_records_start,
        comment=comment,
    )


def _find_zip64_eocd(tail: bytes, tail_start: int, locator_pos: int, declared: int) -> int:
    """Position of the ZIP64 EOCD: right before the locator, else where it says."""
    adjacent = locator_pos - ZIP64_EOCD_SIZE
    if adjacent >= 0:
        if adjacent < tail_start:
            raise NeedMoreBytes(adjacent)
        arel = adjacent - tail_start
        if tail[arel : arel + 4] == ZIP64_EOCD_SIGNATURE:
            return adjacent
    # A record with an extensible data sector is longer: trust the locator's offset.
    if declared < 0 or declared + ZIP64_EOCD_SIZE > locator_pos:
        raise BadArchiveError(f"corrupt zip: ZIP64 end record offset {declared} is invalid")
    if declared < tail_start:
        raise NeedMoreBytes(declared)
    drel = declared - tail_start
    if tail[drel : drel + 4] != ZIP64_EOCD_SIGNATURE:
        raise BadArchiveError(f"corrupt zip: no ZIP64 end record at offset {declared}")
    return declared


@dataclass(slots=True)
class Records:
    """The central directory as columns: compact for archives with millions of entries."""

    names: list[str]
    header_offset: array[int]
    compressed_size: array[int]
    uncompressed_size: array[int]
    crc32: array[int]
    method: array[int]
    flags: array[int]
    name_length: array[int]
    extra_length: array[int]

    def __len__(self) -> int:
        return len(self.names)

    def entry(self, i: int, span_end: int) -> Entry:
        """Record ``i`` as an :class:`Entry` whose span ends at ``span_end``."""
        return Entry(
            name=self.names[i],
            header_offset=self.header_offset[i],
            compressed_size=self.compressed_size[i],
            uncompressed_size=self.uncompressed_size[i],
            crc32=self.crc32[i],
            method=self.method[i],
            flags=self.flags[i],
            name_length=self.name_length[i],
            extra_length=self.extra_length[i],
            span_end=span_end,
        )


def parse_central_directory(directory: bytes | memoryview, location: DirectoryLocation) -> Records:
    """Parse ``location.cd_size`` bytes of central directory into :class:`Records`.

    ``directory`` starts at ``location.cd_start``. Offsets in the result are
    absolute (the prefix is already added).
    """
    cd_size = location.cd_size
    if len(directory) < cd_size:
        raise NeedMoreBytes(location.cd_start)
    if cd_size >= VECTORIZE_FROM:
        fast = parse_vectorized(directory, location)
        if fast is not None:
            return fast
    return _parse_loop(directory, location)


def _parse_loop(directory: bytes | memoryview, location: DirectoryLocation) -> Records:
    """Record by record: the reference path, and the one that names what is corrupt.

    Each record's fixed fields are kept as the tuple ``unpack_from`` returns and turned
    into columns once at the end; an ASCII name (nearly all) is decoded without the
    cp437 codec, which maps ASCII to itself.
    """
    cd_size = location.cd_size
    buf = bytes(directory[:cd_size]) if not isinstance(directory, bytes) else directory
    prefix = location.prefix
    names: list[str] = []
    rows: list[tuple[Any, ...]] = []
    unpack = _CENTRAL.unpack_from
    add_name, add_row = names.append, rows.append
    pos = 0
    limit = cd_size - CENTRAL_SIZE
    while pos < cd_size:
        if pos > limit:
            raise BadArchiveError(
                f"corrupt zip: truncated central directory record at offset "
                f"{location.cd_start + pos}"
            )
        row = unpack(buf, pos)
        if row[0] != CENTRAL_SIGNATURE:
            raise BadArchiveError(
                f"corrupt zip: bad central directory signature at offset {location.cd_start + pos}"
            )
        name_end = pos + CENTRAL_SIZE + row[10]
        end = name_end + row[11] + row[12]
        if end > cd_size:
            raise BadArchiveError(
                f"corrupt zip: central directory record at offset "
                f"{location.cd_start + pos} runs past the directory"
            )
        raw_name = buf[pos + CENTRAL_SIZE : name_end]
        csize, usize, offset, disk = row[8], row[9], row[16], row[13]
        if csize == U32_MAX or usize == U32_MAX or offset == U32_MAX or disk == U16_MAX:
            usize, csize, offset = _apply_zip64_extra(
                buf[name_end : name_end + row[11]], usize, csize, offset, disk, raw_name
            )
            row = (*row[:8], csize, usize, *row[10:16], offset)
        if raw_name.isascii() and b"\x00" not in raw_name:
            add_name(raw_name.decode("ascii"))
        else:
            add_name(decode_name(raw_name, row[3]))
        add_row(row)
        pos = end
    _check_count(len(names), location)
    if not rows:
        return Records(names, *(array(code) for code in "QQQIHHHH"))
    columns = list(zip(*rows, strict=True))
    offsets = columns[16] if not prefix else [offset + prefix for offset in columns[16]]
    return Records(
        names,
        array("Q", offsets),
        array("Q", columns[8]),
        array("Q", columns[9]),
        array("I", columns[7]),
        array("H", columns[4]),
        array("H", columns[3]),
        array("H", columns[10]),
        array("H", columns[11]),
    )


def parse_vectorized(directory: bytes | memoryview, location: DirectoryLocation) -> Records | None:
    """The same result as the record loop, built with numpy; ``None`` for unusual input.

    Record starts are found by scanning for the header signature and accepted
    only when they chain exactly (each record ends where the next begins, the
    last at the directory's end). Names are decoded in one call and split.
    Anything unusual (a broken chain, NUL or empty names, mixed encodings over
    a long name) returns ``None`` and the record loop takes over, which also
    produces the precise error for a corrupt directory.
    """
    cd_size = location.cd_size
    buf = np.frombuffer(directory, dtype=np.uint8, count=cd_size)
    starts = _record_starts(buf)
    if starts is None:
        return None
    count = len(starts)
    _check_count(count, location)
    fixed = _rows_at(buf, starts).view(CENTRAL_DTYPE).reshape(count)
    flags = fixed["flags"]
    nlen = fixed["nlen"].astype(np.int64)
    names = _decode_names(directory, buf, starts + CENTRAL_SIZE, nlen, flags)
    if names is None:
        return None
    usize = fixed["usize"].astype(np.uint64)
    csize = fixed["csize"].astype(np.uint64)
    offset = fixed["offset"].astype(np.uint64)
    overflowed = _overflowed(fixed)
    if overflowed.any():
        elen = fixed["elen"]
        raw = bytes(directory[:cd_size]) if not isinstance(directory, bytes) else directory
        for i in np.flatnonzero(overflowed).tolist():
            name_start = int(starts[i]) + CENTRAL_SIZE
            name_end = name_start + int(nlen[i])
            usize[i], csize[i], offset[i] = _apply_zip64_extra(
                raw[name_end : name_end + int(elen[i])],
                int(usize[i]),
                int(csize[i]),
                int(offset[i]),
                int(fixed["disk"][i]),
                raw[name_start:name_end],
            )
    offset += np.uint64(location.prefix)
    return Records(
        names,
        _column("Q", offset),
        _column("Q", csize),
        _column("Q", usize),
        _column("I", fixed["crc"]),
        _column("H", fixed["method"]),
        _column("H", flags),
        _column("H", fixed["nlen"]),
        _column("H", fixed["elen"]),
    )


@dataclass(frozen=True, eq=False)
class Layout:
    """Where a directory's records start and what their names are, byte for byte: a
    sibling archive of a cohort (the same writer, the same names) has the same, so its
    directory parses by gathering the fixed fields at these starts (:func:`parse_like`)
    instead of walking it record by record. ``names`` is the first archive's list,
    shared by every sibling parsed with it (their indexes then share one lookup)."""

    cd_size: int
    names: list[str]
    check_at: npt.NDArray[np.intp]
    """Where each record's *key* bytes (signature, flags' high byte: the UTF-8 bit, and
    name, extra and comment lengths, which fix where the next record starts), then every
    name byte, are: one gather checks a sibling."""
    check: bytes
    """Those key bytes, then the name bytes: what a sibling has at :attr:`check_at`."""
    wide_at: npt.NDArray[np.intp]
    """The 4-byte fields' bytes, field after field: offset, csize, usize, then crc."""
    narrow_at: npt.NDArray[np.intp]
    """The 2-byte fields' bytes, field after field: method, flags, then disk."""
    name_length: array[int]
    extra_length: array[int]
    """These two are key bytes: a sibling that passes the check has the same."""


#: A central record's key bytes (:attr:`Layout.check`): signature, flags' high byte,
#: name, extra and comment lengths.
_KEY_COLUMNS = np.array([0, 1, 2, 3, 9, 28, 29, 30, 31, 32, 33], dtype=np.intp)
#: Offsets in a central record of the fields :func:`parse_like` reads (see Layout).
_WIDE_FIELDS = (42, 20, 24, 16)  # offset, csize, usize, crc
_NARROW_FIELDS = (10, 8, 34)  # method, flags, disk


def _field_positions(starts: npt.NDArray[np.int64], fields: tuple[int, ...], width: int) -> Any:
    """Every byte of ``fields`` (each ``width`` bytes) of every record, field after field."""
    within = np.add.outer(np.asarray(fields, dtype=np.intp), np.arange(width, dtype=np.intp))
    # (field, record, byte) -> flat: each field's column of records, each record's bytes
    return (within[:, None, :] + starts.astype(np.intp)[None, :, None]).reshape(-1)


def layout_of(
    directory: bytes | memoryview, location: DirectoryLocation, names: list[str]
) -> Layout | None:
    """The :class:`Layout` of a directory just parsed into ``names``; None when unusual
    (records that do not chain exactly, ZIP64 fields: siblings then parse the usual way)."""
    cd_size = location.cd_size
    if cd_size < CENTRAL_SIZE or len(directory) < cd_size:
        return None
    buf = np.frombuffer(directory, dtype=np.uint8, count=cd_size)
    starts = _record_starts(buf)
    if starts is None or len(starts) != len(names):
        return None
    rows = _rows_at(buf, starts)
    fixed = rows.view(CENTRAL_DTYPE).reshape(len(starts))
    if _overflowed(fixed).any():
        return None
    name_at = _name_positions(starts, fixed["nlen"].astype(np.int64))
    key_at = (starts.astype(np.intp)[:, None] + _KEY_COLUMNS[None, :]).reshape(-1)
    key = rows[:, _KEY_COLUMNS].tobytes()
    name_bytes = buf[name_at].tobytes()
    return Layout(
        cd_size=cd_size,
        names=names,
        check_at=np.concatenate([key_at, name_at.astype(np.intp)]),
        check=key + name_bytes,
        wide_at=_field_positions(starts, _WIDE_FIELDS, 4),
        narrow_at=_field_positions(starts, _NARROW_FIELDS, 2),
        name_length=_column("H", fixed["nlen"]),
        extra_length=_column("H", fixed["elen"]),
    )


def parse_like(
    directory: bytes | memoryview, location: DirectoryLocation, layout: Layout
) -> Records | None:
    """The directory parsed by ``layout`` (a sibling's), or None when it is not laid out
    alike: then :func:`parse_central_directory` parses it (and names what is corrupt).

    Alike means: the same size and entry count, a record signature at every start, the
    same name, extra and comment lengths (so the records chain the same way), the same
    name bytes and flags' high byte (the UTF-8 bit), and no ZIP64 field. Then every
    record is where the layout says, and the result equals the record loop's, with the
    layout's ``names`` list itself.
    """
    cd_size = location.cd_size
    count = len(layout.names)
    if cd_size != layout.cd_size or len(directory) < cd_size:
        return None
    if location.entry_count != count and not (
        not location.zip64 and location.entry_count == count % 0x10000
    ):
        return None
    buf = np.frombuffer(directory, dtype=np.uint8, count=cd_size)
    # One gather checks what fixes the records' places and the names (Layout.key, then
    # the name bytes); two more take the fields read, each field's column contiguous.
    if buf[layout.check_at].tobytes() != layout.check:
        return None
    wide = buf[layout.wide_at].view("<u4")  # offset, csize, usize, crc
    narrow = buf[layout.narrow_at].view("<u2")  # method, flags, disk
    # A field at its maximum defers to a ZIP64 extra (the disk number: ditto).
    if count and (
        int(wide[: 3 * count].max()) == U32_MAX or int(narrow[2 * count :].max()) == U16_MAX
    ):
        return None
    sizes = wide[: 3 * count].astype("=u8")
    if location.prefix:
        sizes[:count] += np.uint64(location.prefix)
    offset, csize, usize = _split("Q", sizes, 3)
    (crc,) = _split("I", wide[3 * count :], 1)
    method, flags = _split("H", narrow[: 2 * count], 2)
    return Records(
        layout.names,
        offset,
        csize,
        usize,
        crc,
        method,
        flags,
        array("H", layout.name_length),
        array("H", layout.extra_length),
    )


def _split(typecode: str, values: npt.NDArray[Any], parts: int) -> list[array[int]]:
    """``values`` as ``parts`` arrays of ``typecode`` (one conversion, no copies between)."""
    raw = np.ascontiguousarray(values, dtype=f"={typecode}").data.cast("B")
    step = len(raw) // parts
    columns = []
    for i in range(parts):
        column = array(typecode)
        column.frombytes(raw[i * step : (i + 1) * step])
        columns.append(column)
    return columns


def _rows_at(buf: npt.NDArray[np.uint8], starts: npt.NDArray[np.int64]) -> Any:
    """The fixed part of the records at ``starts`` (each <= len - CENTRAL_SIZE), as rows."""
    window = np.lib.stride_tricks.as_strided(
        buf, shape=(len(buf) - CENTRAL_SIZE + 1, CENTRAL_SIZE), strides=(1, 1), writeable=False
    )
    return window[starts]


def _overflowed(fixed: Any) -> npt.NDArray[np.bool_]:
    """Which records defer a field to a ZIP64 extra (or name a disk: ditto)."""
    overflowed: npt.NDArray[np.bool_] = (
        (fixed["usize"] == U32_MAX)
        | (fixed["csize"] == U32_MAX)
        | (fixed["offset"] == U32_MAX)
        | (fixed["disk"] == U16_MAX)
    )
    return overflowed


def _name_positions(starts: npt.NDArray[np.int64], nlen: npt.NDArray[np.int64]) -> Any:
    """Every name byte's position: each record's ``start + CENTRAL_SIZE + 0..nlen-1``."""
    keep = nlen > 0
    bases = (starts + CENTRAL_SIZE)[keep]
    lengths = nlen[keep]
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    # steps of 1 within a name, a jump to the next name's first byte: one cumulative sum
    steps = np.ones(total, dtype=np.int64)
    steps[0] = bases[0]
    firsts = np.cumsum(lengths)[:-1]
    steps[firsts] = bases[1:] - (bases[:-1] + lengths[:-1] - 1)
    return np.cumsum(steps)


def _column(typecode: str, values: npt.NDArray[np.generic]) -> array[int]:
    column = array(typecode)
    column.frombytes(np.ascontiguousarray(values, dtype=f"={typecode}").tobytes())
    return column


def _record_starts(buf: npt.NDArray[np.uint8]) -> npt.NDArray[np.int64] | None:
    """Offsets of the records, or ``None`` when they do not chain exactly."""
    size = len(buf)
    if size < CENTRAL_SIZE:
        return None
    cand = np.flatnonzero(buf[: size - 3] == 0x50)
    cand = cand[(buf[cand + 1] == 0x4B) & (buf[cand + 2] == 1) & (buf[cand + 3] == 2)]
    cand = cand[cand <= size - CENTRAL_SIZE].astype(np.int64)
    if len(cand) == 0 or cand[0] != 0:
        return None
    lengths = np.zeros(len(cand), dtype=np.int64)
    for field in (28, 30, 32):  # name, extra and comment lengths
        lengths += buf[cand + field].astype(np.int64) | (
            buf[cand + field + 1].astype(np.int64) << 8
        )
    following = cand + CENTRAL_SIZE + lengths
    if following[-1] == size and np.array_equal(following[:-1], cand[1:]):
        exact: npt.NDArray[np.int64] = cand
        return exact
    # A signature inside a name or extra field: follow the chain from the first record.
    where = np.searchsorted(cand, following).tolist()
    ends = following.tolist()
    known = cand.tolist()
    chain = [0]
    i = 0
    while ends[i] != size:
        j = where[i]
        if j >= len(known) or known[j] != ends[i]:
            return None
        chain.append(j)
        i = j
    result: npt.NDArray[np.int64] = cand[chain]
    return result


def _decode_names(
    directory: bytes | memoryview,
    buf: npt.NDArray[np.uint8],
    starts: npt.NDArray[np.int64],
    nlen: npt.NDArray[np.int64],
    flags: npt.NDArray[np.uint16],
) -> list[str] | None:
    """All names, decoded in one call: gathered NUL-separated, decoded, split."""
    count = len(starts)
    if count == 0:
        return []
    if not nlen.all():
        return None
    width = int(nlen.max()) + 1
    total = int(nlen.sum()) + count
    if count * width <= 4 * total:
        rows = np.zeros((count, width), dtype=np.uint8)
        room = len(buf) - width + 1
        inside = starts < room
        if room > 0:
            window = np.lib.stride_tricks.as_strided(
                buf, shape=(room, width), strides=(1, 1), writeable=False
            )
            rows[inside] = window[starts[inside]]
        for i in np.flatnonzero(~inside).tolist():
            start, length = int(starts[i]), int(nlen[i])
            rows[i, :length] = buf[start : start + length]
        rows[np.arange(count), nlen] = 0
        packed = rows[np.arange(width) <= nlen[:, None]]
        blob = packed.tobytes()
        if len(blob) - np.count_nonzero(packed) != count:
            return None  # a NUL inside a name: the loop cuts names there
    else:  # one long name among short ones: slice instead of padding
        view = memoryview(directory)
        blob = (
            b"\x00".join(
                [view[s : s + n] for s, n in zip(starts.tolist(), nlen.tolist(), strict=True)]
            )
            + b"\x00"
        )
        if blob.count(b"\x00") != count:
            return None
    utf8 = flags & FLAG_UTF8
    if blob.isascii():
        text = blob.decode("ascii")
    elif utf8.all():
        text = blob.decode("utf-8", "surrogateescape")
    elif not utf8.any():
        text = blob.decode("cp437")
    else:
        raws = blob.split(b"\x00")
        raws.pop()
        return [decode_name(raw, f) for raw, f in zip(raws, flags.tolist(), strict=True)]
    names = text.split("\x00")
    names.pop()
    return names


def _check_count(count: int, location: DirectoryLocation) -> None:
    declared = location.entry_count
    if count != declared and not (not location.zip64 and declared == count % 0x10000):
        raise BadArchiveError(
            f"corrupt zip: directory declares {declared} entries but holds {count}"
        )


def decode_name(raw: bytes, flags: int) -> str:
    """UTF-8 when flag bit 11 is set, else cp437; cut at a NUL like CPython."""
    name = raw.decode("utf-8", "surrogateescape") if flags & FLAG_UTF8 else raw.decode("cp437")
    nul = name.find("\x00")
    return name[:nul] if nul >= 0 else name


def _apply_zip64_extra(
    extra: bytes, usize: int, csize: int, offset: int, disk: int, raw_name: bytes
) -> tuple[int, int, int]:
    """Replace the overflowed fields from the ZIP64 extra (only those, in order)."""
    pos = 0
    while pos + 4 <= len(extra):
        tag, size = _EXTRA_HEADER.unpack_from(extra, pos)
        body = extra[pos + 4 : pos + 4 + size]
        if len(body) < size:
            break
        if tag == ZIP64_EXTRA_ID:
            values = []
            need = [usize == U32_MAX, csize == U32_MAX, offset == U32_MAX]
            count = sum(need)
            if len(body) < 8 * count:
                raise BadArchiveError(
                    f"corrupt zip: ZIP64 extra field of {raw_name!r} is too short"
                )
            values = list(struct.unpack_from(f"<{count}Q", body))
            if need[0]:
                usize = values.pop(0)
            if need[1]:
                csize = values.pop(0)
            if need[2]:
                offset = values.pop(0)
            return usize, csize, offset
        pos += 4 + size
    raise BadArchiveError(f"corrupt zip: {raw_name!r} needs a ZIP64 extra field and has none")


@dataclass(frozen=True, slots=True)
class LocalHeader:
    flags: int
    method: int
    name: bytes
    data_offset: int
    """Offset of the entry's data relative to the start of the local header."""


def parse_local_header(raw: bytes | memoryview, name: str = "") -> LocalHeader:
    """Parse a local file header at the start of ``raw`` (which may hold more).

    ``name``, the entry the header should belong to, only makes the message say which.
    """
    of = f" for {name!r}" if name else ""
    if len(raw) < LOCAL_SIZE:
        raise CorruptEntryError(f"corrupt zip: local header{of} is truncated")
    sig, _, flags, method, _, _, _, _, _, nlen, elen = _LOCAL.unpack_from(raw, 0)
    if sig != LOCAL_SIGNATURE:
        raise CorruptEntryError(f"corrupt zip: bad local header signature{of}")
    local_name = bytes(raw[LOCAL_SIZE : LOCAL_SIZE + nlen])
    return LocalHeader(flags, method, local_name, LOCAL_SIZE + nlen + elen)


def entry_data_offset(raw: bytes | memoryview, entry: Entry) -> int:
    """Where ``entry``'s data starts in ``raw`` (which starts at its local header).

    The local header must carry the entry's name: decoded with the central flags,
    this compares the raw name bytes, so an archive that sets the UTF-8 flag in
    one header only still reads (CPython 3.11 refuses it). The raw names must be
    as long, too: both are cut at a NUL, and CPython compares what follows it
    (a local name shorter or longer than the central one would make a data start
    taken from the directory wrong). Sizes come from the central directory; the
    data must end before it.
    """
    header = parse_local_header(raw, entry.name)
    if decode_name(header.name, entry.flags) != entry.name or len(header.name) != entry.name_length:
        raise CorruptEntryError(f"corrupt: the local header names {header.name!r}")
    return header.data_offset
