"""Per-entry decode: every method zipfile writes, CRC and size checks, bombs, refusals.

Entries come from zipfile-written archives (the method's real bytes) or from
:mod:`tests.craft` when the header must lie. Nothing wrong is ever returned as data.
"""

from __future__ import annotations

import bz2
import dataclasses
import lzma
import os
import random
import sys
import tracemalloc
import zipfile
import zlib
from pathlib import Path

import pytest

from remote_zip_store import (
    CorruptEntryError,
    LocalSource,
    ReadOptions,
    RemoteZipError,
    UnsupportedArchiveError,
    ZipArchive,
)
from remote_zip_store.errors import context
from remote_zip_store.testing.servers import S3Server
from remote_zip_store.zipfmt._decode import decompress, supported_methods
from remote_zip_store.zipfmt._parse import Entry, parse_local_header, span

from . import craft
from .archives import make_zip, read_all_with_zipfile
from .worlds import RemoteZipStore

METHODS = {
    "stored": zipfile.ZIP_STORED,
    "deflate": zipfile.ZIP_DEFLATED,
    "bzip2": zipfile.ZIP_BZIP2,
    "lzma": zipfile.ZIP_LZMA,
}

PAYLOADS = {
    "empty": b"",
    "one": b"x",
    "text": b"the quick brown fox " * 500,
    "random": os.urandom(70_000),
    "zeros": bytes(1 << 20),
    "nested/dir/chunk.0.0": bytes(range(256)) * 40,
}


def open_archive(path: Path, **options: object) -> ZipArchive:
    return ZipArchive(LocalSource(path), ReadOptions(**options)).open()  # type: ignore[arg-type]


def write(tmp_path: Path, data: bytes, name: str = "a.zip") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def raw_data(path: Path, entry: Entry) -> bytes:
    """The entry's compressed bytes, found through its local header."""
    blob = path.read_bytes()
    header = parse_local_header(blob[entry.header_offset :])
    start = entry.header_offset + header.data_offset
    return blob[start : start + entry.compressed_size]


@pytest.fixture(params=sorted(METHODS))
def method_archive(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, Path]:
    name = request.param
    return name, write(tmp_path, make_zip(PAYLOADS, compression=METHODS[name]), f"{name}.zip")


# -- the methods zipfile writes ----------------------------------------------------------


def test_method_decodes_like_zipfile(method_archive: tuple[str, Path]) -> None:
    name, path = method_archive
    expected = read_all_with_zipfile(path.read_bytes())
    assert expected == PAYLOADS
    archive = open_archive(path)
    assert {m: archive.entry(m).method for m in PAYLOADS} == {  # type: ignore[union-attr]
        m: METHODS[name] for m in PAYLOADS
    }
    assert {m: archive.read(m) for m in PAYLOADS} == expected
    entries = [archive.entry(m) for m in PAYLOADS]
    assert archive.read_many(e for e in entries if e is not None) == expected


def test_decompress_entry_bytes_directly(method_archive: tuple[str, Path]) -> None:
    _, path = method_archive
    archive = open_archive(path)
    for member, payload in PAYLOADS.items():
        entry = archive.entry(member)
        assert entry is not None
        out = decompress(raw_data(path, entry), entry, verify_crc=True)
        assert out == payload


def test_supported_methods_always_include_the_stdlib_ones() -> None:
    assert {0, 8, 12, 14} <= supported_methods()


# -- CRC ----------------------------------------------------------------------------------


def _member(path: Path, member: str = "text") -> tuple[Entry, bytes]:
    entry = open_archive(path).entry(member)
    assert entry is not None
    return entry, raw_data(path, entry)


def test_crc_mismatch_raises_and_verify_crc_false_skips(method_archive: tuple[str, Path]) -> None:
    _, path = method_archive
    entry, data = _member(path)
    wrong = dataclasses.replace(entry, crc32=entry.crc32 ^ 0x1)
    with pytest.raises(CorruptEntryError, match="CRC-32") as info, context(str(path), "text"):
        decompress(data, wrong, verify_crc=True)
    assert info.value.key == "text" and info.value.archive == str(path)
    assert str(path) in str(info.value) and "'text'" in str(info.value)
    assert decompress(data, wrong, verify_crc=False) == PAYLOADS["text"]


