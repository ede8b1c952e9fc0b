"""The benchmark suite's directly written ZIP64 archive is a valid zip (no extra needed)."""

from __future__ import annotations

import struct
import zipfile

from benchmarks import archives


def test_generated_zip64_archive_reads_back_with_zipfile(tmp_path):
    path = tmp_path / "many.zip"
    entries = 70_000  # above 65,535: the end records must be ZIP64
    archives.write_many_entry_zip(path, entries)
    with zipfile.ZipFile(path) as z:
        infos = z.infolist()
        assert len(infos) == entries + 1
        assert z.read(".zarray").startswith(b'{"zarr_format": 2')
        assert struct.unpack("<f", z.read("69999")) == (69999.0,)
        assert z.testzip() is None
    assert b"PK\x06\x06" in path.read_bytes()[-200:]  # the ZIP64 end record
