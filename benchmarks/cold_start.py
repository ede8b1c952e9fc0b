"""Cold start of the command line: wall time of fresh ``remote-zip-store`` processes.

    python -m benchmarks.cold_start --runs 15 --server moto

A command run in a shell loop pays the interpreter start and every import each
time, so this measures whole processes (``python -m remote_zip_store ...``),
never an in-process call: ``--runs`` fresh processes per command, each timed
from spawn to exit. The table gives the median and the minimum, next to a bare
``python -c pass`` (the floor no package can go below) and the targets of
issue 9 (local ``ls`` <= 0.2 s, S3 ``ls`` at loopback <= 0.5 s).

The S3 rows run against a loopback server (moto in this process, or SeaweedFS
``weed mini``): near-zero latency, so they measure start-up and the two GETs
that open an archive, not a network.

``--first-open`` (issue 20; Python 3.12, the ``bench-zarr3`` extra): the first open of a
zarr group in a new process, at 20 ms RTT / 400 Mbit/s (SeaweedFS behind
:mod:`remote_zip_store.testing.netsim`, which runs in this process), for this store on
each S3 transport and the zarr-3 peers that read a zip from S3 (zarr's ``ZipStore`` over
``obstore.open_reader``, zarrista). Each run is a fresh ``python`` process that imports
the contender's modules (timed apart: ``import``), then opens the group (``open``: the
store, its client and credentials, the GETs, ``zarr.open_group``), as
:mod:`benchmarks.zarr3_peers` does in its "open group" cell, and exits. Contenders run
interleaved, run by run. The archive is the EEG recording of the suite
(``--archive``; by default the zarr-3 peers' cached copy, else the sample archive).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from remote_zip_store.testing.sample import write_sample_archive
from remote_zip_store.testing.servers import S3Server, moto_server, seaweedfs_server

#: Command label -> target wall seconds (issue 9).
TARGETS = {"ls (local)": 0.2, "ls (S3)": 0.5}

#: --first-open contenders: name -> (modules imported before the clock starts, label).
FIRST_OPEN = {
    "remote-zip-store": (
        ("remote_zip_store.zarr3._store", "remote_zip_store.transport._s3"),
        "RemoteZipStore (lean, the default)",
    ),
    "remote-zip-store-obstore": (
        ("remote_zip_store.zarr3._store", "remote_zip_store.transport._s3", "obstore.store"),
        "RemoteZipStore, transport='obstore'",
    ),
    "obstore-reader-zipstore": (
        ("obstore", "obstore.store"),
        "zarr ZipStore over obstore.open_reader",
    ),
    "zarrista": (("zarrista", "zarrista.store", "obstore.store"), "zarrista AsyncZipStore (Rust)"),
}
FIRST_OPEN_TARGET = 0.150
"""Issue 20: the first open in a new process at 20 ms, default path: <= 150 ms, and faster
than zarrista and zarr's ZipStore over obstore."""

_CHILD = """
import asyncio, importlib, json, sys, time
t0 = time.perf_counter()
import zarr, zarr.storage
name, modules, t = sys.argv[1], sys.argv[2].split(","), json.loads(sys.argv[3])
for module in modules:
    importlib.import_module(module)


def obstore_store():
    from obstore.store import S3Store
    return S3Store(t["bucket"], endpoint=t["endpoint_url"], access_key_id=t["access_key"],
                   secret_access_key=t["secret_key"], region=t["region"],
                   virtual_hosted_style_request=False, client_options={"allow_http": True})


def open_group():
    if name.startswith("remote-zip-store"):
        from remote_zip_store.zarr3._store import RemoteZipStore
        extra = {"transport": "obstore"} if name.endswith("-obstore") else {}
        store = RemoteZipStore(f"s3://{t['bucket']}/{t['key']}", endpoint_url=t["endpoint_url"],
                               aws_access_key_id=t["access_key"],
                               aws_secret_access_key=t["secret_key"], region_name=t["region"],
                               **extra)
        return zarr.open_group(store, mode="r")
    if name == "obstore-reader-zipstore":
        import obstore
        reader = obstore.open_reader(obstore_store(), t["key"])
        return zarr.open_group(zarr.storage.ZipStore(reader, mode="r"), mode="r")
    if name == "zarrista":
        import zarrista, zarrista.store
        async def go():
            zip_store = await zarrista.store.AsyncZipStore.open(obstore_store(), t["key"])
            return await zarrista.AsyncGroup.open(zip_store, "/")
        return asyncio.new_event_loop().run_until_complete(go())
    raise SystemExit(f"unknown contender {name}")


t1, c1 = time.perf_counter(), time.process_time()
group = open_group()
t2, c2 = time.perf_counter(), time.process_time()
print(json.dumps({"import": t1 - t0, "open": t2 - t1, "open_cpu": c2 - c1}))
"""