def test_flipped_data_byte_is_caught_by_crc(tmp_path: Path) -> None:
    path = write(tmp_path, make_zip({"k": b"A" * 1000, "z": b"tail"}))
    entry = open_archive(path).entry("k")
    assert entry is not None
    blob = bytearray(path.read_bytes())
    blob[entry.header_offset + 30 + 1 + 500] ^= 0xFF
    path.write_bytes(bytes(blob))
    with pytest.raises(CorruptEntryError, match=r"key 'k' in archive .*a\.zip.*CRC-32"):
        open_archive(path).read("k")
    # verify_crc=False is the caller's explicit choice to skip the check.
    unchecked = open_archive(path, verify_crc=False).read("k")
    assert unchecked == b"A" * 500 + bytes([ord("A") ^ 0xFF]) + b"A" * 499
    assert open_archive(path).read("z") == b"tail"


# -- sizes that lie -----------------------------------------------------------------------


def test_declared_size_smaller_than_the_data(method_archive: tuple[str, Path]) -> None:
    _, path = method_archive
    entry, data = _member(path)
    lie = dataclasses.replace(entry, uncompressed_size=entry.uncompressed_size - 1)
    with pytest.raises(CorruptEntryError, match=f"more than {lie.uncompressed_size} bytes"):
        decompress(data, lie, verify_crc=False)


def test_declared_size_larger_than_the_data(method_archive: tuple[str, Path]) -> None:
    _, path = method_archive
    entry, data = _member(path)
    lie = dataclasses.replace(entry, uncompressed_size=entry.uncompressed_size + 1)
    with pytest.raises(CorruptEntryError, match=f"decodes to {entry.uncompressed_size} bytes"):
        decompress(data, lie, verify_crc=False)


def test_size_lie_in_a_whole_archive_is_never_returned(tmp_path: Path) -> None:
    payload = b"0123456789" * 100
    for declared in (len(payload) - 10, len(payload) + 10):
        builder = craft.Builder()
        packed = zlib.compress(payload, 6)[2:-4]
        builder.add(b"liar", payload, method=8, stored=packed, usize=declared)
        path = write(tmp_path, builder.finish(), f"liar-{declared}.zip")
        with pytest.raises(CorruptEntryError, match=r"'liar'.*decodes to"):
            open_archive(path).read("liar")


def test_stored_entry_whose_sizes_disagree(tmp_path: Path) -> None:
    builder = craft.Builder()
    builder.add(b"s", b"12345678", usize=4)
    path = write(tmp_path, builder.finish())
    with pytest.raises(CorruptEntryError, match="more than 4 bytes"):
        open_archive(path, verify_crc=False).read("s")


# -- bombs: output never grows past the declared size + 1 -------------------------------------


def _bomb(method: str, inflated: int) -> bytes:
    zeros = bytes(inflated)
    if method == "deflate":
        c = zlib.compressobj(9, zlib.DEFLATED, -15)
        return c.compress(zeros) + c.flush()
    if method == "bzip2":
        return bz2.compress(zeros, 9)
    # zip's LZMA: version, properties size, properties, raw LZMA1 with an end marker.
    filters = [{"id": lzma.FILTER_LZMA1, "dict_size": 1 << 20}]
    props = lzma._encode_filter_properties(filters[0])  # type: ignore[attr-defined]
    body = lzma.compress(zeros, format=lzma.FORMAT_RAW, filters=filters)
    return bytes([9, 20]) + len(props).to_bytes(2, "little") + props + body


