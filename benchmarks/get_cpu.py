"""Client CPU per small range GET: the S3 source's lean path, botocore, obstore, urllib3 (issue 20).

    python -m benchmarks.get_cpu                       # SeaweedFS (moto if no weed), N=2000
    python -m benchmarks.get_cpu --server moto -n 2000 --size 1024

One object on a local server (127.0.0.1), the same ``--size`` bytes read ``-n``
times by each path, the paths interleaved in rounds of 100 so machine load hits
them alike; CPU is ``time.process_time`` (all threads of this process):

* **lean**: ``S3Source.read_range`` on the default (lean) transport: SigV4 signed
  here, sent by the library's HTTP/1.1 client (``transport/_wire.py``), ``If-Match``
  pinned, the body checks;
* **source-botocore**: the same call with ``transport="botocore"``;
* **get_object**: a boto3 client's ``get_object(Range=...)`` + ``Body.read()``;
* **source-obstore**: the same call with ``transport="obstore"`` (if obstore is installed;
  its tokio threads are this process's, so counted);
* **obstore.get**: ``obstore.get(store, key, options={"range": ..., "if_match": etag})``
  on a bare ``S3Store``: obstore's floor, without the source's checks;
* **urllib3**: a presigned URL (made once) GET on a urllib3 pool: the usual Python
  HTTP client (no signing per request, no checks);
* **wire**: the same presigned GET on the library's own client (``WirePool``): what
  the lean path costs before signing and checks.

Prints µs of CPU per GET and each path's ratio to urllib3 and to get_object.
moto runs inside this process (its CPU would be counted): use SeaweedFS for
absolute figures; with ``--server moto`` only the ratios mean much.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):  # ``python benchmarks/get_cpu.py``
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import os
from urllib.parse import urlsplit

import urllib3

from remote_zip_store.testing.servers import S3Server, moto_server, seaweedfs_server, weed_binary
from remote_zip_store.transport._s3 import S3Options, S3Source
from remote_zip_store.transport._wire import Origin, WirePool


def paths(server: S3Server, size: int) -> dict[str, Callable[[], bytes]]:
    key = "bench/get-cpu.bin"
    data = os.urandom(1 << 20)
    server.put(data, key)
    start, end = 4096, 4096 + size
    expected = data[start:end]
    options = dict(server.store_kwargs())
    lean = S3Source(server.bucket, key, options=S3Options(**options, transport="lean"))
    boto_source = S3Source(server.bucket, key, options=S3Options(**options, transport="botocore"))
    for source in (lean, boto_source):
        source.read_ends(1024)  # pins the ETag: every GET below sends If-Match
    assert lean._lean is not None and boto_source._lean is None
    client = server.client()
    url = client.generate_presigned_url(
        "get_object", Params={"Bucket": server.bucket, "Key": key}, ExpiresIn=3600
    )
    pool = urllib3.PoolManager(maxsize=4)
    header = {"Range": f"bytes={start}-{end - 1}"}

    def get_object() -> bytes:
        response = client.get_object(Bucket=server.bucket, Key=key, Range=header["Range"])
        body: bytes = response["Body"].read()
        return body

    def plain() -> bytes:
        return pool.request("GET", url, headers=header).data

    parts = urlsplit(url)
    origin = Origin.of(parts.scheme, parts.hostname or "", parts.port)
    target = f"{parts.path}?{parts.query}"
    wire_pool = WirePool(max_connections=4)

    def wire() -> bytes:
        response = wire_pool.request("GET", origin, target, header)
        body = response.read()
        response.release_conn()
        return body

    found = {
        "lean": lambda: lean.read_range(start, end),
        "source-botocore": lambda: boto_source.read_range(start, end),
        "get_object": get_object,
        "urllib3": plain,
        "wire": wire,
    }
    try:
        import obstore
    except ImportError:
        return check(found, expected)
    from remote_zip_store.transport._obstore import ObstoreS3

    obs = S3Source(server.bucket, key, options=S3Options(**options, transport="obstore"))
    obs.read_ends(1024)
    assert obs._lean is not None and isinstance(obs._lean.get(), ObstoreS3)
    store = obs._lean.get().store(server.bucket)
    pinned = {"range": (start, end), "if_match": obs.etag}

    def bare() -> bytes:
        return bytes(obstore.get(store, key, options=pinned).bytes())  # type: ignore[arg-type]

    found["source-obstore"] = lambda: obs.read_range(start, end)
    found["obstore.get"] = bare
    return check(found, expected)


def check(found: dict[str, Callable[[], bytes]], expected: bytes) -> dict[str, Callable[[], bytes]]:
    for name, read in found.items():
        assert read() == expected, name  # also warms each path's connection
    return found


def measure(
    reads: dict[str, Callable[[], bytes]], n: int, round_size: int = 100
) -> dict[str, list[float]]:
    """µs of CPU per GET of each round, per path (rounds interleaved)."""
    samples: dict[str, list[float]] = {name: [] for name in reads}
    for _ in range(max(1, n // round_size)):
        for name, read in reads.items():
            started = time.process_time()
            for _ in range(round_size):
                read()
            samples[name].append((time.process_time() - started) / round_size * 1e6)
    return samples


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", choices=["seaweedfs", "moto"], default=None)
    parser.add_argument("-n", type=int, default=2000, help="GETs per path (default 2000)")
    parser.add_argument("--size", type=int, default=1024, help="bytes per GET (default 1024)")
    args = parser.parse_args(argv)
    kind = args.server or ("seaweedfs" if weed_binary() else "moto")
    with seaweedfs_server() if kind == "seaweedfs" else moto_server() as server:
        reads = paths(server, args.size)
        samples = measure(reads, args.n)
    medians = {name: statistics.median(values) for name, values in samples.items()}
    print(f"{kind} on 127.0.0.1, {args.size}-byte range GETs, {args.n} per path, median of rounds")
    print(f"{'path':<16} {'us CPU/GET':>11} {'x urllib3':>10} {'x get_object':>13}")
    for name, value in medians.items():
        print(
            f"{name:<16} {value:>11.0f} {value / medians['urllib3']:>10.2f} "
            f"{value / medians['get_object']:>13.2f}"
        )


if __name__ == "__main__":
    main()
