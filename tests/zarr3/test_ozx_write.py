"""Writing single-file OME-Zarr (``.ozx``, RFC-9): ``pack`` and ``RemoteZipStore(layout="ozx")``.

An OME-Zarr multiscale image made by ngff-zarr (``to_multiscales`` + ``to_ngff_zarr``
into a local directory, sharded) is packed into ``s3://.../x.ozx`` on moto and
SeaweedFS, checked with ``check`` (no failure, no warning), and read back equal with
this store, with zarr's ``ZipStore`` on the downloaded object, and with ngff-zarr's
``from_ngff_zarr`` (a local copy: it reads ``.ozx`` from local paths only). The
streaming path writes the same hierarchy through zarr 3 into the write store.
"""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("zarr", minversion="3.1")

import zarr
from zarr.core.buffer import default_buffer_prototype
from zarr.core.sync import sync
from zarr.storage import ZipStore

from remote_zip_store.errors import LayoutError
from remote_zip_store.testing.servers import S3Server
from remote_zip_store.verbs._check import Report, check
from remote_zip_store.verbs._pack import pack
from remote_zip_store.zarr3._store import RemoteZipStore

from .test_roundtrip import _same

BUF = default_buffer_prototype().buffer
#: The RFC-9 breadth-first order of the fixture's metadata (ngff-zarr's layout).
JSON_ORDER = [
    "zarr.json",
    "scale0/zarr.json",
    "scale1/zarr.json",
    "scale0/image/zarr.json",
    "scale1/image/zarr.json",
]


