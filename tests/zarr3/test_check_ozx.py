"""``check`` and the RFC-9 comment on zarr-3 writers' archives (ngff-zarr, ZipStore, ours)."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("zarr", minversion="3.1")

import zarr

from remote_zip_store.testing.servers import S3Server
from remote_zip_store.verbs._check import Report, check
from remote_zip_store.zarr3._store import RemoteZipStore

from .helpers import write_hierarchy


def warned(report: Report) -> set[str]:
    return {f.rule for f in report.warnings}


@pytest.fixture(scope="module")
def ngff(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two .ozx files written by ngff-zarr: a small one and one larger than the open's GETs."""
    nz = pytest.importorskip("ngff_zarr")
    folder = tmp_path_factory.mktemp("ozx")
    rng = np.random.default_rng(0)
    out = {}
    for name, size, factors in (("small", 64, [2]), ("big", 1024, [2, 4, 8])):
        pixels = rng.integers(0, 65535, (size, size), dtype="uint16")
        image = nz.to_ngff_image(pixels, dims=["y", "x"])
        out[name] = folder / f"{name}.ozx"
        nz.to_ngff_zarr(
            str(out[name]), nz.to_multiscales(image, scale_factors=factors), version="0.5"
        )
    return out


def test_ngff_zarr_ozx_is_recognised_and_passes(ngff: dict[str, Path]) -> None:
    for path in ngff.values():
        report = check(str(path), deep=True)
        assert report.ozx and report.ome is not None
        assert report.ome.version == "0.5" and report.ome.json_first
        assert report.ok, report.failed
        assert warned(report) <= {"rfc9-zip64"}  # ngff-zarr 0.50 writes no ZIP64 end records
        assert report.finding("rfc9-json-first").status == "pass"
        assert report.finding("rfc9-sharding").status == "pass"
        assert report.finding("crc").status == "pass"


def walk(store: RemoteZipStore) -> list[str]:
    group = zarr.open_group(store, mode="r")
    return sorted(path for path, _ in group.members(max_depth=None))


def test_json_first_metadata_costs_nothing_after_the_open(
    moto: S3Server, ngff: dict[str, Path]
) -> None:
    url = moto.put_file(ngff["big"])
    with RemoteZipStore(url, **moto.store_kwargs()) as store:
        assert store.archive.ome is not None and store.archive.ome.json_first
        opened = store.archive.source.stats.snapshot()
        assert opened[0] == 2  # tail and head, one round trip
        assert "scale3/image" in walk(store)
        assert store.archive.source.stats.snapshot() == opened  # every zarr.json in the head


def _without_comment(data: bytes) -> bytes:
    eocd = data.rfind(b"PK\x05\x06")
    (length,) = struct.unpack_from("<H", data, eocd + 20)
    assert eocd + 22 + length == len(data)
    return data[: eocd + 20] + b"\0\0"


def test_json_first_makes_the_metadata_one_get_when_it_is_not_in_the_head(
    moto: S3Server, ngff: dict[str, Path]
) -> None:
    data = ngff["big"].read_bytes()
    costs = {}
    for label, body in (("declared", data), ("undeclared", _without_comment(data))):
        url = moto.put(body)
        with RemoteZipStore(url, head_size=0, **moto.store_kwargs()) as store:
            stats = store.archive.source.stats
            opened = stats.snapshot()[0]
            group = zarr.open_group(store, mode="r")
            assert group["scale0/image"].shape == (1024, 1024)
            assert zarr.open_array(store, path="scale2/image", mode="r").shape == (256, 256)
            costs[label] = stats.snapshot()[0] - opened
    # declared: the first miss reads every zarr.json in one coalesced GET
    assert costs == {"declared": 1, "undeclared": 2}, costs


def test_zarr3_zipstore_output_passes(tmp_path: Path) -> None:
    def build(group: Any) -> None:
        a = group.create_array("a", shape=(8, 8), chunks=(4, 4), dtype="int32", compressors=None)
        a[:] = 1
        group.create_group("g").attrs["x"] = 1

    write_hierarchy(tmp_path / "z.zip", build)
    report = check(str(tmp_path / "z.zip"), deep=True)
    assert report.ok, report.failed
    assert not report.ozx
    assert warned(report) <= {"duplicates"}


def test_our_zarr3_writer_output_passes_rfc9_must_rules(tmp_path: Path) -> None:
    path = tmp_path / "ours.ozx"
    with RemoteZipStore(str(path), mode="w", layout="zip") as store:  # the plain layout
        group = zarr.open_group(store, mode="w", zarr_format=3)
        a = group.create_array(
            "a", shape=(8, 8), chunks=(2, 2), shards=(4, 4), dtype="uint8", compressors=None
        )
        a[:] = 7
    report = check(str(path), deep=True)
    assert report.ok, report.failed
    for rule in ("rfc9-zarr-v3", "rfc9-root", "rfc9-stored", "rfc9-sharding", "stored-chunks"):
        assert report.finding(rule).status == "pass", report.finding(rule)
    # the plain layout puts metadata last (beside the directory) and writes no RFC-9 comment
    # (layout="ozx", the default for this name, is tests/zarr3/test_ozx_write.py)
    assert {"rfc9-json-first", "rfc9-comment"} <= warned(report)
