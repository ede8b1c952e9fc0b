"""Unit tests of the pure zip parser (``zipformat``): bytes in, records out.

Archives come from CPython's zipfile where it writes the layout, and from the
hand-built records in :mod:`tests.craft` where no producer writes it on demand.
Every result is checked against zipfile's own reading (or against the bytes the
test put there), never against a value copied from our parser.
"""

from __future__ import annotations

import io
import os
import random
import shutil
import struct
import subprocess
import warnings
import zipfile
import zlib
from pathlib import Path
from typing import Any

import pytest

from remote_zip_store import (
    BadArchiveError,
    CorruptEntryError,
    LocalSource,
    UnsupportedArchiveError,
    ZipArchive,
)
from remote_zip_store.archive._reader import ReadOptions
from remote_zip_store.errors import RemoteZipError, context
from remote_zip_store.testing.servers import S3Server
from remote_zip_store.zipfmt._index import ZipIndex
from remote_zip_store.zipfmt._parse import (
    EOCD_SIGNATURE,
    EOCD_SIZE,
    MAX_COMMENT,
    DirectoryLocation,
    NeedMoreBytes,
    Records,
    decode_name,
    locate_directory,
    parse_central_directory,
    span,
)

from . import craft
from .archives import make_zip, read_all_with_zipfile
from .worlds import RemoteZipStore

ARCHIVE = "mem://archive-under-test.zip"


def parse(
    data: bytes, tail: int | None = None, *, archive: str = ARCHIVE
) -> tuple[DirectoryLocation, Records, int]:
    """Drive the parser like the archive layer does; return the rounds of NeedMoreBytes."""
    total = len(data)
    start = total - min(total, len(data) if tail is None else tail)
    rounds = 0
    while True:
        buf = data[start:]
        try:
            with context(archive):  # the archive layer's boundary: the parser knows no names
                location = locate_directory(buf, total)
                rel = location.cd_start - start
                if rel < 0:
                    raise NeedMoreBytes(location.cd_start)
                records = parse_central_directory(buf[rel : rel + location.cd_size], location)
            return location, records, rounds
        except NeedMoreBytes as more:
            assert 0 <= more.start < start, "the parser must ask for bytes it does not have"
            start = more.start
            rounds += 1
            assert rounds <= 4, "feeding what the parser asks for must converge"


