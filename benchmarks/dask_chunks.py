"""dask chunking over a remote zip: one task per zarr chunk vs many zarr chunks per task.

``da.from_zarr(store, component=...)`` without ``chunks=`` makes one task per zarr chunk,
and each task asks the store for one key: one GET per chunk, and at most as many GETs in
flight as the scheduler has threads (the core count). With ``chunks=`` a multiple of the
zarr chunking, each task reads a run of neighbouring chunks through one ``getitems`` call,
which the store coalesces into a few GETs and runs concurrently.

The archive (the EEG-like sample: 16 float32 channels at 256 Hz, one chunk per 30 s epoch,
stored entries) is put into SeaweedFS (``weed mini``) and read through the netsim proxy at
the stated RTT and bandwidth. Every row computes the same reduction (the mean of one
channel, or of all channels) with dask's threaded scheduler and reports the read tasks,
the store's GETs and bytes (``store.archive.source.stats``, the open excluded) and the
median wall time. Run: ``python -m benchmarks.dask_chunks`` (``--seconds 3840 --reps 3``,
about 3 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlparse

import dask
import dask.array as da
import numpy as np

from benchmarks import archives
from remote_zip_store import RemoteZipStore
from remote_zip_store.testing.netsim import Condition, NetSim
from remote_zip_store.testing.servers import seaweedfs_server

#: (label, chunks= for from_zarr given the zarr chunk length, dask threads or None)
Variant = tuple[str, Callable[[int], Any], int | None]


def variants(per_task: int, threads: int) -> list[Variant]:
    """The chunkings compared: the default at the default and at more threads, then coarser."""
    return [
        ("default (1 zarr chunk/task)", lambda n: None, None),
        (f"default, num_workers={threads}", lambda n: None, threads),
        (f"chunks=({per_task} x {{n}},)", lambda n: (per_task * n,), None),
        ('chunks="auto"', lambda n: "auto", None),
    ]


def _mean(store: RemoteZipStore, components: Sequence[str], chunks: Any) -> da.Array:
    arrays = [da.from_zarr(store, component=c, chunks=chunks) for c in components]
    return arrays[0] if len(arrays) == 1 else da.stack(arrays)


def run_one(
    url: str, options: dict[str, Any], components: Sequence[str], chunks: Any, threads: int | None
) -> tuple[float, int, int, int, float]:
    """One timed run: (seconds, read tasks, GETs, bytes, the mean) after a fresh open."""
    with RemoteZipStore(url, **options) as store:
        stats = store.archive.source.stats
        stats.reset()
        started = time.perf_counter()
        array = _mean(store, components, chunks)
        config = {"scheduler": "threads"}
        if threads is not None:
            config["num_workers"] = threads  # type: ignore[assignment]
        with dask.config.set(config):
            value = float(array.mean().compute())
        elapsed = time.perf_counter() - started
        requests, nbytes = stats.snapshot()
        return elapsed, int(np.prod(array.numblocks)), requests, nbytes, value


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=3840, help="recording length (s)")
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--per-task", type=int, default=32, help="zarr chunks per dask task")
    parser.add_argument("--threads", type=int, default=16, help="num_workers for one row")
    parser.add_argument("--rtt-ms", type=float, default=20.0)
    parser.add_argument("--mbit", type=float, default=400.0)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args(argv)
    archive = archives.eeg(channels=args.channels, seconds=args.seconds)
    condition = Condition.of(f"{args.rtt_ms:g}ms-{args.mbit:g}Mbit", args.rtt_ms, args.mbit)
    scenarios = (("one channel", archive.arrays[:1]), ("all channels", archive.arrays))
    n = archive.chunk_len
    print(f"# dask chunking, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(
        f"# {archive.path.name}: {archive.size:,} bytes, {len(archive.arrays)} channels x "
        f"{args.seconds * 256 // n} chunks of {n} samples; SeaweedFS behind netsim at "
        f"{condition.describe()}; dask threaded scheduler, {os.cpu_count()} cores; "
        f"median of {args.reps}"
    )
    print("| scenario | chunks | read tasks | GETs | bytes | median s | runs (s) |")
    print("|---|---|---:|---:|---:|---:|---|")
    with seaweedfs_server() as server:
        url = server.put_file(archive.path, "dask-chunks.zip")
        port = urlparse(server.endpoint_url).port or 0
        with NetSim("127.0.0.1", port, condition) as net:
            options = dict(server.store_kwargs(), endpoint_url=net.endpoint)
            for scenario, components in scenarios:
                means: list[float] = []
                for label, chunks_for, threads in variants(args.per_task, args.threads):
                    runs = [
                        run_one(url, options, components, chunks_for(n), threads)
                        for _ in range(args.reps)
                    ]
                    times = [r[0] for r in runs]
                    _, tasks, requests, nbytes, value = runs[-1]
                    means.append(value)
                    print(
                        f"| {scenario} | {label.format(n=n)} | {tasks:,} | {requests:,} "
                        f"| {nbytes:,} | {statistics.median(times):.2f} "
                        f"| {', '.join(f'{t:.2f}' for t in times)} |",
                        flush=True,
                    )
                # every chunking reduces the same data (summation order aside)
                if not np.allclose(means, means[0], rtol=1e-5):
                    raise SystemExit(f"{scenario}: the chunkings disagree: {means}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
