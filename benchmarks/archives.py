"""Archives the suite generates, cached under ``benchmarks/out/archives/``.

* ``eeg`` / ``eeg-deflate``: the EEG-like recording of the issue, 16 channels x 2 h at
  256 Hz float32, one chunk per 30 s epoch (240 chunks per channel), written by
  :func:`remote_zip_store.sample.write_sample_archive` (zarr's own ``ZipStore``).
* ``grid``: a 2-D float32 array with large (4 MiB) chunks.
* ``many``: a 1-D array with 72,000 small chunks (a 70k+ entry directory, ZIP64 end records).
* ``small``: a short recording, uploaded 100 times for the "open 100 archives" scenario.
* ``million``: 1,000,000 tiny stored entries with ZIP64 end records, written directly
  (zipfile would take minutes) for the directory-parse benchmark.

A cached file is reused when its name (which encodes the parameters) exists.
"""

from __future__ import annotations

import json
import os
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import zarr

from remote_zip_store.sample import write_sample_archive

OUT = Path(__file__).resolve().parent / "out"
ARCHIVES = OUT / "archives"


@dataclass(frozen=True)
class Archive:
    """A generated archive on disk and what the scenarios need to know about it."""

    name: str
    path: Path
    arrays: tuple[str, ...]
    chunk_len: int = 0
    """Samples per chunk along the first axis (for the EEG epoch scenarios)."""

    @property
    def size(self) -> int:
        return self.path.stat().st_size


def _cached(path: Path) -> bool:
    return path.exists() and path.stat().st_size > 0


def eeg(*, channels: int = 16, seconds: int = 7200, deflate: bool = False) -> Archive:
    """The EEG-like recording (stored, or deflate-compressed zip entries)."""
    kind = "deflate" if deflate else "stored"
    path = ARCHIVES / f"eeg-{channels}ch-{seconds}s-{kind}.zip"
    if not _cached(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        write_sample_archive(
            tmp,
            channels=channels,
            seconds=seconds,
            compression=zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED,
        )
        tmp.rename(path)
    arrays = tuple(f"signals/ch{c:02d}" for c in range(channels))
    return Archive(f"eeg-{kind}", path, arrays, chunk_len=30 * 256)


def grid(*, side: int = 4096, chunk: int = 1024) -> Archive:
    """A ``side`` x ``side`` float32 array in ``chunk`` x ``chunk`` chunks (4 MiB each)."""
    path = ARCHIVES / f"grid-{side}-{chunk}.zip"
    if not _cached(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        rng = np.random.default_rng(3)
        with zarr.ZipStore(str(tmp), mode="w") as store:
            root = zarr.group(store=store)
            array = root.create_dataset(
                "image", shape=(side, side), chunks=(chunk, chunk), dtype="f4", compressor=None
            )
            for i in range(0, side, chunk):
                array[i : i + chunk] = rng.standard_normal((chunk, side), dtype=np.float32)
        tmp.rename(path)
    return Archive("grid", path, ("image",), chunk_len=chunk)


def many(*, chunks: int = 72_000, chunk: int = 64) -> Archive:
    """A 1-D array with ``chunks`` small chunks: a large central directory."""
    path = ARCHIVES / f"many-{chunks}.zip"
    if not _cached(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        with zarr.ZipStore(str(tmp), mode="w") as store:
            root = zarr.group(store=store)
            array = root.create_dataset(
                "values", shape=(chunks * chunk,), chunks=(chunk,), dtype="f4", compressor=None
            )
            array[:] = np.arange(chunks * chunk, dtype=np.float32)
        tmp.rename(path)
    return Archive("many", path, ("values",), chunk_len=chunk)


def small(*, channels: int = 4, seconds: int = 600) -> Archive:
    """A short recording (about 2.5 MB): the archive behind "open 100 archives"."""
    path = ARCHIVES / f"small-{channels}ch-{seconds}s.zip"
    if not _cached(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        write_sample_archive(tmp, channels=channels, seconds=seconds)
        tmp.rename(path)
    arrays = tuple(f"signals/ch{c:02d}" for c in range(channels))
    return Archive("small", path, arrays, chunk_len=30 * 256)


def million(entries: int = 1_000_000) -> Archive:
    """A zarr array with ``entries`` one-element chunks, written straight as a ZIP64 zip.

    Every chunk is 4 stored bytes (a float32), so the archive is mostly headers: the
    central directory is about 52 MB. Written with ``struct`` in one pass (a few
    seconds); CPython's ``zipfile`` reads it back (checked by the quick test).
    """
    path = ARCHIVES / f"million-{entries}.zip"
    if not _cached(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        write_many_entry_zip(tmp, entries)
        tmp.rename(path)
    return Archive("million", path, ("",), chunk_len=1)


def write_many_entry_zip(path: str | os.PathLike[str], entries: int) -> None:
    """``.zarray`` plus chunks ``0`` .. ``entries-1``, stored, with ZIP64 end records."""
    meta = json.dumps(
        {
            "zarr_format": 2,
            "shape": [entries],
            "chunks": [1],
            "dtype": "<f4",
            "compressor": None,
            "fill_value": 0.0,
            "filters": None,
            "order": "C",
        }
    ).encode()
    local = struct.Struct("<4s5H3L2H")
    central = struct.Struct("<4s6H3L5H2L")
    directory = bytearray()
    offset = 0
    count = 0
    with open(path, "wb") as f:
        buffer = bytearray()

        def add(name: bytes, data: bytes) -> None:
            nonlocal offset, count
            crc = zlib.crc32(data)
            n, size = len(name), len(data)
            header = local.pack(b"PK\x03\x04", 20, 0, 0, 0, 0x21, crc, size, size, n, 0)
            buffer.extend(header + name + data)
            directory.extend(
                central.pack(
                    b"PK\x01\x02", 20, 20, 0, 0, 0, 0x21, crc, size, size, n, 0, 0, 0, 0, 0, offset
                )
                + name
            )
            offset += len(header) + n + size
            count += 1

        add(b".zarray", meta)
        values = np.arange(entries, dtype="<f4")
        for i in range(entries):
            add(str(i).encode(), values[i].tobytes())
            if len(buffer) > 1 << 22:
                f.write(buffer)
                buffer.clear()
        f.write(buffer)
        cd_start, cd_size = offset, len(directory)
        f.write(directory)
        zip64_end = cd_start + cd_size
        f.write(
            struct.pack(
                "<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, count, count, cd_size, cd_start
            )
        )
        f.write(struct.pack("<4sLQL", b"PK\x06\x07", 0, zip64_end, 1))
        f.write(
            struct.pack(
                "<4s4H2LH",
                b"PK\x05\x06",
                0,
                0,
                min(count, 0xFFFF),
                min(count, 0xFFFF),
                min(cd_size, 0xFFFFFFFF),
                min(cd_start, 0xFFFFFFFF),
                0,
            )
        )
