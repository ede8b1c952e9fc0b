"""Archives per second of ``scan()`` over many small archives on a real local S3 server.

    python -m benchmarks.scan_rate --server seaweedfs --archives 1000 --concurrency 32

Uploads ``--archives`` small zarr archives (a root ``.zattrs`` plus one chunk),
then times one scan of the prefix. Loopback latency is near zero, so the
figure measures this library's (and the server's) per-archive cost, not a WAN
round trip; over a WAN expect about concurrency / round-trip-time.
"""

from __future__ import annotations

import argparse
import io
import json
import time
import uuid
import zipfile
from concurrent.futures import ThreadPoolExecutor

from remote_zip_store.testing.servers import moto_server, seaweedfs_server
from remote_zip_store.verbs._scan import scan


def zip_bytes(entries: dict[str, bytes]) -> bytes:
    """A stored zip of ``entries`` written by CPython's zipfile."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return buf.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", choices=["moto", "seaweedfs"], default="seaweedfs")
    parser.add_argument("--archives", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--chunk-bytes", type=int, default=16 * 1024)
    args = parser.parse_args()
    servers = {"moto": moto_server, "seaweedfs": seaweedfs_server}
    with servers[args.server]() as s3:
        prefix = f"scan-bench-{uuid.uuid4().hex[:8]}/"
        client = s3.client(max_pool_connections=32)

        def upload(i: int) -> None:
            body = zip_bytes(
                {
                    "rec.zarr/.zgroup": b'{"zarr_format": 2}',
                    "rec.zarr/.zattrs": json.dumps({"subject": i}).encode(),
                    "rec.zarr/x/0": bytes([i % 256]) * args.chunk_bytes,
                }
            )
            client.put_object(Bucket=s3.bucket, Key=f"{prefix}{i:05d}.zip", Body=body)

        with ThreadPoolExecutor(16) as pool:
            list(pool.map(upload, range(args.archives)))
        started = time.perf_counter()
        rows = scan(
            f"s3://{s3.bucket}/{prefix}",
            concurrency=args.concurrency,
            endpoint_url=s3.endpoint_url,
            aws_access_key_id=s3.access_key,
            aws_secret_access_key=s3.secret_key,
            region_name=s3.region,
        )
        elapsed = time.perf_counter() - started
        failed = sum(not r.ok for r in rows)
        requests = sum(r.requests for r in rows)
        print(
            f"{args.server}: {len(rows)} archives ({failed} failed), concurrency "
            f"{args.concurrency}: {elapsed:.2f}s, {len(rows) / elapsed:.0f} archives/s, "
            f"{requests} GETs (+{(len(rows) + 999) // 1000} LIST)"
        )


if __name__ == "__main__":
    main()