@pytest.mark.parametrize("method", ["deflate", "bzip2", "lzma"])
@pytest.mark.parametrize("declared", [0, 1000, 1 << 20])
def test_bomb_fails_without_allocating_past_the_declared_size(
    tmp_path: Path, method: str, declared: int
) -> None:
    inflated = 64 << 20
    packed = _bomb(method, inflated)
    assert len(packed) < inflated // 100
    builder = craft.Builder()
    builder.add(b"bomb", b"", method=METHODS[method], stored=packed, usize=declared)
    archive = open_archive(write(tmp_path, builder.finish()))
    entry = archive.entry("bomb")
    assert entry is not None
    tracemalloc.start()
    try:
        with pytest.raises(CorruptEntryError, match=f"more than {declared} bytes"):
            decompress(packed, entry, verify_crc=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Output buffers are bounded by declared + 1; the rest is the input's unconsumed copy
    # and decoder state. Inflating the bomb would take 64 MiB.
    assert peak < 2 * declared + 2 * len(packed) + (4 << 20), peak
    with pytest.raises(CorruptEntryError, match="'bomb'"):
        archive.read("bomb")


def test_deflate_stream_without_its_final_block_is_truncated(tmp_path: Path) -> None:
    payload = b"complete output, incomplete stream" * 10
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    packed = c.compress(payload) + c.flush(zlib.Z_SYNC_FLUSH)  # no final block
    builder = craft.Builder()
    builder.add(b"cut", payload, method=8, stored=packed)
    with pytest.raises(CorruptEntryError, match=r"'cut'.*truncated"):
        open_archive(write(tmp_path, builder.finish())).read("cut")


@pytest.mark.parametrize(
    ("method", "garbage"),
    [
        (8, b"\xff" * 40),
        (12, b"BZh9" + b"\x00" * 40),
        (12, b"not bzip2 at all"),
        (14, b"\x09"),  # header shorter than 4 bytes
        (14, b"\x09\x14\x04\x00abcd" + b"\x00" * 10),  # 4-byte properties
        (14, b"\x09\x14\x05\x00\xff\x00\x00\x10\x00" + b"\x00" * 10),  # lc/lp/pb out of range
        (14, b"\x09\x14\x05\x00\x5d\x00\x00\x10\x00" + b"\xff" * 30),
    ],
)
def test_garbage_data_raises_corrupt_entry(tmp_path: Path, method: int, garbage: bytes) -> None:
    builder = craft.Builder()
    builder.add(b"junk", b"x" * 100, method=method, stored=garbage)
    path = write(tmp_path, builder.finish(), "garbage.zip")
    with pytest.raises(CorruptEntryError) as info:
        open_archive(path).read("junk")
    assert info.value.key == "junk" and "garbage.zip" in str(info.value)
    assert isinstance(info.value, ValueError)


# -- refusals -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "flags", "words"),
    [
        (8, 0x1, ["encrypted", "deflate"]),
        (0, 0x1, ["encrypted", "stored"]),
        (99, 0x1, ["encrypted", "aes"]),
        (99, 0x0, ["encrypted", "aes"]),
        (9, 0x0, ["deflate64", "not supported"]),
        (1, 0x0, ["shrunk", "not supported"]),
        (6, 0x0, ["imploded", "not supported"]),
        (98, 0x0, ["ppmd", "not supported"]),
        (95, 0x0, ["xz", "not supported"]),
        (77, 0x0, ["method 77", "not supported"]),
    ],
)
def test_unsupported_entries_raise_naming_archive_key_and_method(
    tmp_path: Path, method: int, flags: int, words: list[str]
) -> None:
    builder = craft.Builder()
    builder.add(b"ok", b"fine")
    builder.add(b"grp/locked", b"secret bytes", method=method, flags=flags)
    path = write(tmp_path, builder.finish(), "refused.zip")
    archive = open_archive(path)
    calls = [
        lambda: archive.read("grp/locked"),
        lambda: archive.read_many([archive.entry("ok"), archive.entry("grp/locked")]),
    ]
    store = RemoteZipStore(path, root="")
    calls += [lambda: store["grp/locked"], lambda: store.getitems(["ok", "grp/locked"])]
    for call in calls:
        with pytest.raises(UnsupportedArchiveError) as info:
            call()
        message = str(info.value)
        assert str(path) in message and "'grp/locked'" in message, message
        for word in words:
            assert word in message, message
        if not flags and method != 99:
            assert "supported: stored, deflate, bzip2, lzma" in message
        assert info.value.key == "grp/locked" and info.value.archive == str(path)
        assert isinstance(info.value, RemoteZipError)
        assert not isinstance(info.value, KeyError)  # zarr must not mistake it for "absent"
    assert archive.read("ok") == b"fine"


# -- zstd (optional: pip install remote-zip-store[zstd]) ------------------------------------


