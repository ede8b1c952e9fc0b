"""Differential, property-based: whatever zipfile writes, we read back exactly as zipfile does.

Hypothesis draws key sets (nested, unicode), contents, a compression method per
entry and an archive shape (comment, prepended data with absolute or shifted
offsets, duplicates, directory entries, ZIP64 local extras, data descriptors,
bytes after the end record). The archive is written with CPython's zipfile;
the reference is zipfile's own reading
(:func:`tests.archives.read_all_with_zipfile`). Local runs use many examples; a
bounded number also go through moto so the S3 path is covered.
"""

from __future__ import annotations

import io
import uuid
import warnings
import zipfile
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from remote_zip_store import LocalSource, ReadOptions, RemoteZipError, ZipArchive
from remote_zip_store.testing.servers import S3Server

from . import craft
from .archives import read_all_with_zipfile
from .worlds import RemoteZipStore

METHODS = [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA]


@dataclass
class Member:
    name: str
    data: bytes
    method: int
    force_zip64: bool = False


@dataclass
class Shape:
    members: list[Member]
    directories: list[str] = field(default_factory=list)
    comment: bytes = b""
    prefix: bytes = b""
    prefix_shifted: bool = False
    unseekable: bool = False
    tail_size: int = 512 * 1024
    coalesce_gap: int = 1024 * 1024
    trailing: str = ""
    """Bytes after the end record: "pad" (bsdtar's zeros to 10,240), "junk", or none."""


class _Unseekable(io.RawIOBase):
    def __init__(self) -> None:
        self.buf = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:  # type: ignore[no-untyped-def,override]
        self.buf += b
        return len(b)


def write_archive(shape: Shape) -> bytes:
    """The archive zipfile writes for ``shape`` (duplicates in the order given)."""
    if shape.unseekable:
        out: io.RawIOBase | io.BytesIO = _Unseekable()
    else:
        out = io.BytesIO()
        if shape.prefix and not shape.prefix_shifted:
            out.write(shape.prefix)  # append mode below: absolute offsets after the stub
    mode = "a" if shape.prefix and not shape.prefix_shifted and not shape.unseekable else "w"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "Duplicate name"
        with zipfile.ZipFile(out, mode) as z:  # type: ignore[arg-type]
            for directory in shape.directories:
                z.mkdir(directory)
            for m in shape.members:
                info = zipfile.ZipInfo(m.name, date_time=(2024, 1, 2, 3, 4, 6))
                info.compress_type = m.method
                if m.force_zip64:
                    with z.open(info, "w", force_zip64=True) as f:
                        f.write(m.data)
                else:
                    z.writestr(info, m.data)
            z.comment = shape.comment
    data = bytes(out.buf) if isinstance(out, _Unseekable) else out.getvalue()
    if shape.prefix and (shape.prefix_shifted or shape.unseekable):
        data = shape.prefix + data  # `cat stub x.zip`: offsets shifted, like CPython's concat
    if shape.trailing == "pad":
        data += bytes(-len(data) % 10240)
    elif shape.trailing == "junk":
        data += b"appended \xff\x00" * 50
    return data


# -- strategies ---------------------------------------------------------------------------

segment = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",), exclude_characters="/\x00\\"),
    min_size=1,
    max_size=6,
) | st.sampled_from([".zarray", ".zgroup", ".zattrs", "0.0", "0", "1.2.3", "ch07"])
names = st.lists(segment, min_size=1, max_size=4).map("/".join)
contents = st.binary(max_size=3000) | st.binary(min_size=1, max_size=40).flatmap(
    lambda b: st.integers(1, 400).map(lambda n: b * n)
)
comments = st.binary(max_size=80).filter(lambda c: b"PK\x05\x06" not in c) | st.sampled_from(
    [b"#" * 0xFFFF, b"archive comment"]
)


@st.composite
def shapes(draw: st.DrawFn) -> Shape:
    keys = draw(st.lists(names, min_size=0, max_size=10, unique=True))
    members = [
        Member(
            name=key,
            data=draw(contents),
            method=draw(st.sampled_from(METHODS)),
            force_zip64=draw(st.booleans()) if draw(st.integers(0, 4)) == 0 else False,
        )
        for key in keys
    ]
    if members and draw(st.booleans()):
        # Rewritten entries: zarr's ZipStore appends a new version; the last one wins.
        for original in draw(st.lists(st.sampled_from(members), max_size=3)):
            members.append(Member(original.name, draw(contents), draw(st.sampled_from(METHODS))))
    directories = sorted({k.rsplit("/", 1)[0] for k in keys if "/" in k})
    directories = draw(st.lists(st.sampled_from(directories), unique=True)) if directories else []
    prefix = draw(st.sampled_from([b"", b"#!/bin/sh\nexit 0\n", b"MZ" + bytes(3000)]))
    comment = draw(comments)
    # Trailing bytes push the end record back: it must stay in the last 64 KiB (zipfile too).
    trailing = draw(st.sampled_from(["", "pad", "junk"])) if len(comment) < 50_000 else ""
    return Shape(
        members=members,
        directories=directories,
        comment=comment,
        prefix=prefix,
        prefix_shifted=draw(st.booleans()),
        unseekable=draw(st.integers(0, 3)) == 0,
        tail_size=draw(st.sampled_from([1024, 4096, 512 * 1024])),
        coalesce_gap=draw(st.sampled_from([0, 64, 1024 * 1024])),
        trailing=trailing,
    )