@pytest.fixture(scope="module")
def ngff(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    """(an OME-Zarr 0.5 directory written by ngff-zarr, its multiscales): 2 scales, sharded."""
    nz = pytest.importorskip("ngff_zarr")
    pixels = np.random.default_rng(7).integers(0, 65535, (64, 48), dtype="uint16")
    image = nz.to_ngff_image(pixels, dims=["y", "x"], scale={"y": 0.5, "x": 0.25})
    multiscales = nz.to_multiscales(image, scale_factors=[2], chunks=16)
    folder = tmp_path_factory.mktemp("ngff") / "img.ome.zarr"
    nz.to_ngff_zarr(str(folder), multiscales, version="0.5", chunks_per_shard=2)
    return folder, multiscales


def new_url(s3: S3Server) -> str:
    return f"s3://{s3.bucket}/ozx/{uuid.uuid4().hex}/x.ozx"


def download(s3: S3Server, url: str) -> bytes:
    body: bytes = s3.client().get_object(Bucket=s3.bucket, Key=url.split("/", 3)[3])["Body"].read()
    return body


def exists(s3: S3Server, url: str) -> bool:
    key = url.split("/", 3)[3]
    return bool(s3.client().list_objects_v2(Bucket=s3.bucket, Prefix=key).get("Contents"))


def warned(report: Report) -> set[str]:
    return {f.rule for f in report.warnings}


def copy_with_zarr(src: zarr.Group, store: Any) -> None:
    """The hierarchy written node by node through zarr 3 (groups, arrays with their codecs)."""
    out = zarr.create_group(store, attributes=src.attrs.asdict())
    for path, node in src.members(max_depth=None):
        if isinstance(node, zarr.Group):
            out.create_group(path, attributes=node.attrs.asdict())
        else:
            zarr.from_array(store, data=node, name=path)


def assert_reads_back_everywhere(
    s3: S3Server, url: str, folder: Path, multiscales: Any, tmp_path: Path
) -> None:
    """Equal to the source with this store, zarr's ZipStore and ngff-zarr's reader."""
    nz = pytest.importorskip("ngff_zarr")
    source = zarr.open_group(str(folder), mode="r")
    with RemoteZipStore(url, **s3.store_kwargs()) as ours:
        ome = ours.archive.ome
        assert ome is not None and ome.version == "0.5" and ome.json_first
        _same(zarr.open_group(ours, mode="r"), source)
    local = tmp_path / "downloaded.ozx"
    local.write_bytes(download(s3, url))
    theirs = ZipStore(local, mode="r")
    try:
        _same(zarr.open_group(theirs, mode="r"), source)
    finally:
        theirs.close()
    back = nz.from_ngff_zarr(str(local))
    assert len(back.images) == len(multiscales.images) == 2
    for got, want in zip(back.images, multiscales.images, strict=True):
        np.testing.assert_array_equal(np.asarray(got.data), np.asarray(want.data))
        assert list(got.dims) == list(want.dims) and got.scale == want.scale

    def axes(m: Any) -> list[tuple[Any, ...]]:
        return [(a.name, a.type, a.unit) for a in m.metadata.axes]

    assert axes(back) == axes(multiscales)


def test_pack_ngff_zarr_into_s3_ozx_and_read_back(
    s3: S3Server, ngff: tuple[Path, Any], tmp_path: Path
) -> None:
    folder, multiscales = ngff
    url = new_url(s3)
    result = pack(folder, url, **s3.store_kwargs())  # .ozx: the layout by the extension
    report = check(url, deep=True, **s3.store_kwargs())
    assert report.ok and report.ozx, report.failed
    assert warned(report) == set(), report.warnings  # every RFC-9 SHOULD is met
    body = download(s3, url)
    with zipfile.ZipFile(io.BytesIO(body)) as zf:
        infos = zf.infolist()
        assert len(infos) == result.entries
        assert [i.filename for i in infos[:5]] == JSON_ORDER  # the central directory
        in_file = sorted(infos, key=lambda i: i.header_offset)
        assert [i.filename for i in in_file[:5]] == JSON_ORDER  # the file
        assert json.loads(zf.comment)["ome"]["version"] == "0.5"
    # the open's head GET holds every zarr.json: walking the hierarchy costs nothing more
    with RemoteZipStore(url, **s3.store_kwargs()) as store:
        opened = store.archive.source.stats.snapshot()
        group = zarr.open_group(store, mode="r")
        assert sorted(p for p, _ in group.members(max_depth=None))[-1] == "scale1/image"
        assert store.archive.source.stats.snapshot() == opened
    assert_reads_back_everywhere(s3, url, folder, multiscales, tmp_path)


def test_streaming_ozx_store_writes_the_ome_zarr_hierarchy(
    s3: S3Server, ngff: tuple[Path, Any], tmp_path: Path
) -> None:
    folder, multiscales = ngff
    url = new_url(s3)
    with RemoteZipStore(url, mode="w", layout="ozx", **s3.store_kwargs()) as store:
        copy_with_zarr(zarr.open_group(str(folder), mode="r"), store)
    report = check(url, deep=True, **s3.store_kwargs())
    assert report.ok and report.ozx, report.failed
    # the one departure: metadata is written last in the file (known only at close)
    assert warned(report) == {"rfc9-json-first"}
    (problem,) = report.finding("rfc9-json-first").entries  # a shard comes first in the file
    assert problem.startswith("file: first entry is 'scale0/image/c/"), problem
    with zipfile.ZipFile(io.BytesIO(download(s3, url))) as zf:
        infos = zf.infolist()
        assert [i.filename for i in infos[:5]] == JSON_ORDER
        assert {i.compress_type for i in infos} == {zipfile.ZIP_STORED}
        in_file = sorted(infos, key=lambda i: i.header_offset)
        assert [i.filename for i in in_file[-5:]] == JSON_ORDER  # beside the directory
    assert_reads_back_everywhere(s3, url, folder, multiscales, tmp_path)
    # packing the store's .ozx moves the zarr.json to the front of the file: no warning left
    repacked = new_url(s3)
    pack(url, repacked, **s3.store_kwargs())
    again = check(repacked, deep=True, **s3.store_kwargs())
    assert again.ok and warned(again) == set(), again.warnings


def test_layout_is_chosen_by_the_name(tmp_path: Path) -> None:
    def write(path: Path, **kw: Any) -> Report:
        with RemoteZipStore(str(path), mode="w", **kw) as store:
            group = zarr.create_group(store, attributes={"ome": {"version": "0.5"}})
            group.create_array("a", shape=(4,), chunks=(2,), shards=(4,), dtype="u1")[:] = 3
        return check(str(path), deep=True)

    by_name = write(tmp_path / "n.ozx")
    assert by_name.ome is not None and warned(by_name) == {"rfc9-json-first"}
    plain = write(tmp_path / "p.ozx", layout="zip")  # an .ozx name, a plain zip
    assert plain.ome is None and {"rfc9-comment", "rfc9-zip64"} <= warned(plain)
    forced = write(tmp_path / "f.zip", layout="ozx")  # RFC-9 under another name
    assert forced.ok and forced.ome is not None and "rfc9-extension" in warned(forced)


def test_ozx_store_refuses_zarr_v2_and_a_missing_root(moto: S3Server) -> None:
    url = new_url(moto)
    kw = moto.store_kwargs()
    with (
        pytest.raises(LayoutError, match="zarr v2 metadata"),
        RemoteZipStore(url, mode="w", **kw) as store,
    ):
        zarr.create_group(store, zarr_format=2)
    group = b'{"zarr_format": 3, "node_type": "group", "attributes": {}}'
    with (
        pytest.raises(LayoutError, match=r"no zarr\.json at the archive root"),
        RemoteZipStore(url, mode="w", **kw) as store,
    ):
        sync(store.set("sub/zarr.json", BUF.from_bytes(group)))
        sync(store.set("sub/data", BUF.from_bytes(b"x")))  # streamed, then aborted
    with (
        pytest.raises(LayoutError, match="not a zarr v3 document") as caught,
        RemoteZipStore(url, mode="w", **kw) as store,
    ):
        sync(store.set("zarr.json", BUF.from_bytes(b'{"zarr_format": 2}')))
    assert caught.value.key == "zarr.json" and url in str(caught.value)
    with pytest.raises(LayoutError, match="no zip-level compression"):
        RemoteZipStore(url, mode="w", compress=True, **kw)
    assert not exists(moto, url)
