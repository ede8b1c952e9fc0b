"""Opening a cohort: many copies of the "small" archive behind a simulated link (issue 12).

    python -m benchmarks.cohort_open                      # SeaweedFS, 20 ms / 400 Mbit/s
    python -m benchmarks.cohort_open --loop 100 --many 100 1000 --json out.json

Uploads ``max(--many, --loop)`` copies of the "small" benchmark archive
(:func:`benchmarks.archives.small`) under one prefix of a local SeaweedFS (or
moto), puts :mod:`remote_zip_store.testing.netsim` in front of it, and times:

* **loop**: ``--loop`` archives one after another: ``RemoteZipStore(url)``,
  ``dict(zarr.open(store).attrs)``, ``close()``; the median per archive (the
  first, which builds the client and the connections, is in the sample too);
* **open_many**: ``open_many(urls)`` of ``N`` archives then the root attributes of
  each (``--many``; each ``N`` on a fresh prefix state), wall time in all; beside the
  client's CPU, the server's (SeaweedFS: its process) and the proxy's during the open, and
  ``cpu_floor_s``, their sum over the machine's cores: the server and the proxy run on the
  client's cores here, so no client opens faster than that on this machine.

Every phase starts as a fresh process would: no shared client, no cohort hint.
The proxy's counts (requests, new TCP connections, bytes) come with each figure.
The proxy runs in a process of its own (``--sim-in-process`` puts it beside the
client, as ``benchmarks/run.py`` does): 32 threads opening archives hold the GIL
often enough to delay an in-process proxy's forwarding, which is the simulated
link's cost, not the client's.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # ``python benchmarks/cohort_open.py``
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import zarr

from benchmarks import archives
from benchmarks.simproc import Link, SimProcess, process_cpu
from remote_zip_store import RemoteZipStore, open_many
from remote_zip_store.testing.cold import forget_process_state
from remote_zip_store.testing.netsim import Condition, NetSim
from remote_zip_store.testing.servers import S3Server, moto_server, seaweedfs_server


def fresh() -> None:
    """As a new process: no shared client or pool, no cohort hint."""
    forget_process_state()


def loop(urls: list[str], kwargs: dict[str, Any], sim: Link) -> dict[str, Any]:
    fresh()
    times: list[float] = []
    requests: list[int] = []
    connections: list[int] = []
    for url in urls:
        before = sim.counts()
        started = time.perf_counter()
        with RemoteZipStore(url, **kwargs) as store:
            dict(zarr.open(store, mode="r").attrs)
        times.append(time.perf_counter() - started)
        counts = sim.counts() - before
        requests.append(counts.requests)
        connections.append(counts.connections)
    return {
        "archives": len(urls),
        "median_s": statistics.median(times),
        "first_s": times[0],
        "p90_s": sorted(times)[int(0.9 * (len(times) - 1))],
        "total_s": sum(times),
        "median_requests": statistics.median(requests),
        "connections": sum(connections),
        "first_connections": connections[0],
    }


def _no_pid() -> None:
    """The server's process id when it has none here (moto runs in this process)."""
    return None


def many(
    urls: list[str],
    kwargs: dict[str, Any],
    sim: Link,
    workers: int,
    server_pid: Callable[[], int | None] = _no_pid,
) -> dict[str, Any]:
    fresh()
    before = sim.counts()
    others = _others_cpu(sim, server_pid)
    cpu = time.process_time()
    started = time.perf_counter()
    result = open_many(urls, max_workers=workers, **kwargs)
    opened = time.perf_counter() - started
    opened_cpu = time.process_time() - cpu
    after = _others_cpu(sim, server_pid)
    spent = {k: after[k] - others[k] for k in after if k in others}
    failed = 0
    for value in result.values():
        if isinstance(value, Exception):
            failed += 1
        else:
            dict(zarr.open(value, mode="r").attrs)
    elapsed = time.perf_counter() - started
    counts = sim.counts() - before
    for value in result.values():
        if not isinstance(value, Exception):
            value.close()
    return {
        "archives": len(urls),
        "failed": failed,
        "open_s": opened,
        "open_cpu_s": opened_cpu,  # this process's (the proxy runs in its own)
        **{f"open_{k}_cpu_s": v for k, v in spent.items()},
        # every process's CPU of the open over the cores: no wall time below this here
        "cpu_floor_s": (opened_cpu + sum(spent.values())) / (os.cpu_count() or 1),
        "with_attrs_s": elapsed,
        "requests": counts.requests,
        "connections": counts.connections,
        "mb_down": counts.bytes_down / 1e6,
    }


