"""``pack``: repack a hierarchy into the metadata-last layout; the CLI runs as a real process.

The open cost is counted by the source itself (``source.stats``): deterministic
request counts, asserted here; timings live in benchmarks/write.py.
"""

from __future__ import annotations

import io
import json
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
from remote_zip_store.archive._writer import WriteOptions
from remote_zip_store.hierarchy._names import is_metadata
from remote_zip_store.testing.servers import S3Server
from remote_zip_store.verbs._pack import open_cost, pack

from .test_cli import command, env_for, run_on_a_terminal
from .worlds import create, directory_store, group, open_group, tree, zip_store
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
        arr = create(group, "x", shape=(32_000,), chunks=(8_000,), dtype="f8", compressor=None)
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
        tree(open_group(store))
        assert store.archive.source.stats.requests == opened


def test_packed_archive_opens_and_reads_all_metadata_in_one_request(
    moto: S3Server, wide_zip: str
) -> None:
    src = moto.put_file(wide_zip)
    dst = new_url(moto)
    result = pack(src, dst, **moto.store_kwargs())
    assert result.entries == len(set(zipfile.ZipFile(wide_zip).namelist()))  # zarr 3 rewrites
    # Without the head GET, the single suffix GET of the open is everything.
    assert requests_to_open_and_walk(dst, moto, head_size=0) == (1, 0)
    # With the defaults (tail + head GETs in one round trip): still nothing after the open.
    assert requests_to_open_and_walk(dst, moto)[1] == 0
    # ZipStore's layout needs range GETs for the metadata beside each array's chunks.
    assert requests_to_open_and_walk(src, moto, head_size=0)[1] > 0
    before, after = open_cost(src, **moto.store_kwargs()), open_cost(dst, **moto.store_kwargs())
    assert after.metadata_keys == before.metadata_keys == 38
    assert after.requests < before.requests
    with RemoteZipStore(dst, **moto.store_kwargs()) as ours, zip_store(wide_zip) as ref:
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
    rich_tree(group(directory_store(directory, mode="w")))
    dst = tmp_path / "rec.zip"
    pack(directory, dst)
    with zipfile.ZipFile(dst) as zf:
        names = zf.namelist()
    kinds = [is_metadata(name) for name in names]
    assert kinds == sorted(kinds) and any(kinds)
    with RemoteZipStore(dst) as ours:
        ref = open_group(directory_store(directory))
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
    rich_tree(group(directory_store(directory, mode="w")))
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


# -- .ozx (OME-Zarr RFC-9): pack needs no zarr, so a hand-built v3 hierarchy runs here -----------
def v3_tree() -> dict[str, bytes]:
    """Two branches: a directory walk is depth-first, RFC-9's order breadth-first."""
    from .test_check import v3_array, v3_group

    root = json.dumps(
        {"zarr_format": 3, "node_type": "group", "attributes": {"ome": {"version": "0.6"}}}
    ).encode()
    return {
        "zarr.json": root,
        "a/zarr.json": v3_group(),
        "a/0/zarr.json": v3_array([4], [2]),
        "a/0/c/0": b"\x01\x02",
        "a/0/c/1": b"\x03\x04",
        "b/zarr.json": v3_group(),
        "b/0/zarr.json": v3_array([2], [2]),
        "b/0/c/0": b"\x05\x06",
    }


RFC9_ORDER = [
    "zarr.json",
    "a/zarr.json",
    "b/zarr.json",
    "a/0/zarr.json",
    "b/0/zarr.json",
    "a/0/c/0",
    "a/0/c/1",
    "b/0/c/0",
]


def write_tree(folder: Path, entries: dict[str, bytes]) -> Path:
    for name, data in entries.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    return folder


def assert_packed_ozx(body: bytes, url: str, entries: dict[str, bytes], **read: Any) -> None:
    """zarr.json first in the directory and the file; stored; ZIP64; comment; check is clean."""
    from remote_zip_store.verbs._check import check

    with zipfile.ZipFile(io.BytesIO(body)) as zf:
        assert zf.testzip() is None
        infos = zf.infolist()
        assert [i.filename for i in infos] == RFC9_ORDER  # the central directory
        by_offset = sorted(infos, key=lambda i: i.header_offset)
        assert [i.filename for i in by_offset] == RFC9_ORDER  # the file
        assert {i.compress_type for i in infos} == {zipfile.ZIP_STORED}
        assert {i.filename: zf.read(i) for i in infos} == entries
        assert json.loads(zf.comment) == {
            "ome": {"version": "0.6", "zipFile": {"centralDirectory": {"jsonFirst": True}}}
        }
    assert b"PK\x06\x06" in body[-200:] and b"PK\x06\x07" in body[-200:]  # ZIP64 end pair
    report = check(url, deep=True, **read)
    assert report.ok and report.ozx, report.failed
    assert [f.rule for f in report.warnings] == [], report.warnings


def test_pack_a_v3_directory_into_an_ozx(moto: S3Server, tmp_path: Path) -> None:
    entries = v3_tree()
    src = write_tree(tmp_path / "img.zarr", entries)
    local = tmp_path / "img.ozx"
    result = pack(src, local)  # chosen by the extension
    assert result.entries == len(entries)
    assert_packed_ozx(local.read_bytes(), str(local), entries)
    url = f"s3://{moto.bucket}/p/{uuid.uuid4().hex}.ozx"
    pack(src, url, **moto.store_kwargs())
    body = moto.client().get_object(Bucket=moto.bucket, Key=url.split("/", 3)[3])["Body"].read()
    assert_packed_ozx(body, url, entries, **moto.store_kwargs())


