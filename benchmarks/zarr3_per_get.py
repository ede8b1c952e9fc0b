"""What one zarr-3 ``get`` costs this store apart from the I/O: a local archive (issue 20).

    python -m benchmarks.zarr3_per_get                  # the EEG zip of zarr3_peers, 7 rounds
    python -m benchmarks.zarr3_per_get --path some.zip --rounds 9

Run in the Python 3.12 environment (zarr >= 3.2). Reads of one chunk after another, each
awaited before the next (as 16 channels x one epoch does), from a local file, so the I/O
costs next to nothing and what is left is each store's own path: this store (the read on
its thread pool: a hop from the event loop and back), zarr's ``ZipStore`` on the same file
(reads on the loop), a bare ``run_in_executor`` round trip on this machine, and this
archive's synchronous ``read_many`` of one entry (the same read without the hop). Per
round, 320 distinct chunks (20 per channel); the median microseconds per get.
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--path", type=Path, default=DEFAULT, help="a zarr-3 EEG zip")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args(argv)
    if not args.path.exists():
        from benchmarks.zarr3_peers import eeg_v3_archive

        args.path = eeg_v3_archive(suite_archives.ARCHIVES, 16, 7200).path
    rows = asyncio.run(measure(args.path, args.rounds))
    for name, values in rows.items():
        shown = ", ".join(f"{v:.0f}" for v in values)
        print(f"{name:34} median {statistics.median(values):6.0f} us per get  ({shown})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
