"""Hand-built zip records, for layouts no producer writes on demand.

Multi-disk end records, ZIP64 end records with an extensible data sector,
ZIP64 extras holding only some fields, cp437 names, lying sizes: each test
assembles exactly the bytes it needs from these builders.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

U32 = 0xFFFFFFFF
U16 = 0xFFFF


def local_header(
    name: bytes,
    *,
    method: int = 0,
    flags: int = 0,
    crc: int = 0,
    csize: int = 0,
    usize: int = 0,
    extra: bytes = b"",
) -> bytes:
    return (
        struct.pack(
            "<4s5H3L2H",
            b"PK\x03\x04",
            20,
            flags,
            method,
            0,
            0x21,
            crc,
            csize,
            usize,
            len(name),
            len(extra),
        )
        + name
        + extra
    )


def central_header(
    name: bytes,
    *,
    offset: int,
    method: int = 0,
    flags: int = 0,
    crc: int = 0,
    csize: int = 0,
    usize: int = 0,
    extra: bytes = b"",
    comment: bytes = b"",
    disk: int = 0,
) -> bytes:
    return (
        struct.pack(
            "<4s6H3L5H2L",
            b"PK\x01\x02",
            0x031E,
            20,
            flags,
            method,
            0,
            0x21,
            crc,
            csize,
            usize,
            len(name),
            len(extra),
            len(comment),
            disk,
            0,
            0,
            offset,
        )
        + name
        + extra
        + comment
    )


def zip64_extra(*values: int) -> bytes:
    """The 0x0001 extra field holding ``values`` (the overflowed fields, in order)."""
    return struct.pack("<2H", 1, 8 * len(values)) + struct.pack(f"<{len(values)}Q", *values)


def eocd(
    *,
    entries: int,
    cd_size: int,
    cd_offset: int,
    comment: bytes = b"",
    disk: int = 0,
    cd_disk: int = 0,
    entries_here: int | None = None,
    comment_length: int | None = None,
) -> bytes:
    return (
        struct.pack(
            "<4s4H2LH",
            b"PK\x05\x06",
            disk,
            cd_disk,
            entries if entries_here is None else entries_here,
            entries,
            cd_size,
            cd_offset,
            len(comment) if comment_length is None else comment_length,
        )
        + comment
    )


def zip64_eocd(
    *,
    entries: int,
    cd_size: int,
    cd_offset: int,
    disk: int = 0,
    cd_disk: int = 0,
    extensible: bytes = b"",
) -> bytes:
    return (
        struct.pack(
            "<4sQ2H2L4Q",
            b"PK\x06\x06",
            44 + len(extensible),
            45,
            45,
            disk,
            cd_disk,
            entries,
            entries,
            cd_size,
            cd_offset,
        )
        + extensible
    )


def zip64_locator(*, offset: int, disk: int = 0, total_disks: int = 1) -> bytes:
    return struct.pack("<4sLQL", b"PK\x06\x07", disk, offset, total_disks)


@dataclass
class Builder:
    """Append entries (local header + data), then ``finish()`` with end records.

    ``start`` is the absolute offset of the first byte produced (used when the
    bytes land after a sparse region of a file).
    """

    start: int = 0
    parts: list[bytes] = field(default_factory=list)
    central: list[bytes] = field(default_factory=list)
    size: int = 0

    @property
    def position(self) -> int:
        return self.start + self.size

    def raw(self, data: bytes) -> None:
        self.parts.append(data)
        self.size += len(data)

    def add(
        self,
        name: bytes,
        payload: bytes,
        *,
        method: int = 0,
        flags: int = 0,
        stored: bytes | None = None,
        crc: int | None = None,
        usize: int | None = None,
        local_extra: bytes = b"",
        central_extra: bytes = b"",
        zip64_offset: bool = False,
    ) -> None:
        """Add ``payload``; ``stored`` are the bytes written (default: ``payload``)."""
        data = payload if stored is None else stored
        crc = zlib.crc32(payload) if crc is None else crc
        usize = len(payload) if usize is None else usize
        offset = self.position
        self.raw(
            local_header(
                name,
                method=method,
                flags=flags,
                crc=crc,
                csize=len(data),
                usize=usize,
                extra=local_extra,
            )
            + data
        )
        if zip64_offset or offset >= U32:
            central_extra = zip64_extra(offset) + central_extra
            offset = U32
        self.central.append(
            central_header(
                name,
                offset=offset,
                method=method,
                flags=flags,
                crc=crc,
                csize=len(data),
                usize=usize,
                extra=central_extra,
            )
        )

    def finish(
        self,
        *,
        comment: bytes = b"",
        zip64: bool = False,
        extensible: bytes = b"",
        disk: int = 0,
        cd_disk: int = 0,
        total_disks: int = 1,
        entries_here: int | None = None,
        entry_count: int | None = None,
    ) -> bytes:
        """Central directory + (ZIP64) end records; returns every byte produced.

        ``entry_count`` overrides the count the end record declares (default: the truth).
        """
        cd_offset = self.position
        for record in self.central:
            self.raw(record)
        cd_size = self.position - cd_offset
        count = len(self.central) if entry_count is None else entry_count
        if zip64:
            z64_offset = self.position
            self.raw(
                zip64_eocd(
                    entries=count,
                    cd_size=cd_size,
                    cd_offset=cd_offset,
                    disk=disk,
                    cd_disk=cd_disk,
                    extensible=extensible,
                )
            )
            self.raw(zip64_locator(offset=z64_offset, disk=cd_disk, total_disks=total_disks))
            self.raw(eocd(entries=U16, cd_size=U32, cd_offset=U32, comment=comment, disk=disk))
        else:
            self.raw(
                eocd(
                    entries=count,
                    cd_size=cd_size,
                    cd_offset=cd_offset,
                    comment=comment,
                    disk=disk,
                    cd_disk=cd_disk,
                    entries_here=entries_here,
                )
            )
        return b"".join(self.parts)