# -- comparison -----------------------------------------------------------------------------


def check_archive(archive: ZipArchive, expected: dict[str, bytes]) -> None:
    index = archive.index
    assert sorted(index.names()) == sorted(expected)
    for name, payload in expected.items():
        assert archive.read(name) == payload, name
    entries = [index.get(name) for name in expected]
    assert archive.read_many(e for e in entries if e is not None) == expected


def check_store(store: RemoteZipStore, expected: dict[str, bytes]) -> None:
    assert list(store.keys()) == sorted(expected)
    assert len(store) == len(expected)
    for key, payload in expected.items():
        assert key in store
        assert store[key] == payload
    missing = f"missing-{uuid.uuid4().hex}"
    assert missing not in store
    got = store.getitems([*expected, missing], contexts={})
    assert got == expected


def options(shape: Shape) -> ReadOptions:
    return ReadOptions(tail_size=shape.tail_size, coalesce_gap=shape.coalesce_gap)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(shape=shapes())
def test_local_reads_equal_zipfile(shape: Shape, tmp_path_factory: pytest.TempPathFactory) -> None:
    data = write_archive(shape)
    expected = read_all_with_zipfile(data)
    path = tmp_path_factory.mktemp("diff") / "archive.zip"
    path.write_bytes(data)
    archive = ZipArchive(LocalSource(path), options(shape))
    try:
        check_archive(archive, expected)
    finally:
        archive.close()
    store = RemoteZipStore.from_source(LocalSource(path), root="", options=options(shape))
    with store:
        check_store(store, expected)


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(shape=shapes())
def test_s3_reads_equal_zipfile(shape: Shape, moto: S3Server) -> None:
    data = write_archive(shape)
    expected = read_all_with_zipfile(data)
    url = moto.put(data)
    kwargs = moto.store_kwargs()
    with RemoteZipStore(
        url, root="", tail_size=shape.tail_size, coalesce_gap=shape.coalesce_gap, **kwargs
    ) as store:
        check_store(store, expected)
        check_archive(store.archive, expected)


# -- mutations: damaged archives give the right bytes or a RemoteZipError, never anything else --


@st.composite
def damaged(draw: st.DrawFn) -> tuple[bytes, bytes]:
    """A zipfile-written archive and a copy with a few bytes changed (or cut short)."""
    shape = draw(shapes())
    if draw(st.booleans()):
        data = write_archive(shape)
    else:
        # Hand-built ZIP64 layout: ZIP64 end records, offsets in ZIP64 extras.
        builder = craft.Builder()
        for m in shape.members:
            builder.add(m.name.encode(), m.data, flags=0x800, zip64_offset=draw(st.booleans()))
        data = builder.finish(zip64=True, comment=shape.comment)
    if not data:
        return data, data
    broken = bytearray(data)
    # Aim most changes at the headers near the end (directory, end records): they matter most.
    tail_start = max(0, len(data) - draw(st.sampled_from([64, 512, 4096, len(data)])))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(tail_start, len(data) - 1))
        broken[at] = draw(st.integers(0, 255))
    if draw(st.integers(0, 5)) == 0:
        broken = broken[: draw(st.integers(0, len(broken)))]
    return data, bytes(broken)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(pair=damaged())
def test_damaged_archives_never_return_wrong_bytes(
    pair: tuple[bytes, bytes], tmp_path_factory: pytest.TempPathFactory
) -> None:
    original, broken = pair
    # Any version of a name is acceptable: damage to a later duplicate's record legitimately
    # uncovers the earlier one. Bytes that no version of that name had are not.
    versions: dict[str, list[bytes]] = {}
    with zipfile.ZipFile(io.BytesIO(original)) as z:
        for info in z.infolist():
            versions.setdefault(info.filename, []).append(z.read(info))
    path = tmp_path_factory.mktemp("damaged") / "damaged.zip"
    path.write_bytes(broken)
    archive = ZipArchive(LocalSource(path), ReadOptions(tail_size=1024))
    try:
        try:
            names = archive.index.names()
        except RemoteZipError:
            return
        for name in names:
            try:
                got = archive.read(name)
            except RemoteZipError:
                continue
            if name in versions:
                assert got in versions[name], name
        wanted = [e for e in (archive.index.get(n) for n in names) if e is not None]
        try:
            many = archive.read_many(wanted)
        except RemoteZipError:
            return
        for name, got in many.items():
            if name in versions:
                assert got in versions[name], name
    finally:
        archive.close()
