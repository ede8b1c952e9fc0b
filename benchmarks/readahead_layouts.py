"""Bytes and requests of whole-array reads, per archive layout (zarr 3, moto on 127.0.0.1).

Read-ahead follows the archive's order, so what it costs depends on how the archive
was written. The same EEG-like dataset (``CHANNELS`` x ``CHUNKS`` chunks of float32,
zstd) is written five ways: zarr's own ``ZipStore`` (chunks in key order), xarray +
dask into a ``ZipStore`` (chunks in task order), our writer (``RemoteZipStore(...,
mode="w")``), ``pack`` of a directory store, and a zip of that directory in sorted-name
order (``c/1, c/10, c/100 ..``: what ``pack`` wrote before it wrote key order); each in
zarr formats 2 and 3. Each row reads ``signals/eeg`` whole, then one channel, cold (a
new store) and then warm (again, same store), at ``async.concurrency`` 10 and 64, and
prints the requests and bytes moved (the open and the array's metadata excluded)
against the bytes of the chunk entries the read needs. Counts, not times (zarr's
batches vary, so the requests do); needs zarr 3, xarray, dask and moto. Run:
``python -m benchmarks.readahead_layouts [--layouts pack,"sorted names"]`` (about a
minute on 2 cores).
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dask
import numpy as np
import xarray as xr
import zarr
from zarr.storage import LocalStore, ZipStore

from remote_zip_store.testing.servers import S3Server, moto_server
from remote_zip_store.verbs._pack import pack
from remote_zip_store.zarr3._store import RemoteZipStore
from remote_zip_store.zipfmt._parse import span

CHANNELS = 16
CHUNKS = 120
CHUNK = 1024


def dataset(channels: int, chunks: int, chunk: int) -> xr.Dataset:
    """Rounded noise (zstd halves it): ``signals/eeg`` is (channel, time)."""
    rng = np.random.default_rng(0)
    data = (rng.standard_normal((channels, chunks * chunk)) * 100).round().astype("float32")
    return xr.Dataset({"eeg": (("channel", "time"), data)}, coords={"channel": np.arange(channels)})


def _encoding(fmt: int, chunk: int) -> dict[str, Any]:
    if fmt == 3:
        codec: dict[str, Any] = {"compressors": zarr.codecs.ZstdCodec(level=3)}
    else:
        from numcodecs import Zstd

        codec = {"compressors": Zstd(level=3)}
    return {"eeg": {"chunks": (1, chunk), **codec}}


def write(layout: str, path: Path, ds: xr.Dataset, fmt: int, chunk: int) -> None:
    """``ds`` under group ``signals`` of the zip at ``path``, written the ``layout`` way."""
    encoding = _encoding(fmt, chunk)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if layout == "zipstore":
            with ZipStore(path, mode="w") as store:
                ds.to_zarr(store, group="signals", zarr_format=fmt, encoding=encoding)
        elif layout == "xarray+dask":
            threads = dask.config.set(scheduler="threads", num_workers=4)
            with threads, ZipStore(path, mode="w") as store:
                ds.chunk({"channel": 1, "time": chunk}).to_zarr(
                    store, group="signals", zarr_format=fmt, encoding=encoding
                )
        elif layout == "ours":
            with RemoteZipStore(path, mode="w") as store:
                ds.to_zarr(store, group="signals", zarr_format=fmt, encoding=encoding)
        elif layout == "pack":
            folder = path.with_suffix(".zarr")
            ds.to_zarr(LocalStore(folder), group="signals", zarr_format=fmt, encoding=encoding)
            pack(folder, path)
        elif layout == "sorted names":  # `zip -r` of a directory store, sorted: c/1, c/10 ..
            folder = path.with_suffix(".zarr")
            ds.to_zarr(LocalStore(folder), group="signals", zarr_format=fmt, encoding=encoding)
            with zipfile.ZipFile(path, "w") as zf:
                for file in sorted(p for p in folder.rglob("*") if p.is_file()):
                    zf.write(file, file.relative_to(folder).as_posix())
        else:
            raise ValueError(layout)


def _needed(store: RemoteZipStore, prefix: str) -> int:
    index = store.archive.index
    return sum(
        span(entry)[1] - span(entry)[0]
        for rest in store.listing().keys(prefix)
        if (entry := index.get(prefix + rest)) is not None and "zarr" not in rest
        if not rest.startswith(".")
    )


def measure(url: str, kwargs: dict[str, Any], fmt: int, concurrency: int) -> list[Any]:
    """[(read, needed, cold requests, cold bytes, warm requests, warm bytes)]."""
    rows = []
    chunk_prefix = "signals/eeg/" + ("c/5/" if fmt == 3 else "5.")
    reads: list[tuple[str, Callable[[Any], Any], str]] = [
        ("whole", lambda a: a[:], "signals/eeg/"),
        ("channel 5", lambda a: a[5], chunk_prefix),
    ]
    for label, read, prefix in reads:
        limit = zarr.config.set({"async.concurrency": concurrency})
        with limit, RemoteZipStore(url, **kwargs) as store:
            needed = _needed(store, prefix)
            array = zarr.open_array(store, path="signals/eeg", mode="r")
            stats = store.archive.source.stats
            counts = []
            for _ in range(2):
                stats.reset()
                read(array)
                counts.extend(stats.snapshot())
        rows.append((label, needed, *counts))
    return rows


LAYOUTS = ("zipstore", "xarray+dask", "ours", "pack", "sorted names")


def run(
    server: S3Server, tmp: Path, chunks: int, chunk: int, layouts: tuple[str, ...] = LAYOUTS
) -> None:
    ds = dataset(CHANNELS, chunks, chunk)
    print(
        "| layout | format | concurrency | read | needed MB | cold req | cold MB (x) "
        "| warm req | warm MB (x) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for fmt in (2, 3):
        for layout in layouts:
            path = tmp / f"{layout.replace(' ', '-')}-{fmt}.zip"
            write(layout, path, ds, fmt, chunk)
            url = server.put_file(path)
            for concurrency in (10, 64):
                for label, needed, cr, cb, wr, wb in measure(
                    url, server.store_kwargs(), fmt, concurrency
                ):
                    print(
                        f"| {layout} | {fmt} | {concurrency} | {label} | {needed / 1e6:.2f} "
                        f"| {cr} | {cb / 1e6:.2f} ({cb / needed:.2f}) | {wr} "
                        f"| {wb / 1e6:.2f} ({wb / needed:.2f}) |",
                        flush=True,
                    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=CHUNKS, help="chunks per channel")
    parser.add_argument("--chunk", type=int, default=CHUNK, help="samples per chunk")
    parser.add_argument(
        "--layouts", default=",".join(LAYOUTS), help=f"comma-separated, of {', '.join(LAYOUTS)}"
    )
    args = parser.parse_args(argv)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request log
    with moto_server() as server, tempfile.TemporaryDirectory() as tmp:
        run(server, Path(tmp), args.chunks, args.chunk, tuple(args.layouts.split(",")))


if __name__ == "__main__":
    main()
