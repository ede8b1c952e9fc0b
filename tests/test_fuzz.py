"""Fuzzing the parser and the store with hostile archives.

Every mutated archive must end in a library error (a ``RemoteZipError``) or in
the right bytes: bytes are compared with CPython's ``zipfile`` reading the same
mutated archive, or with the original entry. No other exception type escapes,
nothing hangs (hypothesis deadline), memory stays bounded (tracemalloc).

CI runs ``RZS_FUZZ_EXAMPLES`` examples per property (default 150). A long session:
``RZS_FUZZ_EXAMPLES=20000 python -m pytest tests/test_fuzz.py -q``
(see docs/reliability.md).
"""

from __future__ import annotations

import contextlib
import faulthandler
import io
import os
import struct
import tracemalloc
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from remote_zip_store import (
    BadArchiveError,
    CorruptEntryError,
    ReadOptions,
    RemoteZipError,
    ZipArchive,
)
from remote_zip_store.testing.memsource import MemorySource
from remote_zip_store.testing.servers import S3Server
from remote_zip_store.zipfmt._parse import locate_directory

from .archives import make_zip
from .worlds import RemoteZipStore

EXAMPLES = int(os.environ.get("RZS_FUZZ_EXAMPLES", "150"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=10_000,  # ms per example: a parser loop that does not end fails here
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)
#: Small bounds, so a hostile archive hits them (and the test can measure them).
OPTIONS = ReadOptions(tail_size=1024, max_directory_size=1 << 20, max_entry_size=1 << 22)
MEMORY_BOUND = 64 << 20


@pytest.fixture(autouse=True)
def hang_guard() -> Iterator[None]:
    """A hang (which a hypothesis deadline cannot catch) ends the run with tracebacks."""
    faulthandler.dump_traceback_later(600, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


# -- base archives ---------------------------------------------------------------------------


def _entries(count: int, size: int) -> dict[str, bytes]:
    rng = __import__("random").Random(count * 7919 + size)
    out = {}
    for i in range(count):
        half = bytes(rng.getrandbits(8) for _ in range(size // 2))
        out[f"g/arr/{i}.{i % 3}"] = half + bytes(size - size // 2)  # half noise, half zeros
    out["g/.zgroup"] = b'{"zarr_format": 2}'
    out["g/empty"] = b""
    return out


@dataclass(frozen=True)
class Base:
    name: str
    data: bytes
    entries: dict[str, bytes]


def _zip64_zip(entries: dict[str, bytes]) -> bytes:
    """zipfile writes ZIP64 end records above ZIP_FILECOUNT_LIMIT entries: lower the limit."""
    limit = zipfile.ZIP_FILECOUNT_LIMIT  # type: ignore[attr-defined]
    zipfile.ZIP_FILECOUNT_LIMIT = 1  # type: ignore[attr-defined]
    try:
        return make_zip(entries, compression=zipfile.ZIP_DEFLATED)
    finally:
        zipfile.ZIP_FILECOUNT_LIMIT = limit  # type: ignore[attr-defined]


def _bases() -> list[Base]:
    small = _entries(6, 300)
    large = _entries(16, 12000)  # > 64 kiB: the directory is fetched in a second request
    return [
        Base("stored", make_zip(small), small),
        Base("deflate", make_zip(small, compression=zipfile.ZIP_DEFLATED), small),
        Base(
            "bzip2+comment",
            make_zip(small, compression=zipfile.ZIP_BZIP2, comment=b"c" * 40),
            small,
        ),
        Base("lzma", make_zip(small, compression=zipfile.ZIP_LZMA), small),
        Base("prefixed", make_zip(small, prefix=b"#!/bin/sh\nexit 0\n"), small),
        Base("zip64-end-records", _zip64_zip(small), small),
        Base("large-deflate", make_zip(large, compression=zipfile.ZIP_DEFLATED), large),
    ]


BASES = _bases()


@dataclass(frozen=True)
class Layout:
    """Absolute offsets of an archive's structures (for aiming mutations)."""

    eocd: int
    """The classic end record."""
    end_records: int
    """Where the end records start: the ZIP64 end record when there is one, else ``eocd``."""
    cd_start: int
    records: list[int]
    locals: list[int]


def layout(data: bytes) -> Layout:
    location = locate_directory(data, len(data))
    records, locals_, pos = [], [], location.cd_start
    while pos < location.cd_start + location.cd_size:
        records.append(pos)
        nlen, elen, clen = struct.unpack_from("<3H", data, pos + 28)
        (lho,) = struct.unpack_from("<L", data, pos + 42)
        locals_.append(lho + location.prefix)
        pos += 46 + nlen + elen + clen
    eocd = data.rfind(b"PK\x05\x06", location.end_records_start)
    return Layout(eocd, location.end_records_start, location.cd_start, records, locals_)


LAYOUTS = [layout(b.data) for b in BASES]

# (offset within the structure, width) of every numeric field worth lying about
EOCD_FIELDS = [(4, 2), (6, 2), (8, 2), (10, 2), (12, 4), (16, 4), (20, 2)]
CENTRAL_FIELDS = [
    (8, 2),
    (10, 2),
    (16, 4),
    (20, 4),
    (24, 4),
    (28, 2),
    (30, 2),
    (32, 2),
    (34, 2),
    (42, 4),
]
ZIP64_EOCD_FIELDS = [(4, 8), (16, 4), (20, 4), (24, 8), (32, 8), (40, 8), (48, 8)]
ZIP64_LOCATOR_FIELDS = [(4, 4), (8, 8), (16, 4)]
LOCAL_FIELDS = [(6, 2), (8, 2), (14, 4), (18, 4), (22, 4), (26, 2), (28, 2)]


def put(data: bytearray, offset: int, width: int, value: int) -> None:
    value &= (1 << (8 * width)) - 1
    data[offset : offset + width] = value.to_bytes(width, "little")


# -- the oracle --------------------------------------------------------------------------------


def zipfile_read(data: bytes, name: str) -> bytes | None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            return z.read(name)
    except Exception:  # the reference may fail in any way; we only compare successes
        return None


def exercise(data: bytes, original: dict[str, bytes], options: ReadOptions = OPTIONS) -> int:
    """Open and read everything; assert only library errors or right bytes. Returns reads."""
    archive = ZipArchive(MemorySource(data), options)
    try:
        names = archive.open().index.names()
    except RemoteZipError:
        return 0
    results: dict[str, bytes | RemoteZipError] = {}
    for name in names:
        try:
            results[name] = archive.read(name)
        except RemoteZipError as exc:
            assert exc.archive == archive.url
            results[name] = exc
    for name, value in results.items():
        if isinstance(value, bytes):
            assert value == original.get(name) or value == zipfile_read(data, name), name
    entries = [e for e in (archive.entry(n) for n in names) if e is not None]
    try:
        many = archive.read_many(entries)
    except RemoteZipError:
        assert any(isinstance(v, RemoteZipError) for v in results.values())
    else:
        assert many == results  # all succeeded, identically
    return sum(isinstance(v, bytes) for v in results.values())


def exercise_store(data: bytes) -> None:
    """The zarr-facing surface: listing, getsize, getitems, missing keys."""
    try:
        store = RemoteZipStore.from_source(MemorySource(data), options=OPTIONS)
    except RemoteZipError:
        return
    keys = store.keylist()
    store.listdir("")
    store.getsize("")
    with contextlib.suppress(RemoteZipError):
        store.getitems([*keys, "no/such/key"])
    with pytest.raises(KeyError):
        store["no/such/key"]


# -- properties ----------------------------------------------------------------------------------

base_index = st.integers(0, len(BASES) - 1)


@pytest.mark.parametrize("base", BASES, ids=lambda b: b.name)
def test_truncation_at_every_offset_of_the_tail(base: Base) -> None:
    lay = layout(base.data)
    first = min(lay.cd_start, len(base.data) - 2000)
    for cut in range(max(0, first - 64), len(base.data)):
        exercise(base.data[:cut], base.entries)


@pytest.mark.parametrize("base", BASES, ids=lambda b: b.name)
def test_truncated_directory_under_an_intact_end_record(base: Base) -> None:
    """Bytes cut out just before the EOCD: its sizes and offsets now lie."""
    lay = layout(base.data)
    end_records = base.data[lay.end_records :]
    for cut in range(max(0, lay.cd_start - 64), lay.end_records):
        exercise(base.data[:cut] + end_records, base.entries)


@FUZZ
@given(
    base_index,
    st.lists(
        st.tuples(
            st.sampled_from(["eocd", "cd", "local"]), st.integers(0, 10**6), st.integers(1, 255)
        ),
        min_size=1,
        max_size=4,
    ),
)
def test_byte_flips_in_headers(index: int, flips: list[tuple[str, int, int]]) -> None:
    base, lay = BASES[index], LAYOUTS[index]
    data = bytearray(base.data)
    for region, where, xor in flips:
        if region == "eocd":
            offset = lay.end_records + where % (len(data) - lay.end_records)
        elif region == "cd":
            offset = lay.cd_start + where % (lay.end_records - lay.cd_start)
        else:
            header = lay.locals[where % len(lay.locals)]
            offset = header + (where // 7) % 40
        data[offset] ^= xor
    exercise(bytes(data), base.entries)


BOUNDARIES = [0, 1, 2, 22, 45, 46, 0x7FFF, 0xFFFF, 0x10000, 0x7FFFFFFF, 0xFFFFFFFE, 0xFFFFFFFF]
EXABYTES = [2**40, 2**62, 2**63, 2**64 - 1]  # for the 8-byte ZIP64 fields
interesting = st.one_of(
    st.sampled_from([*BOUNDARIES, *EXABYTES]),
    st.integers(0, 2**32 - 1),
)


@FUZZ
@given(
    base_index,
    st.lists(
        st.tuples(
            st.sampled_from(["eocd", "zip64", "cd", "local"]),
            st.integers(0, 10**6),
            st.integers(0, 9),
            interesting,
            st.booleans(),
        ),
        min_size=1,
        max_size=3,
    ),
)
def test_lying_counts_sizes_and_offsets(
    index: int, lies: list[tuple[str, int, int, int, bool]]
) -> None:
    base, lay = BASES[index], LAYOUTS[index]
    data = bytearray(base.data)
    for region, which, field, value, relative in lies:
        if region == "zip64" and lay.end_records != lay.eocd:
            if which % 2:
                at, fields = lay.end_records, ZIP64_EOCD_FIELDS
            else:
                at, fields = lay.eocd - 20, ZIP64_LOCATOR_FIELDS
        elif region in ("eocd", "zip64"):
            at, fields = lay.eocd, EOCD_FIELDS
        elif region == "cd":
            at, fields = lay.records[which % len(lay.records)], CENTRAL_FIELDS
        else:
            at, fields = lay.locals[which % len(lay.locals)], LOCAL_FIELDS
        offset, width = fields[field % len(fields)]
        if relative:  # near the true value: off by a little is the hardest lie
            old = int.from_bytes(data[at + offset : at + offset + width], "little")
            value = old + (value % 64) - 32
        put(data, at + offset, width, value)
    exercise(bytes(data), base.entries)


@FUZZ
@given(base_index, st.integers(0, 100), st.integers(0, 100), st.integers(-64, 64))
def test_overlapping_and_out_of_range_entries(index: int, a: int, b: int, shift: int) -> None:
    """Record ``a`` points at (near) record ``b``'s local header, or past the end."""
    base, lay = BASES[index], LAYOUTS[index]
    data = bytearray(base.data)
    record = lay.records[a % len(lay.records)]
    target = lay.locals[b % len(lay.locals)] + shift
    if b % 5 == 0:
        target = len(data) + abs(shift)  # past the end of the object
    put(data, record + 42, 4, target)
    exercise(bytes(data), base.entries)


@FUZZ
@given(st.binary(max_size=3000), st.booleans())
def test_arbitrary_bytes(blob: bytes, with_eocd: bool) -> None:
    if with_eocd:  # a plausible end record after garbage reaches the deeper checks
        blob += b"PK\x05\x06" + blob[:18].ljust(18, b"\0")
    exercise(blob, {})


@FUZZ
@given(base_index, st.integers(0, 10**6), st.integers(1, 255))
def test_store_surface_on_mutated_archives(index: int, where: int, xor: int) -> None:
    base, lay = BASES[index], LAYOUTS[index]
    data = bytearray(base.data)
    data[lay.cd_start + where % (len(data) - lay.cd_start)] ^= xor
    exercise_store(bytes(data))


# -- targeted hostile archives -------------------------------------------------------------------


def with_zip64_sizes(data: bytes, record_index: int, usize: int, csize: int) -> bytes:
    """One central record rewritten with 0xFFFFFFFF sizes and a ZIP64 extra of the real ones."""
    lay = layout(data)
    at = lay.records[record_index]
    nlen, elen, clen = struct.unpack_from("<3H", data, at + 28)
    end = at + 46 + nlen + elen + clen
    record = bytearray(data[at:end])
    put(record, 20, 4, 0xFFFFFFFF)
    put(record, 24, 4, 0xFFFFFFFF)
    extra = struct.pack("<2H2Q", 1, 16, usize, csize)
    put(record, 30, 2, elen + len(extra))
    name_end = 46 + nlen
    record[name_end:name_end] = extra
    eocd = bytearray(data[lay.eocd :])
    put(eocd, 12, 4, int.from_bytes(eocd[12:16], "little") + len(extra))
    return data[:at] + bytes(record) + data[end : lay.eocd] + bytes(eocd)


@pytest.mark.parametrize("size", [2**40, 2**60, 2**63, 2**64 - 1])
@pytest.mark.parametrize("which", ["usize", "csize"])
def test_exabyte_declared_sizes_are_refused_before_fetching(size: int, which: str) -> None:
    base = BASES[1]
    real = base.entries["g/arr/0.0"]
    compressed = zlib.compress(real)  # only its length matters here
    usize, csize = (size, len(compressed)) if which == "usize" else (len(real), size)
    data = with_zip64_sizes(base.data, 0, usize, csize)
    source = MemorySource(data)
    archive = ZipArchive(source, OPTIONS).open()
    before = source.stats.snapshot()
    name = archive.index.names()[0]
    tracemalloc.start()
    try:
        with pytest.raises(BadArchiveError, match=r"max_entry_size|central directory"):
            archive.read(name)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert source.stats.snapshot() == before  # refused before any request
    assert peak < MEMORY_BOUND


def test_deflate_bomb_stops_at_the_declared_size() -> None:
    bomb = bytes(64 << 20)  # 64 MiB of zeros: ~64 kB deflated
    data = make_zip({"bomb": bomb}, compression=zipfile.ZIP_DEFLATED)
    lay = layout(data)
    for declared in (1000, 1 << 20, OPTIONS.max_entry_size):
        mutated = bytearray(data)
        put(mutated, lay.records[0] + 24, 4, declared)
        put(mutated, lay.locals[0] + 22, 4, declared)
        archive = ZipArchive(MemorySource(bytes(mutated)), OPTIONS)
        tracemalloc.start()
        try:
            with pytest.raises(CorruptEntryError, match="more than"):
                archive.read("bomb")
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < declared + (8 << 20), (declared, peak)


def test_crc_mismatch_is_corrupt_entry() -> None:
    base, lay = BASES[0], LAYOUTS[0]
    for i, record in enumerate(lay.records):
        data = bytearray(base.data)
        data[record + 16] ^= 0x01
        archive = ZipArchive(MemorySource(bytes(data)), OPTIONS)
        name = archive.index.names()[i]
        with pytest.raises(CorruptEntryError, match="CRC-32") as info:
            archive.read(name)
        assert info.value.key == name
        # Turning CRC checks off returns the (intact) bytes: the flip was in the directory only.
        unchecked = ZipArchive(MemorySource(bytes(data)), ReadOptions(verify_crc=False))
        assert unchecked.read(name) == base.entries[name]


def test_directory_larger_than_the_bound_is_refused() -> None:
    base = BASES[-1]
    cd_size = layout(base.data).end_records - layout(base.data).cd_start
    source = MemorySource(base.data)
    with pytest.raises(BadArchiveError, match="max_directory_size"):
        ZipArchive(source, ReadOptions(tail_size=1024, max_directory_size=cd_size - 1)).open()
    # Also when the EOCD lies about a huge directory: no request asks for it.
    data = bytearray(base.data)
    lay = layout(base.data)
    put(data, lay.eocd + 12, 4, 0xFFFF0000)
    source = MemorySource(bytes(data))
    with pytest.raises(BadArchiveError):
        ZipArchive(source, OPTIONS).open()
    assert source.stats.bytes < 2 * 70_000


MUTATIONS: list[tuple[str, Callable[[bytearray, Layout], None]]] = [
    ("cd-offset-lies", lambda d, lay: put(d, lay.eocd + 16, 4, 3)),
    ("entry-past-end", lambda d, lay: put(d, lay.records[0] + 42, 4, len(d) + 100)),
    ("overlap", lambda d, lay: put(d, lay.records[1] + 42, 4, lay.locals[0])),
    ("crc", lambda d, lay: put(d, lay.records[0] + 16, 4, 0)),
    ("count-lies", lambda d, lay: put(d, lay.eocd + 10, 2, 999)),
    ("local-name-length", lambda d, lay: put(d, lay.locals[0] + 26, 2, 0xFFFF)),
]


@pytest.mark.parametrize(("label", "mutate"), MUTATIONS, ids=[m[0] for m in MUTATIONS])
def test_hostile_archives_through_moto(
    moto: S3Server, label: str, mutate: Callable[[bytearray, Layout], None]
) -> None:
    """The same checks over real HTTP: library errors only, never wrong bytes."""
    base = BASES[-1]
    data = bytearray(base.data)
    mutate(data, layout(base.data))
    url = moto.put(bytes(data))
    try:
        store = RemoteZipStore(url, tail_size=1024, root="", **moto.store_kwargs())
    except RemoteZipError:
        return
    for key in store.keylist():
        try:
            value = store[key]
        except RemoteZipError as exc:
            assert url in str(exc)
            continue
        assert value == base.entries.get(key) or value == zipfile_read(bytes(data), key)


def test_max_entry_size_is_a_store_argument(tmp_path: os.PathLike[str]) -> None:
    base = BASES[-1]
    path = os.path.join(tmp_path, "a.zip")
    with open(path, "wb") as f:
        f.write(base.data)
    store = RemoteZipStore(path, root="", tail_size=1024, max_entry_size=11_999)
    before = store.archive.source.stats.snapshot()
    with pytest.raises(BadArchiveError, match="max_entry_size=11999"):
        store["g/arr/0.0"]  # 12,000 bytes uncompressed
    assert store.archive.source.stats.snapshot() == before
    assert store["g/.zgroup"] == base.entries["g/.zgroup"]
