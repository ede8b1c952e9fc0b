"""Zip records encoded: local headers, central records, end records (pure, no I/O).

What :class:`~remote_zip_store.archive.ZipWriter` streams, and what the unit tests
drive with sizes and offsets too large to write for real. The layouts are the parser's
(:mod:`.records`), written once.
"""

from __future__ import annotations

import struct
import zlib
from typing import Any

from ..errors import InvalidKeyError, InvalidValueError
from ._parse import U16_MAX, U32_MAX
from ._records import CENTRAL as _CENTRAL
from ._records import (
    CENTRAL_SIGNATURE,
    EOCD_SIGNATURE,
    FLAG_UTF8,
    LOCAL_SIGNATURE,
    ZIP64_EOCD_SIGNATURE,
    ZIP64_EOCD_SIZE,
    ZIP64_EXTRA_ID,
    ZIP64_LOCATOR_SIGNATURE,
)
from ._records import EOCD as _EOCD
from ._records import EXTRA_HEADER as _EXTRA_HEADER
from ._records import LOCAL as _LOCAL
from ._records import ZIP64_EOCD as _ZIP64_EOCD
from ._records import ZIP64_LOCATOR as _ZIP64_LOCATOR

VERSION_DEFAULT = 20  # deflate, directories (APPNOTE 4.4.3.2)
VERSION_ZIP64 = 45
MADE_BY_UNIX = 3 << 8
#: ``-rw-r--r--`` regular file, in the high 16 bits of the external attributes.
FILE_ATTRIBUTES = (0o100644 & 0xFFFF) << 16
#: Most entries in the end record without ZIP64 (the brief's "more than 65,535").
MAX_PLAIN_ENTRIES = U16_MAX


def encode_name(name: str) -> tuple[bytes, int]:
    """``(raw name, flags)`` for a zip entry name; :class:`InvalidKeyError` when it cannot be one.

    Refused: not a ``str``, empty, a leading ``/``, a backslash (APPNOTE 4.4.17:
    forward slashes only), empty, ``.`` or ``..`` segments, NUL, text that is
    not encodable as UTF-8 (lone surrogates), longer than 65,535 bytes.
    """
    if not isinstance(name, str):
        raise InvalidKeyError(f"an entry name must be a str, not {type(name).__name__}")
    if not name:
        raise InvalidKeyError("an entry name must not be empty")
    if "\x00" in name:
        raise InvalidKeyError(f"entry name {name!r} contains a NUL character")
    if name.startswith("/"):
        raise InvalidKeyError(f"entry name {name!r} is absolute (starts with '/')")
    if "\\" in name:
        raise InvalidKeyError(f"entry name {name!r} contains a backslash (zip names use '/')")
    for segment in name.split("/"):
        if segment in ("", ".", ".."):
            raise InvalidKeyError(f"entry name {name!r} has an empty, '.' or '..' path segment")
    try:
        raw = name.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidKeyError(f"entry name {name!r} is not valid UTF-8 ({exc.reason})") from exc
    if len(raw) > U16_MAX:
        raise InvalidKeyError(f"entry name is {len(raw)} bytes; a zip name holds at most 65,535")
    return raw, (0 if raw.isascii() else FLAG_UTF8)


