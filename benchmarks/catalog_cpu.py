"""Client CPU of opening a cohort from a catalog (issue 21's catalog open targets).

    python -m benchmarks.catalog_cpu                        # 100 and 1,000 archives, moto
    python -m benchmarks.catalog_cpu --many 1000 --repeat 9 --catalogs /tmp/cats

On a loaded machine the wall time of :mod:`benchmarks.catalog_open` is mostly waiting
for a core; this measures what the client itself spends. It writes ``max(--many)``
small recordings (the ones :mod:`benchmarks.catalog_open` uses) to a local moto server,
catalogs each cohort into a local file (kept in ``--catalogs`` when given, and reused
from there: then no server is started), then times ``open_many(catalog=FILE)`` and the
root attributes of every store, ``--repeat`` times, each from a fresh process state.
Opening from a catalog and reading metadata from it makes no request, so the figures
are the client's CPU alone (``time.process_time``) and its wall time beside it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # ``python benchmarks/catalog_cpu.py``
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import zarr

from benchmarks.catalog_open import recordings
from benchmarks.cohort_open import fresh
from remote_zip_store import open_many

#: Connection arguments for stores that make no request (a catalog file, metadata in it).
OFFLINE = {
    "endpoint_url": "http://127.0.0.1:9",
    "aws_access_key_id": "none",
    "aws_secret_access_key": "none",
    "region_name": "us-east-1",
}


def build(many: list[int], folder: Path) -> None:
    """Catalog files ``folder/cN.rzc`` of ``N`` recordings each (a moto server, then gone)."""
    from concurrent.futures import ThreadPoolExecutor

    from remote_zip_store.testing.servers import moto_server
    from remote_zip_store.verbs._catalog import build_catalog

    with tempfile.TemporaryDirectory() as tmp:
        datas = recordings(max(many), Path(tmp))
    with moto_server() as server:
        client = server.client(max_pool_connections=16)
        for n in many:
            with ThreadPoolExecutor(16) as pool:
                list(
                    pool.map(
                        lambda i, n=n: client.put_object(
                            Bucket=server.bucket, Key=f"c{n}/{i:04d}.zip", Body=datas[i]
                        ),
                        range(n),
                    )
                )
            prefix = f"s3://{server.bucket}/c{n}/"
            build_catalog(prefix, str(folder / f"c{n}.rzc"), **server.store_kwargs())


def once(catalog: Path) -> dict[str, float]:
    fresh()
    cpu, wall = time.process_time(), time.perf_counter()
    stores = open_many(catalog=catalog, **OFFLINE)
    opened_cpu, opened = time.process_time() - cpu, time.perf_counter() - wall
    for store in stores.values():
        dict(zarr.open(store, mode="r").attrs)
    row = {
        "open_cpu_s": opened_cpu,
        "open_s": opened,
        "with_attrs_cpu_s": time.process_time() - cpu,
        "with_attrs_s": time.perf_counter() - wall,
    }
    for store in stores.values():
        store.close()
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--many", type=int, nargs="*", default=[100, 1000])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--catalogs", type=Path, help="keep (and reuse) the catalog files here")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    results: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "command": " ".join(["python -m benchmarks.catalog_cpu", *(argv or sys.argv[1:])]),
    }
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.catalogs or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        missing = [n for n in args.many if not (folder / f"c{n}.rzc").exists()]
        if missing:
            build(missing, folder)
        once(folder / f"c{min(args.many)}.rzc")  # imports, botocore's model: not timed
        for n in args.many:
            rows = [once(folder / f"c{n}.rzc") for _ in range(args.repeat)]
            summary = {
                f"{key}_{stat}": round(fn(r[key] for r in rows), 4)
                for key in rows[0]
                for stat, fn in (("min", min), ("median", statistics.median))
            }
            results[str(n)] = summary
            print(f"{n} archives: " + " ".join(f"{k}={v}" for k, v in summary.items()), flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