def _zstd_archive(tmp_path: Path, payload: bytes, packed: bytes, **add: int) -> Path:
    builder = craft.Builder()
    builder.add(b"z", payload, method=93, stored=packed, **add)
    return write(tmp_path, builder.finish(), "zstd.zip")


def test_zstd_entries_decode(tmp_path: Path) -> None:
    zstandard = pytest.importorskip("zstandard")
    assert 93 in supported_methods()
    for payload in (b"", b"z", os.urandom(5000), b"abc" * 100_000):
        packed = zstandard.ZstdCompressor(level=3).compress(payload)
        assert open_archive(_zstd_archive(tmp_path, payload, packed)).read("z") == payload


def test_zstd_checks_and_bomb(tmp_path: Path) -> None:
    zstandard = pytest.importorskip("zstandard")
    payload = b"zstd payload " * 1000
    packed = zstandard.ZstdCompressor().compress(payload)
    with pytest.raises(CorruptEntryError, match="CRC-32"):
        open_archive(_zstd_archive(tmp_path, payload, packed, crc=1)).read("z")
    with pytest.raises(CorruptEntryError, match="decodes to"):
        open_archive(_zstd_archive(tmp_path, payload, packed[:-10])).read("z")
    with pytest.raises(CorruptEntryError, match=r"'z'.*zstd data failed to decode"):
        open_archive(_zstd_archive(tmp_path, payload, b"\x00" * 50)).read("z")
    bomb = zstandard.ZstdCompressor().compress(bytes(64 << 20))
    path = _zstd_archive(tmp_path, b"", bomb, usize=1000)
    entry = open_archive(path).entry("z")
    assert entry is not None
    tracemalloc.start()
    try:
        with pytest.raises(CorruptEntryError, match="more than 1000 bytes"):
            decompress(bomb, entry, verify_crc=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20, peak


def test_zstd_without_zstandard_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "zstandard", None)  # import zstandard -> ImportError
    assert 93 not in supported_methods()
    path = _zstd_archive(tmp_path, b"x", b"\x28\xb5\x2f\xfd")
    with pytest.raises(UnsupportedArchiveError, match=r"zstd.*pip install zstandard") as info:
        open_archive(path).read("z")
    assert info.value.key == "z" and str(path) in str(info.value)


# -- read_entry_range: part of an entry's contents ----------------------------------------

BIG = random.Random(3).randbytes(300_000)
RANGE_ENTRIES = {"before": b"b" * 5000, "big": BIG, "after": b"a" * 600_000}


def _range_archive(tmp_path: Path, moto: S3Server | None, compression: int) -> ZipArchive:
    """``big`` far from both ends, so no read is served from the open's buffers."""
    data = make_zip(RANGE_ENTRIES, compression=compression)
    if moto is None:
        return open_archive(write(tmp_path, data), tail_size=1024, head_size=0)
    store = RemoteZipStore(
        moto.put(data), root="", tail_size=1024, head_size=0, **moto.store_kwargs()
    )
    return store.archive


