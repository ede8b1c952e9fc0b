"""A cohort read through Icechunk's virtual references against this store (issue 21).

    python -m benchmarks.icechunk_cohort                    # SeaweedFS, 20 ms / 400 Mbit/s
    python -m benchmarks.icechunk_cohort --archives 100 --json out.json

Needs the zarr-3 environment with Icechunk (Python 3.12: ``pip install -e
".[test-zarr3]"``). Writes ``--archives`` distinct sample recordings (4 channels of
float32, ``--seconds`` at 256 Hz in 30 s chunks, stored, zarr format ``--zarr-format``)
under one prefix of a local SeaweedFS (or moto), puts
:mod:`remote_zip_store.testing.netsim` in front of it (in its own process, as
:mod:`benchmarks.cohort_open` does) and exports the prefix once with
:func:`~remote_zip_store.verbs.refs.to_icechunk` into a repository on the same server
(behind the link too: its virtual chunk container points there). Then, each from a
fresh process state (no client, pool or cohort hint), the same work for every archive:
open it, read the root attributes, read channel ``--channel`` whole:

* **store**: ``open_many(prefix)`` (32 at a time), then the reads on 32 threads;
* **store+catalog**: ``open_many(catalog=URL)`` (one GET), then the same reads;
* **icechunk**: ``Repository.open`` + a read-only session over the repository, then
  each archive's group (``zarr.open_group(session.store, path=...)``) on 32 threads.

One run each (``--repeat`` for more), in the order given by ``--order``. Reported: wall
seconds, client CPU seconds, the proxy's requests and MB, and each contender's wall as a
ratio to the store's. The values read are compared between contenders (equal or the
run fails). The export's own time is reported too (over the link).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # ``python benchmarks/icechunk_cohort.py``
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import zarr

from benchmarks.cohort_open import fresh
from benchmarks.simproc import SimProcess
from remote_zip_store import RemoteZipStore, open_many
from remote_zip_store.testing.netsim import Condition
from remote_zip_store.testing.sample import write_sample_archive
from remote_zip_store.testing.servers import S3Server, moto_server, seaweedfs_server
from remote_zip_store.verbs._catalog import build_catalog

WORKERS = 32


def recordings(count: int, seconds: int, zarr_format: int, folder: Path) -> list[bytes]:
    out = []
    for i in range(count):
        path = folder / f"{i}.zip"
        write_sample_archive(
            path, channels=4, seconds=seconds, rate=256, seed=i, zarr_format=zarr_format
        )
        out.append(path.read_bytes())
        path.unlink()
    return out


def icechunk_storage(server: S3Server, endpoint: str, prefix: str) -> Any:
    import icechunk

    return icechunk.s3_storage(
        bucket=server.bucket,
        prefix=prefix,
        endpoint_url=endpoint,
        allow_http=True,
        access_key_id=server.access_key,
        secret_access_key=server.secret_key,
        region=server.region,
        force_path_style=True,
    )


def read_store(store: Any, channel: str) -> tuple[dict[str, Any], np.ndarray]:
    group = zarr.open_group(store, mode="r")
    return dict(group.attrs), group[channel][:]


def run_store(
    opener: Callable[[], dict[str, Any]], channel: str
) -> tuple[dict[str, tuple[dict[str, Any], np.ndarray]], float]:
    """Open (the opener), then every archive's attributes and channel on 32 threads."""
    started = time.perf_counter()
    stores = opener()
    opened = time.perf_counter() - started
    bad = {url: value for url, value in stores.items() if isinstance(value, Exception)}
    if bad:
        raise RuntimeError(f"{len(bad)} archives failed to open: {next(iter(bad.values()))}")
    try:
        with ThreadPoolExecutor(WORKERS) as pool:
            values = dict(
                zip(
                    stores, pool.map(lambda s: read_store(s, channel), stores.values()), strict=True
                )
            )
    finally:
        for store in stores.values():
            store.close()
    return values, opened


