"""Client CPU of ``open_many`` per archive, with no simulated link (issue 20).

    python -m benchmarks.many_cpu                        # 1,000 archives, SeaweedFS, 5 runs
    python -m benchmarks.many_cpu --many 1000 --repeat 7 --profile 300

On a shared machine the wall time of :mod:`benchmarks.cohort_open` is mostly the link,
the server and waiting for a core; this measures what the client itself spends per
archive. It uploads ``--many`` copies of the "small" benchmark archive (the one
:mod:`benchmarks.cohort_open` opens) to a local SeaweedFS (its own process: its CPU is
not counted in the client's) and times ``open_many(urls)`` from a fresh process state,
``--repeat`` times: ``time.process_time`` of this process, divided by the archives; beside
it, the server process's CPU over the same span, per archive (one range GET each:
SeaweedFS's CPU per range GET grows with the object's size, and it shares these cores).

``--sequential N``: ``N`` siblings opened by ``open_many(max_workers=1)`` (one worker:
the CPU of an open without contention for the GIL), ``--repeat`` times.

``--profile N``: after the runs, opens the first archive (it teaches the cohort hints)
and then ``N`` siblings one after another on the calling thread under ``cProfile`` (the
work of one ``open_many`` worker), and prints the functions by own time, in
microseconds per archive.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # ``python benchmarks/many_cpu.py``
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import archives
from benchmarks.cohort_open import fresh
from benchmarks.simproc import process_cpu
from remote_zip_store import RemoteZipStore, open_many
from remote_zip_store.testing.servers import seaweedfs_server


def once(
    urls: list[str], kwargs: dict[str, Any], workers: int, server_pid: int | None = None
) -> dict[str, float]:
    fresh()
    server = process_cpu(server_pid)
    cpu, wall = time.process_time(), time.perf_counter()
    stores = open_many(urls, max_workers=workers, **kwargs)
    row = {
        "open_cpu_s": time.process_time() - cpu,
        "open_s": time.perf_counter() - wall,
    }
    after = process_cpu(server_pid)
    if server is not None and after is not None:
        row["server_cpu_s"] = after - server
    failed = [v for v in stores.values() if isinstance(v, Exception)]
    if failed:
        raise RuntimeError(f"{len(failed)} opens failed, the first: {failed[0]!r}")
    for store in stores.values():
        store.close()  # type: ignore[union-attr]
    row["us_per_archive"] = row["open_cpu_s"] / len(urls) * 1e6
    if "server_cpu_s" in row:
        row["server_us_per_archive"] = row["server_cpu_s"] / len(urls) * 1e6
    return row


def sequential(urls: list[str], kwargs: dict[str, Any], count: int) -> float:
    """CPU of one sibling open with one worker (no contention for the GIL), in us: the
    first archive opens alone (it teaches the cohort hints), then ``count`` siblings by
    ``open_many(max_workers=1)``."""
    fresh()
    RemoteZipStore(urls[0], **kwargs).close()
    siblings = urls[1 : count + 1]
    cpu = time.process_time()
    stores = open_many(siblings, max_workers=1, **kwargs)
    cpu = time.process_time() - cpu
    for store in stores.values():
        if isinstance(store, Exception):
            raise store
        store.close()
    return cpu / len(siblings) * 1e6


def profile(
    urls: list[str],
    kwargs: dict[str, Any],
    count: int,
    top: int,
    callees: list[str],
    *,
    by_calls: bool = False,
) -> None:
    fresh()
    RemoteZipStore(urls[0], **kwargs).close()  # teaches the cohort hints
    siblings = urls[1 : count + 1]
    profiler = cProfile.Profile(time.thread_time)  # CPU, not waits
    profiler.enable()
    for url in siblings:
        RemoteZipStore(url, **kwargs).close()
    profiler.disable()
    stats = pstats.Stats(profiler)
    rows = []
    for func, (_, calls, own, cumulative, _) in stats.stats.items():  # type: ignore[attr-defined]
        rows.append((own, cumulative, calls, func))
    total = sum(r[0] for r in rows)
    print(f"calls per open: {sum(r[2] for r in rows) / len(siblings):.0f}")
    print(f"profile: {len(siblings)} sequential opens, {total / len(siblings) * 1e6:.0f} us each")
    print(f"{'own us':>8} {'cum us':>8} {'calls':>6}  function")
    for own, cumulative, calls, (path, line, name) in sorted(
        rows, key=lambda r: r[2] if by_calls else r[0], reverse=True
    )[:top]:
        where = f"{Path(path).name}:{line}" if line else path
        print(
            f"{own / len(siblings) * 1e6:8.1f} {cumulative / len(siblings) * 1e6:8.1f}"
            f" {calls / len(siblings):6.1f}  {name} ({where})"
        )
    for wanted in callees:  # a function's callees: cumulative us per archive
        for func in stats.stats:  # type: ignore[attr-defined]
            if func[2] != wanted:
                continue
            print(f"-- {wanted} ({Path(func[0]).name}:{func[1]}) calls:")
            children = []
            for child, (_, _, _, _, callers) in stats.stats.items():  # type: ignore[attr-defined]
                if func in callers:
                    _, ncalls, _, cum = callers[func]
                    children.append((cum, ncalls, child))
            for cum, ncalls, child in sorted(children, reverse=True)[:14]:
                print(
                    f"   {cum / len(siblings) * 1e6:8.1f} {ncalls / len(siblings):5.1f}"
                    f"  {child[2]} ({Path(child[0]).name}:{child[1]})"
                )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--many", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--max-workers", type=int, default=32)
    parser.add_argument(
        "--sequential", type=int, default=300, help="sibling opens on one thread (0: none)"
    )
    parser.add_argument("--profile", type=int, default=0, help="sequential opens to profile")
    parser.add_argument("--top", type=int, default=45)
    parser.add_argument("--by-calls", action="store_true", help="order the profile by calls")
    parser.add_argument("--callees", nargs="*", default=[], help="functions to expand")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    small = archives.small()
    data = small.path.read_bytes()
    with seaweedfs_server() as server:
        count = max(args.many, args.profile + 1, args.sequential + 1)
        keys = [f"cohort/{i:04d}.zip" for i in range(count)]
        client = server.client(max_pool_connections=16)
        with ThreadPoolExecutor(16) as pool:
            list(
                pool.map(lambda k: client.put_object(Bucket=server.bucket, Key=k, Body=data), keys)
            )
        kwargs = server.store_kwargs()
        urls = [f"s3://{server.bucket}/{k}" for k in keys]
        fresh()
        RemoteZipStore(server.put(data, "warmup/0.zip"), **kwargs).close()  # imports
        pid = server.extra["pid"]() if "pid" in server.extra else None
        rows = [once(urls[: args.many], kwargs, args.max_workers, pid) for _ in range(args.repeat)]
        for row in rows:
            print(" ".join(f"{k}={v:.4f}" for k, v in row.items()), flush=True)
        per = [r["us_per_archive"] for r in rows]
        print(
            f"open_many {args.many}: client CPU per archive median {statistics.median(per):.0f} us"
            f" (min {min(per):.0f}, max {max(per):.0f})"
        )
        served = [r["server_us_per_archive"] for r in rows if "server_us_per_archive" in r]
        if served:
            print(
                f"open_many {args.many}: the server's CPU per archive (its one GET) median"
                f" {statistics.median(served):.0f} us"
                f" (min {min(served):.0f}, max {max(served):.0f})"
            )
        results: dict[str, Any] = {"many": args.many, "runs": rows}
        if args.sequential:
            seq = [sequential(urls, kwargs, args.sequential) for _ in range(args.repeat)]
            results["sequential_us"] = seq
            print(
                f"one worker: CPU per sibling median {statistics.median(seq):.0f} us"
                f" (min {min(seq):.0f}, max {max(seq):.0f})",
                flush=True,
            )
        if args.profile:
            profile(urls, kwargs, args.profile, args.top, args.callees, by_calls=args.by_calls)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
