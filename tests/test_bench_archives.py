"""The suite's numpy-written ZIP64 archive (parse benchmark) is a valid zip (no extra needed)."""

from __future__ import annotations

import struct
import zipfile

from benchmarks import parse_scale


def test_generated_zip64_archive_reads_back_with_zipfile(tmp_path):
    path = tmp_path / "many.zip"
    entries = 70_000  # above 65,535: the end records must be ZIP64
    parse_scale.write_archive(str(path), entries)
    with zipfile.ZipFile(path) as z:
        assert len(z.infolist()) == entries
        assert struct.unpack("<I", z.read("grid/69.999")) == (69999,)
        assert z.testzip() is None
    assert b"PK\x06\x06" in path.read_bytes()[-200:]  # the ZIP64 end record