def test_pack_a_zip_with_a_root_folder_into_an_ozx(moto: S3Server, tmp_path: Path) -> None:
    """``zip -r x.zip img.zarr`` keeps a folder; the .ozx's root is the hierarchy's."""
    entries = v3_tree()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        # chunks first, metadata after them in reverse: the chunks keep their order
        for name in RFC9_ORDER[5:] + RFC9_ORDER[4::-1]:
            zf.writestr(f"img.zarr/{name}", entries[name])
    src = moto.put(buf.getvalue())
    dst = tmp_path / "img.zip"
    pack(src, dst, layout="ozx", **moto.store_kwargs())  # the layout, whatever the name
    data = dst.read_bytes()
    with zipfile.ZipFile(dst) as zf:
        assert zf.namelist() == RFC9_ORDER
    renamed = tmp_path / "img.ozx"
    renamed.write_bytes(data)
    assert_packed_ozx(data, str(renamed), entries)


def test_pack_refuses_what_an_ozx_cannot_hold(moto: S3Server, tmp_path: Path) -> None:
    from remote_zip_store.errors import LayoutError

    v2 = tmp_path / "v2.zarr"
    rich_tree(group(directory_store(v2, mode="w")))
    rootless = write_tree(  # an array below the root, no zarr.json at the root
        tmp_path / "rootless", {k[2:]: v for k, v in v3_tree().items() if k.startswith("a/0/")}
    )
    v3 = write_tree(tmp_path / "v3", v3_tree())
    url = f"s3://{moto.bucket}/p/{uuid.uuid4().hex}.ozx"
    with pytest.raises(LayoutError, match="zarr v2 metadata"):
        pack(v2, url, **moto.store_kwargs())
    with pytest.raises(LayoutError, match=r"no zarr\.json at the hierarchy's root"):
        pack(rootless, url, **moto.store_kwargs())
    with pytest.raises(LayoutError, match="no zip-level compression"):
        pack(v3, url, write=WriteOptions(compress=True), **moto.store_kwargs())
    bad_root = v3_tree()
    bad_root["zarr.json"] = b'{"zarr_format": 2}'
    with pytest.raises(LayoutError, match="not a zarr v3 document"):
        pack(write_tree(tmp_path / "bad", bad_root), url, **moto.store_kwargs())
    key = url.split("/", 3)[3]
    assert not moto.client().list_objects_v2(Bucket=moto.bucket, Prefix=key).get("Contents")


def test_cli_pack_ozx_by_extension_or_flag(moto: S3Server, tmp_path: Path) -> None:
    entries = v3_tree()
    src = write_tree(tmp_path / "img.zarr", entries)
    for dst, flags in ((tmp_path / "a.ozx", ()), (tmp_path / "b.zip", ("--ozx",))):
        done = run_pack(moto, str(src), str(dst), *flags)
        assert done.returncode == 0, done.stderr.decode()
        with zipfile.ZipFile(dst) as zf:
            assert zf.namelist() == RFC9_ORDER and zf.comment.startswith(b'{"ome"')
    v2 = tmp_path / "v2.zarr"
    rich_tree(group(directory_store(v2, mode="w")))
    refused = run_pack(moto, str(v2), str(tmp_path / "v2.ozx"))
    assert refused.returncode == 1
    assert "zarr v2 metadata" in refused.stderr.decode()
    assert not (tmp_path / "v2.ozx").exists()
    deflated = run_pack(moto, str(src), str(tmp_path / "d.ozx"), "--deflate")
    assert deflated.returncode == 1 and "no zip-level compression" in deflated.stderr.decode()


def test_pack_writes_chunks_in_key_order(tmp_path: Path) -> None:
    """zarr reads an array's chunks in key order (c/9 before c/10); pack writes them so,
    from a directory (a sorted walk gave 0, 1, 10, 100 ...) and from a zip in any order,
    so that a whole-array read is a scan read-ahead follows (issue 19)."""
    keys = [f"a/c/{i}/{j}" for i in range(12) for j in range(3)] + [f"b/{i}" for i in range(12)]
    src = tmp_path / "src.zarr"
    for key in [*keys, "a/zarr.json", "b/.zarray"]:
        (src / key).parent.mkdir(parents=True, exist_ok=True)
        (src / key).write_bytes(key.encode())
    shuffled = tmp_path / "src.zip"
    with zipfile.ZipFile(shuffled, "w") as zf:
        for key in sorted(keys, reverse=True):
            zf.writestr(key, key.encode())
    for source in (src, shuffled):
        out = tmp_path / f"out-{source.name}.zip"
        pack(source, out)
        with zipfile.ZipFile(out) as zf:
            infos = sorted(zf.infolist(), key=lambda i: i.header_offset)
            chunks = [i.filename for i in infos if not is_metadata(i.filename)]
            assert chunks == keys  # c/2/0 after c/1/2, b/2 after b/1: not c/10/0, b/10
            assert all(zf.read(name) == name.encode() for name in chunks)