def dos_date_time(date_time: tuple[int, int, int, int, int, int]) -> tuple[int, int]:
    """``(time, date)`` in MS-DOS format (2-second resolution, years 1980-2107)."""
    year, month, day, hour, minute, second = date_time
    year = min(max(year, 1980), 2107)
    return (hour << 11) | (minute << 5) | (second // 2), ((year - 1980) << 9) | (month << 5) | day


def _zip64_extra(fields: list[int], *, every: bool) -> tuple[list[int], bytes, int]:
    """The 32-bit fields as written, the ZIP64 extra and the version needed to extract.

    ``fields`` are in the extra's order (uncompressed size, compressed size, offset).
    An overflowed field is written as 0xFFFFFFFF and its value goes into the extra; a
    local header puts ``every`` field there once one overflows (APPNOTE 4.5.3), a
    central record only the overflowed ones.
    """
    over = [value >= U32_MAX for value in fields]
    if not any(over):
        return fields, b"", VERSION_DEFAULT
    held = [value for value, o in zip(fields, over, strict=True) if o or every]
    written = [U32_MAX if o or every else value for value, o in zip(fields, over, strict=True)]
    extra = _EXTRA_HEADER.pack(ZIP64_EXTRA_ID, 8 * len(held)) + struct.pack(f"<{len(held)}Q", *held)
    return written, extra, VERSION_ZIP64


def local_header(
    raw_name: bytes,
    *,
    flags: int,
    method: int,
    crc32: int,
    compressed_size: int,
    uncompressed_size: int,
    dos_time: int = 0,
    dos_date: int = (1 << 5) | 1,
) -> bytes:
    """A local file header; sizes over 32 bits go into a ZIP64 extra holding both sizes."""
    (usize, csize), extra, version = _zip64_extra([uncompressed_size, compressed_size], every=True)
    header = _LOCAL.pack(
        LOCAL_SIGNATURE,
        version,
        flags,
        method,
        dos_time,
        dos_date,
        crc32,
        csize,
        usize,
        len(raw_name),
        len(extra),
    )
    return header + raw_name + extra


def central_record(
    raw_name: bytes,
    *,
    flags: int,
    method: int,
    crc32: int,
    compressed_size: int,
    uncompressed_size: int,
    offset: int,
    dos_time: int = 0,
    dos_date: int = (1 << 5) | 1,
    external_attributes: int = FILE_ATTRIBUTES,
) -> bytes:
    """A central-directory record; only the overflowed fields go into the ZIP64 extra."""
    (usize, csize, rel), extra, version = _zip64_extra(
        [uncompressed_size, compressed_size, offset], every=False
    )
    record = _CENTRAL.pack(
        CENTRAL_SIGNATURE,
        MADE_BY_UNIX | version,
        version,
        flags,
        method,
        dos_time,
        dos_date,
        crc32,
        csize,
        usize,
        len(raw_name),
        len(extra),
        0,  # comment length
        0,  # disk number
        0,  # internal attributes
        external_attributes,
        rel,
    )
    return record + raw_name + extra


def directory_needs_zip64(entries: int, cd_size: int, cd_offset: int) -> bool:
    """Whether the end records need the ZIP64 pair (a count or 32-bit field overflows)."""
    return entries > MAX_PLAIN_ENTRIES or cd_size >= U32_MAX or cd_offset >= U32_MAX


def end_records(
    entries: int, cd_size: int, cd_offset: int, comment: bytes = b"", *, zip64: bool = False
) -> bytes:
    """The end of the archive, right after the directory at absolute ``cd_offset``.

    With ZIP64 (needed, or asked for with ``zip64=True``): the ZIP64 end record,
    its locator, then the classic record with the overflowed fields at their
    all-ones value (fields that fit keep their value).
    """
    if len(comment) > U16_MAX:
        raise ValueError("a zip comment holds at most 65,535 bytes")
    out = b""
    if zip64 or directory_needs_zip64(entries, cd_size, cd_offset):
        z64_offset = cd_offset + cd_size
        out += _ZIP64_EOCD.pack(
            ZIP64_EOCD_SIGNATURE,
            ZIP64_EOCD_SIZE - 12,  # the record's size after this field
            MADE_BY_UNIX | VERSION_ZIP64,
            VERSION_ZIP64,
            0,
            0,
            entries,
            entries,
            cd_size,
            cd_offset,
        )
        out += _ZIP64_LOCATOR.pack(ZIP64_LOCATOR_SIGNATURE, 0, z64_offset, 1)
        entries = min(entries, U16_MAX)
        cd_size = min(cd_size, U32_MAX)
        cd_offset = min(cd_offset, U32_MAX)
    return (
        out
        + _EOCD.pack(EOCD_SIGNATURE, 0, 0, entries, entries, cd_size, cd_offset, len(comment))
        + comment
    )


def as_bytes(value: Any) -> memoryview:
    """``value`` as a flat byte view (no copy); :class:`InvalidValueError` when not bytes-like."""
    if isinstance(value, str):
        raise InvalidValueError("a value must be bytes-like, not str (encode it first)")
    try:
        view = memoryview(value)
    except TypeError as exc:
        raise InvalidValueError(
            f"a value must be bytes-like (bytes, bytearray, memoryview, a contiguous "
            f"buffer), not {type(value).__name__}"
        ) from exc
    if not view.c_contiguous:
        raise InvalidValueError("a value must be a C-contiguous buffer")
    return view.cast("B") if (view.format != "B" or view.ndim != 1) else view


def deflate(data: memoryview, level: int) -> bytes:
    """Raw deflate (no zlib header), as zip method 8 stores it."""
    compressor = zlib.compressobj(level, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush()
