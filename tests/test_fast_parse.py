"""The vectorized directory parser, the hash-table index and the sorted listing agree with
the straightforward implementations on awkward inputs."""

from __future__ import annotations

import io
import pickle
import struct
import warnings
import zipfile
from array import array
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from remote_zip_store import LocalSource, ReadOptions, ZipArchive
from remote_zip_store.archive import _indexcache as indexcache
from remote_zip_store.errors import BadArchiveError
from remote_zip_store.zipfmt._index import ZipIndex
from remote_zip_store.zipfmt._listing import Listing
from remote_zip_store.zipfmt._parse import (
    FLAG_UTF8,
    DirectoryLocation,
    Records,
    _parse_loop,
    locate_directory,
    parse_central_directory,
    parse_vectorized,
)

from .archives import make_zip

U32 = 0xFFFFFFFF


def _record(name: bytes, flags: int, offset: int, size: int, zip64: bool, comment: bytes) -> bytes:
    extra = b""
    csize = usize = size
    lho = offset
    if zip64:  # every field overflowed: the extra holds usize, csize, offset
        extra = struct.pack("<2H3Q", 1, 24, size, size, offset)
        csize = usize = lho = U32
    fixed = struct.pack(
        "<4s6H3L5H2L",
        b"PK\x01\x02",
        20,
        20,
        flags,
        0,
        0,
        0,
        0x12345678,
        csize,
        usize,
        len(name),
        len(extra),
        len(comment),
        0,
        0,
        0,
        lho,
    )
    return fixed + name + extra + comment


name_part = st.sampled_from([b"a", b"b/", b"PK\x01\x02", b"\xe9", b"\xc3\xa9", b".zarray", b"\x00"])
entry = st.tuples(
    st.lists(name_part, min_size=1, max_size=5).map(b"".join),
    st.sampled_from([0, FLAG_UTF8]),
    st.booleans(),
    st.sampled_from([b"", b"PK\x01\x02", b"note"]),
)


def _records_equal(a: Records, b: Records) -> None:
    assert a.names == b.names
    for column in (
        "header_offset",
        "compressed_size",
        "uncompressed_size",
        "crc32",
        "method",
        "flags",
        "name_length",
        "extra_length",
    ):
        assert list(getattr(a, column)) == list(getattr(b, column)), column


@settings(max_examples=150, deadline=None)
@given(st.lists(entry, min_size=0, max_size=12), st.integers(0, 3))
def test_vectorized_parse_matches_record_loop(entries: list, prefix: int) -> None:
    directory = b"".join(
        _record(name, flags, 1000 * i, 7 * i, zip64, comment)
        for i, (name, flags, zip64, comment) in enumerate(entries)
    )
    location = DirectoryLocation(
        cd_start=10**6,
        cd_size=len(directory),
        entry_count=len(entries),
        prefix=prefix,
        zip64=True,
        end_records_start=10**6 + len(directory),
        comment=b"",
    )
    fast = parse_vectorized(directory, location)
    reference = _parse_loop(directory, location)
    if fast is not None:  # None: a case the loop handles (NUL in a name, broken chain)
        _records_equal(fast, reference)
    if all(b"\x00" not in name for name, *_ in entries):
        assert fast is not None or not entries


def test_vectorized_parse_rejects_what_the_loop_rejects() -> None:
    good = b"".join(_record(f"k{i}".encode(), 0, i, 1, False, b"") for i in range(100))
    for broken in (good[:-3], good[:28] + b"\x05\x00" + good[30:], b"junk" + good[4:]):
        location = DirectoryLocation(0, len(broken), 100, 0, False, len(broken), b"")
        with pytest.raises(BadArchiveError):
            parse_central_directory(broken, location)
        assert parse_vectorized(broken, location) is None


def test_large_archive_uses_vectorized_path_with_same_result() -> None:
    names = {f"arr/{i // 100}.{i % 100}": bytes([i % 251]) * (i % 5) for i in range(3000)}
    names["\u00e9t\u00e9/.zattrs"] = b"{}"
    data = make_zip(names, prefix=b"SFX" * 10)
    location = locate_directory(data, len(data))
    directory = data[location.cd_start : location.cd_start + location.cd_size]
    fast = parse_vectorized(memoryview(directory), location)
    assert fast is not None
    _records_equal(fast, _parse_loop(directory, location))
    with zipfile.ZipFile(__import__("io").BytesIO(data)) as z:
        offsets = [info.header_offset for info in z.infolist()]
    assert list(fast.header_offset) == offsets


