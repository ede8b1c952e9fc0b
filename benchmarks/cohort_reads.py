"""Cohort reads: the same selection from every archive of a cohort, at a simulated link.

    python -m benchmarks.cohort_reads --archives 50 --condition 20ms-400Mbit

Uploads ``--archives`` EEG-like recordings (4 channels x 1 h at 256 Hz float32, one
chunk per 30 s epoch, zarr's own ``ZipStore``, consolidated; about 14.7 MB each) to
SeaweedFS, puts :mod:`remote_zip_store.testing.netsim` in front of it, and reads the
same selection from every archive in two ways:

* ``threads``: a plain thread pool (32 workers); each task opens a
  ``RemoteZipStore`` (one boto3 client shared by all, so connections are reused),
  reads the selection and closes the store. When :func:`remote_zip_store.open_many`
  exists the opens go through it instead.
* ``threads-plain``: the same without ``open_many`` (each task builds its store).
* ``threads-small-tail``: the same with ``tail_size=64 KiB, head_size=16 KiB`` (the
  default 512 KiB tail GET is most of the bytes when the selection is small).
* ``dask``: one dask graph, ``da.stack`` of one ``from_delayed`` task per archive, run
  on a ``dask.distributed.LocalCluster`` of 2 worker processes (16 threads each);
  each task opens, reads and closes on its worker (one boto3 client per process); the
  selection travels to the client. ``dask-reduce``: the same graph ending in a mean over
  time, computed on the workers (what an analysis does; only the means travel).

Selections: ``ch1-20ep`` (channel 1, epochs 100-119: 0.61 MB per archive, less than
one round trip's worth of bytes at 20 ms x 400 Mbit/s; channel 1, not 3: the last
channel's last epochs lie in the open's tail buffer and would cost nothing) and
``4ch-60ep`` (channels 0-3, epochs 60-119: 7.4 MB per archive). Reported: wall time
(median of ``--reps``, cluster start-up excluded, one untimed warm-up), archives/s,
payload MB/s (the selection's bytes), wire MB/s (bytes the proxy sent), and payload as a
share of the link.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.archives import ARCHIVES, OUT, _generated
from remote_zip_store import RemoteZipStore
from remote_zip_store.testing.netsim import CONDITIONS, NetSim
from remote_zip_store.testing.sample import write_sample_archive
from remote_zip_store.testing.servers import seaweedfs_server

RATE = 256
EPOCH = 30 * RATE
CHANNELS = 4
SECONDS = 3600


@dataclass(frozen=True)
class Selection:
    name: str
    channels: tuple[int, ...]
    epochs: tuple[int, int]  # [first, last)

    @property
    def samples(self) -> int:
        return (self.epochs[1] - self.epochs[0]) * EPOCH

    @property
    def nbytes(self) -> int:
        return len(self.channels) * self.samples * 4


SELECTIONS = {
    s.name: s
    for s in (
        Selection("ch1-20ep", (1,), (100, 120)),
        Selection("4ch-60ep", (0, 1, 2, 3), (60, 120)),
    )
}


def cohort_archive() -> Path:
    """The recording every archive of the cohort holds (written once, cached)."""
    return _generated(
        ARCHIVES / f"cohort-{CHANNELS}ch-{SECONDS}s.zip",
        lambda tmp: write_sample_archive(tmp, channels=CHANNELS, seconds=SECONDS),
    )


@functools.cache
def _client(endpoint_url: str, access_key: str, secret_key: str, region: str) -> Any:
    """One boto3 client per process (dask workers build their own)."""
    import boto3
    import botocore.config

    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name=region,
        config=botocore.config.Config(
            max_pool_connections=64,
            s3={"addressing_style": "path"},
            retries={"mode": "standard", "max_attempts": 5},
        ),
    )


#: ``threads-small-tail``: first GETs sized for these archives (a 40 KB directory and the
#: consolidated metadata at the end; the root metadata in the first 16 KiB).
SMALL_TAIL = {"tail_size": 64 * 1024, "head_size": 16 * 1024}


def read_selection(
    url: str,
    selection: Selection,
    connection: tuple[str, str, str, str],
    options: dict[str, int] | None = None,
) -> np.ndarray:
    """Open one archive, read ``selection`` (channels x samples), close it."""
    import zarr

    with RemoteZipStore(url, client=_client(*connection), **(options or {})) as store:
        return _select(store, selection, zarr)


def _select(store: RemoteZipStore, selection: Selection, zarr: Any) -> np.ndarray:
    root = zarr.open(store, mode="r")
    where = slice(selection.epochs[0] * EPOCH, selection.epochs[1] * EPOCH)
    return np.stack([root[f"signals/ch{c:02d}"][where] for c in selection.channels])


def run_threads(
    urls: Sequence[str],
    selection: Selection,
    connection: tuple[str, str, str, str],
    options: dict[str, int] | None = None,
    *,
    plain: bool = False,
) -> tuple[list[np.ndarray], str]:
    """A plain thread pool: open, read, close per archive (``open_many`` when it exists,
    unless ``plain``)."""
    import zarr

    import remote_zip_store

    open_many = None if plain else getattr(remote_zip_store, "open_many", None)
    with ThreadPoolExecutor(32) as pool:
        if open_many is None:
            return list(
                pool.map(lambda u: read_selection(u, selection, connection, options), urls)
            ), f"ThreadPoolExecutor(32) of RemoteZipStore(url, client=shared, **{options or {}})"
        stores = open_many(urls, max_workers=32, client=_client(*connection), **(options or {}))

        def read(url: str) -> np.ndarray:
            store = stores[url]
            if isinstance(store, Exception):
                raise store
            with store:
                return _select(store, selection, zarr)

        return list(pool.map(read, urls)), (
            f"open_many(urls, max_workers=32, **{options or {}}) + a 32-thread pool"
        )


def run_dask(
    client: Any,
    urls: Sequence[str],
    selection: Selection,
    connection: tuple[str, str, str, str],
    *,
    reduce: bool = False,
) -> np.ndarray:
    """One dask graph over the cluster: a stack of one open-read-close task per archive.

    ``reduce``: the graph ends in a mean over time per archive and channel, computed on the
    workers, so only the means travel to the client (not the selection's bytes).
    """
    import dask
    import dask.array as da

    shape = (len(selection.channels), selection.samples)
    parts = [
        da.from_delayed(
            dask.delayed(read_selection, pure=True)(url, selection, connection),
            shape=shape,
            dtype="f4",
        )
        for url in urls
    ]
    stacked = da.stack(parts)
    result: np.ndarray = client.compute(stacked.mean(axis=-1) if reduce else stacked).result()
    return result


def _time(action: Callable[[], Any], sim: NetSim, reps: int) -> tuple[list[float], list[int], Any]:
    times, wire = [], []
    value: Any = None
    for _ in range(reps):
        sim.reset()
        started = time.perf_counter()
        value = action()
        times.append(time.perf_counter() - started)
        wire.append(sim.counts().bytes_down)
    return times, wire, value


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cohort_reads")
    parser.add_argument("--archives", type=int, default=50)
    parser.add_argument("--condition", default="20ms-400Mbit", help="a netsim condition name")
    parser.add_argument("--selections", default=",".join(SELECTIONS))
    parser.add_argument("--contenders", default="threads,threads-small-tail,dask,dask-reduce")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--out", default=str(OUT / "cohort_reads.json"))
    args = parser.parse_args(argv)
    # connections the dask workers still hold when the proxy stops log a harmless cancel
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    condition = {c.name: c for c in CONDITIONS}[args.condition]
    selections = [SELECTIONS[name] for name in args.selections.split(",")]
    contenders = args.contenders.split(",")
    path = cohort_archive()
    body = path.read_bytes()
    with RemoteZipStore(path) as local:
        import zarr

        expected = {s.name: _select(local, s, zarr) for s in selections}
    rows: list[dict[str, Any]] = []
    with seaweedfs_server() as s3:
        upload = s3.client(max_pool_connections=16)
        keys = [f"cohort/{i:04d}.zip" for i in range(args.archives)]
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda k: upload.put_object(Bucket=s3.bucket, Key=k, Body=body), keys))
        urls = [f"s3://{s3.bucket}/{k}" for k in keys]
        host, port = s3.endpoint_url.removeprefix("http://").split(":")
        with NetSim(host, int(port)) as sim:
            sim.set_condition(condition)
            connection = (sim.endpoint, s3.access_key, s3.secret_key, s3.region)
            cluster = dask_client = None
            if any(name.startswith("dask") for name in contenders):
                from dask.distributed import Client, LocalCluster

                cluster = LocalCluster(
                    n_workers=2, threads_per_worker=16, processes=True, dashboard_address=None
                )
                dask_client = Client(cluster)
            try:
                for selection in selections:
                    for name in contenders:
                        how = "dask LocalCluster(2 processes x 16 threads), one graph"
                        if name.startswith("dask"):
                            reduce = name == "dask-reduce"
                            if reduce:
                                how += ", mean over time on the workers"

                            def action(sel: Selection = selection, red: bool = reduce) -> Any:
                                return run_dask(dask_client, urls, sel, connection, reduce=red)

                        else:
                            options = SMALL_TAIL if name == "threads-small-tail" else None

                            def action(sel: Selection = selection, opts: Any = options) -> Any:
                                return run_threads(urls, sel, connection, opts)

                        # untimed warm-up: imports, botocore models, worker clients
                        if name.startswith("dask"):
                            run_dask(dask_client, urls[:4], selection, connection)
                        else:
                            run_threads(urls[:4], selection, connection)
                        times, wire, value = _time(action, sim, args.reps)
                        if not name.startswith("dask"):
                            value, how = value
                        first = np.asarray(value[0])
                        want = expected[selection.name]
                        if name == "dask-reduce":
                            np.testing.assert_allclose(first, want.mean(axis=-1), rtol=1e-4)
                        else:
                            np.testing.assert_array_equal(first, want)
                        assert len(value) == len(urls)
                        wall = statistics.median(times)
                        payload = selection.nbytes * len(urls)
                        row = {
                            "selection": selection.name,
                            "contender": name,
                            "how": how,
                            "archives": len(urls),
                            "wall_s": round(wall, 3),
                            "times_s": [round(t, 3) for t in times],
                            "archives_per_s": round(len(urls) / wall, 1),
                            "payload_mb_s": round(payload / wall / 1e6, 1),
                            "wire_mb_s": round(statistics.median(wire) / wall / 1e6, 1),
                            "wire_mb_per_archive": round(
                                statistics.median(wire) / len(urls) / 1e6, 3
                            ),
                            "link_mb_s": round(condition.bandwidth / 1e6, 1),
                            "payload_share_of_link": round(payload / wall / condition.bandwidth, 2),
                        }
                        rows.append(row)
                        print(json.dumps(row), flush=True)
            finally:
                if dask_client is not None:
                    dask_client.close()
                if cluster is not None:
                    cluster.close()
    result = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "command": "python -m benchmarks.cohort_reads " + " ".join(argv or sys.argv[1:]),
        "condition": condition.describe(),
        "archive": {"name": path.name, "bytes": len(body)},
        "rows": rows,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(markdown(result))
    return 0


def markdown(result: dict[str, Any]) -> str:
    count = result["rows"][0]["archives"] if result["rows"] else 0
    lines = [
        f"{result['date']}, {result['condition']}, {count} archives of "
        f"{result['archive']['bytes'] / 1e6:.1f} MB",
        "",
        "| selection | contender | wall s | archives/s | payload MB/s | wire MB/s | "
        "payload / link |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for row in result["rows"]:
        lines.append(
            f"| {row['selection']} | {row['contender']} | {row['wall_s']:.3f} | "
            f"{row['archives_per_s']} | {row['payload_mb_s']} | {row['wire_mb_s']} | "
            f"{row['payload_share_of_link']:.0%} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
