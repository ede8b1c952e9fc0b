"""References into zips under zarr 3: kerchunk JSON read through fsspec (formats 2 and 3,
sharded), and Icechunk repositories of virtual chunks checked against each archive's ETag
(a replaced archive is refused on read, never served as other bytes)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("zarr", minversion="3.1")
pytest.importorskip("fsspec")
pytest.importorskip("icechunk")

import fsspec
import icechunk
import zarr
from zarr.storage import FsspecStore

from remote_zip_store.cli import main
from remote_zip_store.errors import UnsupportedArchiveError
from remote_zip_store.testing.servers import S3Server
from remote_zip_store.verbs._refs import icechunk_credentials, kerchunk_refs, to_icechunk
from remote_zip_store.zarr3._store import RemoteZipStore

from .helpers import write_hierarchy


def _build(group: Any) -> None:
    fmt = group.metadata.zarr_format
    group.attrs["title"] = "rec"
    raw = group.create_array(
        "signals/raw", shape=(1000,), chunks=(100,), dtype="int16", compressors=None
    )
    raw[:] = np.arange(1000, dtype="int16")
    f = group.create_array("f", shape=(30, 40), chunks=(7, 9), dtype="float64")
    f[:] = np.random.default_rng(1).normal(size=(30, 40))  # zarr's default codec: zstd
    if fmt == 3:
        sh = group.create_array(
            "sharded", shape=(64, 64), chunks=(8, 8), shards=(32, 32), dtype="uint16"
        )
        sh[:] = np.arange(64 * 64, dtype="uint16").reshape(64, 64)
        partial = group.create_array("partial", shape=(40,), chunks=(10,), dtype="u1")
        partial[:15] = 7  # chunks 2 and 3 never written


def _same(ours: Any, oracle: Any) -> None:
    assert dict(ours.attrs) == dict(oracle.attrs)
    ours_members = dict(ours.members(max_depth=None))
    oracle_members = dict(oracle.members(max_depth=None))
    assert sorted(ours_members) == sorted(oracle_members)
    for path, node in oracle_members.items():
        assert dict(ours_members[path].attrs) == dict(node.attrs)
        if isinstance(node, zarr.Array):
            np.testing.assert_array_equal(ours_members[path][...], node[...])


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_kerchunk_refs_read_back_through_fsspec(tmp_path: Path, zarr_format: int) -> None:
    path = tmp_path / "a.zip"
    write_hierarchy(path, _build, zarr_format=zarr_format)
    refs = kerchunk_refs(path)
    table = refs["refs"]
    if zarr_format == 3:
        assert isinstance(table["zarr.json"], str)
        assert table["sharded/c/0/0"][0] == str(path)  # one shard, one reference
        assert "partial/c/3" not in table
    else:
        assert isinstance(table[".zgroup"], str) and "signals/raw/0" in table
    fs = fsspec.filesystem("reference", fo=json.loads(json.dumps(refs)), asynchronous=True)
    ours = zarr.open_group(FsspecStore(fs, read_only=True, path=""), mode="r")
    _same(ours, zarr.open_group(RemoteZipStore(path), mode="r"))


def _repo(path: Path | str, credentials: dict[str, Any]) -> Any:
    repo = icechunk.Repository.open(
        icechunk.local_filesystem_storage(str(path)), authorize_virtual_chunk_access=credentials
    )
    return zarr.open_group(repo.readonly_session("main").store, mode="r")


def _replace(s3: S3Server, url: str, data: bytes) -> None:
    """Put other bytes at ``url``: same length, same layout, one chunk's values changed."""
    original = np.arange(1000, dtype="int16").tobytes()[:200]
    changed = np.full(100, -1, dtype="int16").tobytes()
    assert data.count(original) == 1
    s3.put(data.replace(original, changed), url.split("/", 3)[3])


def test_icechunk_cohort_round_trip_and_replaced_archive_refused(
    tmp_path: Path, s3: S3Server
) -> None:
    data = write_hierarchy(tmp_path / "a.zip", _build, zarr_format=3)
    prefix = f"s3://{s3.bucket}/ic-{s3.name}-{os.getpid()}-{tmp_path.name}/"
    bucket_key = prefix[len(f"s3://{s3.bucket}/") :]
    urls = [s3.put(data, f"{bucket_key}rec{i}.zip") for i in range(3)]
    s3.put(b"not an archive", f"{bucket_key}notes.txt")  # not listed: not a .zip
    result = to_icechunk(prefix, tmp_path / "repo", **s3.store_kwargs())
    assert result.groups == {url: f"rec{i}" for i, url in enumerate(urls)}
    assert result.inlined == 0 and result.chunks > 0
    credentials = icechunk_credentials(urls, **s3.store_kwargs())
    cohort = _repo(tmp_path / "repo", credentials)
    assert sorted(cohort.group_keys()) == ["rec0", "rec1", "rec2"]
    for i, url in enumerate(urls):
        _same(
            cohort[f"rec{i}"], zarr.open_group(RemoteZipStore(url, **s3.store_kwargs()), mode="r")
        )
    # The archive replaced after the export (at once: no clock involved, the ETag decides).
    _replace(s3, urls[1], data)
    again = _repo(tmp_path / "repo", credentials)
    np.testing.assert_array_equal(again["rec0/signals/raw"][:100], np.arange(100))
    with pytest.raises(icechunk.IcechunkError, match="checksum of the object"):
        again["rec1/signals/raw"][:100]


