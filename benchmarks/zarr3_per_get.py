"""What one zarr-3 ``get`` costs this store apart from the I/O: a local archive (issue 20).

    python -m benchmarks.zarr3_per_get                  # the EEG zip of zarr3_peers, 7 rounds
    python -m benchmarks.zarr3_per_get --path some.zip --rounds 9
    python -m benchmarks.zarr3_per_get --s3 --rounds 9   # the same gets from SeaweedFS

Run in the Python 3.12 environment (zarr >= 3.2). Reads of one chunk after another, each
awaited before the next (as 16 channels x one epoch does), from a local file, so the I/O
costs next to nothing and what is left is each store's own path: this store (the read on
its thread pool: a hop from the event loop and back), zarr's ``ZipStore`` on the same file
(reads on the loop), a bare ``run_in_executor`` round trip on this machine, and this
archive's synchronous ``read_many`` of one entry (the same read without the hop). Per
round, 320 distinct chunks (20 per channel); the median microseconds per get.

``--s3``: the same gets from a local SeaweedFS (no simulated latency; the server is another
process), wall and client CPU (this process, every thread: obstore's runtime too) per get,
for this store on each S3 transport (obstore with ``loop_reads``: awaited on the loop;
obstore without it and lean: on the pool),
zarr's ``ObjectStore`` over obstore on the same chunks stored one object per key, and a bare
``obstore.get_range_async`` of each chunk's bytes in the zip (the floor of a GET).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # ``python benchmarks/zarr3_per_get.py``
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import archives as suite_archives

DEFAULT = suite_archives.ARCHIVES / "eeg-16ch-7200s-stored-v3.zip"


def _keys(round_: int, channels: int = 16, per_channel: int = 20) -> list[str]:
    first = round_ * per_channel
    return [
        f"signals/ch{c:02d}/c/{k}"
        for c in range(channels)
        for k in range(first, first + per_channel)
    ]


async def _each(keys: list[str], one: Callable[[str], Awaitable[Any]]) -> float:
    started = time.perf_counter()
    for key in keys:
        await one(key)
    return (time.perf_counter() - started) / len(keys) * 1e6


async def measure(path: Path, rounds: int) -> dict[str, list[float]]:
    import zarr
    from zarr.core.buffer import default_buffer_prototype

    from benchmarks.zarr3_peers import ours_class

    prototype = default_buffer_prototype()
    ours = ours_class()(str(path), readahead=0)  # one get at a time: nothing to read ahead
    theirs = zarr.storage.ZipStore(path, mode="r")
    await theirs._open()
    archive = ours.archive
    loop = asyncio.get_running_loop()

    async def ours_get(key: str) -> Any:
        if await ours.get(key, prototype) is None:
            raise KeyError(key)

    async def zipstore_get(key: str) -> Any:
        if await theirs.get(key, prototype) is None:
            raise KeyError(key)

    async def hop(key: str) -> Any:
        return await loop.run_in_executor(None, len, key)

    async def read_many(key: str) -> Any:
        return archive.read_many([archive.index.get(key)])

    rows: dict[str, list[float]] = {
        "this store's get": [],
        "zarr ZipStore's get": [],
        "run_in_executor round trip": [],
        "the archive's read_many (no hop)": [],
    }
    for round_ in range(rounds):
        keys = _keys(round_ % 12)
        for name, one in zip(rows, (ours_get, zipstore_get, hop, read_many), strict=True):
            rows[name].append(await _each(keys, one))
    ours.close()
    theirs.close()
    return rows


async def measure_s3(path: Path, rounds: int) -> dict[str, list[tuple[float, float]]]:
    import zipfile

    import obstore
    import zarr
    from zarr.core.buffer import default_buffer_prototype

    from benchmarks.contenders import Target
    from benchmarks.zarr3_peers import _obstore as obstore_store
    from benchmarks.zarr3_peers import ours_class
    from remote_zip_store.testing.servers import seaweedfs_server

    prototype = default_buffer_prototype()
    rows: dict[str, list[tuple[float, float]]] = {
        "this store, obstore, loop_reads": [],
        "this store, transport=obstore": [],
        "this store, transport=lean": [],
        "zarr ObjectStore (obstore), unzipped": [],
        "obstore.get_range_async, bare": [],
    }
    with seaweedfs_server() as server:
        keys = [key for r in range(min(rounds, 12)) for key in _keys(r)]
        url = server.put(path.read_bytes(), "eeg.zip")
        with zipfile.ZipFile(path) as z:
            for key in keys:
                server.put(z.read(key), f"unzipped/{key}")

        target = Target(
            server.endpoint_url, server.bucket, "eeg.zip", server.access_key, server.secret_key
        )
        objects = obstore_store(target)
        unzipped = zarr.storage.ObjectStore(obstore_store(target, "unzipped"), read_only=True)
        kwargs = {**server.store_kwargs(), "readahead": 0}
        on_loop = ours_class()(url, transport="obstore", loop_reads=True, **kwargs)
        through_obstore = ours_class()(url, transport="obstore", loop_reads=False, **kwargs)
        through_lean = ours_class()(url, transport="lean", **kwargs)
        archive = through_obstore.archive
        spans = archive.data_starts([archive.index.get(k) for k in keys])
        sizes = {k: archive.index.get(k).compressed_size for k in keys}

        def via(store: Any) -> Callable[[str], Awaitable[Any]]:
            async def one(key: str) -> Any:
                if await store.get(key, prototype) is None:
                    raise KeyError(key)

            return one

        async def bare(key: str) -> Any:
            start = spans[key]
            return await obstore.get_range_async(
                objects, "eeg.zip", start=start, end=start + sizes[key]
            )

        ones = (via(on_loop), via(through_obstore), via(through_lean), via(unzipped), bare)
        for round_ in range(rounds):
            batch = _keys(round_ % 12)
            for name, one in zip(rows, ones, strict=True):
                cpu = time.process_time()
                wall = await _each(batch, one)
                rows[name].append((wall, (time.process_time() - cpu) / len(batch) * 1e6))
        on_loop.close()
        through_obstore.close()
        through_lean.close()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--path", type=Path, default=DEFAULT, help="a zarr-3 EEG zip")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--s3", action="store_true", help="the gets from a local SeaweedFS")
    args = parser.parse_args(argv)
    if not args.path.exists():
        from benchmarks.zarr3_peers import eeg_v3_archive

        args.path = eeg_v3_archive(suite_archives.ARCHIVES, 16, 7200).path
    if args.s3:
        s3_rows = asyncio.run(measure_s3(args.path, args.rounds))
        floor = statistics.median(v[0] for v in s3_rows["obstore.get_range_async, bare"])
        for name, pairs in s3_rows.items():
            wall = statistics.median(v[0] for v in pairs)
            cpu = statistics.median(v[1] for v in pairs)
            print(
                f"{name:38} median {wall:6.0f} us per get ({wall / floor:4.2f}x bare), "
                f"client CPU {cpu:5.0f} us  ({', '.join(f'{v[0]:.0f}' for v in pairs)})"
            )
        return 0
    rows = asyncio.run(measure(args.path, args.rounds))
    for name, values in rows.items():
        shown = ", ".join(f"{v:.0f}" for v in values)
        print(f"{name:34} median {statistics.median(values):6.0f} us per get  ({shown})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
