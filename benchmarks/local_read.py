"""Whole EEG archive from a local file: RemoteZipStore vs zarr.ZipStore (CPU cost, no network).

Run: ``python benchmarks/local_read.py`` after ``benchmarks/read_path.py`` built the
archives in /tmp (or pass other paths as arguments).
"""

from __future__ import annotations

import os
import sys
import time

import zarr

from remote_zip_store import RemoteZipStore
from remote_zip_store.transport import LocalSource


def main() -> None:
    paths = sys.argv[1:] or ["/tmp/rzs-eeg-stored.zip", "/tmp/rzs-eeg-deflate.zip"]
    for path in paths:
        makers = (
            ("RemoteZipStore(local)", lambda p=path: RemoteZipStore.from_source(LocalSource(p))),
            ("zarr.ZipStore", lambda p=path: zarr.ZipStore(p, mode="r")),
        )
        for label, make in makers:
            times = []
            for _ in range(3):
                t0 = time.perf_counter()
                store = make()
                root = zarr.open_group(store, mode="r")
                for c in range(16):
                    root[f"signals/ch{c:02d}"][:]
                store.close()
                times.append(time.perf_counter() - t0)
            print(
                f"{os.path.basename(path)} {label}: best of 3 {min(times) * 1000:.0f} ms "
                f"(load {os.getloadavg()[0]:.2f})"
            )


if __name__ == "__main__":
    main()