@pytest.mark.parametrize("server", ["local", "moto"])
def test_stored_range_is_one_get_of_exactly_those_bytes(
    server: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    moto = request.getfixturevalue("moto") if server == "moto" else None
    archive = _range_archive(tmp_path, moto, zipfile.ZIP_STORED)
    entry = archive.index.get("big")
    assert entry is not None and not archive.is_buffered(entry)
    stats = archive.source.stats
    stats.reset()
    # The first partial read learns where the data starts: local header + data, one GET.
    assert archive.read_entry_range(entry, 1000, 5000) == BIG[1000:5000]
    requests, received = stats.snapshot()
    assert requests == 1 and received <= 5000 + 30 + len("big") + 64
    for start, end in [(200_000, 300_000), (0, 1), (299_999, 300_000), (12_345, 54_321)]:
        stats.reset()
        assert archive.read_entry_range(entry, start, end) == BIG[start:end]
        assert stats.snapshot() == (1, end - start)  # exactly the sub-range
    stats.reset()
    assert archive.read_entry_range(entry, 7, 7) == b""
    assert stats.snapshot() == (0, 0)
    archive.close()


def test_compressed_range_is_decoded_then_sliced(tmp_path: Path) -> None:
    archive = _range_archive(tmp_path, None, zipfile.ZIP_DEFLATED)
    entry = archive.index.get("big")
    assert entry is not None
    archive.source.stats.reset()
    assert archive.read_entry_range(entry, 100_000, 100_100) == BIG[100_000:100_100]
    start, end = span(entry)
    assert archive.source.stats.snapshot() == (1, end - start)  # the whole entry, once
    assert archive.read_entry_range(entry, 0, len(BIG)) == BIG


@pytest.mark.parametrize(("start", "end"), [(-1, 5), (5, 4), (0, len(BIG) + 1), (-3, -1)])
def test_range_outside_the_entry_is_a_value_error(tmp_path: Path, start: int, end: int) -> None:
    archive = _range_archive(tmp_path, None, zipfile.ZIP_STORED)
    entry = archive.index.get("big")
    assert entry is not None
    archive.source.stats.reset()
    with pytest.raises(ValueError, match=r"outside entry 'big' \(300000 bytes\)"):
        archive.read_entry_range(entry, start, end)
    assert archive.source.stats.snapshot() == (0, 0)


def test_crc_is_checked_when_the_range_is_the_whole_entry(tmp_path: Path) -> None:
    """A partial stored read cannot check the CRC-32 (it covers the whole entry); a whole
    one does, as ``read_entry`` does."""
    payload = b"0123456789" * 10_000  # more than the 64 KiB + 22 bytes the open reads
    builder = craft.Builder()
    builder.add(b"k", payload, crc=zlib.crc32(payload) ^ 1)
    archive = open_archive(write(tmp_path, builder.finish()), tail_size=1024, head_size=0)
    entry = archive.index.get("k")
    assert entry is not None
    with pytest.raises(CorruptEntryError, match=r"key 'k' in archive .*a\.zip.*CRC-32"):
        archive.read_entry_range(entry, 0, len(payload))
    assert archive.read_entry_range(entry, 10, 20) == payload[10:20]  # documented: unchecked


def test_range_of_a_buffered_entry_needs_no_request(tmp_path: Path) -> None:
    archive = open_archive(write(tmp_path, make_zip({"small": b"s" * 1000})))
    entry = archive.index.get("small")
    assert entry is not None and archive.is_buffered(entry)
    archive.source.stats.reset()
    assert archive.read_entry_range(entry, 10, 20) == b"s" * 10
    assert archive.source.stats.snapshot() == (0, 0)


def test_range_of_an_entry_whose_local_header_is_wrong_is_corrupt(tmp_path: Path) -> None:
    data = bytearray(make_zip(RANGE_ENTRIES))
    entry = open_archive(write(tmp_path, bytes(data))).index.get("big")
    assert entry is not None
    data[entry.header_offset : entry.header_offset + 4] = b"PK\x07\x08"
    archive = open_archive(write(tmp_path, bytes(data), "bad.zip"), tail_size=1024, head_size=0)
    with pytest.raises(CorruptEntryError, match=r"key 'big' in archive .*bad\.zip.*signature"):
        archive.read_entry_range(entry, 10, 20)


def test_range_of_a_second_name_for_one_local_header_is_corrupt(tmp_path: Path) -> None:
    """Two directory records point at one local header (named 'a'): what a partial read of
    'a' learned about that header must not serve 'b' (the header does not name it)."""
    payload = random.Random(5).randbytes(100_000)
    crc, size = zlib.crc32(payload), len(payload)
    body = craft.local_header(b"a", crc=crc, csize=size, usize=size) + payload
    cd = b"".join(
        craft.central_header(name, offset=0, crc=crc, csize=size, usize=size)
        for name in (b"a", b"b")
    )
    data = body + cd + craft.eocd(entries=2, cd_size=len(cd), cd_offset=len(body))
    archive = open_archive(write(tmp_path, data, "aliased.zip"), tail_size=1024, head_size=0)
    a, b = archive.index.get("a"), archive.index.get("b")
    assert a is not None and b is not None
    assert archive.read_entry_range(a, 10, 20) == payload[10:20]
    with pytest.raises(CorruptEntryError, match=r"key 'b' in archive .*aliased\.zip.*names b'a'"):
        archive.read_entry_range(b, 10, 20)