def test_index_last_duplicate_wins_and_directories_are_not_keys() -> None:
    entries: dict[str, bytes] = {}
    data = make_zip({"d/": b"", "d/a": b"1", "b": b"2"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate
        import io

        buf = io.BytesIO(data)
        with zipfile.ZipFile(buf, "a") as z:
            z.writestr("d/a", b"new")
            for i in range(50):
                z.writestr(f"x/{i}", b"")
        data = buf.getvalue()
    del entries
    location = locate_directory(data, len(data))
    records = parse_central_directory(
        data[location.cd_start : location.cd_start + location.cd_size], location
    )
    index = ZipIndex(records, location)
    assert "d/" not in index and "d" not in index
    entry = index.get("d/a")
    assert entry is not None and entry.compressed_size == 3
    assert index.names()[:2] == ["b", "d/a"]
    assert len(index) == 52
    assert index.get("missing") is None and 5 not in index


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.lists(st.sampled_from(["a", "b", "a.b", "c0", "z"]), min_size=1, max_size=4).map(
            "/".join
        ),
        max_size=30,
    )
)
def test_listing_children_match_a_full_scan(keys: list[str]) -> None:
    listing = Listing(keys)
    prefixes = {""} | {k.rsplit("/", 1)[0] + "/" for k in keys if "/" in k}
    for prefix in prefixes:
        expected = sorted({k[len(prefix) :].split("/")[0] for k in keys if k.startswith(prefix)})
        assert listing.children(prefix) == expected
        assert list(listing.keys(prefix)) == sorted(
            k[len(prefix) :] for k in keys if k.startswith(prefix)
        )
        assert listing.count(prefix) == sum(k.startswith(prefix) for k in keys)


def test_index_queries_cover_every_record() -> None:
    """``name_bounds`` and ``any_under`` see directories and shadowed duplicates too."""
    data = make_zip({"m/a": b"1", "m/b/c": b"2", "m/a ": b"3"})
    buf = io.BytesIO(data)
    with zipfile.ZipFile(buf, "a") as z:
        z.mkdir("zz/")
    data = buf.getvalue()
    location = locate_directory(data, len(data))
    index = ZipIndex(
        parse_central_directory(
            data[location.cd_start : location.cd_start + location.cd_size], location
        ),
        location,
    )
    assert index.names() == ["m/a", "m/b/c", "m/a "]
    assert index.name_bounds() == ("m/a", "zz/")  # the directory record counts
    assert index.any_under("zz/") and index.any_under("m/b/") and not index.any_under("q")
    empty = make_zip({})
    location = locate_directory(empty, len(empty))
    assert ZipIndex(parse_central_directory(b"", location), location).name_bounds() is None


def test_unpickled_copies_share_one_directory_read(tmp_path: Any) -> None:
    """The cache key is the source's identity and pinned version (contract 3), with options."""
    path = tmp_path / "a.zip"
    path.write_bytes(make_zip({f"k{i}": b"x" for i in range(10)}))
    indexcache.clear()
    archive = ZipArchive(LocalSource(path)).open()
    assert archive.source.version is not None
    first, second = pickle.loads(pickle.dumps(archive)), pickle.loads(pickle.dumps(archive))
    assert first.source.stats.snapshot() == (0, 0)
    assert first.index is not archive.index  # a fresh open never fills the cache...
    assert second.index is first.index  # ...the first unpickled copy does
    assert second.source.stats.snapshot() == (0, 0)
    other = pickle.loads(
        pickle.dumps(ZipArchive(LocalSource(path), ReadOptions(tail_size=2048)).open())
    )
    assert other.index is not first.index  # other options: another key
    key = indexcache.version_key(first.source, first.options)
    assert key == (first.source.identity, first.source.version, first.options)
    indexcache.clear()


def test_record_loop_matches_zipfile_on_a_small_prefixed_archive() -> None:
    """The record loop (every directory under ``VECTORIZE_FROM``: a cohort's archives)
    gives zipfile's names, offsets, sizes and CRCs: ASCII names decoded without the cp437
    codec, UTF-8 ones by their flag, offsets shifted by a prefix."""
    from remote_zip_store.zipfmt._parse import _parse_loop, locate_directory

    names = ["a.txt", "dir/", "dir/b.bin", "é/ü.json", "x" * 200]
    data = make_zip({n: n.encode() * 3 for n in names if not n.endswith("/")}, prefix=b"SFX" * 7)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        infos = archive.infolist()
    location = locate_directory(data, len(data))
    records = _parse_loop(data[location.cd_start : location.cd_start + location.cd_size], location)
    assert records.names == [info.filename for info in infos]
    assert list(records.header_offset) == [info.header_offset for info in infos]
    assert list(records.compressed_size) == [info.compress_size for info in infos]
    assert list(records.crc32) == [info.CRC for info in infos]
    assert list(records.flags) == [info.flag_bits for info in infos]


