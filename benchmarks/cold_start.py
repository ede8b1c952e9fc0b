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
"""

from __future__ import annotations

import argparse
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15, help="fresh processes per command")
    parser.add_argument("--server", choices=["moto", "seaweedfs", "none"], default="moto")
    args = parser.parse_args()
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
