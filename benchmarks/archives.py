"""Archives the suite generates, cached under ``benchmarks/out/archives/``.

* ``eeg`` / ``eeg-deflate``: the EEG-like recording of the issue, 16 channels x 2 h at
  256 Hz float32, one chunk per 30 s epoch (240 chunks per channel), written by
  :func:`remote_zip_store.testing.sample.write_sample_archive` (zarr's own ``ZipStore``).
* ``grid``: a 2-D float32 array with large (4 MiB) chunks.
* ``many``: a 1-D array with 72,000 small chunks (a 70k+ entry directory, ZIP64 end records).
* ``small``: a short recording, uploaded 100 times for the "open 100 archives" scenario.
* ``million``: 1,000,000 tiny stored entries with ZIP64 end records, written with numpy by
  ``benchmarks/parse_scale.py`` (zipfile would take minutes) for the parse benchmark.

A cached file is reused when its name (which encodes the parameters) exists.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import zarr

from benchmarks import parse_scale
from remote_zip_store.testing.sample import write_sample_archive

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


def _generated(path: Path, write: Callable[[Path], object]) -> Path:
    """``path``, written once by ``write(tmp)`` and renamed into place (reused when it exists
    and is not empty, so an interrupted run never leaves a half-written archive behind)."""
    if not (path.exists() and path.stat().st_size > 0):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        write(tmp)
        tmp.rename(path)
    return path


def eeg(*, channels: int = 16, seconds: int = 7200, deflate: bool = False) -> Archive:
    """The EEG-like recording (stored, or deflate-compressed zip entries)."""
    kind = "deflate" if deflate else "stored"
    path = _generated(
        ARCHIVES / f"eeg-{channels}ch-{seconds}s-{kind}.zip",
        lambda tmp: write_sample_archive(
            tmp,
            channels=channels,
            seconds=seconds,
            compression=zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED,
        ),
    )
    arrays = tuple(f"signals/ch{c:02d}" for c in range(channels))
    return Archive(f"eeg-{kind}", path, arrays, chunk_len=30 * 256)


def grid(*, side: int = 4096, chunk: int = 1024) -> Archive:
    """A ``side`` x ``side`` float32 array in ``chunk`` x ``chunk`` chunks (4 MiB each)."""

    def write(tmp: Path) -> None:
        rng = np.random.default_rng(3)
        with zarr.ZipStore(str(tmp), mode="w") as store:
            root = zarr.group(store=store)
            array = root.create_dataset(
                "image", shape=(side, side), chunks=(chunk, chunk), dtype="f4", compressor=None
            )
            for i in range(0, side, chunk):
                array[i : i + chunk] = rng.standard_normal((chunk, side), dtype=np.float32)

    path = _generated(ARCHIVES / f"grid-{side}-{chunk}.zip", write)
    return Archive("grid", path, ("image",), chunk_len=chunk)


def many(*, chunks: int = 72_000, chunk: int = 64) -> Archive:
    """A 1-D array with ``chunks`` small chunks: a large central directory."""

    def write(tmp: Path) -> None:
        with zarr.ZipStore(str(tmp), mode="w") as store:
            root = zarr.group(store=store)
            array = root.create_dataset(
                "values", shape=(chunks * chunk,), chunks=(chunk,), dtype="f4", compressor=None
            )
            array[:] = np.arange(chunks * chunk, dtype=np.float32)

    path = _generated(ARCHIVES / f"many-{chunks}.zip", write)
    return Archive("many", path, ("values",), chunk_len=chunk)


def small(*, channels: int = 4, seconds: int = 600) -> Archive:
    """A short recording (about 2.5 MB): the archive behind "open 100 archives"."""
    path = _generated(
        ARCHIVES / f"small-{channels}ch-{seconds}s.zip",
        lambda tmp: write_sample_archive(tmp, channels=channels, seconds=seconds),
    )
    arrays = tuple(f"signals/ch{c:02d}" for c in range(channels))
    return Archive("small", path, arrays, chunk_len=30 * 256)


def million(entries: int = 1_000_000) -> Archive:
    """``entries`` stored 4-byte entries with ZIP64 end records (names ``grid/<row>.<col>``).

    Written by :func:`benchmarks.parse_scale.write_archive` (numpy, about a second).
    """
    path = _generated(
        ARCHIVES / f"million-{entries}.zip",
        lambda tmp: parse_scale.write_archive(str(tmp), entries),
    )
    return Archive("million", path, ("grid",), chunk_len=1)
