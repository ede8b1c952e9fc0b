"""``pack``: repack a hierarchy into the metadata-last layout; the CLI runs as a real process.

The open cost is counted by the source itself (``source.stats``): deterministic
request counts, asserted here; timings live in benchmarks/write.py.
"""

from __future__ import annotations

import io
import re
import subprocess
import uuid
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr

from remote_zip_store import BadArchiveError, RemoteZipStore
from remote_zip_store.hierarchy.names import is_metadata
from remote_zip_store.testing.servers import S3Server
from remote_zip_store.verbs.pack import open_cost, pack

from .test_cli import command, env_for, run_on_a_terminal
from .zarr_trees import (
    assert_same_hierarchy,
    rich_tree,
    write_rewritten_chunk_zip,
    write_zip,
)


def wide_tree(root: Any) -> None:
    """~2.3 MB in 9 arrays: far more than the reader's 512 KiB tail, metadata spread out."""
    rng = np.random.default_rng(3)
    root.attrs["kind"] = "wide"
    for i in range(9):
        group = root.create_group(f"g{i}")
        group.attrs["i"] = i
        arr = group.create_dataset(
            "x", shape=(32_000,), chunks=(8_000,), dtype="f8", compressor=None
        )
        arr[:] = rng.standard_normal(32_000)
        arr.attrs["unit"] = "uV"


@pytest.fixture(scope="module")
def wide_zip(tmp_path_factory: pytest.TempPathFactory) -> str:
    return write_zip(tmp_path_factory.mktemp("pack") / "wide.zip", wide_tree)


def new_url(s3: S3Server) -> str:
    return f"s3://{s3.bucket}/p/{uuid.uuid4().hex}.zip"


def requests_to_open_and_walk(url: str, s3: S3Server, **read: Any) -> tuple[int, int]:
    """(requests to open, requests after the open for every metadata key, as stores read)."""
    cost = open_cost(url, **read, **s3.store_kwargs())
    return cost.open_requests, cost.after_open_requests


def test_tree_of_a_packed_archive_makes_no_request_after_the_open(
    moto: S3Server, wide_zip: str
) -> None:
    dst = new_url(moto)
    pack(moto.put_file(wide_zip), dst, **moto.store_kwargs())
    with RemoteZipStore(dst, **moto.store_kwargs()) as store:
        opened = store.archive.source.stats.requests
        str(zarr.open_group(store, mode="r").tree())
        assert store.archive.source.stats.requests == opened


def test_packed_archive_opens_and_reads_all_metadata_in_one_request(
    moto: S3Server, wide_zip: str
) -> None:
    src = moto.put_file(wide_zip)
    dst = new_url(moto)
    result = pack(src, dst, **moto.store_kwargs())
    assert result.entries == len(zipfile.ZipFile(wide_zip).namelist())
    # Without the head GET, the single suffix GET of the open is everything.
    assert requests_to_open_and_walk(dst, moto, head_size=0) == (1, 0)
    # With the defaults (tail + head GETs in one round trip): still nothing after the open.
    assert requests_to_open_and_walk(dst, moto)[1] == 0
    # ZipStore's layout needs range GETs for the metadata beside each array's chunks.
    assert requests_to_open_and_walk(src, moto, head_size=0)[1] > 0
    before, after = open_cost(src, **moto.store_kwargs()), open_cost(dst, **moto.store_kwargs())
    assert after.metadata_keys == before.metadata_keys == 38
    assert after.requests < before.requests
    with RemoteZipStore(dst, **moto.store_kwargs()) as ours, zarr.ZipStore(wide_zip) as ref:
        assert_same_hierarchy(zarr.open_group(ours, mode="r"), zarr.open_group(ref, mode="r"))


