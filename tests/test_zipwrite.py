"""The zip writer: its output read back by CPython's zipfile, ``unzip -t``, ``7z t`` and our
reader, byte for byte; ZIP64 exactly when needed; clear errors for bad input; abort paths."""

from __future__ import annotations

import io
import os
import shutil
import struct
import subprocess
import threading
import warnings
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from remote_zip_store.archive._writer import WriteOptions, ZipWriter
from remote_zip_store.errors import (
    ArchiveExistsError,
    DuplicateEntryError,
    InvalidKeyError,
    InvalidValueError,
    RemoteZipError,
    StoreClosedError,
)
from remote_zip_store.hierarchy._frontend import open_archive
from remote_zip_store.transport._sinks import LocalSink, open_sink
from remote_zip_store.zipfmt import _parse as zipformat
from remote_zip_store.zipfmt._encode import (
    central_record,
    directory_needs_zip64,
    encode_name,
    end_records,
    local_header,
)
from remote_zip_store.zipfmt._parse import U32_MAX

FIXED = WriteOptions(date_time=(2026, 12, 3, 12, 0, 0))


class MemorySink:
    """The archive's bytes in memory (a test sink: the Sink protocol, no I/O)."""

    def __init__(self, url: str = "mem://test.zip", fail_after: int | None = None):
        self.url = url
        self.buffer = bytearray()
        self.completed = False
        self.aborted = 0
        self.fail_after = fail_after

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self.fail_after is not None and len(self.buffer) + len(data) > self.fail_after:
            raise OSError("disk full (injected)")
        self.buffer += data

    def complete(self) -> None:
        self.completed = True

    def abort(self) -> None:
        self.aborted += 1


# -- validation helpers (shared with test_sinks) ---------------------------------------