def assert_matches_zipfile(records: Records, data: bytes) -> None:
    """Every central-directory record equals what CPython's zipfile reads."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        infos = z.infolist()
    assert records.names == [i.filename for i in infos]
    assert list(records.header_offset) == [i.header_offset for i in infos]
    assert list(records.compressed_size) == [i.compress_size for i in infos]
    assert list(records.uncompressed_size) == [i.file_size for i in infos]
    assert list(records.crc32) == [i.CRC for i in infos]
    assert list(records.method) == [i.compress_type for i in infos]
    assert list(records.flags) == [i.flag_bits for i in infos]


def read_local(path: str | os.PathLike[str], **options: int) -> ZipArchive:
    return ZipArchive(LocalSource(path), ReadOptions(**options)).open()  # type: ignore[arg-type]


SMALL = {"a.txt": b"alpha", "sub/b.bin": bytes(range(256)) * 3, "c": b""}


# -- end of central directory and comments ------------------------------------------------


@pytest.mark.parametrize("length", [0, 1, 21, 22, 1000, MAX_COMMENT - 1, MAX_COMMENT])
def test_comment_of_any_length_up_to_65535(length: int) -> None:
    comment = bytes(i % 251 for i in range(length))
    data = make_zip(SMALL, comment=comment)
    location, records, _ = parse(data)
    assert location.comment == comment
    assert location.prefix == 0
    assert_matches_zipfile(records, data)


@pytest.mark.parametrize(
    "comment",
    [
        b"PK\x05\x06",
        b"before PK\x05\x06 after",
        b"PK\x05\x06" * 20,
        b"x" * 100 + b"PK\x05\x06" + b"\x00" * 18,  # a signature + zeroed fields, at the end
    ],
)
def test_signature_inside_comment_does_not_fool_it(comment: bytes) -> None:
    data = make_zip(SMALL, comment=comment)
    location, records, _ = parse(data)
    assert location.comment == comment
    # CPython's zipfile itself is fooled by some of these: compare with the comment-less twin.
    assert_matches_zipfile(records, make_zip(SMALL))


def test_full_fake_eocd_in_comment_does_not_fool_it() -> None:
    """A comment ending in a complete, self-consistent empty EOCD (CPython reads 0 entries)."""
    fake = craft.eocd(entries=0, cd_size=0, cd_offset=0)
    data = make_zip(SMALL, comment=b"note:" + fake)
    location, records, _ = parse(data)
    assert location.comment == b"note:" + fake
    assert sorted(records.names) == sorted(SMALL)


def test_fake_directory_and_eocd_in_comment_does_not_fool_it() -> None:
    """The comment holds a whole fake archive (local header, directory, EOCD) naming 'evil'."""
    inner = craft.Builder()
    inner.add(b"evil", b"pwned")
    fake_bytes = inner.finish()
    comment = b"!" * 7 + fake_bytes
    data = make_zip(SMALL, comment=comment)
    location, records, _ = parse(data)
    assert "evil" not in records.names
    assert location.comment == comment
    assert_matches_zipfile(records, make_zip(SMALL))


def test_rejects_candidate_whose_comment_length_is_wrong() -> None:
    body = make_zip(SMALL)
    # Declared comment length 10, but 4 bytes follow: not an end record.
    data = body[:-EOCD_SIZE] + body[-EOCD_SIZE:-2] + (10).to_bytes(2, "little") + b"abcd"
    with pytest.raises(BadArchiveError, match="archive-under-test"):
        parse(data)


# -- NeedMoreBytes: shrinking tails converge -----------------------------------------------


@pytest.mark.parametrize("comment_length", [0, 5000, MAX_COMMENT])
@pytest.mark.parametrize("entries", [1, 300])
def test_shrinking_tails_converge(comment_length: int, entries: int) -> None:
    files = {f"dir/k{i:04d}": bytes([i % 256]) * (i % 7) for i in range(entries)}
    data = make_zip(files, comment=b"c" * comment_length)
    reference = parse(data)
    for tail in sorted({len(data), len(data) - 1, EOCD_SIZE + MAX_COMMENT, 4096, 100, 22, 1, 0}):
        if tail > len(data):
            continue
        location, records, rounds = parse(data, tail)
        assert location == reference[0]
        assert records == reference[1]
        assert rounds <= 2
    assert_matches_zipfile(reference[1], data)


def test_need_more_bytes_names_an_offset_inside_the_object() -> None:
    data = make_zip(SMALL, comment=b"z" * 3000)
    with pytest.raises(NeedMoreBytes) as more:
        locate_directory(data[-100:], len(data))
    assert 0 <= more.value.start < len(data) - 100


def test_parse_central_directory_asks_for_missing_directory_bytes() -> None:
    data = make_zip(SMALL)
    location, _, _ = parse(data)
    cd = data[location.cd_start : location.cd_start + location.cd_size]
    with pytest.raises(NeedMoreBytes) as more:
        parse_central_directory(cd[:-1], location)
    assert more.value.start == location.cd_start


@pytest.mark.parametrize("tail_size", [1024, 4096, 70_000])
def test_archive_layer_converges_through_local_source(tmp_path, tail_size: int) -> None:
    files = {f"g/{i}": os.urandom(i % 50) for i in range(2000)}
    path = tmp_path / "big-directory.zip"
    path.write_bytes(make_zip(files, comment=b"#" * MAX_COMMENT))
    archive = read_local(path, tail_size=tail_size, head_size=0)  # directory reads only
    assert archive.source.stats.requests <= 3
    for name in ("g/0", "g/1999", "g/1000"):
        assert archive.read(name) == files[name]


# -- ZIP64 --------------------------------------------------------------------------------


def test_more_than_65535_entries_uses_zip64_records() -> None:
    files = {f"{i}": b"" for i in range(0x10000 + 3)}
    data = make_zip(files)
    location, records, _ = parse(data)
    assert location.zip64
    assert location.entry_count == len(files) == len(records)
    assert records.names[-1] == str(0x10000 + 2)
    assert_matches_zipfile(records, data)


def test_exactly_65535_entries_needs_no_zip64() -> None:
    files = {f"{i}": b"" for i in range(0xFFFF)}
    data = make_zip(files)
    assert b"PK\x06\x06" not in data[-200:]
    location, records, _ = parse(data)
    assert not location.zip64
    assert location.entry_count == 0xFFFF == len(records)
    assert_matches_zipfile(records, data)


def test_zip64_end_record_with_extensible_data_uses_locator_offset(tmp_path) -> None:
    builder = craft.Builder()
    builder.add(b"x", b"payload-x")
    builder.add(b"y", b"payload-y" * 10)
    data = builder.finish(zip64=True, extensible=b"\xaa" * 37, comment=b"z64")
    location, records, _ = parse(data)
    # CPython's zipfile cannot read this layout (it assumes a 56-byte record): check by hand.
    assert location.zip64 and location.prefix == 0
    assert location.cd_start == 2 * 30 + 2 + 9 + 90
    assert location.end_records_start == location.cd_start + location.cd_size
    assert records.names == ["x", "y"]
    assert list(records.header_offset) == [0, 30 + 1 + 9]
    assert list(records.compressed_size) == [9, 90]
    path = tmp_path / "extensible.zip"
    path.write_bytes(data)
    assert read_local(path).read("y") == b"payload-y" * 10


def test_zip64_end_record_with_bad_locator_offset_is_an_error() -> None:
    builder = craft.Builder()
    builder.add(b"x", b"payload")
    data = bytearray(builder.finish(zip64=True, extensible=b"\x00" * 16))
    locator = len(data) - EOCD_SIZE - 20
    data[locator + 8 : locator + 16] = (3).to_bytes(8, "little")  # no record there
    with pytest.raises(BadArchiveError, match=r"archive-under-test.*ZIP64"):
        parse(bytes(data))


def test_concatenated_prefix_with_extensible_zip64_record_is_refused_clearly() -> None:
    """Documented limit: the locator's offset is unshifted and nothing else locates the record."""
    builder = craft.Builder()
    builder.add(b"x", b"payload")
    data = b"STUB" * 100 + builder.finish(zip64=True, extensible=b"\x01" * 12)
    with pytest.raises(BadArchiveError, match=r"archive-under-test.*ZIP64 end record"):
        parse(data)


