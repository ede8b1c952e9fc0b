"""``coalesce_max`` against the two scenarios it trades off, through SeaweedFS and netsim.

* **whole archive on loopback** (every channel ``[:]``): fewer, larger GETs cost less
  CPU per byte (botocore spends ~1 ms of CPU per request here, the server more);
* **one channel at 20 ms / 400 Mbit/s**: more, smaller GETs overlap transfer and decode.

Both EEG archives (stored and deflate); ``boto3 download_file`` + ``zarr.ZipStore`` of the
stored one as the loopback reference. Run: ``python -m benchmarks.coalesce_sweep``
(``--mib 1,2,4,8 --reps 5``); about 2 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlparse

import zarr

from benchmarks import archives, contenders
from benchmarks.contenders import Target
from remote_zip_store import RemoteZipStore
from remote_zip_store.testing.netsim import LOOPBACK, Condition, NetSim
from remote_zip_store.testing.servers import seaweedfs_server


def _channel(root: Any) -> None:
    root["signals/ch00"][:]


def _whole(root: Any) -> None:
    for _, array in root["signals"].arrays():
        array[:]


def _median_run(runs: int, once: Callable[[], None]) -> tuple[float, list[float]]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        once()
        times.append(time.perf_counter() - started)
    return statistics.median(times), times


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mib", default="1,2,4,8", help="coalesce_max values in MiB")
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args(argv)
    sizes = [int(v) for v in args.mib.split(",")]
    paths = {"stored": archives.eeg().path, "deflate": archives.eeg(deflate=True).path}
    scenarios = (
        ("loopback", LOOPBACK, "whole archive", _whole),
        ("20ms-400Mbit", Condition.of("20ms-400Mbit", 20, 400), "one channel", _channel),
    )
    print(f"# coalesce_max sweep, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print("| condition | scenario | archive | coalesce_max | median s | runs (s) | requests |")
    print("|---|---|---|---:|---:|---|---:|")
    with seaweedfs_server() as server:
        urls = {kind: server.put_file(path, f"sweep-{kind}.zip") for kind, path in paths.items()}
        port = urlparse(server.endpoint_url).port or 0
        with NetSim("127.0.0.1", port) as net:
            options = dict(server.store_kwargs(), endpoint_url=net.endpoint)
            for name, condition, label, scenario in scenarios:
                net.set_condition(condition)
                for kind, url in urls.items():
                    for mib in sizes:

                        def once(url: str = url, mib: int = mib) -> None:
                            with RemoteZipStore(url, coalesce_max=mib << 20, **options) as store:
                                scenario(zarr.open(store, mode="r"))  # noqa: B023

                        net.reset()
                        median, times = _median_run(args.reps, once)
                        runs = ", ".join(f"{t:.3f}" for t in times)
                        requests = net.counts().requests // args.reps
                        print(
                            f"| {name} | {label} | {kind} | {mib} MiB | {median:.3f} | {runs} "
                            f"| {requests} |",
                            flush=True,
                        )
            net.set_condition(LOOPBACK)
            stored = Target(
                net.endpoint,
                server.bucket,
                urls["stored"].split("/", 3)[3],
                server.access_key,
                server.secret_key,
                server.region,
            )

            def download() -> None:
                opened = contenders.DOWNLOAD.open(stored)
                try:
                    _whole(opened.root)
                finally:
                    opened.close()

            median, times = _median_run(args.reps, download)
            runs = ", ".join(f"{t:.3f}" for t in times)
            label = "| loopback | whole archive | stored | download+ZipStore"
            print(f"{label} | {median:.3f} | {runs} | |")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