def _others_cpu(sim: Link, server_pid: Callable[[], int | None]) -> dict[str, float]:
    """CPU seconds so far of the server's and the proxy's processes, those known: on this
    machine they share the cores with the client, so they bound the wall time too."""
    found = {"server": process_cpu(server_pid())}
    if isinstance(sim, SimProcess):
        found["proxy"] = sim.own_cpu_time()
    return {k: v for k, v in found.items() if v is not None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", choices=("seaweedfs", "moto"), default="seaweedfs")
    parser.add_argument("--rtt-ms", type=float, default=20.0)
    parser.add_argument("--mbit", type=float, default=400.0)
    parser.add_argument("--loop", type=int, default=100, help="archives in the sequential loop")
    parser.add_argument("--many", type=int, nargs="*", default=[100, 1000])
    parser.add_argument("--max-workers", type=int, default=32)
    parser.add_argument(
        "--sim-in-process", action="store_true", help="run the proxy beside the client"
    )
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    small = archives.small()
    count = max([args.loop, *args.many])
    server: Callable[[], AbstractContextManager[S3Server]] = (
        seaweedfs_server if args.server == "seaweedfs" else moto_server
    )
    condition = Condition.of(f"{args.rtt_ms:g}ms-{args.mbit:g}Mbit", args.rtt_ms, args.mbit)
    with server() as s3server:
        data = small.path.read_bytes()
        keys = [f"cohort/{i:04d}.zip" for i in range(count)]
        client = s3server.client(max_pool_connections=16)
        with ThreadPoolExecutor(16) as pool:
            list(
                pool.map(
                    lambda k: client.put_object(Bucket=s3server.bucket, Key=k, Body=data), keys
                )
            )
        host, port = s3server.endpoint_url.removeprefix("http://").split(":")
        link = NetSim(host, int(port), condition).start() if args.sim_in_process else None
        with link or SimProcess(host, int(port), condition) as sim:
            kwargs = {**s3server.store_kwargs(), "endpoint_url": sim.endpoint}
            urls = [f"s3://{s3server.bucket}/{k}" for k in keys]
            # Warm-up (untimed): imports and botocore's service model, on another prefix.
            fresh()
            warm = s3server.put(data, "warmup/0.zip")
            RemoteZipStore(warm, **kwargs).close()
            results: dict[str, Any] = {
                "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                "server": args.server,
                "condition": condition.describe(),
                "archive": {"name": small.path.name, "bytes": small.size},
                "max_workers": args.max_workers,
                "proxy": "in process" if args.sim_in_process else "own process",
                "command": " ".join(["python -m benchmarks.cohort_open", *(argv or sys.argv[1:])]),
            }
            if args.loop:
                results["loop"] = loop(urls[: args.loop], kwargs, sim)
                _print("loop", results["loop"], args.rtt_ms)
            results["many"] = []
            for n in args.many:
                row = many(
                    urls[:n], kwargs, sim, args.max_workers, s3server.extra.get("pid", _no_pid)
                )
                results["many"].append(row)
                _print(f"open_many {n}", row, args.rtt_ms)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


def _print(label: str, row: dict[str, Any], rtt_ms: float) -> None:
    shown: Iterator[str] = (
        f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()
    )
    extra = ""
    if "median_s" in row and rtt_ms:
        extra = f" ({row['median_s'] * 1000 / rtt_ms:.2f} RTT)"
    print(f"{label}: {' '.join(shown)}{extra}", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
