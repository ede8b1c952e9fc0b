"""Scale check: open a 1,000,000-entry ZIP64 archive and measure parse time and memory.

Generates the archive with numpy in about a second (one small stored entry per
key, zarr-like names ``grid/<row>.<col>``, ZIP64 end records like CPython's
zipfile writes above 65,535 entries), then measures:

* ``parse``: :func:`~remote_zip_store.zipfmt._parse.parse_central_directory` +
  :class:`~remote_zip_store.zipfmt._index.ZipIndex` on the directory bytes (best of N),
* ``open``: :class:`~remote_zip_store.archive._reader.ZipArchive` over a local file,
  i.e. the tail read, the second read for the rest of the directory, parse, index,
* ``bytes/entry``: what the index keeps (tracemalloc, everything allocated by
  parse + index that is still alive), then again after a listing is built.

Run: ``python benchmarks/parse_scale.py [--entries 1000000] [--repeat 5]``.
"""

from __future__ import annotations

import argparse
import gc
import os
import struct
import tempfile
import time
import tracemalloc
import zipfile
import zlib

import numpy as np

from remote_zip_store import RemoteZipStore
from remote_zip_store.archive._reader import ZipArchive
from remote_zip_store.transport import LocalSource
from remote_zip_store.zipfmt._index import ZipIndex
from remote_zip_store.zipfmt._listing import Listing
from remote_zip_store.zipfmt._parse import CENTRAL_DTYPE, locate_directory, parse_central_directory

_LOCAL = np.dtype(
    [
        ("sig", "<u4"),
        ("version", "<u2"),
        ("flags", "<u2"),
        ("method", "<u2"),
        ("time", "<u2"),
        ("date", "<u2"),
        ("crc", "<u4"),
        ("csize", "<u4"),
        ("usize", "<u4"),
        ("nlen", "<u2"),
        ("elen", "<u2"),
    ]
)
assert _LOCAL.itemsize == 30 and CENTRAL_DTYPE.itemsize == 46


def _interleave(
    headers: np.ndarray, names: bytes, nlen: np.ndarray, tails: bytes, tlen: int
) -> np.ndarray:
    """``header_i + name_i + tail_i`` for every i, as one uint8 array (tails fixed-size)."""
    hsize = headers.dtype.itemsize
    count = len(nlen)
    sizes = hsize + nlen.astype(np.int64) + tlen
    starts = np.zeros(count, dtype=np.int64)
    np.cumsum(sizes[:-1], out=starts[1:])
    out = np.empty(int(sizes.sum()), dtype=np.uint8)
    out[starts[:, None] + np.arange(hsize)] = headers.view(np.uint8).reshape(count, hsize)
    name_starts = np.zeros(count, dtype=np.int64)
    np.cumsum(nlen[:-1].astype(np.int64), out=name_starts[1:])
    shift = np.repeat(starts + hsize - name_starts, nlen)
    out[shift + np.arange(len(names))] = np.frombuffer(names, dtype=np.uint8)
    if tlen:
        out[(starts + hsize + nlen)[:, None] + np.arange(tlen)] = np.frombuffer(
            tails, dtype=np.uint8
        ).reshape(count, tlen)
    return out


def write_archive(path: str, entries: int) -> int:
    """A valid ZIP64 archive of ``entries`` stored 4-byte entries; returns the directory size."""
    cols = 1000
    names_list = [f"grid/{i // cols}.{i % cols}".encode() for i in range(entries)]
    names = b"".join(names_list)
    nlen = np.fromiter(map(len, names_list), dtype=np.uint16, count=entries)
    payload = np.arange(entries, dtype="<u4")
    data = payload.tobytes()
    crcs = np.fromiter(
        (zlib.crc32(data[4 * i : 4 * i + 4]) for i in range(entries)),
        dtype=np.uint32,
        count=entries,
    )
    local = np.zeros(entries, dtype=_LOCAL)
    local["sig"] = 0x04034B50
    local["version"] = 20
    local["crc"] = crcs
    local["csize"] = local["usize"] = 4
    local["nlen"] = nlen
    body = _interleave(local, names, nlen, data, 4)
    offsets = np.zeros(entries, dtype=np.int64)
    np.cumsum((30 + nlen.astype(np.int64) + 4)[:-1], out=offsets[1:])
    central = np.zeros(entries, dtype=CENTRAL_DTYPE)
    central["sig"] = 0x02014B50
    central["made_by"] = central["version"] = 20
    central["crc"] = crcs
    central["csize"] = central["usize"] = 4
    central["nlen"] = nlen
    central["offset"] = offsets  # < 4 GiB here: no ZIP64 extra fields needed
    directory = _interleave(central, names, nlen, b"", 0)
    cd_offset = len(body)
    cd_size = len(directory)
    z64_offset = cd_offset + cd_size
    end = struct.pack(
        "<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, entries, entries, cd_size, cd_offset
    )
    end += struct.pack("<4sLQL", b"PK\x06\x07", 0, z64_offset, 1)
    end += struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    with open(path, "wb") as f:
        f.write(body.tobytes())
        f.write(directory.tobytes())
        f.write(end)
    return cd_size


