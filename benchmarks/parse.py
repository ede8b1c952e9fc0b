"""The directory-parse benchmark: open a 1,000,000-entry ZIP64 archive.

Measures, for :class:`remote_zip_store.ZipArchive`:

* ``open_local_s``: median wall time to open (read the tail, parse the directory, build
  the index) from a local file, i.e. the parse itself without a network;
* ``open_s3_s``: the same through S3 (SeaweedFS via the netsim proxy, loopback), once;
* ``retained_bytes_per_entry`` / ``peak_bytes_per_entry``: ``tracemalloc`` memory held by
  the opened archive (and the peak while opening), divided by the entry count.

Issue 3's targets: <= 1 s and <= 200 bytes per entry.
"""

from __future__ import annotations

import gc
import statistics
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

from benchmarks import archives
from remote_zip_store import LocalSource, RemoteZipStore, ZipArchive
from remote_zip_store.testing.netsim import LOOPBACK, NetSim
from remote_zip_store.testing.servers import S3Server


def _open_local(path: str) -> ZipArchive:
    return ZipArchive(LocalSource(path)).open()


def run(
    entries: int,
    server: S3Server,
    sim: NetSim,
    *,
    reps: int = 3,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    archive = archives.million(entries)
    path = str(archive.path)
    times = []
    count = 0
    for _ in range(reps):
        gc.collect()
        t0 = time.perf_counter()
        opened = _open_local(path)
        times.append(time.perf_counter() - t0)
        count = len(opened.index)
        opened.close()
        del opened

    gc.collect()
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        opened = _open_local(path)
        gc.collect()
        retained, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    opened.close()
    del opened

    sim.set_condition(LOOPBACK)
    server.put_file(path, "bench/million.zip")
    sim.reset()
    t0 = time.perf_counter()
    with RemoteZipStore(
        f"s3://{server.bucket}/bench/million.zip",
        endpoint_url=sim.endpoint,
        region_name=server.region,
        aws_access_key_id=server.access_key,
        aws_secret_access_key=server.secret_key,
        root="",
    ) as store:
        s3_seconds = time.perf_counter() - t0
        keys = len(store)
    counts = sim.counts()
    result = {
        "archive": archive.path.name,
        "archive_bytes": archive.size,
        "entries": count,
        "open_local_s": statistics.median(times),
        "open_local_runs": times,
        "retained_bytes_per_entry": (retained - baseline) / count,
        "peak_bytes_per_entry": (peak - baseline) / count,
        "open_s3_s": s3_seconds,
        "open_s3_requests": counts.requests,
        "open_s3_bytes": counts.bytes_down,
        "s3_keys": keys,
    }
    log(
        f"parse: {count:,} entries, open {result['open_local_s']:.3f} s local "
        f"(runs {', '.join(f'{t:.3f}' for t in times)}), {s3_seconds:.3f} s via S3 "
        f"({counts.requests} requests, {counts.bytes_down:,} B); memory "
        f"{result['retained_bytes_per_entry']:.0f} B/entry retained, "
        f"{result['peak_bytes_per_entry']:.0f} B/entry peak"
    )
    return result