def validate_zip(
    path: str | os.PathLike[str], expected: Mapping[str, bytes], *, seven_zip: bool = True
) -> None:
    """``path`` holds exactly ``expected``: zipfile (testzip, bytes), unzip -t, 7z t, our reader."""
    with zipfile.ZipFile(path) as z:
        assert z.testzip() is None
        assert [info.filename for info in z.infolist()] == list(expected)
        for name, data in expected.items():
            assert z.read(name) == data, name
    if shutil.which("unzip"):
        done = subprocess.run(["unzip", "-t", os.fspath(path)], capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "No errors detected" in done.stdout
    seven = shutil.which("7z") or shutil.which("7za")
    if seven and seven_zip:
        done = subprocess.run([seven, "t", os.fspath(path)], capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "Everything is Ok" in done.stdout
    archive = open_archive(path)
    try:
        assert sorted(archive.index.names()) == sorted(expected)
        for name, data in expected.items():
            assert archive.read(name) == data, name
    finally:
        archive.close()


def write_local(path: Path, entries: Mapping[str, Any], **options: Any) -> None:
    with ZipWriter(open_sink(path), WriteOptions(**options)) as writer:
        for name, data in entries.items():
            writer.write(name, data)


ENTRIES: dict[str, bytes] = {
    ".zgroup": b'{"zarr_format": 2}',
    "eeg/.zarray": b'{"chunks": [1000]}',
    "eeg/0": os.urandom(100_000),
    "eeg/1": b"",
    "données/ünïcode/0.0": b"\x00" * 5000,
    "日本/チャンク": b"abc" * 1000,
}


# -- round trips -----------------------------------------------------------------------


def test_stored_round_trip_validates_everywhere(tmp_path: Path) -> None:
    path = tmp_path / "a.zip"
    write_local(path, ENTRIES)
    validate_zip(path, ENTRIES)
    with zipfile.ZipFile(path) as z:
        for info in z.infolist():
            assert info.compress_type == zipfile.ZIP_STORED
            assert info.flag_bits & 0x08 == 0  # sizes in the local header: no data descriptor
            assert bool(info.flag_bits & 0x800) == (not info.filename.isascii())
            assert info.external_attr >> 16 == 0o100644


def test_deflate_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "d.zip"
    write_local(path, ENTRIES, compress=True, compresslevel=9)
    validate_zip(path, ENTRIES)
    with zipfile.ZipFile(path) as z:
        assert {i.compress_type for i in z.infolist()} == {zipfile.ZIP_DEFLATED}
        assert z.getinfo("eeg/1").file_size == 0
        assert z.getinfo("données/ünïcode/0.0").compress_size < 100


def test_per_entry_compression_overrides_the_default(tmp_path: Path) -> None:
    path = tmp_path / "m.zip"
    with ZipWriter(open_sink(path), WriteOptions(compress=True)) as writer:
        writer.write("a", b"x" * 1000, compress=False)
        writer.write("b", b"x" * 1000)
    with zipfile.ZipFile(path) as z:
        assert z.getinfo("a").compress_type == zipfile.ZIP_STORED
        assert z.getinfo("b").compress_type == zipfile.ZIP_DEFLATED
    validate_zip(path, {"a": b"x" * 1000, "b": b"x" * 1000})


def test_bytes_like_values(tmp_path: Path) -> None:
    array = np.arange(1000, dtype="<f8").reshape(10, 100)
    values: dict[str, Any] = {
        "bytes": b"abc",
        "bytearray": bytearray(b"def"),
        "memoryview": memoryview(b"0123456789")[2:8],
        "numpy": array,
        "int16-view": memoryview(np.arange(5, dtype="<i2")),
    }
    path = tmp_path / "v.zip"
    write_local(path, values)
    expected = {name: bytes(memoryview(value).cast("B")) for name, value in values.items()}
    expected["numpy"] = array.tobytes()
    validate_zip(path, expected)


def test_same_input_same_bytes() -> None:
    """With a fixed date_time the archive is reproducible (packing twice gives one object)."""
    outputs = []
    for _ in range(2):
        sink = MemorySink()
        with ZipWriter(sink, FIXED) as writer:
            for name, data in ENTRIES.items():
                writer.write(name, data)
        outputs.append(bytes(sink.buffer))
    assert outputs[0] == outputs[1]
    assert sink.completed
    with zipfile.ZipFile(io.BytesIO(outputs[0])) as z:
        assert z.getinfo(".zgroup").date_time == (2026, 12, 3, 12, 0, 0)


def test_concurrent_writes(tmp_path: Path) -> None:
    """Writes from many threads (dask, a pool) each land as one whole entry."""
    entries = {f"arr/{i}": os.urandom(1000 + i) for i in range(400)}
    path = tmp_path / "c.zip"
    with ZipWriter(open_sink(path), WriteOptions(compress=True)) as writer:
        names = list(entries)

        def work(part: list[str]) -> None:
            for name in part:
                writer.write(name, entries[name])

        threads = [threading.Thread(target=work, args=(names[i::8],)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert writer.entries == 400
    with zipfile.ZipFile(path) as z:
        assert z.testzip() is None
        assert {i.filename: z.read(i) for i in z.infolist()} == entries


def test_counters_and_state() -> None:
    sink = MemorySink()
    writer = ZipWriter(sink)
    assert not writer.closed and writer.entries == 0 and writer.bytes_written == 0
    writer.write("a/b", b"12345")
    assert writer.entries == 1 and writer.bytes_written == 30 + 3 + 5 == len(sink.buffer)
    assert "a/b" in writer and "a" not in writer
    writer.close()
    assert writer.closed and not writer.aborted and sink.completed
    assert writer.bytes_written == len(sink.buffer)
    writer.close()  # idempotent
    writer.abort()  # after a completed close: nothing to undo
    assert sink.aborted == 0


def test_empty_archive(tmp_path: Path) -> None:
    path = tmp_path / "e.zip"
    with ZipWriter(open_sink(path)):
        pass
    assert path.read_bytes() == end_records(0, 0, 0)
    with zipfile.ZipFile(path) as z:
        assert z.namelist() == []


# -- bad input -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["", "/abs", "a//b", "a/", "./a", "a/./b", "../a", "a/..", "a\x00b", "a\\b", "\udcff", 7],
)
def test_bad_names_are_refused(name: Any) -> None:
    sink = MemorySink()
    writer = ZipWriter(sink)
    with pytest.raises(InvalidKeyError) as info:
        writer.write(name, b"x")
    assert isinstance(info.value, ValueError) and isinstance(info.value, RemoteZipError)
    assert "mem://test.zip" in str(info.value)
    assert len(sink.buffer) == 0 and writer.entries == 0
    writer.write("fine", b"x")  # the writer is still usable
    writer.close()


def test_long_name_is_refused() -> None:
    with pytest.raises(InvalidKeyError, match="65,535"):
        encode_name("x" * 70_000)
    assert encode_name("x" * 65_535)[0] == b"x" * 65_535


@pytest.mark.parametrize("value", ["text", 12, None, [1, 2], np.arange(10)[::2]])
def test_values_that_are_not_bytes_like_are_refused(value: Any) -> None:
    sink = MemorySink()
    writer = ZipWriter(sink)
    with pytest.raises(InvalidValueError) as info:
        writer.write("k", value)
    assert isinstance(info.value, TypeError)
    assert "key 'k' in archive mem://test.zip" in str(info.value)
    assert len(sink.buffer) == 0


def test_write_after_close_or_abort() -> None:
    writer = ZipWriter(MemorySink())
    writer.close()
    with pytest.raises(StoreClosedError, match="closed"):
        writer.write("a", b"1")
    aborted = ZipWriter(MemorySink())
    aborted.abort()
    aborted.abort()  # idempotent
    with pytest.raises(StoreClosedError, match="aborted") as info:
        aborted.write("a", b"1")
    assert isinstance(info.value, ValueError)
    aborted.close()  # does nothing after an abort


def test_duplicate_names() -> None:
    writer = ZipWriter(MemorySink())
    writer.write("a/0", b"first")
    with pytest.raises(DuplicateEntryError, match="written already") as info:
        writer.write("a/0", b"second")
    assert info.value.key == "a/0"

    sink = MemorySink()
    warned = ZipWriter(sink, WriteOptions(duplicates="warn"))
    warned.write("a/0", b"first")
    with pytest.warns(UserWarning, match="duplicate zip entry name 'a/0'"):
        warned.write("a/0", b"second")
    warned.close()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate too
        with zipfile.ZipFile(io.BytesIO(bytes(sink.buffer))) as z:
            assert [i.filename for i in z.infolist()] == ["a/0", "a/0"]
            assert z.read("a/0") == b"second"  # the last one wins


@pytest.mark.parametrize(
    "options",
    [
        {"part_size": 5 * 2**20 - 1},
        {"max_workers": 0},
        {"compresslevel": 10},
        {"duplicates": "ignore"},
        {"date_time": (1979, 1, 1, 0, 0, 0)},
    ],
)
def test_bad_options(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        WriteOptions(**options)


# -- failure paths ---------------------------------------------------------------------


def test_exception_in_with_leaves_nothing(tmp_path: Path) -> None:
    path = tmp_path / "x.zip"
    with pytest.raises(RuntimeError, match="boom"), ZipWriter(open_sink(path)) as writer:
        writer.write("a", b"1" * 10_000)
        raise RuntimeError("boom")
    assert writer.aborted
    assert list(tmp_path.iterdir()) == []  # neither the archive nor the temporary file


def test_a_failing_sink_aborts_the_writer() -> None:
    sink = MemorySink(fail_after=50_000)
    writer = ZipWriter(sink)
    writer.write("a", b"1" * 10_000)
    with pytest.raises(OSError, match="disk full"):
        writer.write("b", b"2" * 100_000)
    assert writer.aborted and sink.aborted == 1 and not sink.completed
    with pytest.raises(StoreClosedError):
        writer.write("c", b"3")


def test_a_failing_close_aborts() -> None:
    sink = MemorySink(fail_after=40)
    writer = ZipWriter(sink)
    writer.write("a", b"1")  # 31 bytes
    with pytest.raises(OSError):
        writer.close()  # the directory does not fit
    assert writer.aborted and sink.aborted == 1 and not sink.completed


def test_local_replace_only_on_complete(tmp_path: Path) -> None:
    path = tmp_path / "r.zip"
    write_local(path, {"old": b"old"})
    writer = ZipWriter(open_sink(path))
    writer.write("new", b"new")
    with zipfile.ZipFile(path) as z:  # readers see the old archive until close
        assert z.namelist() == ["old"]
    writer.close()
    validate_zip(path, {"new": b"new"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.zip"]


def test_local_fail_if_exists(tmp_path: Path) -> None:
    path = tmp_path / "w.zip"
    path.write_bytes(b"keep")
    with pytest.raises(ArchiveExistsError) as info:
        open_sink(path, mode="w-")
    assert isinstance(info.value, FileExistsError) and str(path) in str(info.value)
    # Appearing between open and complete: refused at complete, the newcomer is kept.
    other = tmp_path / "later.zip"
    writer = ZipWriter(open_sink(other, mode="w-"))
    writer.write("a", b"1")
    other.write_bytes(b"newcomer")
    with pytest.raises(ArchiveExistsError):
        writer.close()
    assert other.read_bytes() == b"newcomer" and path.read_bytes() == b"keep"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["later.zip", "w.zip"]
    fresh = tmp_path / "fresh.zip"
    write_local(fresh, {})
    with ZipWriter(open_sink(tmp_path / "fresh2.zip", mode="w-")) as w:
        w.write("a", b"1")
    validate_zip(tmp_path / "fresh2.zip", {"a": b"1"})


def test_local_file_mode_is_a_normal_files_mode(tmp_path: Path) -> None:
    path = tmp_path / "p.zip"
    write_local(path, {"a": b"1"})
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_local_errors_name_the_path(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as info:
        LocalSink(tmp_path / "missing" / "a.zip")
    assert isinstance(info.value, RemoteZipError) and "missing" in str(info.value)
    with pytest.raises(OSError, match="is a directory"):
        LocalSink(tmp_path)


def test_open_sink_urls(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="read-only") as info:
        open_sink("https://example.org/a.zip")
    assert isinstance(info.value, RemoteZipError)
    with pytest.raises(ValueError, match="unsupported URL scheme 'gs'"):
        open_sink("gs://bucket/a.zip")
    with pytest.raises(ValueError, match="mode"):
        open_sink(tmp_path / "a.zip", mode="a")
    with pytest.raises(TypeError, match="bogus"):
        open_sink(tmp_path / "a.zip", bogus=1)
    sink = open_sink(f"file://{tmp_path}/f.zip")
    assert isinstance(sink, LocalSink) and sink.url == str(tmp_path / "f.zip")
    sink.abort()
    assert list(tmp_path.iterdir()) == []


# -- ZIP64 -----------------------------------------------------------------------------


def _has_zip64_end(data: bytes) -> bool:
    return zipformat.ZIP64_LOCATOR_SIGNATURE in data[-200:]


def test_zip64_by_entry_count(tmp_path: Path) -> None:
    entries = {f"c/{i}": i.to_bytes(3, "little") for i in range(70_000)}
    path = tmp_path / "many.zip"
    write_local(path, entries)
    data = path.read_bytes()
    assert _has_zip64_end(data)
    eocd = data[-22:]
    assert struct.unpack_from("<H", eocd, 10)[0] == 0xFFFF  # the classic count is escaped
    validate_zip(path, entries)


def test_no_zip64_at_the_plain_limit() -> None:
    assert not directory_needs_zip64(65_535, 1000, 1000)
    assert directory_needs_zip64(65_536, 1000, 1000)
    assert not directory_needs_zip64(10, U32_MAX - 1, 0)
    assert directory_needs_zip64(10, U32_MAX, 0)
    assert directory_needs_zip64(10, 0, U32_MAX)
    assert not _has_zip64_end(end_records(65_535, 1000, 1000))
    sink = MemorySink()
    with ZipWriter(sink) as w:
        w.write("a", b"1")
    assert not _has_zip64_end(bytes(sink.buffer))


class SparseFile(io.RawIOBase):
    """A read-only file of ``size`` bytes, zero except for ``pieces`` (offset -> bytes)."""

    def __init__(self, size: int, pieces: dict[int, bytes]):
        self.size = size
        self.pieces = pieces
        self.pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        self.pos = [offset, self.pos + offset, self.size + offset][whence]
        return self.pos

    def tell(self) -> int:
        return self.pos

    def readinto(self, buffer: Any) -> int:
        n = max(0, min(len(buffer), self.size - self.pos))
        out = bytearray(n)
        for start, piece in self.pieces.items():
            lo, hi = max(start, self.pos), min(start + len(piece), self.pos + n)
            if lo < hi:
                out[lo - self.pos : hi - self.pos] = piece[lo - start : hi - start]
        buffer[:n] = out
        self.pos += n
        return n


def test_zip64_sizes_and_offsets_encode_for_both_readers() -> None:
    """Entries of 5 GiB and at offsets past 4 GiB, without writing them: the directory and
    end records from the encoder, read by CPython's zipfile and by our parser."""
    big = 5 * 2**30
    names = [b"small", b"huge", b"after-huge", b"edge"]
    specs = [  # (csize, usize, offset)
        (10, 10, 0),
        (big, big, 100),
        (7, 9, 100 + 30 + 4 + 20 + big),
        (U32_MAX, U32_MAX - 1, 2 * big),  # exactly the sentinel: escaped too
    ]
    directory = b"".join(
        central_record(
            n, flags=0, method=0, crc32=0, compressed_size=c, uncompressed_size=u, offset=o
        )
        for n, (c, u, o) in zip(names, specs, strict=True)
    )
    cd_offset = 3 * big
    end = end_records(len(names), len(directory), cd_offset)
    assert _has_zip64_end(end)  # the directory's offset overflows
    total = cd_offset + len(directory) + len(end)
    tail = directory + end
    pad = bytes(zipformat.MAX_END_RECORDS)  # the parser asks for this much: zeros before
    location = zipformat.locate_directory(pad + tail, total)
    assert (location.cd_start, location.entry_count, location.zip64) == (cd_offset, 4, True)
    records = zipformat.parse_central_directory(directory, location)
    assert list(records.names) == ["small", "huge", "after-huge", "edge"]
    assert list(records.compressed_size) == [c for c, _, _ in specs]
    assert list(records.uncompressed_size) == [u for _, u, _ in specs]
    assert list(records.header_offset) == [o for _, _, o in specs]
    with zipfile.ZipFile(SparseFile(total, {cd_offset: tail})) as z:  # type: ignore[arg-type]
        got = [(i.compress_size, i.file_size, i.header_offset) for i in z.infolist()]
    assert got == specs


def test_zip64_local_header_holds_both_sizes() -> None:
    header = local_header(
        b"huge", flags=0, method=0, crc32=1, compressed_size=5 * 2**30, uncompressed_size=5 * 2**30
    )
    fields = struct.unpack_from("<4s5H3L2H", header)
    assert fields[1] == 45 and fields[7] == fields[8] == U32_MAX and fields[10] == 20
    tag, size, usize, csize = struct.unpack_from("<2H2Q", header, 30 + 4)
    assert (tag, size, usize, csize) == (1, 16, 5 * 2**30, 5 * 2**30)
    small = local_header(b"s", flags=0, method=0, crc32=1, compressed_size=5, uncompressed_size=5)
    assert len(small) == 31 and struct.unpack_from("<H", small, 4)[0] == 20


def test_zip64_offsets_in_a_real_sparse_file(tmp_path: Path) -> None:
    """Entries after a 4.5 GiB sparse prefix: their offsets need ZIP64 extras; every tool reads
    them (the prefix costs no disk on a file system with holes). Not 7z: p7zip 16.02 cannot
    open any archive behind a 4.5 GiB prefix (CPython's own ``zipfile`` output neither,
    checked 2026-12-03)."""
    path = tmp_path / "sparse.zip"
    prefix = 4 * 2**30 + 2**29
    with open(path, "wb") as f:
        f.truncate(prefix)
    if os.stat(path).st_blocks * 512 > 2**20:
        pytest.skip("no sparse files on this file system")

    class AppendSink:
        url = str(path)

        def __init__(self) -> None:
            self.f = open(path, "ab")  # noqa: SIM115

        def write(self, data: bytes | bytearray | memoryview) -> None:
            self.f.write(data)

        def complete(self) -> None:
            self.f.close()

        def abort(self) -> None:
            self.f.close()

    entries = {"a/.zarray": b"{}", "a/0": os.urandom(5000), "a/1": b"z" * 3000}
    with ZipWriter(AppendSink(), start_offset=prefix) as writer:  # type: ignore[arg-type]
        for name, data in entries.items():
            writer.write(name, data, compress=name == "a/1")
    with open(path, "rb") as f:
        f.seek(prefix)
        tail = f.read()
    assert _has_zip64_end(tail)
    with zipfile.ZipFile(path) as z:
        assert z.getinfo("a/0").header_offset > U32_MAX
    validate_zip(path, entries, seven_zip=False)


# -- a zarr hierarchy ------------------------------------------------------------------


def test_zarr_hierarchy_reads_with_zipstore_and_ours(tmp_path: Path) -> None:
    """Every entry of a zarr-written archive re-encoded by the writer: zarr's own ZipStore
    and RemoteZipStore read the same hierarchy as from the original."""
    import zarr

    from remote_zip_store import RemoteZipStore

    from .worlds import zip_store
    from .zarr_trees import assert_same_hierarchy, rich_tree, write_zip

    original = write_zip(tmp_path / "orig.zip", rich_tree, consolidate=True)
    with zipfile.ZipFile(original) as z:
        entries = {info.filename: z.read(info) for info in z.infolist()}
    ours = tmp_path / "ours.zip"
    write_local(ours, entries)
    validate_zip(ours, entries)
    ref = zip_store(original)
    theirs = zip_store(ours)
    store = RemoteZipStore(os.fspath(ours))
    try:
        assert_same_hierarchy(zarr.open_group(theirs, mode="r"), zarr.open_group(ref, mode="r"))
        assert_same_hierarchy(zarr.open_group(store, mode="r"), zarr.open_group(ref, mode="r"))
    finally:
        ref.close()
        theirs.close()
        store.close()


# -- the .ozx layout's writer options (RFC-9) -----------------------------------------------


def test_forced_zip64_end_records_ordered_directory_and_comment(tmp_path: Path) -> None:
    """ZIP64 end pair on a tiny archive, a directory sorted apart from the file, a comment."""
    from remote_zip_store.zipfmt._conventions import json_first_key, ozx_comment

    written = {
        "a/c/0": b"\x01" * 10,
        "a/zarr.json": b'{"zarr_format": 3}',
        "a/b/zarr.json": b'{"zarr_format": 3}',
        "a-b/zarr.json": b'{"zarr_format": 3}',
        "zarr.json": b'{"zarr_format": 3}',
        "a/c/1": b"\x02" * 10,
    }
    path = tmp_path / "x.ozx"
    comment = ozx_comment("0.5")
    writer = ZipWriter(
        open_sink(path), FIXED, zip64_end_records=True, directory_order=json_first_key
    )
    for name, data in written.items():
        writer.write(name, data)
    writer.close(comment=comment)
    # root, then breadth-first ("a/" before "a-b/": segment by segment), then the rest as written
    listed = ["zarr.json", "a/zarr.json", "a-b/zarr.json", "a/b/zarr.json", "a/c/0", "a/c/1"]
    validate_zip(path, {name: written[name] for name in listed})
    data = path.read_bytes()
    assert _has_zip64_end(data)
    with zipfile.ZipFile(path) as z:
        assert z.comment == comment
        # the file keeps the write order: only the directory is sorted
        offsets = sorted(z.infolist(), key=lambda info: info.header_offset)
        assert [info.filename for info in offsets] == list(written)
        assert all(info.extra == b"" for info in z.infolist())  # no ZIP64 extra is needed
    archive = open_archive(path)
    try:
        assert archive.index.location.zip64 and archive.comment == comment
        assert archive.ome is not None and archive.ome.json_first
    finally:
        archive.close()
    # the classic end record keeps the values that fit (not the all-ones escape)
    assert struct.unpack_from("<H", data, len(data) - 22 - len(comment) + 10)[0] == 6
    assert end_records(6, 100, 100, zip64=True).startswith(zipformat.ZIP64_EOCD_SIGNATURE)