def _directory(path: str) -> tuple[bytes, object]:
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        f.seek(size - 200)
        tail = f.read()
        location = None
        try:
            location = locate_directory(tail, size)
        except Exception:
            f.seek(0)
            location = locate_directory(f.read(), size)
        f.seek(location.cd_start)
        return f.read(location.cd_size), location


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--check", action="store_true", help="also read it back with zipfile")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "million.zip")
        t0 = time.perf_counter()
        cd_size = write_archive(path, args.entries)
        gen = time.perf_counter() - t0
        print(
            f"generated {args.entries:,} entries, {os.path.getsize(path) / 1e6:.1f} MB, "
            f"directory {cd_size / 1e6:.1f} MB in {gen:.2f} s"
        )
        if args.check:
            with zipfile.ZipFile(path) as z:
                infos = z.infolist()
                assert len(infos) == args.entries
                assert z.read(infos[-1]) == struct.pack("<I", args.entries - 1)
            print("zipfile reads it back")
        directory, location = _directory(path)
        parse_times = []
        for _ in range(args.repeat):
            gc.collect()
            t0 = time.perf_counter()
            records = parse_central_directory(directory, location)  # type: ignore[arg-type]
            index = ZipIndex(records, location)  # type: ignore[arg-type]
            parse_times.append(time.perf_counter() - t0)
            del records, index
        open_times = []
        for _ in range(args.repeat):
            gc.collect()
            t0 = time.perf_counter()
            archive = ZipArchive(LocalSource(path)).open()
            open_times.append(time.perf_counter() - t0)
            requests = archive.source.stats.requests
            archive.close()
            del archive
        gc.collect()
        t0 = time.perf_counter()
        store = RemoteZipStore.from_source(LocalSource(path))
        store_open = time.perf_counter() - t0
        t0 = time.perf_counter()
        first_listdir = len(store.listdir("grid"))
        first_listdir_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        store.listdir("")
        root_listdir_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        lookups = [f"grid/{i % 1000}.{i % 997}" for i in range(100_000)]
        hits = sum(1 for key in lookups if key in store)
        lookup_s = (time.perf_counter() - t0) / len(lookups)
        store.close()
        del store
        gc.collect()
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        records = parse_central_directory(directory, location)  # type: ignore[arg-type]
        index = ZipIndex(records, location)  # type: ignore[arg-type]
        del records
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0] - base
        peak = tracemalloc.get_traced_memory()[1] - base
        first = index.names()[0]
        listing = Listing(index.names())
        listing.children("grid/")
        listing.children("")
        gc.collect()
        with_listing = tracemalloc.get_traced_memory()[0] - base
        tracemalloc.stop()
        assert first is not None and index.get(first) is not None
        n = args.entries
        print(
            f"parse+index: best {min(parse_times):.3f} s, median "
            f"{sorted(parse_times)[len(parse_times) // 2]:.3f} s over {args.repeat} runs"
        )
        print(
            f"ZipArchive(LocalSource).open(): best {min(open_times):.3f} s, median "
            f"{sorted(open_times)[len(open_times) // 2]:.3f} s ({requests} reads)"
        )
        print(
            f"index keeps {kept / n:.1f} bytes/entry ({kept / 1e6:.1f} MB), "
            f"peak during parse {peak / n:.1f} bytes/entry; "
            f"with sorted listing built {with_listing / n:.1f} bytes/entry"
        )
        print(
            f"RemoteZipStore.from_source(LocalSource) open: {store_open:.3f} s; first "
            f"listdir('grid') incl. building the sorted listing: {first_listdir_s:.3f} s "
            f"({first_listdir:,} children); listdir('') after: {root_listdir_s * 1e6:.0f} us; "
            f"key lookup: {lookup_s * 1e6:.2f} us ({hits:,} of {len(lookups):,} present)"
        )
        print(f"load average: {os.getloadavg()}")


if __name__ == "__main__":
    main()
