"""Read-path knobs measured on the EEG-like archive behind a simulated link.

This is the evidence for the defaults in docs/performance.md (tail size,
metadata prefetch policy, coalescing size), not the full contender benchmark
(that one runs through a TCP proxy against SeaweedFS). Here a local file is
wrapped in :class:`SimulatedLink`: each request waits one round trip, then its
bytes are queued on one shared link of the given bandwidth (FIFO), which is
the "one round trip plus bytes/bandwidth" physical model of the issue.

Run: ``python benchmarks/read_path.py [--rtt-ms 20] [--mbit 400] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time
import zipfile
from collections.abc import Callable, Hashable
from typing import Any

import zarr

from remote_zip_store import ReadOptions, RemoteZipStore
from remote_zip_store.testing.sample import write_sample_archive
from remote_zip_store.transport import Ends, LocalSource, SourceIdentity, Stats


class SimulatedLink:
    """A :class:`LocalSource` behind a link with a round trip and a shared bandwidth."""

    def __init__(self, path: str, rtt: float, bytes_per_s: float):
        self.inner = LocalSource(path)
        self.rtt = rtt
        self.rate = bytes_per_s
        self._lock = threading.Lock()
        self._free_at = 0.0
        self.stats = Stats()

    @property
    def url(self) -> str:
        return self.inner.url

    def _wait(self, nbytes: int) -> None:
        arrive = time.perf_counter() + self.rtt
        with self._lock:
            start = max(arrive, self._free_at)
            self._free_at = done = start + nbytes / self.rate
        time.sleep(max(0.0, done - time.perf_counter()))
        self.stats.add(nbytes)

    @property
    def identity(self) -> SourceIdentity:
        return self.inner.identity

    @property
    def version(self) -> Hashable | None:
        return self.inner.version

    def read_ends(self, tail: int, *, head: int = 0) -> Ends:
        ends = self.inner.read_ends(tail, head=head)
        self._wait(len(ends.tail) + len(ends.head))
        return ends

    def read_range(self, start: int, end: int) -> bytes:
        data = self.inner.read_range(start, end)
        self._wait(len(data))
        return data

    def close(self) -> None:
        self.inner.close()


def eeg_archive(path: str, compression: int) -> str:
    if not os.path.exists(path):
        write_sample_archive(
            path + ".tmp", channels=16, seconds=7200, compression=compression, seed=1
        )
        os.replace(path + ".tmp", path)
    return path


def measure(
    path: str,
    args: argparse.Namespace,
    scenario: Callable[[RemoteZipStore], Any],
    *,
    options: ReadOptions | None = None,
    prefetch: str = "auto",
    setup: Callable[[RemoteZipStore], Any] | None = None,
) -> tuple[float, int, int]:
    """Median seconds, requests and bytes of ``scenario`` (after ``setup``, if given)."""
    times = []
    for _ in range(args.repeat):
        link = SimulatedLink(path, args.rtt_ms / 1000, args.mbit * 1e6 / 8)
        t0 = time.perf_counter()
        store = RemoteZipStore.from_source(
            link,
            options=options,
            metadata_prefetch=prefetch,  # type: ignore[arg-type]
        )
        if setup is not None:
            setup(store)
            link.stats.reset()
            t0 = time.perf_counter()
        scenario(store)
        times.append(time.perf_counter() - t0)
        requests, nbytes = link.stats.snapshot()
        store.close()
    return statistics.median(times), requests, nbytes


def row(label: str, result: tuple[float, int, int]) -> None:
    seconds, requests, nbytes = result
    print(f"| {label} | {seconds * 1000:.0f} ms | {requests} | {nbytes / 1e3:.1f} kB |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rtt-ms", type=float, default=20.0)
    parser.add_argument("--mbit", type=float, default=400.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dir", default="/tmp")
    args = parser.parse_args()
    stored = eeg_archive(os.path.join(args.dir, "rzs-eeg-stored.zip"), zipfile.ZIP_STORED)
    deflated = eeg_archive(os.path.join(args.dir, "rzs-eeg-deflate.zip"), zipfile.ZIP_DEFLATED)
    with zipfile.ZipFile(stored) as z:
        entries = len(z.infolist())
    print(
        f"EEG archive: {os.path.getsize(stored) / 1e6:.1f} MB stored, "
        f"{os.path.getsize(deflated) / 1e6:.1f} MB deflate, {entries} entries; "
        f"link {args.rtt_ms:g} ms / {args.mbit:g} Mbit/s; load {os.getloadavg()[0]:.2f}"
    )
    print("\n| scenario | median time | requests | bytes |\n|---|---|---|---|")

    def open_group(store: RemoteZipStore) -> None:
        zarr.open_group(store, mode="r")

    for kib in (64, 128, 256, 512, 1024, 2048):
        options = ReadOptions(tail_size=kib * 1024)
        row(
            f"open store, tail_size={kib} KiB",
            measure(stored, args, lambda s: None, options=options),
        )
    row("open store + open_group", measure(stored, args, open_group))

    def attrs(store: RemoteZipStore) -> None:
        dict(zarr.open_group(store, mode="r").attrs)

    def tree(store: RemoteZipStore) -> None:
        str(zarr.open_group(store, mode="r").tree())

    def consolidated(store: RemoteZipStore) -> None:
        root = zarr.open_consolidated(store, mode="r")
        dict(root.attrs)

    def one_array(store: RemoteZipStore) -> None:
        zarr.open_group(store, mode="r")["signals/ch03"]

    for policy in ("off", "auto", "open"):
        for label, scenario in (
            ("open_group + root attrs", attrs),
            ("open_group + tree()", tree),
            ("open_group + one array's metadata", one_array),
            ("open_consolidated + attrs", consolidated),
        ):
            row(
                f"{label}, metadata_prefetch={policy}",
                measure(stored, args, scenario, prefetch=policy),
            )

    def open_arrays(store: RemoteZipStore) -> None:
        root = zarr.open_group(store, mode="r")
        store.arrays = [root[f"signals/ch{c:02d}"] for c in range(16)]  # type: ignore[attr-defined]

    for path, kind in ((stored, "stored"), (deflated, "deflate")):
        for mib in (1, 2, 4, 8, 16):
            options = ReadOptions(coalesce_max=mib * 1024 * 1024)
            row(
                f"one channel ({kind}), coalesce_max={mib} MiB",
                measure(
                    path,
                    args,
                    lambda s: s.arrays[5][:],  # type: ignore[attr-defined]
                    options=options,
                    setup=open_arrays,
                ),
            )
        strided = [f"signals/ch05/{i}" for i in range(0, 240, 10)]
        for kib in (0, 64, 256, 1024):
            options = ReadOptions(coalesce_gap=kib * 1024)
            row(
                f"getitems: every 10th chunk of a channel ({kind}), coalesce_gap={kib} KiB",
                measure(
                    path,
                    args,
                    lambda s, keys=strided: s.getitems(keys, contexts={}),
                    options=options,
                    setup=open_arrays,
                ),
            )
        row(
            f"one chunk ({kind})",
            measure(path, args, lambda s: s.arrays[5][7680:15360], setup=open_arrays),  # type: ignore[attr-defined]
        )
        keys = [f"signals/ch{c:02d}/100" for c in range(16)]
        row(
            f"getitems: 16 channels x one epoch ({kind})",
            measure(path, args, lambda s, k=keys: s.getitems(k, contexts={}), setup=open_arrays),
        )


if __name__ == "__main__":
    main()
