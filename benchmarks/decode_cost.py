"""Does inflate matter? CPU cost per entry next to the time its bytes take on the wire.

Reads every chunk's compressed bytes of the deflate EEG archive (local file,
no network) and times, for the same bytes: zlib inflate (what decode.py does),
CRC-32 of the output, and the one copy a stored entry costs (``bytes(view)``).
Prints throughput in MB/s of *output* and the share of a link's transfer time.

Run: ``python benchmarks/decode_cost.py`` (builds /tmp/rzs-eeg-deflate.zip if missing)
"""

from __future__ import annotations

import os
import time
import zipfile
import zlib
from collections.abc import Callable

import zarr

from read_path import SimulatedLink, eeg_archive  # type: ignore[import-not-found]
from remote_zip_store import RemoteZipStore, decode
from remote_zip_store.archive._reader import ZipArchive
from remote_zip_store.transport import LocalSource, Source
from remote_zip_store.zipfmt._parse import entry_data_offset, span


def best(fn: object, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - t0)
    return min(times)


def _alternatives() -> dict[str, Callable[[bytes, int], bytes]]:
    """Faster raw-deflate decoders, when installed (``pip install isal zlib-ng deflate``)."""
    found: dict[str, Callable[[bytes, int], bytes]] = {}
    try:
        from isal import isal_zlib

        found["isal inflate"] = lambda d, n: isal_zlib.decompressobj(-15).decompress(d, n + 1)
    except ImportError:
        pass
    try:
        from zlib_ng import zlib_ng

        found["zlib-ng inflate"] = lambda d, n: zlib_ng.decompressobj(-15).decompress(d, n + 1)
    except ImportError:
        pass
    try:
        import deflate

        found["libdeflate (deflate)"] = lambda d, n: deflate.deflate_decompress(d, n)
    except ImportError:
        pass
    return found


def main() -> None:
    path = eeg_archive("/tmp/rzs-eeg-deflate.zip", zipfile.ZIP_DEFLATED)
    archive = ZipArchive(LocalSource(path)).open()
    raw: list[bytes] = []
    for name in archive.index.names():
        entry = archive.index.get(name)
        assert entry is not None
        if entry.method != zipfile.ZIP_DEFLATED or "/.z" in name:
            continue
        start, end = span(entry)
        data = archive.source.read_range(start, end)
        skip = entry_data_offset(data, entry)
        raw.append(data[skip : skip + entry.compressed_size])
    outputs = [zlib.decompressobj(-15).decompress(r) for r in raw]
    out_mb = sum(map(len, outputs)) / 1e6
    in_mb = sum(map(len, raw)) / 1e6
    inflate = best(lambda: [zlib.decompressobj(-15).decompress(r, len(r) * 2) for r in raw])
    crc = best(lambda: [zlib.crc32(o) for o in outputs])
    views = [memoryview(o) for o in outputs]
    copy = best(lambda: [bytes(v) for v in views])
    print(
        f"{len(raw)} deflate chunks, {in_mb:.1f} MB compressed -> {out_mb:.1f} MB; "
        f"zlib {zlib.ZLIB_RUNTIME_VERSION}; load {os.getloadavg()[0]:.2f}"
    )
    rows = [("zlib inflate", inflate), ("crc32", crc), ("copy", copy)]
    sizes = [len(o) for o in outputs]
    for label, make in _alternatives().items():
        decoded = make(raw[0], sizes[0])
        assert bytes(decoded) == outputs[0], label
        rows.append(
            (label, best(lambda m=make: [m(r, n) for r, n in zip(raw, sizes, strict=True)]))
        )
    for label, seconds in rows:
        print(f"{label:24s} {seconds * 1000:7.1f} ms  {out_mb / seconds:8.0f} MB/s output")
    for mbit in (100, 400, 1000, 10000):
        wire = in_mb * 8 / mbit
        print(
            f"at {mbit:>5} Mbit/s the compressed bytes take {wire * 1000:7.0f} ms on the wire; "
            f"inflate+crc on one core = {100 * (inflate + crc) / wire:5.1f}% of that"
        )
    print(f"load {os.getloadavg()[0]:.2f}")
    end_to_end(path)


def end_to_end(path: str) -> None:
    """Whole archive from a local file (no network), and one channel behind 20 ms/400 Mbit/s."""
    backends = {"zlib": zlib}
    try:
        from zlib_ng import zlib_ng

        backends["zlib-ng"] = zlib_ng
    except ImportError:
        pass
    saved = decode.zlib
    try:
        for label, module in backends.items():
            # Benchmark only: decode.py calls zlib.decompressobj/zlib.error through its
            # module global, and zlib-ng has the same API.
            decode.zlib = module  # type: ignore[attr-defined]
            for scenario, make, what in (
                ("whole archive, local file", lambda: LocalSource(path), range(16)),
                ("one channel, 20 ms/400 Mbit/s", lambda: SimulatedLink(path, 0.02, 50e6), [5]),
            ):

                def run(make: Callable[[], Source] = make, what: object = what) -> None:
                    store = RemoteZipStore.from_source(make())
                    root = zarr.open_group(store, mode="r")
                    for c in what:  # type: ignore[attr-defined]
                        root[f"signals/ch{c:02d}"][:]
                    store.close()

                print(f"{label:8s} {scenario:32s} best of 3: {best(run, 3) * 1000:6.0f} ms")
    finally:
        decode.zlib = saved  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
