"""Writing (issue 13): the EEG hierarchy written through the store vs ``boto3.upload_file``.

    python -m benchmarks.write --reps 3            # SeaweedFS behind netsim 20 ms / 400 Mbit/s
    python -m benchmarks.write --server moto --quick

* **ours**: ``zarr.copy_store(ZipStore(eeg.zip), RemoteZipStore(url, mode="w"))``: every
  key of the 118 MB EEG recording (benchmarks/archives.py) read from the local zip and
  streamed as multipart parts, metadata last.
* **ours-memory**: the same keys read into a dict first (outside the timing and the RSS
  baseline), then written: the write path alone, as in a job that produces the data.
* **upload_file**: ``boto3.client.upload_file`` of the same local zip (boto3's default
  TransferConfig: 8 MiB parts, 10 threads), the "write locally, then upload" baseline.

Each run is a fresh process (``--child``) so that its peak RSS is its own: the figure is
``ru_maxrss`` minus the RSS just before the write starts (imports and client made), plus
one extra run under ``tracemalloc`` for the traced peak. Both contenders go through the
same :class:`~remote_zip_store.testing.netsim.NetSim` proxy. NetSim throttles only the
downstream direction (server to client): uploads see the per-request round trip and the
connection setup, not the 400 Mbit/s cap.

Finally the archive we wrote and the original (zarr's ``ZipStore`` layout) are opened
through the proxy and every metadata key plus ``tree()`` is read: requests counted by the
source and by the proxy.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
import tracemalloc
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from benchmarks import archives
from remote_zip_store.testing.netsim import CONDITIONS, NetSim
from remote_zip_store.testing.servers import S3Server, moto_server, seaweedfs_server

CONTENDERS = ("ours", "ours-memory", "upload_file")
TRACED = ("ours", "upload_file")
CONDITION = next(c for c in CONDITIONS if c.name == "20ms-400Mbit")


def _rss() -> int:
    """Current resident set size in bytes (Linux /proc)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def child(args: argparse.Namespace) -> dict[str, Any]:
    """One write in this process; returns seconds, RSS growth and (optionally) traced peak."""
    import boto3
    import botocore.config
    import zarr

    import remote_zip_store.zarr2._write  # noqa: F401  (imported before the baseline, like boto3)
    from remote_zip_store import RemoteZipStore

    connection = {
        "endpoint_url": args.endpoint,
        "aws_access_key_id": args.access_key,
        "aws_secret_access_key": args.secret_key,
        "region_name": "us-east-1",
    }
    url = f"s3://{args.bucket}/{args.key}"
    client = boto3.client(
        "s3", **connection, config=botocore.config.Config(s3={"addressing_style": "path"})
    )
    source: Any = zarr.ZipStore(args.path, mode="r")
    if args.child == "ours-memory":
        source = dict(source.items())  # the values produced beforehand (a conversion job)
    base = _rss()
    if args.trace:
        tracemalloc.start()
    t0 = time.perf_counter()
    if args.child in ("ours", "ours-memory"):
        with RemoteZipStore(
            url, mode="w", client=client, part_size=args.part_size, max_workers=args.workers
        ) as store:
            zarr.copy_store(source, store)
    else:
        client.upload_file(args.path, args.bucket, args.key)
    seconds = time.perf_counter() - t0
    traced = tracemalloc.get_traced_memory()[1] if args.trace else None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    size = client.head_object(Bucket=args.bucket, Key=args.key)["ContentLength"]
    return {
        "seconds": seconds,
        "rss_growth": peak - base,
        "traced_peak": traced,
        "object_size": size,
    }


def run_child(
    sim: NetSim, server: S3Server, contender: str, path: str, args: argparse.Namespace, trace: bool
) -> dict[str, Any]:
    key = f"write/{contender}-{uuid.uuid4().hex}.zip"
    argv = [
        sys.executable,
        "-m",
        "benchmarks.write",
        "--child",
        contender,
        "--path",
        path,
        "--endpoint",
        sim.endpoint,
        "--bucket",
        server.bucket,
        "--key",
        key,
        "--access-key",
        server.access_key,
        "--secret-key",
        server.secret_key,
        "--part-size",
        str(args.part_size),
        "--workers",
        str(args.workers),
    ] + (["--trace"] if trace else [])
    sim.reset()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"{contender} failed: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    counts = sim.counts()
    result.update(key=key, requests=counts.requests, bytes_up=counts.bytes_up)
    return result