def test_icechunk_converts_format_2_metadata_and_keeps_the_chunk_keys(
    tmp_path: Path, moto: S3Server
) -> None:
    def build(group: Any) -> None:
        _build(group)
        group["f"].attrs["_ARRAY_DIMENSIONS"] = ["time", "channel"]
        fortran = group.create_array("fortran", shape=(6, 5), chunks=(4, 4), dtype="i4", order="F")
        fortran[:] = np.arange(30, dtype="i4").reshape(6, 5)

    data = write_hierarchy(tmp_path / "v2.zip", build, zarr_format=2, consolidated=True)
    url = moto.put(data, f"v2-{tmp_path.name}/v2.zip")
    result = to_icechunk(url, tmp_path / "repo", **moto.store_kwargs())
    assert result.inlined == 0 and result.chunks > 0
    ours = _repo(tmp_path / "repo", icechunk_credentials([url], **moto.store_kwargs()))
    assert ours.metadata.zarr_format == 3
    assert ours["f"].metadata.dimension_names == ("time", "channel")
    assert "_ARRAY_DIMENSIONS" not in ours["f"].attrs
    oracle = zarr.open_group(RemoteZipStore(url, **moto.store_kwargs()), mode="r")
    for path in ("signals/raw", "f", "fortran"):
        np.testing.assert_array_equal(ours[path][...], oracle[path][...])
    assert dict(ours.attrs) == dict(oracle.attrs)


def test_icechunk_local_archive_and_a_later_replacement(tmp_path: Path) -> None:
    path = tmp_path / "one.zip"
    data = write_hierarchy(path, _build, zarr_format=3)
    result = to_icechunk(path, tmp_path / "repo", inline_threshold=100)
    assert result.groups == {str(path): ""} and result.inlined > 0  # small chunks inlined
    credentials = icechunk_credentials([str(path)])
    _same(_repo(tmp_path / "repo", credentials), zarr.open_group(RemoteZipStore(path), mode="r"))
    path.write_bytes(data)  # a file's version is its mtime: make the change a later one
    later = os.stat(path).st_mtime + 10
    os.utime(path, (later, later))
    with pytest.raises(icechunk.IcechunkError, match="checksum of the object"):
        _repo(tmp_path / "repo", credentials)["sharded"][:]


def test_compressed_entries_are_inlined_into_icechunk_or_refused(tmp_path: Path) -> None:
    import zipfile

    src = tmp_path / "src.zip"
    write_hierarchy(src, _build, zarr_format=3)
    deflated = tmp_path / "deflated.zip"
    with zipfile.ZipFile(src) as a, zipfile.ZipFile(deflated, "w", zipfile.ZIP_DEFLATED) as b:
        for info in a.infolist():
            b.writestr(info.filename, a.read(info))
    with pytest.raises(UnsupportedArchiveError, match="cannot be byte-range references"):
        to_icechunk(deflated, tmp_path / "repo")
    result = to_icechunk(deflated, tmp_path / "repo2", inline_threshold=1 << 20)
    assert result.chunks == 0
    credentials = icechunk_credentials([str(deflated)])
    _same(_repo(tmp_path / "repo2", credentials), zarr.open_group(RemoteZipStore(src), mode="r"))


def test_cli_icechunk(tmp_path: Path, moto: S3Server, capsys: pytest.CaptureFixture[str]) -> None:
    data = write_hierarchy(tmp_path / "a.zip", _build, zarr_format=3)
    url = moto.put(data, f"cli-{tmp_path.name}/x.zip")
    args = [
        "--endpoint-url",
        moto.endpoint_url,
        "--aws-access-key-id",
        moto.access_key,
        "--aws-secret-access-key",
        moto.secret_key,
        "--region",
        moto.region,
    ]
    repo = tmp_path / "repo"
    assert main(["refs", url, "--icechunk", str(repo), *args]) == 0
    assert "1 archive(s)" in capsys.readouterr().out
    credentials = icechunk_credentials([url], **moto.store_kwargs())
    _same(
        _repo(repo, credentials),
        zarr.open_group(RemoteZipStore(url, **moto.store_kwargs()), mode="r"),
    )
    assert main(["refs", url, "-o", str(tmp_path / "r.json"), "--icechunk", str(repo)]) == 2
    assert main(["refs", f"s3://{moto.bucket}/cli-{tmp_path.name}/", *args]) == 2
    assert "needs --icechunk" in capsys.readouterr().err


