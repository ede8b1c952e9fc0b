"""Peak memory of opening an archive, relative to its central directory size.

``max_directory_size`` bounds the directory a hostile archive can make the store
fetch; this measures what parsing a directory of that size costs (tracemalloc
peak during ``ZipArchive.open()`` over a local copy of the archive, the
fetched bytes included), so docs/reliability.md can state a budget.

Run: ``python benchmarks/directory_bound.py [--entries 100000]``.
"""

from __future__ import annotations

import argparse
import io
import os
import tempfile
import time
import tracemalloc
import zipfile

from remote_zip_store import ReadOptions, ZipArchive
from remote_zip_store.transport import LocalSource
from remote_zip_store.zipfmt._parse import locate_directory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=100_000)
    args = parser.parse_args()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for i in range(args.entries):
            z.writestr(f"data/{i // 100}.{i % 100}", b"")
    data = buf.getvalue()
    cd_size = locate_directory(data, len(data)).cd_size
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "bench.zip")
        with open(path, "wb") as f:
            f.write(data)
        del data, buf
        tracemalloc.start()
        started = time.perf_counter()
        archive = ZipArchive(LocalSource(path), ReadOptions()).open()
        elapsed = time.perf_counter() - started
        current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        archive.close()
    print(
        f"entries={len(archive.index)} directory={cd_size} B peak={peak} B "
        f"({peak / cd_size:.2f}x directory) retained={current} B ({current / cd_size:.2f}x) "
        f"open={elapsed:.2f} s (under tracemalloc)"
    )


if __name__ == "__main__":
    main()