@pytest.mark.parametrize("padding", [0, 600])  # a dict below SMALL_TABLE names, the table above
def test_small_and_large_indexes_answer_alike(padding: int) -> None:
    """Below ``SMALL_TABLE`` names the index looks names up in a dict, above it in the
    open-addressing table: the same answers (last duplicate wins, no directories)."""
    from remote_zip_store.zipfmt._index import SMALL_TABLE

    names = ["d/", "d/a", "b", "d/a", "e/", "e/x", *(f"p/{i}" for i in range(padding))]
    assert (len(names) < SMALL_TABLE) == (padding == 0)
    records = Records(
        names, *(array(code, [i * 10 for i in range(len(names))]) for code in "QQQIHHHH")
    )
    location = DirectoryLocation(
        cd_start=10 * len(names) + 100,
        cd_size=0,
        entry_count=len(names),
        prefix=0,
        zip64=False,
        end_records_start=10 * len(names) + 100,
        comment=b"",
    )
    index = ZipIndex(records, location)
    assert index._row("d/a") == 3 and index._row("b") == 2 and index._row("e/x") == 5
    assert "d/" not in index and "e/" not in index and "missing" not in index
    assert index.names(listed=False)[:3] == ["b", "d/a", "e/x"]
    assert len(index) == 3 + padding
    twin = ZipIndex(records, location, like=index)  # a catalog's sibling shares the lookup
    assert twin._row("d/a") == 3 and "d/" not in twin


def _directory(entries: list, sizes: list[int]) -> tuple[bytes, DirectoryLocation]:
    directory = b"".join(
        _record(name, flags, 1000 * i + sizes[i], sizes[i], zip64, comment)
        for i, (name, flags, zip64, comment) in enumerate(entries)
    )
    location = DirectoryLocation(
        cd_start=10**6,
        cd_size=len(directory),
        entry_count=len(entries),
        prefix=3,
        zip64=True,
        end_records_start=10**6 + len(directory),
        comment=b"",
    )
    return directory, location


@settings(max_examples=150, deadline=None)
@given(st.lists(entry, min_size=1, max_size=12), st.data())
def test_a_sibling_parsed_by_layout_equals_the_record_loop(entries: list, data: Any) -> None:
    """A cohort's siblings parse by gathering at the first archive's record starts
    (``parse_like``): the same result as the record loop whenever it answers, and it
    answers whenever only sizes, offsets and CRCs differ (what a cohort's archives do)."""
    from remote_zip_store.zipfmt._parse import layout_of, parse_like

    teacher, where = _directory(entries, [7] * len(entries))
    layout = layout_of(teacher, where, _parse_loop(teacher, where).names)
    if layout is None:  # ZIP64 fields or a chain the scan cannot follow: siblings loop
        assert any(zip64 for _, _, zip64, _ in entries) or any(
            b"PK\x01\x02" in name + comment for name, _, _, comment in entries
        )
        return
    changes = data.draw(
        st.lists(
            st.sampled_from(["size", "size", "name", "flag", "comment", "zip64"]),
            min_size=len(entries),
            max_size=len(entries),
        )
    )
    sibling = []
    for (name, flags, zip64, comment), change in zip(entries, changes, strict=True):
        if change == "name":
            name = name[:-1] + (b"b" if name[-1:] != b"b" else b"c")  # same length, not alike
        elif change == "flag":
            flags ^= FLAG_UTF8
        elif change == "comment":
            comment += b"!"
        elif change == "zip64":
            zip64 = True
        sibling.append((name, flags, zip64, comment))
    sizes = data.draw(st.lists(st.integers(0, 999), min_size=len(entries), max_size=len(entries)))
    directory, location = _directory(sibling, sizes)
    got = parse_like(directory, location, layout)
    reference = _parse_loop(directory, location)
    if got is not None:
        _records_equal(got, reference)
        assert got.names is layout.names  # one list for the cohort (one index lookup)
    if all(change == "size" for change in changes):
        assert got is not None
    elif any(change in ("name", "comment", "zip64") for change in changes):
        assert got is None


def test_real_siblings_parse_by_layout_as_by_the_record_loop() -> None:
    """zipfile-written siblings (one with an SFX prefix, one deflated, other contents) parse
    by a first archive's layout to what the record loop gives; one name byte changed, the
    layout refuses (the caller then parses the usual way)."""
    from remote_zip_store.zipfmt._parse import layout_of, parse_like

    def entries(seed: int) -> dict[str, bytes]:
        return {f"g/a{i}/0.{i}": bytes([seed + i]) * (seed * 7 + i) for i in range(40)}

    def parts(data: bytes) -> tuple[memoryview, DirectoryLocation]:
        location = locate_directory(data, len(data))
        start = location.cd_start
        return memoryview(data)[start : start + location.cd_size], location

    directory, location = parts(make_zip(entries(1)))
    layout = layout_of(directory, location, _parse_loop(directory, location).names)
    assert layout is not None
    for sibling in (
        make_zip(entries(2)),
        make_zip(entries(3), prefix=b"#!/bin/sh\n" * 50),
        make_zip(entries(4), compression=zipfile.ZIP_DEFLATED),
    ):
        directory, location = parts(sibling)
        got = parse_like(directory, location, layout)
        assert got is not None and got.names is layout.names
        _records_equal(got, _parse_loop(directory, location))
    renamed = make_zip({k.replace("a3/", "b3/"): v for k, v in entries(2).items()})
    assert parse_like(*parts(renamed), layout) is None
