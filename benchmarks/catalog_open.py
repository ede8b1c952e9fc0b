"""Opening a cohort from a catalog vs the normal way (issue 21).

    python -m benchmarks.catalog_open                       # SeaweedFS, 20 ms / 400 Mbit/s
    python -m benchmarks.catalog_open --many 100 1000 --json out.json

Writes ``max(--many)`` small, distinct recordings (the sample archive: 4 channels,
60 s at 64 Hz in 5 s chunks, consolidated metadata; about 60 KB and 60 entries
each) under one prefix per ``N`` of a local SeaweedFS (or moto), catalogs each
prefix with ``build_catalog`` (straight to the server, not timed), puts
:mod:`remote_zip_store.testing.netsim` in front of the server (in its own process,
as :mod:`benchmarks.cohort_open` does) and times, for each ``N``:

* **catalog**: ``open_many(catalog=URL)``: one GET of the catalog, every store
  opened from it; then the root attributes of every archive (served from the
  catalog's metadata bytes: no request);
* **catalog+list**: ``open_many(prefix, catalog=URL)``: the prefix is listed beside
  the catalog GET (stale archives would be found), then the same;
* **normal**: ``open_many(prefix)`` and the root attributes, as without a catalog.

Every phase starts as a fresh process would (no shared client, no cohort hint);
botocore's service model is loaded by an untimed warm-up, as in the suite.
Reported: wall seconds and this process's CPU seconds (the client's work, which a
loaded machine stretches into wall time), the proxy's request and byte counts, and the
catalog's size against the sum of the central directories it holds.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # ``python benchmarks/catalog_open.py``
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import zarr

from benchmarks.cohort_open import fresh
from benchmarks.simproc import SimProcess
from remote_zip_store import RemoteZipStore, open_many
from remote_zip_store.testing.netsim import Condition
from remote_zip_store.testing.sample import write_sample_archive
from remote_zip_store.testing.servers import S3Server, moto_server, seaweedfs_server
from remote_zip_store.verbs._catalog import build_catalog

TARGETS = {100: 0.1, 1000: 0.3}


def recordings(count: int, folder: Path) -> list[bytes]:
    """``count`` distinct small archives (one seed each)."""
    out = []
    for i in range(count):
        path = folder / f"{i}.zip"
        write_sample_archive(path, channels=4, seconds=60, rate=64, epoch_seconds=5, seed=i)
        out.append(path.read_bytes())
        path.unlink()
    return out


def timed(label: str, run: Callable[[], dict[str, Any]], sim: SimProcess, n: int) -> dict[str, Any]:
    fresh()
    before = sim.counts()
    cpu = time.process_time()
    started = time.perf_counter()
    result = run()
    opened = time.perf_counter() - started
    opened_cpu = time.process_time() - cpu
    failed = sum(isinstance(v, Exception) for v in result.values())
    for value in result.values():
        if not isinstance(value, Exception):
            dict(zarr.open(value, mode="r").attrs)
    elapsed = time.perf_counter() - started
    elapsed_cpu = time.process_time() - cpu
    counts = sim.counts() - before
    for value in result.values():
        if not isinstance(value, Exception):
            value.close()
    row = {
        "mode": label,
        "archives": len(result),
        "failed": failed,
        "open_s": round(opened, 4),
        "with_attrs_s": round(elapsed, 4),
        "open_cpu_s": round(opened_cpu, 4),
        "with_attrs_cpu_s": round(elapsed_cpu, 4),
        "requests": counts.requests,
        "mb_down": round(counts.bytes_down / 1e6, 3),
    }
    if label.startswith("catalog") and n in TARGETS:
        row["target_s"] = TARGETS[n]
    print(" ".join(f"{k}={v}" for k, v in row.items()), flush=True)
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", choices=("seaweedfs", "moto"), default="seaweedfs")
    parser.add_argument("--rtt-ms", type=float, default=20.0)
    parser.add_argument("--mbit", type=float, default=400.0)
    parser.add_argument("--many", type=int, nargs="*", default=[100, 1000])
    parser.add_argument("--max-workers", type=int, default=32)
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs of each catalog mode (best kept; normal: one)"
    )
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    server: Callable[[], AbstractContextManager[S3Server]] = (
        seaweedfs_server if args.server == "seaweedfs" else moto_server
    )
    condition = Condition.of(f"{args.rtt_ms:g}ms-{args.mbit:g}Mbit", args.rtt_ms, args.mbit)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        datas = recordings(max(args.many), Path(tmp))
    print(f"wrote {len(datas)} archives in {time.perf_counter() - started:.1f}s", flush=True)
    results: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "server": args.server,
        "condition": condition.describe(),
        "archive_bytes": sum(map(len, datas)) // len(datas),
        "command": " ".join(["python -m benchmarks.catalog_open", *(argv or sys.argv[1:])]),
        "runs": [],
    }
    with server() as s3server:
        client = s3server.client(max_pool_connections=16)
        catalogs = {}
        for n in args.many:
            keys = [f"c{n}/{i:04d}.zip" for i in range(n)]
            with ThreadPoolExecutor(16) as pool:
                list(
                    pool.map(
                        lambda kd: client.put_object(Bucket=s3server.bucket, Key=kd[0], Body=kd[1]),
                        zip(keys, datas, strict=False),
                    )
                )
            output = f"s3://{s3server.bucket}/catalogs/c{n}.rzc"
            began = time.perf_counter()
            report = build_catalog(
                f"s3://{s3server.bucket}/c{n}/", output, **s3server.store_kwargs()
            )
            catalogs[n] = output
            row = {
                "archives": report.archives,
                "entries": report.entries,
                "catalog_bytes": report.catalog_bytes,
                "directory_bytes": report.directory_bytes,
                "ratio": round(report.catalog_bytes / report.directory_bytes, 3),
                "bytes_per_entry": round(report.bytes_per_entry, 2),
                "index_s": round(time.perf_counter() - began, 2),
            }
            results[f"catalog_{n}"] = row
            print(f"catalog {n}: " + " ".join(f"{k}={v}" for k, v in row.items()), flush=True)
        host, port = s3server.endpoint_url.removeprefix("http://").split(":")
        with SimProcess(host, int(port), condition) as sim:
            kwargs = {**s3server.store_kwargs(), "endpoint_url": sim.endpoint}
            fresh()
            warm = s3server.put(datas[0], "warmup/0.zip")
            RemoteZipStore(warm, **kwargs).close()
            for n in args.many:
                prefix = f"s3://{s3server.bucket}/c{n}/"
                modes: dict[str, Callable[[], dict[str, Any]]] = {
                    "catalog": lambda n=n: open_many(catalog=catalogs[n], **kwargs),
                    "catalog+list": lambda n=n, p=prefix: open_many(
                        p, catalog=catalogs[n], max_workers=args.max_workers, **kwargs
                    ),
                    "normal": lambda p=prefix: open_many(p, max_workers=args.max_workers, **kwargs),
                }
                for label, run in modes.items():
                    repeat = 1 if label == "normal" else args.repeat
                    rows = [timed(label, run, sim, n) for _ in range(repeat)]
                    best = min(rows, key=lambda r: r["with_attrs_s"])
                    results["runs"].append(
                        {
                            **best,
                            "all_open_s": [r["open_s"] for r in rows],
                            "all_with_attrs_s": [r["with_attrs_s"] for r in rows],
                            "all_open_cpu_s": [r["open_cpu_s"] for r in rows],
                        }
                    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
