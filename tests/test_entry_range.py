"""``ZipArchive.read_entry_range`` far into a stored entry (a shard index at its end):
one GET of exactly the sub-range beside a GET of the local header, whatever the local
extra field holds; zarr-agnostic (runs under zarr 2 and zarr 3)."""

from __future__ import annotations

import io
import random
import struct
import zipfile
import zlib
from pathlib import Path

import pytest

from remote_zip_store.errors import CorruptEntryError
from remote_zip_store.hierarchy._frontend import open_archive

from . import craft

PAYLOAD = random.Random(7).randbytes(300_000)
NAME = b"sh/c/0/0"
HEADER = 30 + len(NAME)
FAR = (299_000, 300_000)  # beyond coalesce_gap from the start: the two-GET path


def _archive(tmp_path: Path, data: bytes):  # type: ignore[no-untyped-def]
    path = tmp_path / "r.zip"
    path.write_bytes(data)
    return open_archive(path, tail_size=1024, head_size=0)


def _zipfile_archive() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("pad", b"p" * 200_000)
        z.writestr(NAME.decode(), PAYLOAD)
        z.writestr("after", b"a" * 300_000)
    return buf.getvalue()


def _crafted(*, local_extra: bytes, descriptor: bool, gap: int = 0) -> bytes:
    builder = craft.Builder()
    builder.add(b"pad", b"p" * 200_000)
    builder.add(NAME, PAYLOAD, flags=0x08 if descriptor else 0, local_extra=local_extra)
    if descriptor:
        builder.raw(struct.pack("<4I", 0x08074B50, zlib.crc32(PAYLOAD), len(PAYLOAD), len(PAYLOAD)))
    builder.raw(b"\0" * gap)
    builder.add(b"after", b"a" * 300_000)
    return builder.finish()


def test_far_range_is_the_header_and_exactly_the_sub_range(tmp_path: Path) -> None:
    archive = _archive(tmp_path, _zipfile_archive())
    entry = archive.index.get(NAME.decode())
    assert entry is not None
    stats = archive.source.stats
    stats.reset()
    assert archive.read_entry_range(entry, *FAR) == PAYLOAD[FAR[0] : FAR[1]]
    assert stats.snapshot() == (2, HEADER + FAR[1] - FAR[0])  # not the whole entry
    stats.reset()
    assert archive.read_entry_range(entry, 100_000, 100_100) == PAYLOAD[100_000:100_100]
    assert stats.snapshot() == (1, 100)  # the data start is remembered
    archive.close()


@pytest.mark.parametrize(
    ("local_extra", "descriptor", "gap"),
    [
        (b"UT\x05\x00\x01\x00\x00\x00\x00", True, 0),  # Info-ZIP: local extra not central
        (b"", False, 100),  # bytes between this entry and the next
        (b"\xfe\xca\x00\x00", True, 7),
    ],
)
def test_wrong_guess_is_refetched_never_returned(
    tmp_path: Path, local_extra: bytes, descriptor: bool, gap: int
) -> None:
    archive = _archive(tmp_path, _crafted(local_extra=local_extra, descriptor=descriptor, gap=gap))
    entry = archive.index.get(NAME.decode())
    assert entry is not None
    stats = archive.source.stats
    stats.reset()
    assert archive.read_entry_range(entry, *FAR) == PAYLOAD[FAR[0] : FAR[1]]
    assert stats.snapshot()[0] == 3  # header + wrong guess, then the right range
    stats.reset()
    assert archive.read_entry_range(entry, 70_000, 70_010) == PAYLOAD[70_000:70_010]
    assert stats.snapshot() == (1, 10)
    archive.close()


def test_far_range_with_a_bad_local_header_is_corrupt(tmp_path: Path) -> None:
    data = bytearray(_zipfile_archive())
    offset = data.index(NAME, 200_000) - 30  # the entry's local header
    data[offset : offset + 4] = b"PK\x07\x08"
    archive = _archive(tmp_path, bytes(data))
    entry = archive.index.get(NAME.decode())
    assert entry is not None
    with pytest.raises(CorruptEntryError, match=r"key 'sh/c/0/0' in archive .*signature"):
        archive.read_entry_range(entry, *FAR)
    archive.close()