def wall(argv: Sequence[str], env: dict[str, str], runs: int) -> list[float]:
    """Seconds from spawn to exit of ``runs`` fresh processes (each must exit 0)."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        result = subprocess.run(argv, env=env, capture_output=True, check=False)
        times.append(time.perf_counter() - started)
        if result.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} exited {result.returncode}: {result.stderr!r}")
    return times


def s3_env(s3: S3Server) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID=s3.access_key,
        AWS_SECRET_ACCESS_KEY=s3.secret_key,
        AWS_DEFAULT_REGION=s3.region,
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
    )
    return env


def table(rows: list[tuple[str, str, list[float]]]) -> list[str]:
    lines = [
        "| command | median s | min s | target s | runs |",
        "|---|---:|---:|---:|---:|",
    ]
    for label, shown, times in rows:
        target = TARGETS.get(label)
        lines.append(
            f"| `{shown}` ({label}) | {statistics.median(times):.3f} | {min(times):.3f} | "
            f"{'' if target is None else f'{target:.1f}'} | {len(times)} |"
        )
    return lines


def first_open(runs: int, archive: Path | None, contenders: Sequence[str]) -> list[str]:
    """The ``--first-open`` table: median and fastest ``open`` (and ``import``) per
    contender over ``runs`` fresh processes each, at 20 ms / 400 Mbit/s."""
    from remote_zip_store.testing.netsim import CONDITIONS, NetSim

    condition = next(c for c in CONDITIONS if c.name == "20ms-400Mbit")
    root = Path(__file__).resolve().parent.parent
    cached = root / "benchmarks/out/archives/eeg-16ch-7200s-stored-z3f2.zip"
    results: dict[str, list[dict[str, float]]] = {name: [] for name in contenders}
    walls: dict[str, list[float]] = {name: [] for name in contenders}
    with tempfile.TemporaryDirectory() as tmp, seaweedfs_server() as s3:
        path = archive or cached
        if not path.exists():
            path = write_sample_archive(Path(tmp) / "rec.zip", channels=16, seconds=1200)
        s3.put_file(path, "first-open.zip")
        host, port = s3.endpoint_url.removeprefix("http://").split(":")
        env = dict(s3_env(s3), PYTHONPATH=os.pathsep.join(sys.path))
        with NetSim(host, int(port)) as sim:
            sim.set_condition(condition)
            target = {
                "endpoint_url": sim.endpoint,
                "bucket": s3.bucket,
                "key": "first-open.zip",
                "access_key": s3.access_key,
                "secret_key": s3.secret_key,
                "region": s3.region,
            }
            for _ in range(runs):
                for name in contenders:
                    modules = ",".join(FIRST_OPEN[name][0])
                    argv = [sys.executable, "-c", _CHILD, name, modules, json.dumps(target)]
                    started = time.perf_counter()
                    done = subprocess.run(argv, env=env, capture_output=True, check=False)
                    walls[name].append(time.perf_counter() - started)
                    if done.returncode != 0:
                        raise SystemExit(
                            f"{name} exited {done.returncode}: {done.stderr[-2000:]!r}"
                        )
                    results[name].append(json.loads(done.stdout.splitlines()[-1]))
    ours = statistics.median(r["open"] for r in results[contenders[0]])
    lines = [
        f"archive {path.name} ({path.stat().st_size:,} B); {condition.describe()}; "
        f"{runs} fresh processes per contender, interleaved",
        "",
        "| contender | open median ms | open min ms | open CPU ms | import ms | process ms "
        f"| open x {contenders[0]} |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name in contenders:
        rows = results[name]
        median = statistics.median(r["open"] for r in rows)
        lines.append(
            f"| {FIRST_OPEN[name][1]} | {median * 1000:.0f} | "
            f"{min(r['open'] for r in rows) * 1000:.0f} | "
            f"{statistics.median(r['open_cpu'] for r in rows) * 1000:.0f} | "
            f"{statistics.median(r['import'] for r in rows) * 1000:.0f} | "
            f"{statistics.median(walls[name]) * 1000:.0f} | {median / ours:.2f} |"
        )
    peers = [statistics.median(r["open"] for r in results[n]) for n in contenders[1:] if "zip" in n]
    met = ours <= FIRST_OPEN_TARGET and all(ours < peer for peer in peers)
    lines += [
        "",
        f"Target (first open <= {FIRST_OPEN_TARGET * 1000:.0f} ms and faster than the peers): "
        f"{'met' if met else 'missed'} ({ours * 1000:.0f} ms)",
    ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15, help="fresh processes per command")
    parser.add_argument("--server", choices=["moto", "seaweedfs", "none"], default="moto")
    parser.add_argument(
        "--first-open",
        action="store_true",
        help="issue 20: the first zarr-3 group open in a new process at 20 ms (Python 3.12)",
    )
    parser.add_argument("--archive", type=Path, help="--first-open: the zip to open")
    parser.add_argument(
        "--contenders",
        default=",".join(FIRST_OPEN),
        help=f"--first-open: which, first is the reference ({','.join(FIRST_OPEN)})",
    )
    args = parser.parse_args()
    if args.first_open:
        load = os.getloadavg()
        lines = first_open(args.runs, args.archive, args.contenders.split(","))
        print(
            f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} CPUs, "
            f"Python {platform.python_version()}, load {load[0]:.1f} before / "
            f"{os.getloadavg()[0]:.1f} after, `python -m benchmarks.cold_start --first-open "
            f"--runs {args.runs}`"
        )
        print()
        print("\n".join(lines))
        return
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's per-request lines
    cli = [sys.executable, "-m", "remote_zip_store"]
    rows: list[tuple[str, str, list[float]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        path = write_sample_archive(Path(tmp) / "rec.zip", channels=4, seconds=60)
        local_env = dict(os.environ)
        rows.append(
            ("python", "python -c pass", wall([sys.executable, "-c", "pass"], local_env, args.runs))
        )
        for command in ("ls", "info"):
            rows.append(
                (
                    f"{command} (local)",
                    f"remote-zip-store {command} rec.zip",
                    wall([*cli, command, path], local_env, args.runs),
                )
            )
        if args.server != "none":
            servers = {"moto": moto_server, "seaweedfs": seaweedfs_server}
            with servers[args.server]() as s3:
                url = s3.put_file(path)
                env = s3_env(s3)
                for command in ("ls", "info"):
                    argv = [*cli, command, url, "--endpoint-url", s3.endpoint_url]
                    rows.append(
                        (
                            f"{command} (S3)",
                            f"remote-zip-store {command} s3://... ({args.server})",
                            wall(argv, env, args.runs),
                        )
                    )
    print(
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.machine()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"`python -m benchmarks.cold_start --runs {args.runs} --server {args.server}`"
    )
    print()
    for line in table(rows):
        print(line)


if __name__ == "__main__":
    main()