def open_cost(sim: NetSim, server: S3Server, key: str) -> dict[str, Any]:
    """Open through the proxy and read every metadata key as a store does (``tree()``'s
    reads and the rest): :func:`remote_zip_store.verbs._pack.open_cost`, as a fresh process would
    (no cohort hint from the other archive)."""
    from remote_zip_store.archive import _cohort as cohort
    from remote_zip_store.verbs._pack import open_cost as measure

    cohort.clear()
    sim.reset()
    t0 = time.perf_counter()
    cost = measure(
        f"s3://{server.bucket}/{key}",
        endpoint_url=sim.endpoint,
        aws_access_key_id=server.access_key,
        aws_secret_access_key=server.secret_key,
        region_name="us-east-1",
    )
    return {
        "open_requests": cost.open_requests,
        "after_open_requests": cost.after_open_requests,
        "bytes": cost.bytes,
        "proxy_requests": sim.counts().requests,
        "seconds": time.perf_counter() - t0,
    }


@contextmanager
def _server(kind: str) -> Iterator[S3Server]:
    with seaweedfs_server() if kind == "seaweedfs" else moto_server() as server:
        yield server


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.write", description=__doc__)
    parser.add_argument("--server", choices=("seaweedfs", "moto"), default="seaweedfs")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="a 2-channel, 5-minute recording")
    parser.add_argument("--part-size", type=int, default=8 * 2**20)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--child", choices=CONTENDERS, help=argparse.SUPPRESS)
    for name in ("--path", "--endpoint", "--bucket", "--key", "--access-key", "--secret-key"):
        parser.add_argument(name, help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args)))
        return 0

    eeg = archives.eeg(channels=2, seconds=300) if args.quick else archives.eeg()
    path = str(eeg.path)
    limit = 4 * args.part_size + 16 * 2**20
    with _server(args.server) as server:
        host, port = server.endpoint_url.rsplit("/", 1)[-1].rsplit(":", 1)
        with NetSim(host, int(port), CONDITION) as sim:
            runs: dict[str, list[dict[str, Any]]] = {c: [] for c in CONTENDERS}
            for _ in range(args.reps):
                for contender in runs:  # alternated, so drift hits both
                    runs[contender].append(run_child(sim, server, contender, path, args, False))
            traced = {c: run_child(sim, server, c, path, args, True) for c in TRACED}
            server.put_file(eeg.path, "write/original.zip")
            cost_ours = open_cost(sim, server, runs["ours"][0]["key"])
            cost_orig = open_cost(sim, server, "write/original.zip")
    med = {c: statistics.median(r["seconds"] for r in runs[c]) for c in runs}
    result = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "command": "python -m benchmarks.write " + " ".join(argv or sys.argv[1:]),
        "server": args.server,
        "condition": CONDITION.describe(),
        "python": platform.python_version(),
        "archive_bytes": eeg.size,
        "part_size": args.part_size,
        "workers": args.workers,
        "memory_limit": limit,
        "runs": runs,
        "traced": traced,
        "median_seconds": med,
        "ratio": med["ours"] / med["upload_file"],
        "ratio_memory": med["ours-memory"] / med["upload_file"],
        "open_ours": cost_ours,
        "open_original": cost_orig,
    }
    print(json.dumps(result, indent=1))
    mib = 2**20
    print(
        f"\nours {med['ours']:.2f} s, upload_file {med['upload_file']:.2f} s "
        f"(ratio {result['ratio']:.2f}, target <= 1.2), ours-memory {med['ours-memory']:.2f} s "
        f"(ratio {result['ratio_memory']:.2f}); "
        f"ours RSS growth max {max(r['rss_growth'] for r in runs['ours']) / mib:.1f} MiB, "
        f"traced peak {traced['ours']['traced_peak'] / mib:.1f} MiB (limit {limit / mib:.0f} MiB); "
        f"open+metadata+tree: ours {cost_ours['open_requests']}+"
        f"{cost_ours['after_open_requests']} requests, original "
        f"{cost_orig['open_requests']}+{cost_orig['after_open_requests']}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