def run_icechunk(
    storage: Callable[[], Any], credentials: dict[str, Any], groups: dict[str, str], channel: str
) -> tuple[dict[str, tuple[dict[str, Any], np.ndarray]], float]:
    import icechunk

    started = time.perf_counter()
    repo = icechunk.Repository.open(storage(), authorize_virtual_chunk_access=credentials)
    session = repo.readonly_session("main")
    opened = time.perf_counter() - started

    def one(name: str) -> tuple[dict[str, Any], np.ndarray]:
        group = zarr.open_group(session.store, path=name, mode="r")
        return dict(group.attrs), group[channel][:]

    with ThreadPoolExecutor(WORKERS) as pool:
        values = dict(zip(groups, pool.map(one, groups.values()), strict=True))
    return values, opened


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", choices=("seaweedfs", "moto"), default="seaweedfs")
    parser.add_argument("--rtt-ms", type=float, default=20.0)
    parser.add_argument("--mbit", type=float, default=400.0)
    parser.add_argument("--archives", type=int, default=100)
    parser.add_argument("--seconds", type=int, default=300, help="per recording, at 256 Hz")
    parser.add_argument("--zarr-format", type=int, choices=(2, 3), default=3)
    parser.add_argument("--channel", default="signals/ch03")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument(
        "--order", default="store,store+catalog,icechunk", help="contenders, comma-separated"
    )
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)

    import icechunk

    from remote_zip_store.verbs._refs import icechunk_credentials, to_icechunk

    server = seaweedfs_server if args.server == "seaweedfs" else moto_server
    condition = Condition.of(f"{args.rtt_ms:g}ms-{args.mbit:g}Mbit", args.rtt_ms, args.mbit)
    with tempfile.TemporaryDirectory() as tmp:
        datas = recordings(args.archives, args.seconds, args.zarr_format, Path(tmp))
    results: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "command": " ".join(["python -m benchmarks.icechunk_cohort", *(argv or sys.argv[1:])]),
        "server": args.server,
        "condition": condition.describe(),
        "archives": args.archives,
        "archive_bytes": sum(map(len, datas)) // len(datas),
        "versions": {"zarr": zarr.__version__, "icechunk": icechunk.__version__},
        "runs": [],
    }
    with server() as s3:
        folder = f"ic{uuid.uuid4().hex[:8]}/"
        client = s3.client(max_pool_connections=16)
        with ThreadPoolExecutor(16) as pool:
            list(
                pool.map(
                    lambda i: client.put_object(
                        Bucket=s3.bucket, Key=f"{folder}rec{i:04d}.zip", Body=datas[i]
                    ),
                    range(len(datas)),
                )
            )
        prefix = f"s3://{s3.bucket}/{folder}"
        catalog = f"s3://{s3.bucket}/catalogs/{folder.rstrip('/')}.rzc"
        build_catalog(prefix, catalog, **s3.store_kwargs())  # straight to the server
        host, port = s3.endpoint_url.removeprefix("http://").split(":")
        with SimProcess(host, int(port), condition) as sim:
            kwargs = {**s3.store_kwargs(), "endpoint_url": sim.endpoint}
            repo_prefix = f"icechunk/{folder.rstrip('/')}"
            fresh()
            before = sim.counts()
            started = time.perf_counter()
            exported = to_icechunk(
                prefix, icechunk_storage(s3, sim.endpoint, repo_prefix), **kwargs
            )
            export = {
                "export_s": round(time.perf_counter() - started, 3),
                "requests": (sim.counts() - before).requests,
                "chunks": exported.chunks,
            }
            results["export"] = export
            print("export over the link: " + " ".join(f"{k}={v}" for k, v in export.items()))
            credentials = icechunk_credentials([prefix], **kwargs)
            fresh()
            RemoteZipStore(s3.put(datas[0], "warmup/0.zip"), **kwargs).close()  # botocore model
            contenders: dict[str, Callable[[], Any]] = {
                "store": lambda: run_store(
                    lambda: open_many(prefix, max_workers=WORKERS, **kwargs), args.channel
                ),
                "store+catalog": lambda: run_store(
                    lambda: open_many(catalog=catalog, max_workers=WORKERS, **kwargs),
                    args.channel,
                ),
                "icechunk": lambda: run_icechunk(
                    lambda: icechunk_storage(s3, sim.endpoint, repo_prefix),
                    credentials,
                    exported.groups,
                    args.channel,
                ),
            }
            reference: dict[str, tuple[dict[str, Any], np.ndarray]] | None = None
            for _ in range(args.repeat):
                for label in args.order.split(","):
                    fresh()
                    before = sim.counts()
                    cpu, wall = time.process_time(), time.perf_counter()
                    values, opened = contenders[label]()
                    elapsed = time.perf_counter() - wall
                    counts = sim.counts() - before
                    row = {
                        "contender": label,
                        "wall_s": round(elapsed, 3),
                        "open_s": round(opened, 3),
                        "cpu_s": round(time.process_time() - cpu, 3),
                        "requests": counts.requests,
                        "mb_down": round(counts.bytes_down / 1e6, 2),
                    }
                    if reference is None:
                        reference = values
                    else:
                        for url, (attrs, data) in reference.items():
                            got_attrs, got = values[url]
                            assert got_attrs == attrs, (label, url)
                            np.testing.assert_array_equal(got, data)
                    results["runs"].append(row)
                    print(" ".join(f"{k}={v}" for k, v in row.items()), flush=True)
    store_walls = [r["wall_s"] for r in results["runs"] if r["contender"] == "store"]
    if store_walls:
        base = min(store_walls)
        for row in results["runs"]:
            row["x_store"] = round(row["wall_s"] / base, 2)
        print("wall / store's:", {r["contender"]: r["x_store"] for r in results["runs"]})
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