def test_icechunk_rewrites_other_chunk_key_encodings_and_leaves_strays_out(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import zipfile

    def build(group: Any) -> None:
        dotted = group.create_array(
            "dotted", shape=(6, 6), chunks=(4, 4), dtype="i2", chunk_key_encoding={"name": "v2"}
        )
        dotted[:] = np.arange(36, dtype="i2").reshape(6, 6)
        scalar = group.create_array("scalar", shape=(), dtype="f8")
        scalar[()] = 2.5

    path = tmp_path / "enc.zip"
    write_hierarchy(path, build, zarr_format=3)
    with zipfile.ZipFile(path, "a") as z:
        z.writestr("README.txt", "not zarr")
    assert "dotted/1.1" in kerchunk_refs(path)["refs"]  # kerchunk keeps the keys as they are
    with caplog.at_level("WARNING", logger="remote_zip_store"):
        result = to_icechunk(path, tmp_path / "repo", inline_threshold=8)
    assert result.skipped == 1 and "'README.txt'" in caplog.text
    ours = _repo(tmp_path / "repo", icechunk_credentials([str(path)]))
    assert ours["dotted"].metadata.chunk_key_encoding.to_dict()["name"] == "default"
    np.testing.assert_array_equal(ours["dotted"][:], np.arange(36).reshape(6, 6))
    assert ours["scalar"][()] == 2.5


def test_icechunk_of_an_empty_prefix_is_an_error(tmp_path: Path, moto: S3Server) -> None:
    from remote_zip_store.errors import ArchiveNotFoundError

    prefix = f"s3://{moto.bucket}/nothing-{tmp_path.name}/"
    with pytest.raises(ArchiveNotFoundError, match="no archives ending in"):
        to_icechunk(prefix, tmp_path / "repo", **moto.store_kwargs())
    assert not (tmp_path / "repo").exists()


def _recipe(containing: str) -> str:
    """The one ``python`` block of docs/recipes.md holding ``containing``."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "recipes.md").read_text()
    blocks = [b for b in re.findall(r"```python\n(.*?)```", text, re.DOTALL) if containing in b]
    assert len(blocks) == 1, f"expected one recipe block with {containing!r}"
    return blocks[0]


def test_recipe_a_cohort_through_icechunk_and_xarray(tmp_path: Path, s3: S3Server) -> None:
    """docs/recipes.md "Icechunk + xarray", run as written: only its three inputs (the
    prefix, the connection, the repository path) are this test's."""
    pytest.importorskip("xarray")
    from remote_zip_store.testing.sample import write_sample_archive

    code = _recipe("to_icechunk(cohort")
    inputs = re.compile(r"^(cohort|connection|path) = .*$", re.MULTILINE)
    assert len(inputs.findall(code)) == 3
    folder = f"recipe-ic-{s3.name}-{os.getpid()}-{tmp_path.name}/"
    urls = []
    for i in range(3):  # formats 2, 3, 2: the export converts format 2
        path = write_sample_archive(
            tmp_path / f"{i}.zip", seconds=150, seed=i, zarr_format=3 if i == 1 else 2
        )
        urls.append(s3.put(Path(path).read_bytes(), f"{folder}rec{i}.zip"))
    names: dict[str, Any] = {
        "cohort": f"s3://{s3.bucket}/{folder}",
        "connection": s3.store_kwargs(),
        "path": str(tmp_path / "cohort.icechunk"),
    }
    exec(inputs.sub("", code), names)
    assert names["groups"] == ["rec0", "rec1", "rec2"]
    ch03 = names["ch03"]
    assert ch03.dims == ("archive", "time") and ch03.shape == (3, 150 * 256)
    epoch = 30 * 256
    for i, url in enumerate(urls):
        oracle = zarr.open_group(RemoteZipStore(url, **s3.store_kwargs()), mode="r")
        expected = oracle["signals/ch03"][:]
        np.testing.assert_array_equal(ch03.isel(archive=i).values, expected)
        np.testing.assert_allclose(
            float(names["means"].isel(archive=i)), expected[2 * epoch : 4 * epoch].mean(), rtol=1e-5
        )


def test_the_icechunk_cohort_benchmark_runs(tmp_path: Path) -> None:
    """benchmarks/icechunk_cohort.py end to end on its own moto, tiny (no link): every
    contender reads the same values (the benchmark checks), the catalog opens with one GET."""
    from benchmarks import icechunk_cohort

    out = tmp_path / "r.json"
    argv = ["--server", "moto", "--archives", "3", "--seconds", "60", "--rtt-ms", "0"]
    assert icechunk_cohort.main([*argv, "--mbit", "0", "--json", str(out)]) == 0
    results = json.loads(out.read_text())
    runs = {run["contender"]: run for run in results["runs"]}
    assert set(runs) == {"store", "store+catalog", "icechunk"}
    assert results["export"]["chunks"] == 3 * 4 * 2  # 4 channels of two 30 s chunks each
    # the catalog's GET, then one GET per archive for its channel (2 chunks, coalesced)
    assert runs["store+catalog"]["requests"] == 1 + 3
