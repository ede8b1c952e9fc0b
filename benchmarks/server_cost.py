"""What one range GET costs the test server itself: SeaweedFS's CPU and latency (issue 20).

    python -m benchmarks.server_cost                  # 200 GETs per row
    python -m benchmarks.server_cost --gets 500 --json out.json

The benchmarks run SeaweedFS on the client's two cores, so its CPU per request is time
the client waits for a core (``open_many``: one GET per archive, a thousand archives).
This uploads objects of several sizes to a fresh ``weed mini`` and times ``--gets``
sequential 30 KiB range GETs (boto3; the client's cost is not what is measured) per row:
the median wall time of one GET on loopback, and the server process's CPU per GET (from
``/proc``). Rows: whole small objects, the tail of objects of 2.5 and 8 MB (a cohort
archive's open), and ranges at several offsets of a 64 MiB object (a chunk of a large
zip).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # ``python benchmarks/server_cost.py``
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.simproc import process_cpu
from remote_zip_store.testing.servers import seaweedfs_server

RANGE = 30 * 1024
MIB = 1024 * 1024
#: (label, object size, first byte of the range; negative: a suffix range of that length)
ROWS: tuple[tuple[str, int, int], ...] = (
    ("30 KiB object, whole", RANGE, 0),
    ("2.5 MB object, last 30 KiB", 2_470_000, -RANGE),
    ("8 MB object, last 30 KiB", 8_000_000, -RANGE),
    ("64 MiB object, at 0", 64 * MIB, 0),
    ("64 MiB object, at 4 MiB", 64 * MIB, 4 * MIB),
    ("64 MiB object, at 7.9 MiB", 64 * MIB, int(7.9 * MIB)),
    ("64 MiB object, at 8.1 MiB", 64 * MIB, int(8.1 * MIB)),
    ("64 MiB object, at 40 MiB", 64 * MIB, 40 * MIB),
    ("64 MiB object, last 30 KiB", 64 * MIB, -RANGE),
)


def measure(client: Any, bucket: str, key: str, header: str, gets: int, pid: int) -> dict[str, Any]:
    times = []
    cpu = process_cpu(pid)
    for _ in range(gets):
        started = time.perf_counter()
        body = client.get_object(Bucket=bucket, Key=key, Range=header)["Body"].read()
        times.append(time.perf_counter() - started)
    after = process_cpu(pid)
    return {
        "range": header,
        "bytes": len(body),
        "median_ms": statistics.median(times) * 1e3,
        "server_cpu_ms_per_get": None
        if cpu is None or after is None
        else (after - cpu) / gets * 1e3,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gets", type=int, default=200, help="GETs per row")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    rows = []
    with seaweedfs_server() as server:
        client = server.client()
        pid = server.extra["pid"]()
        for size in sorted({size for _, size, _ in ROWS}):
            client.put_object(Bucket=server.bucket, Key=f"obj/{size}", Body=os.urandom(size))
        for label, size, first in ROWS:
            header = f"bytes={first}" if first < 0 else f"bytes={first}-{first + RANGE - 1}"
            row = {
                "row": label,
                **measure(client, server.bucket, f"obj/{size}", header, args.gets, pid),
            }
            rows.append(row)
            cpu = row["server_cpu_ms_per_get"]
            print(
                f"{label:30} {row['bytes']:>6} B: median {row['median_ms']:.2f} ms/GET, server CPU"
                f" {'?' if cpu is None else f'{cpu:.2f}'} ms/GET",
                flush=True,
            )
    if args.json:
        result = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "rows": rows}
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