@pytest.mark.parametrize(
    ("overflow", "expected"),
    [
        ({"offset"}, {"offset"}),
        ({"csize"}, {"csize"}),
        ({"usize"}, {"usize"}),
        ({"usize", "offset"}, {"usize", "offset"}),
        ({"csize", "offset"}, {"csize", "offset"}),
        ({"usize", "csize", "offset"}, {"usize", "csize", "offset"}),
    ],
)
def test_zip64_extra_holds_only_the_overflowed_fields(
    overflow: set[str], expected: set[str]
) -> None:
    """Values in the extra are distinctive; only the overflowed ones may be taken from it."""
    real = {"usize": 5_000_000_000, "csize": 4_300_000_000, "offset": 6_000_000_000}
    fixed = {"usize": 123, "csize": 45, "offset": 0}
    header = {f: (craft.U32 if f in overflow else fixed[f]) for f in fixed}
    values = [real[f] for f in ("usize", "csize", "offset") if f in overflow]
    # An unrelated extra before the ZIP64 one must be skipped.
    extra = b"\x55\x54\x05\x00\x01\x00\x00\x00\x00" + craft.zip64_extra(*values)
    cd = craft.central_header(
        b"big", offset=header["offset"], csize=header["csize"], usize=header["usize"], extra=extra
    )
    data = b"\x00" * 64 + cd + craft.eocd(entries=1, cd_size=len(cd), cd_offset=64)
    _, records, _ = parse(data)
    got = {
        "usize": records.uncompressed_size[0],
        "csize": records.compressed_size[0],
        "offset": records.header_offset[0],
    }
    for name in got:
        assert got[name] == (real[name] if name in expected else fixed[name]), name


def test_zip64_extra_with_disk_number_overflow() -> None:
    # disk = 0xFFFF: the extra holds offset (8 bytes) then disk (4 bytes).
    extra = (
        (1).to_bytes(2, "little")
        + (12).to_bytes(2, "little")
        + (77).to_bytes(8, "little")
        + (0).to_bytes(4, "little")
    )
    cd = craft.central_header(b"f", offset=craft.U32, extra=extra, disk=craft.U16)
    data = b"\x00" * 100 + cd + craft.eocd(entries=1, cd_size=len(cd), cd_offset=100)
    _, records, _ = parse(data)
    assert records.header_offset[0] == 77


def test_missing_or_short_zip64_extra_is_an_error() -> None:
    for extra in (b"", craft.zip64_extra(1)[:-4]):
        cd = craft.central_header(b"f", offset=0, csize=craft.U32, usize=craft.U32, extra=extra)
        data = b"\x00" * 8 + cd + craft.eocd(entries=1, cd_size=len(cd), cd_offset=8)
        with pytest.raises(BadArchiveError, match=r"archive-under-test.*ZIP64"):
            parse(data)