def test_pack_drops_duplicates_keeping_the_newest(tmp_path: Path) -> None:
    src = write_rewritten_chunk_zip(tmp_path / "dup.zip")
    dst = tmp_path / "packed.zip"
    result = pack(src, dst)
    with zipfile.ZipFile(src) as zf:
        newest = {info.filename: zf.read(info) for info in zf.infolist()}
    with zipfile.ZipFile(dst) as zf:
        assert zf.testzip() is None
        names = zf.namelist()
        assert len(names) == len(set(names)) == len(newest) == result.entries
        assert {name: zf.read(name) for name in names} == newest
    assert result.records_dropped > 0


def test_pack_a_directory(tmp_path: Path) -> None:
    directory = tmp_path / "rec.zarr"
    rich_tree(zarr.open_group(str(directory), mode="w"))
    dst = tmp_path / "rec.zip"
    pack(directory, dst)
    with zipfile.ZipFile(dst) as zf:
        names = zf.namelist()
    kinds = [is_metadata(name) for name in names]
    assert kinds == sorted(kinds) and any(kinds)
    with RemoteZipStore(dst) as ours:
        ref = zarr.open_group(str(directory), mode="r")
        assert_same_hierarchy(zarr.open_group(ours, mode="r"), ref)


def test_pack_failure_leaves_nothing(moto: S3Server, tmp_path: Path) -> None:
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"not a zip at all" * 100)
    dst = new_url(moto)
    with pytest.raises(BadArchiveError, match=r"bad\.zip: not a zip archive"):
        pack(bad, dst, **moto.store_kwargs())
    key = dst.split("/", 3)[3]
    assert not moto.client().list_objects_v2(Bucket=moto.bucket, Prefix=key).get("Contents")


def run_pack(s3: S3Server, *args: str) -> subprocess.CompletedProcess[bytes]:
    argv = [*command(), "pack", *args, "--endpoint-url", s3.endpoint_url]
    return subprocess.run(argv, capture_output=True, env=env_for(s3), timeout=300)


def test_cli_pack_s3_to_s3_prints_the_open_cost(moto: S3Server, wide_zip: str) -> None:
    src = moto.put_file(wide_zip)
    dst = new_url(moto)
    done = run_pack(moto, src, dst)
    assert done.returncode == 0, done.stderr.decode()
    out = done.stdout.decode()
    assert f"-> {dst}" in out
    before, after = open_cost(src, **moto.store_kwargs()), open_cost(dst, **moto.store_kwargs())
    for label, cost in (("before", before), ("after", after)):
        line = f"{label}: open + 38 metadata keys = {cost.requests} requests, {cost.bytes} bytes"
        assert line in out
    assert done.stderr == b""  # not a terminal: no progress bar
    body = moto.client().get_object(Bucket=moto.bucket, Key=dst.split("/", 3)[3])["Body"].read()
    with zipfile.ZipFile(io.BytesIO(body)) as zf:
        assert zf.testzip() is None


def test_cli_pack_local_directory_and_no_overwrite(moto: S3Server, tmp_path: Path) -> None:
    directory = tmp_path / "d.zarr"
    rich_tree(zarr.open_group(str(directory), mode="w"))
    dst = tmp_path / "out.zip"
    done = run_pack(moto, str(directory), str(dst))
    assert done.returncode == 0, done.stderr.decode()
    assert re.search(r"^after: open \+ \d+ metadata keys = 1 requests", done.stdout.decode(), re.M)
    assert "before:" not in done.stdout.decode()  # a directory has no open cost
    again = run_pack(moto, str(directory), str(dst), "--no-overwrite")
    assert again.returncode == 1
    assert str(dst) in again.stderr.decode()
    bad = run_pack(moto, str(directory), str(dst), "--part-size", "0")
    assert bad.returncode == 2


def test_cli_pack_progress_bar_on_a_terminal(moto: S3Server, wide_zip: str, tmp_path: Path) -> None:
    """stderr on a pty: the bar counts every entry; stdout stays clean."""
    argv = [*command(), "pack", wide_zip, str(tmp_path / "bar.zip")]
    returncode, terminal, stdout = run_on_a_terminal(argv, env_for(moto, TERM="xterm"))
    assert returncode == 0
    assert "\rpack [" in terminal and "] 74/74 " in terminal
    assert "\r" not in stdout
