"""Exporting references (issue 21): kerchunk JSON per archive, one Icechunk repository of all.

    python -m benchmarks.refs_export                       # moto, 20 archives x 1000 chunks
    python -m benchmarks.refs_export --archives 100 --chunks 1000 --server seaweedfs

Needs the zarr-3 environment (zarr 3, icechunk). Uploads ``--archives`` copies of
one zarr-3 archive (one float32 array of ``--chunks`` stored 4 KB chunks, a
32-chunk sharded array, attributes) under a fresh prefix on a local server
(loopback, no simulated link) and times:

* **kerchunk**: ``kerchunk_refs(url)`` of each archive in turn (median and total),
  with the requests each cost;
* **icechunk**: ``to_icechunk(prefix, repo)`` of the whole prefix into a new local
  repository (archives exported ``--workers`` at a time), then reading every
  array of one group back through Icechunk.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def build_archive(path: Path, chunks: int) -> bytes:
    import numpy as np
    import zarr
    from zarr.storage import ZipStore

    with ZipStore(path, mode="w") as store:
        group = zarr.open_group(store, mode="w", zarr_format=3)
        group.attrs["title"] = "refs benchmark"
        group.create_array(
            "signal", data=np.arange(chunks * 1000, dtype="f4"), chunks=(1000,), compressors=None
        )
        group.create_array(
            "sharded",
            data=np.arange(64 * 128, dtype="u2").reshape(64, 128),
            chunks=(8, 8),
            shards=(32, 32),
        )
    return path.read_bytes()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--archives", type=int, default=20)
    parser.add_argument("--chunks", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=32)
    parser.add_argument("--server", choices=["moto", "seaweedfs"], default="moto")
    args = parser.parse_args(argv)

    import icechunk
    import zarr

    from remote_zip_store.hierarchy._frontend import open_archive
    from remote_zip_store.testing.servers import moto_server, seaweedfs_server
    from remote_zip_store.verbs._refs import icechunk_credentials, kerchunk_refs, to_icechunk

    server_cm = moto_server() if args.server == "moto" else seaweedfs_server()
    with server_cm as server, tempfile.TemporaryDirectory() as tmp:
        data = build_archive(Path(tmp) / "a.zip", args.chunks)
        prefix_key = f"refs-bench/{uuid.uuid4().hex}/"
        client = server.client()
        urls = []
        for i in range(args.archives):
            key = f"{prefix_key}rec{i:05d}.zip"
            client.put_object(Bucket=server.bucket, Key=key, Body=data)
            urls.append(f"s3://{server.bucket}/{key}")
        kwargs: dict[str, Any] = server.store_kwargs()
        print(
            f"{args.archives} archives of {len(data)} bytes, {args.chunks + 4} entries each, "
            f"on {args.server}"
        )

        times, requests = [], []
        for url in urls:
            start = time.perf_counter()
            archive = open_archive(url, **kwargs)
            refs = kerchunk_refs(archive)
            times.append(time.perf_counter() - start)
            requests.append(archive.source.stats.requests)
            archive.close()
        median = statistics.median(times) * 1000
        print(
            f"kerchunk: {len(refs['refs'])} refs per archive; median {median:.1f} ms, "
            f"total {sum(times):.2f} s, requests per archive {statistics.median(requests)} "
            f"(open included)"
        )

        repo = Path(tmp) / "repo"
        start = time.perf_counter()
        result = to_icechunk(
            f"s3://{server.bucket}/{prefix_key}", repo, max_workers=args.workers, **kwargs
        )
        elapsed = time.perf_counter() - start
        print(
            f"icechunk: {len(result.groups)} groups, {result.chunks} virtual chunks in "
            f"{elapsed:.2f} s ({result.chunks / elapsed:.0f} refs/s)"
        )
        credentials = icechunk_credentials(urls[:1], **kwargs)
        start = time.perf_counter()
        repository = icechunk.Repository.open(
            icechunk.local_filesystem_storage(str(repo)),
            authorize_virtual_chunk_access=credentials,
        )
        group = zarr.open_group(repository.readonly_session("main").store, mode="r")
        first = sorted(group.group_keys())[0]
        total = group[f"{first}/signal"][:].sum() + group[f"{first}/sharded"][:].sum()
        print(
            f"read back one group through Icechunk: {time.perf_counter() - start:.2f} s "
            f"(checksum {total})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