def test_offsets_beyond_4_gib_in_a_sparse_file(tmp_path) -> None:
    """zipfile appends entries after 5 GiB of holes: ZIP64 offsets and end records."""
    path = tmp_path / "sparse.zip"
    hole = 5 * 1024**3
    with open(path, "wb") as f:
        f.truncate(hole)
    files = {"after/4gib.txt": b"far away" * 100, "after/two": os.urandom(3000)}
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as z:
        for name, payload in files.items():
            z.writestr(name, payload)
    assert os.path.getsize(path) < hole + 10_000
    archive = read_local(path)
    assert archive.index.location.zip64
    assert archive.index.location.cd_start > 4 * 1024**3
    assert all(archive.index.get(n).header_offset >= hole for n in files)  # type: ignore[union-attr]
    for name, payload in files.items():
        assert archive.read(name) == payload
    assert archive.read_many(archive.index.get(n) for n in files) == files  # type: ignore[misc]


def test_crafted_offset_only_zip64_extra_beyond_4_gib(tmp_path) -> None:
    """The central record's extra holds just the offset; the local header has no extra."""
    path = tmp_path / "offset-only.zip"
    start = 4 * 1024**3 + 12345
    builder = craft.Builder(start=start)
    builder.add(b"deep", b"content at 4 GiB + 12345")
    tail = builder.finish(zip64=True)
    with open(path, "wb") as f:
        f.seek(start)
        f.write(tail)
    archive = read_local(path)
    assert archive.index.get("deep").header_offset == start  # type: ignore[union-attr]
    assert archive.read("deep") == b"content at 4 GiB + 12345"


# -- prepended data ---------------------------------------------------------------------


def test_prepended_data_with_absolute_offsets() -> None:
    """zipfile's append mode writes after the stub and records absolute offsets."""
    stub = b"#!/bin/sh\nexit 0\n" + os.urandom(5000)
    data = make_zip(SMALL, prefix=stub, comment=b"sfx")
    location, records, _ = parse(data)
    assert location.prefix == 0
    assert min(records.header_offset) == len(stub)
    assert_matches_zipfile(records, data)


def test_prepended_data_with_shifted_offsets() -> None:
    """``cat stub x.zip``: offsets are relative to the zip; CPython's ``concat`` shifts them."""
    stub = os.urandom(777)
    plain = make_zip(SMALL)
    data = stub + plain
    location, records, _ = parse(data)
    assert location.prefix == len(stub)
    assert min(records.header_offset) == len(stub)
    assert_matches_zipfile(records, data)


def test_prepended_data_with_zip64_end_records() -> None:
    stub = b"S" * 4000
    builder = craft.Builder()
    builder.add(b"p", b"prefixed zip64")
    data = stub + builder.finish(zip64=True)
    location, records, _ = parse(data)
    assert location.prefix == len(stub) and location.zip64
    assert_matches_zipfile(records, data)


def test_prepended_data_read_through_archive(tmp_path) -> None:
    path = tmp_path / "sfx.zip"
    path.write_bytes(os.urandom(3000) + make_zip(SMALL, compression=zipfile.ZIP_DEFLATED))
    archive = read_local(path)
    assert {name: archive.read(name) for name in SMALL} == SMALL


# -- entries: data descriptors, names, directories, duplicates ---------------------------


class Unseekable(io.RawIOBase):
    """A write-only stream without seek/tell: zipfile then writes data descriptors."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:  # type: ignore[no-untyped-def,override]
        self.chunks.append(bytes(b))
        return len(b)


def test_data_descriptors_from_an_unseekable_stream(tmp_path) -> None:
    out = Unseekable()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, payload in SMALL.items():
            with z.open(name, "w") as f:
                f.write(payload)
    data = b"".join(out.chunks)
    _, records, _ = parse(data)
    assert all(flags & 0x08 for flags in records.flags)
    assert_matches_zipfile(records, data)
    path = tmp_path / "descriptors.zip"
    path.write_bytes(data)
    archive = read_local(path)
    assert {name: archive.read(name) for name in SMALL} == SMALL


def test_utf8_flag_and_cp437_names() -> None:
    builder = craft.Builder()
    cp437_raw = bytes([0x82, 0x8E, 0xE1, 0x9B]) + b".txt"  # é Ä ß ¢ in cp437
    builder.add(cp437_raw, b"cp437")
    builder.add("größe/日本.txt".encode(), b"utf8", flags=0x800)
    builder.add(b"plain.txt", b"ascii")
    data = builder.finish()
    _, records, _ = parse(data)
    assert records.names[0] == cp437_raw.decode("cp437") == "éÄß¢.txt"
    assert records.names[1] == "größe/日本.txt"
    assert_matches_zipfile(records, data)
    assert decode_name("größe".encode(), 0) != "größe"  # without the flag it is cp437


def test_zipfile_sets_utf8_flag_for_non_ascii_names() -> None:
    files = {"ünï/cødé.bin": b"1", "ascii": b"2", "emoji-🦀": b"3"}
    data = make_zip(files)
    _, records, _ = parse(data)
    assert sorted(records.names) == sorted(files)
    assert_matches_zipfile(records, data)


def test_name_is_cut_at_nul_like_cpython() -> None:
    builder = craft.Builder()
    builder.add(b"real\x00junk", b"x")
    data = builder.finish()
    _, records, _ = parse(data)
    assert records.names == ["real"]
    assert_matches_zipfile(records, data)


def test_directory_entries_are_not_keys() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.mkdir("data")
        z.mkdir("data/arr")
        z.writestr("data/arr/0", b"zero")
        z.writestr("top", b"t")
    data = buf.getvalue()
    location, records, _ = parse(data)
    assert "data/" in records.names and "data/arr/" in records.names
    index = ZipIndex(records, location)
    assert sorted(index.names()) == ["data/arr/0", "top"]
    assert "data/" not in index and index.get("data/arr/") is None
    assert len(index) == 2


def test_duplicate_names_last_entry_wins(tmp_path) -> None:
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # zipfile warns about the duplicate
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr("0.0", b"first version")
            z.writestr("other", b"o")
            z.writestr("0.0", b"second, rewritten version")
    data = buf.getvalue()
    location, records, _ = parse(data)
    assert records.names.count("0.0") == 2
    index = ZipIndex(records, location)
    assert len(index) == 2
    path = tmp_path / "dup.zip"
    path.write_bytes(data)
    archive = read_local(path)
    assert archive.read("0.0") == b"second, rewritten version"
    assert read_all_with_zipfile(data)["0.0"] == b"second, rewritten version"


def test_empty_archive() -> None:
    data = make_zip({})
    location, records, _ = parse(data)
    assert len(records) == 0 and location.cd_size == 0


# -- unsupported and corrupt archives -------------------------------------------------------


def _assert_names_archive(exc: RemoteZipError) -> None:
    assert ARCHIVE in str(exc)
    assert exc.archive == ARCHIVE


@pytest.mark.parametrize(
    "end",
    [
        {"disk": 1, "cd_disk": 1},
        {"disk": 2, "cd_disk": 0},
        {"cd_disk": 1},
        {"entries_here": 1},
    ],
)
def test_multi_disk_archives_are_unsupported(end: dict[str, int]) -> None:
    builder = craft.Builder()
    builder.add(b"a", b"1")
    builder.add(b"b", b"2")
    data = builder.finish(**end)
    with pytest.raises(UnsupportedArchiveError, match="multi-disk") as info:
        parse(data)
    _assert_names_archive(info.value)
    assert isinstance(info.value, NotImplementedError)


@pytest.mark.parametrize("end", [{"total_disks": 3}, {"cd_disk": 2}, {"disk": 1}])
def test_multi_disk_zip64_archives_are_unsupported(end: dict[str, int]) -> None:
    builder = craft.Builder()
    builder.add(b"a", b"1")
    data = builder.finish(zip64=True, **end)
    with pytest.raises(UnsupportedArchiveError, match="multi-disk") as info:
        parse(data)
    _assert_names_archive(info.value)


def _corrupt(data: bytes, at: int, replacement: bytes) -> bytes:
    return data[:at] + replacement + data[at + len(replacement) :]


def _corruptions() -> dict[str, bytes]:
    data = make_zip(SMALL)
    location, _, _ = parse(data)
    cd, eocd_at = location.cd_start, len(data) - EOCD_SIZE
    return {
        "not a zip": os.urandom(5000).replace(b"PK", b"pk"),
        "tiny": b"PK\x05\x06",
        "empty": b"",
        "truncated at the end": data[:-5],
        "truncated directory": data[: cd + 10] + data[eocd_at:],
        "bad directory signature": _corrupt(data, cd, b"PK\x09\x09"),
        "directory size too large": _corrupt(data, eocd_at + 12, (10**6).to_bytes(4, "little")),
        "directory offset past its start": _corrupt(
            data, eocd_at + 16, (cd + 7).to_bytes(4, "little")
        ),
        "entry count too high": _corrupt(data, eocd_at + 8, b"\x07\x00\x07\x00"),
        "record runs past the directory": _corrupt(data, cd + 28, b"\xff\x00"),
        "second record signature": _corrupt(data, cd + 46 + len("a.txt"), b"XX"),
        "empty directory declares entries": craft.eocd(entries=3, cd_size=0, cd_offset=0),
    }


@pytest.mark.parametrize("case", sorted(_corruptions()))
def test_corrupt_directories_raise_bad_archive_error(case: str) -> None:
    data = _corruptions()[case]
    with pytest.raises(BadArchiveError) as info:
        parse(data)
    _assert_names_archive(info.value)
    assert isinstance(info.value, ValueError)


def test_truncated_archive_through_local_source_names_the_file(tmp_path) -> None:
    path = tmp_path / "cut-short.zip"
    path.write_bytes(make_zip(SMALL)[:-30])
    with pytest.raises(BadArchiveError, match=r"cut-short\.zip"):
        read_local(path)


def test_entry_count_mod_65536_is_tolerated_without_zip64() -> None:
    """Old writers store the count modulo 2**16 and skip ZIP64 records."""
    builder = craft.Builder()
    count = 0x10000 + 3
    for i in range(count):
        builder.add(b"%d" % i, b"")
    data = builder.finish(entry_count=count % 0x10000)
    location, records, _ = parse(data)
    assert not location.zip64 and location.entry_count == 3
    assert len(records) == count and records.names[-1] == str(count - 1)


def test_entry_count_that_lies_is_an_error() -> None:
    builder = craft.Builder()
    for i in range(3):
        builder.add(f"{i}".encode(), b"")
    with pytest.raises(BadArchiveError, match="declares 4 entries but holds 3"):
        parse(builder.finish(entry_count=4))


def test_crc_of_directory_records_is_what_was_written() -> None:
    payload = b"checked"
    builder = craft.Builder()
    builder.add(b"c", payload)
    _, records, _ = parse(builder.finish())
    assert records.crc32[0] == zlib.crc32(payload)


# -- local headers: the archive layer checks them against the directory ---------------------


def _one_entry(
    local_name: bytes, local_flags: int, central_name: bytes, central_flags: int
) -> bytes:
    payload = b"local vs central"
    crc = zlib.crc32(payload)
    local = craft.local_header(
        local_name, flags=local_flags, crc=crc, csize=len(payload), usize=len(payload)
    )
    cd = craft.central_header(
        central_name,
        offset=0,
        flags=central_flags,
        crc=crc,
        csize=len(payload),
        usize=len(payload),
    )
    body = local + payload
    return body + cd + craft.eocd(entries=1, cd_size=len(cd), cd_offset=len(body))


def test_utf8_flag_only_in_the_central_header_is_read(tmp_path) -> None:
    """Same name bytes, UTF-8 flag only centrally: the local name is decoded with the central
    flags, so this compares the raw names (CPython 3.11 decodes it with the local flags and
    refuses the entry)."""
    name = "naïve/ключ".encode()
    data = _one_entry(name, 0, name, 0x800)
    path = tmp_path / "flag-mismatch.zip"
    path.write_bytes(data)
    assert read_local(path).read("naïve/ключ") == b"local vs central"


def test_local_header_naming_another_file_is_corrupt(tmp_path) -> None:
    path = tmp_path / "other-name.zip"
    path.write_bytes(_one_entry(b"evil", 0, b"good", 0))
    with pytest.raises(CorruptEntryError, match=r"key 'good' in archive .*other-name\.zip"):
        read_local(path).read("good")


def test_bad_local_header_signature_is_corrupt(tmp_path) -> None:
    data = bytearray(_one_entry(b"k", 0, b"k", 0))
    data[0:4] = b"PK\x07\x08"
    path = tmp_path / "bad-local.zip"
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptEntryError, match=r"local header signature for 'k'") as info:
        read_local(path).read("k")
    assert str(path) in str(info.value)


def test_entry_running_into_the_directory_is_corrupt(tmp_path) -> None:
    payload = b"0123456789"
    local = craft.local_header(b"k", csize=len(payload), usize=len(payload))
    cd = craft.central_header(b"k", offset=0, csize=5000, usize=5000)
    body = local + payload
    path = tmp_path / "overrun.zip"
    path.write_bytes(body + cd + craft.eocd(entries=1, cd_size=len(cd), cd_offset=len(body)))
    with pytest.raises(CorruptEntryError, match=r"'k'.*central directory") as info:
        read_local(path).read("k")
    assert str(path) in str(info.value)


# -- bytes after the end record (issue 11): bsdtar's padding, appended data -----------------


def _bsdtar_zip(tmp_path: Path) -> bytes:
    """``bsdtar -cf - --format zip d``: written to a pipe, bsdtar pads to its 10,240-byte block."""
    if shutil.which("bsdtar") is None:
        pytest.skip("bsdtar is not installed (apt-get install libarchive-tools)")
    tree = tmp_path / "tree"
    (tree / "d" / "sub").mkdir(parents=True)
    (tree / "d" / "a").write_bytes(b"hi\n")
    (tree / "d" / "sub" / "b.bin").write_bytes(bytes(range(256)) * 40)
    done = subprocess.run(
        ["bsdtar", "-cf", "-", "--format", "zip", "d"], cwd=tree, capture_output=True, check=True
    )
    return done.stdout


def _padded(data: bytes, block: int = 10240) -> bytes:
    return data + bytes(-len(data) % block)


def _zip64_archive() -> bytes:
    builder = craft.Builder()
    builder.add(b"x", b"zip64 end records", zip64_offset=True)
    return builder.finish(zip64=True)


TRAILING = {
    "zero padding to 10,240": lambda data: _padded(data),
    "one zero byte": lambda data: data + b"\x00",
    "non-zero junk": lambda data: data + b"appended by some tool \xff\xfe" * 40,
    "random junk": lambda data: data + random.Random(7).randbytes(5000),
    "junk holding a signature": lambda data: data + b"..PK\x05\x06" + b"\x01" * 30,
}


@pytest.mark.parametrize("trail", TRAILING.values(), ids=TRAILING.keys())
@pytest.mark.parametrize(
    "archive",
    [
        pytest.param(lambda: make_zip(SMALL), id="zipfile"),
        pytest.param(lambda: make_zip(SMALL, comment=b"a comment"), id="comment"),
        pytest.param(lambda: make_zip(SMALL, prefix=b"#!/bin/sh\nexit 0\n"), id="prefix"),
        pytest.param(_zip64_archive, id="zip64"),
    ],
)
def test_bytes_after_the_end_record_are_ignored_like_zipfile_does(
    archive: Any, trail: Any, tmp_path: Path
) -> None:
    original = archive()
    data = trail(original)
    expected = read_all_with_zipfile(original)
    if EOCD_SIGNATURE not in data[len(original) :]:  # else zipfile takes the junk's signature
        assert read_all_with_zipfile(data) == expected
    location, records, _ = parse(data)
    assert location == parse(original)[0]
    assert_matches_zipfile(records, original)
    for tail in (1024, 512 * 1024):  # the end record in the first GET, or asked for after it
        path = tmp_path / f"trailing-{tail}.zip"
        path.write_bytes(data)
        reader = read_local(path, tail_size=tail)
        assert {name: reader.read(name) for name in reader.index.names()} == expected


def test_bsdtar_output_reads_locally_and_through_s3(tmp_path: Path, moto: S3Server) -> None:
    """The archive from the issue: bsdtar pads with zeros; unzip, 7z and zipfile read it."""
    data = _bsdtar_zip(tmp_path)
    assert len(data) % 10240 == 0 and data.endswith(bytes(1000))  # padded, as the issue says
    expected = read_all_with_zipfile(data)
    assert expected["d/a"] == b"hi\n" and len(expected) == 2
    path = tmp_path / "x.zip"
    path.write_bytes(data)
    with RemoteZipStore(str(path), root="") as store:
        assert dict(store.items()) == expected
    with RemoteZipStore(moto.put(data), root="", **moto.store_kwargs()) as store:
        assert dict(store.items()) == expected


def test_trailing_bytes_through_s3_match_zipfile(moto: S3Server) -> None:
    data = make_zip(SMALL, comment=b"c") + b"\x00junk\xff" * 100
    with RemoteZipStore(moto.put(data), root="", tail_size=1024, **moto.store_kwargs()) as s:
        assert dict(s.items()) == read_all_with_zipfile(data)


def test_fake_end_record_in_a_comment_followed_by_junk_does_not_win() -> None:
    """The comment holds a whole archive naming 'evil' whose end record's comment length
    reaches exactly the end (over the junk): only the real record may win."""
    junk = b"\xee" * 300
    inner = craft.Builder()
    inner.add(b"evil", b"pwned")
    fake = bytearray(inner.finish())
    fake[-2:] = len(junk).to_bytes(2, "little")  # the fake "reaches the end"
    data = make_zip(SMALL, comment=b"!" * 5 + bytes(fake)) + junk
    location, records, _ = parse(data)
    assert "evil" not in records.names
    assert location.comment == b"!" * 5 + bytes(fake)
    assert_matches_zipfile(records, make_zip(SMALL))
    # The plain fake (comment length 0, junk after the real comment) loses too.
    inner_plain = craft.Builder()
    inner_plain.add(b"evil", b"pwned")
    data = make_zip(SMALL, comment=b"!" * 5 + inner_plain.finish()) + junk
    _, records, _ = parse(data)
    assert sorted(records.names) == sorted(SMALL)


def test_end_record_beyond_the_search_window_is_not_found() -> None:
    """Like zipfile, only the last 64 KiB + 22 bytes hold the end record: more junk fails."""
    data = make_zip(SMALL) + bytes(70_000)
    with pytest.raises(zipfile.BadZipFile):
        zipfile.ZipFile(io.BytesIO(data))
    with pytest.raises(BadArchiveError, match=r"archive-under-test.*no end of central directory"):
        parse(data)


def test_the_parser_raises_details_and_the_archive_adds_where(tmp_path: Path) -> None:
    """Pure code knows no archive or key (errors contract); ``ZipArchive`` adds both."""
    with pytest.raises(BadArchiveError) as info:
        locate_directory(b"\x00" * 100, 100)
    assert (info.value.archive, info.value.key) == (None, None)
    assert str(info.value) == "not a zip archive (no end of central directory record)"
    path = tmp_path / "not-a.zip"
    path.write_bytes(b"\x00" * 100)
    with pytest.raises(BadArchiveError) as info:
        read_local(path)
    assert info.value.archive == str(path) and info.value.key is None
    assert (
        str(info.value) == f"archive {path}: not a zip archive (no end of central directory record)"
    )


# -- short tails: a comment-less end record needs no comment window -------------------------


def test_a_short_tail_ending_in_a_bare_record_locates_the_directory() -> None:
    data = make_zip({f"k{i}": bytes([i]) * 50 for i in range(20)}, comment=b"")
    reference = parse(data)[0]
    directory = len(data) - reference.cd_start
    tail = data[-directory:]  # the directory and the end record, nothing more
    assert len(tail) < EOCD_SIZE + MAX_COMMENT
    assert locate_directory(tail, len(data)) == reference


@pytest.mark.parametrize(
    "comment",
    [
        b"x",  # a comment: the whole window is needed to be sure of the record
        b"note:" + craft.eocd(entries=0, cd_size=0, cd_offset=0),  # a bare record faked at the end
    ],
)
@pytest.mark.parametrize("size", [22, 30, 60, 200])
def test_a_short_tail_never_takes_a_record_it_cannot_be_sure_of(comment: bytes, size: int) -> None:
    data = make_zip({"big": os.urandom(5000), **SMALL}, comment=comment)
    reference = parse(data)[0]
    try:
        location = locate_directory(data[-size:], len(data))
    except NeedMoreBytes as more:
        assert 0 <= more.start < len(data) - size
    else:  # only when the real record is in the tail, ahead of the fake one
        assert location == reference


def _reversed_directory(data: bytes) -> bytes:
    """``data`` with its central directory records in reverse order (offsets then decrease
    in directory order: the index keeps a next-offset column)."""
    eocd_at = data.rindex(b"PK\x05\x06")
    cd_size, cd_start = struct.unpack_from("<II", data, eocd_at + 12)
    records, at = [], cd_start
    while at < cd_start + cd_size:
        n, m, k = struct.unpack_from("<HHH", data, at + 28)
        records.append(data[at : at + 46 + n + m + k])
        at += 46 + n + m + k
    return data[:cd_start] + b"".join(reversed(records)) + data[cd_start + cd_size :]


@pytest.mark.parametrize("order", ["written", "reversed"])
def test_index_spans_are_the_entries_spans(order: str) -> None:
    """``ZipIndex.spans`` (an array's region, from the columns) agrees with ``span`` on
    every entry, whether the offsets increase in directory order or not."""
    rng = random.Random(5)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for i in range(40):
            info = zipfile.ZipInfo(f"a/{i}", date_time=(2020, 1, 1, 0, 0, 0))
            if i % 7 == 3:
                info.extra = b"\xfe\xca\x04\x00abcd"  # an extra field of its own
            method = zipfile.ZIP_DEFLATED if i % 3 else zipfile.ZIP_STORED
            zf.writestr(info, os.urandom(rng.randrange(0, 3000)), compress_type=method)
    data = buf.getvalue() if order == "written" else _reversed_directory(buf.getvalue())
    location, records, _ = parse(data)
    index = ZipIndex(records, location)
    assert (index._next_offsets is None) == (order == "written")  # both paths
    names = [f"a/{i}" for i in rng.sample(range(40), 40)] + ["a/missing"]
    expected = [(*span(e), e.span_end) for n in names if (e := index.get(n)) is not None]
    assert index.spans(names) == expected
    assert index.spans([]) == []
