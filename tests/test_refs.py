"""Kerchunk references into a zip (``remote_zip_store.verbs._refs``), read back through fsspec's
ReferenceFileSystem and zarr 2: the same arrays as :class:`RemoteZipStore`, the data
offsets found with coalesced local-header reads."""

from __future__ import annotations

import base64
import io
import json
import random
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr

from remote_zip_store.cli import main
from remote_zip_store.errors import CorruptEntryError, UnsupportedArchiveError
from remote_zip_store.hierarchy._frontend import open_archive
from remote_zip_store.testing.servers import S3Server
from remote_zip_store.verbs._refs import MAX_LISTED, kerchunk_refs

from . import craft
from .archives import make_zarr_zip
from .worlds import ZARR3, RemoteZipStore, create, open_group

fsspec = pytest.importorskip("fsspec")


def _build(group: Any) -> None:
    group.attrs["title"] = "refs"
    create(
        group,
        "raw",
        data=np.arange(6000, dtype="f4").reshape(20, 300),
        chunks=(7, 64),
        compressor=None,
    )
    create(group, "sub/blosc", data=np.arange(1000, dtype="i8"), chunks=(99,))
    create(group, "sub/partial", shape=(50,), chunks=(10,), dtype="u2", fill_value=3)
    group["sub/partial"][:15] = 9  # chunks 2..4 never written: fill value


def _read_back(refs: dict[str, Any], **options: Any) -> Any:
    if ZARR3:  # zarr 3 reads an fsspec filesystem through its async FsspecStore
        from zarr.storage import FsspecStore

        fs = fsspec.filesystem("reference", fo=refs, asynchronous=True, **options)
        return zarr.open_group(FsspecStore(fs, read_only=True, path=""), mode="r")
    fs = fsspec.filesystem("reference", fo=refs, **options)
    return zarr.open_group(fs.get_mapper(""), mode="r")


def _assert_same(group: Any, store: RemoteZipStore) -> None:
    expected = open_group(store)
    assert dict(group.attrs) == dict(expected.attrs)
    for path in ("raw", "sub/blosc", "sub/partial"):
        np.testing.assert_array_equal(group[path][:], expected[path][:])


def test_format_2_round_trip_through_fsspec(tmp_path: Path) -> None:
    path = tmp_path / "a.zip"
    make_zarr_zip(path, _build)
    refs = kerchunk_refs(path)
    assert refs["version"] == 1
    table = refs["refs"]
    assert json.loads(table[".zattrs"]) == {"title": "refs"}  # metadata inlined as text
    assert isinstance(table["sub/blosc/.zarray"], str)
    ref = table["raw/0.0"]
    assert ref[0] == str(path) and ref[2] == 7 * 64 * 4
    with zipfile.ZipFile(path) as z:  # the range is exactly the entry's stored bytes
        assert path.read_bytes()[ref[1] : ref[1] + ref[2]] == z.read("raw/0.0")
    assert "sub/partial/3" not in table  # absent chunks stay absent
    assert json.loads(json.dumps(refs)) == refs  # plain JSON
    _assert_same(_read_back(refs), RemoteZipStore(path))


def test_keys_are_relative_to_a_detected_or_given_root(tmp_path: Path) -> None:
    inner = tmp_path / "inner.zip"
    make_zarr_zip(inner, _build)
    with zipfile.ZipFile(inner) as src, zipfile.ZipFile(tmp_path / "r.zip", "w") as dst:
        for info in src.infolist():  # as `zip -r r.zip data.zarr` lays it out
            dst.writestr("data.zarr/" + info.filename, src.read(info))
    detected = kerchunk_refs(tmp_path / "r.zip")["refs"]
    assert ".zgroup" in detected and "raw/0.0" in detected
    _assert_same(_read_back({"version": 1, "refs": detected}), RemoteZipStore(inner))
    sub = kerchunk_refs(tmp_path / "r.zip", root="data.zarr/sub")["refs"]
    assert set(sub) >= {".zgroup", "blosc/.zarray", "blosc/0"} and "raw/0.0" not in sub


def test_local_extra_longer_than_central_gives_the_true_offset(tmp_path: Path) -> None:
    # Info-ZIP and ZIP64 writers put extra fields in the local header only: the
    # directory cannot say where the data starts, the local header does.
    payload = random.Random(1).randbytes(5000)
    builder = craft.Builder()
    builder.add(b".zgroup", b'{"zarr_format": 2}')
    builder.add(b"x", payload, local_extra=b"\x55\x54\x05\x00\x01\x00\x00\x00\x00" * 3)
    path = tmp_path / "x.zip"
    path.write_bytes(builder.finish())
    _url, offset, length = kerchunk_refs(path)["refs"]["x"]
    assert path.read_bytes()[offset : offset + length] == payload


def _deflated(tmp_path: Path, count: int) -> Path:
    path = tmp_path / "d.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(".zgroup", '{"zarr_format": 2}')
        for i in range(count):
            z.writestr(f"k{i:02d}", bytes([i]) * (100 + i))
    return path


def test_compressed_entries_are_refused_naming_archive_and_keys(tmp_path: Path) -> None:
    path = _deflated(tmp_path, MAX_LISTED + 3)
    with pytest.raises(UnsupportedArchiveError) as caught:
        kerchunk_refs(path)
    message = str(caught.value)
    assert str(path) in message and "'k00' (deflate)" in message
    assert "and 3 more" in message and f"'k{MAX_LISTED:02d}'" not in message
    assert "inline_threshold=112" in message  # the size that would inline them all


def test_inline_threshold_inlines_decoded_entries_kerchunk_style(tmp_path: Path) -> None:
    path = _deflated(tmp_path, 3)
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as z:
        z.writestr("bin", b"\xff\xfe" * 50)
    table = kerchunk_refs(path, inline_threshold=200)["refs"]
    assert table["k01"] == "\x01" * 101  # UTF-8 text as is
    assert table["bin"] == "base64:" + base64.b64encode(b"\xff\xfe" * 50).decode()
    fs = fsspec.filesystem("reference", fo={"version": 1, "refs": table})
    assert fs.cat("bin") == b"\xff\xfe" * 50 and fs.cat("k02") == b"\x02" * 102


def _many_chunks(tmp_path: Path) -> Path:
    path = tmp_path / "many.zip"

    def build(group: Any) -> None:
        create(group, "a", data=np.arange(1_000_000, dtype="f4"), chunks=(1000,), compressor=None)

    make_zarr_zip(path, build)
    return path


def _with_local_extras(path: Path) -> Path:
    """``path`` rewritten with an extra field in every entry's headers (as Info-ZIP writes
    them): no span is tight any more, so every data start needs its local header."""
    out = path.with_name("extras.zip")
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            copy = zipfile.ZipInfo(info.filename, info.date_time)
            copy.extra = b"\xfe\xca\x04\x00" + b"pad!"  # an unknown id, 4 bytes
            target.writestr(copy, source.read(info))
    return out


def _check_refs(url: str, refs: dict[str, Any], moto: S3Server) -> None:
    """Each reference reads the stored bytes from S3 itself, equal to the store's."""
    client = moto.client()
    bucket, key = url[len("s3://") :].split("/", 1)
    store = RemoteZipStore(url, **moto.store_kwargs())
    for name in ("a/0", "a/1", "a/517", "a/998", "a/999"):
        where, offset, length = refs[name]
        assert where == url
        got = client.get_object(
            Bucket=bucket, Key=key, Range=f"bytes={offset}-{offset + length - 1}"
        )
        assert got["Body"].read() == store[name]


def test_a_thousand_chunks_need_no_header_reads_when_their_spans_are_tight(
    tmp_path: Path, moto: S3Server
) -> None:
    # zarr's ZipStore writes no extra fields and no data descriptors: every entry's span is
    # its header, name and data, so the directory alone places the data (the first and last
    # headers checked: here in the open's head and tail buffers).
    url = moto.put_file(_many_chunks(tmp_path))
    archive = open_archive(url, **moto.store_kwargs())
    stats = archive.source.stats
    stats.reset()
    refs = kerchunk_refs(archive)["refs"]
    chunks = [key for key in refs if key.startswith("a/") and not key.startswith("a/.z")]
    assert len(chunks) == 1000
    assert stats.requests == 0, stats
    _check_refs(url, refs, moto)
    archive.close()


def test_a_thousand_chunks_cost_a_few_coalesced_gets(tmp_path: Path, moto: S3Server) -> None:
    url = moto.put_file(_with_local_extras(_many_chunks(tmp_path)))
    archive = open_archive(url, **moto.store_kwargs())
    stats = archive.source.stats
    stats.reset()
    refs = kerchunk_refs(archive)["refs"]
    assert len([key for key in refs if key.startswith("a/") and "/." not in key]) == 1000
    # 4 MB of chunks: their local headers in 4 MiB coalesced GETs (the last ones in the
    # tail already read at open), not 1000 GETs.
    assert stats.requests == 1, stats
    _check_refs(url, refs, moto)
    archive.close()


def test_a_tight_entry_whose_header_claims_an_extra_field_is_refused_as_overlapping(
    tmp_path: Path, moto: S3Server
) -> None:
    path = _many_chunks(tmp_path)
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        first = z.getinfo("a/0")
    # The first chunk's local header claims a 4-byte extra field its span has no room for:
    # its data would run 4 bytes into the next entry's local header. The reader refuses it
    # (as CPython's zipfile does), and the probe of the first tight header finds it.
    assert data[first.header_offset : first.header_offset + 4] == b"PK\x03\x04"
    data[first.header_offset + 28 : first.header_offset + 30] = (4).to_bytes(2, "little")
    url = moto.put(bytes(data), f"overlap-{tmp_path.name}.zip")
    archive = open_archive(url, head_size=0, tail_size=1024, **moto.store_kwargs())
    names = [f"a/{i}" for i in range(1000)]
    with pytest.raises(CorruptEntryError, match="overlapping entries") as raised:
        archive.data_starts([archive.index.get(n) for n in names])
    assert raised.value.key == "a/0"
    chunk_rows = archive.index.rows()[[n in names for n in archive.index.names()]]
    with pytest.raises(CorruptEntryError, match="overlapping entries"):
        archive.data_starts_at(chunk_rows)
    with pytest.raises(CorruptEntryError, match="overlapping entries"):
        archive.read("a/0")
    assert archive.read("a/1") == np.arange(1000, 2000, dtype="f4").tobytes()
    archive.close()


def _crafted(chunks: list[tuple[bytes, bytes, bytes, bytes]]) -> bytes:
    """A zarr-2 hierarchy (``.zgroup``, array ``a`` of 4-byte ``u1`` chunks) whose chunk
    entries are ``(local name, central name, data, bytes after the data)``."""
    zarray = json.dumps(
        {
            "zarr_format": 2,
            "shape": [4 * len(chunks)],
            "chunks": [4],
            "dtype": "|u1",
            "compressor": None,
            "filters": None,
            "fill_value": 0,
            "order": "C",
        }
    ).encode()
    entries = [
        (b".zgroup", b".zgroup", b'{"zarr_format": 2}', b""),
        (b"a/.zarray", b"a/.zarray", zarray, b""),
        *chunks,
    ]
    out, records = b"", b""
    for local, central, data, after in entries:
        crc = zlib.crc32(data)
        sizes = {"crc": crc, "csize": len(data), "usize": len(data)}
        records += craft.central_header(central, offset=len(out), **sizes)
        out += craft.local_header(local, **sizes) + data + after
    end = craft.eocd(entries=len(entries), cd_size=len(records), cd_offset=len(out))
    return out + records + end


def test_a_local_name_shorter_than_the_central_one_is_no_tight_entry(
    tmp_path: Path, moto: S3Server
) -> None:
    # Chunk 5's central name is "a/5" then a NUL and 5 more bytes (names are cut at a NUL,
    # as CPython cuts them); its local name is "a/5" alone, and 5 bytes of padding follow
    # its data. The span is that of a local header named by the central name and no extra
    # field: the directory alone would place the data 5 bytes late (the padding in the
    # reference). Before: the reader served the data and the export referenced the wrong
    # bytes. Now the names' lengths must agree (as CPython's zipfile requires), such a
    # name is no tight entry, its header is read, and both refuse it.
    chunks = [(b"a/%d" % i, b"a/%d" % i, bytes([i]) * 4, b"") for i in range(10)]
    chunks[5] = (b"a/5", b"a/5\x00pad!", b"\x05" * 4, b"\xee" * 5)
    url = moto.put(_crafted(chunks), f"nul-{tmp_path.name}.zip")
    archive = open_archive(url, **moto.store_kwargs())
    entry = archive.index.get("a/5")
    assert entry is not None and entry.name_length == 8
    assert entry.span_end - entry.header_offset == 30 + 8 + 4  # what a tight entry spans
    with pytest.raises(CorruptEntryError, match="local header names") as raised:
        kerchunk_refs(archive)
    assert raised.value.key == "a/5"
    with pytest.raises(CorruptEntryError, match="local header names"):
        archive.read("a/5")
    assert archive.read("a/6") == b"\x06" * 4
    # without the crafted entry, every chunk is tight and referenced where the store reads
    chunks[5] = (b"a/5", b"a/5", b"\x05" * 4, b"")
    url = moto.put(_crafted(chunks), f"plain-{tmp_path.name}.zip")
    refs = kerchunk_refs(url, **moto.store_kwargs())["refs"]
    data = _crafted(chunks)
    for i in range(10):
        _, offset, length = refs[f"a/{i}"]
        assert data[offset : offset + length] == bytes([i]) * 4
    archive.close()


def test_data_starts_at_equals_data_starts(tmp_path: Path, moto: S3Server) -> None:
    plain = _many_chunks(tmp_path)
    for path in (plain, _with_local_extras(plain)):
        url = moto.put_file(path)
        archive = open_archive(url, **moto.store_kwargs())
        rows = archive.index.rows()
        names = archive.index.names()
        found = archive.data_starts([archive.index.get(n) for n in names])
        assert archive.data_starts_at(rows).tolist() == [found[n] for n in names]
        archive.close()


def test_header_reads_follow_the_coalescing_options(tmp_path: Path, moto: S3Server) -> None:
    url = moto.put_file(_with_local_extras(_many_chunks(tmp_path)))
    archive = open_archive(url, coalesce_max=1024 * 1024, **moto.store_kwargs())
    archive.source.stats.reset()
    kerchunk_refs(archive)
    assert archive.source.stats.requests == 4  # 3.5 MB before the tail, 1 MiB at a time
    archive.close()


def test_cli_writes_json_to_stdout_or_a_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "a.zip"
    make_zarr_zip(path, _build)
    assert main(["refs", str(path)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == kerchunk_refs(path)
    out = tmp_path / "refs.json"
    assert main(["refs", str(path), "-o", str(out)]) == 0
    assert json.loads(out.read_text()) == printed
    assert capsys.readouterr().out == ""


def test_cli_refuses_compressed_entries_unless_inlined(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _deflated(tmp_path, 2)
    assert main(["refs", str(path)]) == 1
    assert "cannot be byte-range references" in capsys.readouterr().err
    assert main(["refs", str(path), "--inline-threshold", "200"]) == 0
    assert json.loads(capsys.readouterr().out)["refs"]["k00"] == "\x00" * 100


def test_stored_archive_written_by_zipfile_in_memory(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(".zgroup", '{"zarr_format": 2}')
        z.writestr("empty", b"")
    path = tmp_path / "e.zip"
    path.write_bytes(buf.getvalue())
    assert kerchunk_refs(path)["refs"]["empty"] == ""  # nothing to point at: inlined


def test_small_archive_costs_no_request_after_the_open(tmp_path: Path, moto: S3Server) -> None:
    path = tmp_path / "a.zip"
    make_zarr_zip(path, _build)
    archive = open_archive(moto.put_file(path), **moto.store_kwargs())
    archive.source.stats.reset()
    refs = kerchunk_refs(archive)["refs"]
    assert archive.source.stats.requests == 0  # headers and metadata all in the open's buffers
    assert refs == kerchunk_refs(path, url=archive.url)["refs"]  # same offsets as on disk
    archive.close()


def test_importing_refs_imports_no_zarr_fsspec_or_icechunk() -> None:
    from .imports import loaded_by

    modules = ["remote_zip_store.verbs._refs", "remote_zip_store.cli._refs"]
    assert loaded_by(modules, ["zarr", "fsspec", "icechunk", "numcodecs"]) == []


def test_http_archive_refs_name_the_url_and_presigned_urls_are_given(tmp_path: Path) -> None:
    from .httpserver import file_server

    path = tmp_path / "a.zip"
    make_zarr_zip(path, _build)
    local = kerchunk_refs(path)["refs"]
    with file_server() as server:
        url = server.put("/d/a.zip", path.read_bytes())
        table = kerchunk_refs(url + "?X-Amz-Signature=secret")["refs"]
        given = kerchunk_refs(url + "?sig=1", url=url + "?sig=1")["refs"]
    assert table["raw/0.0"] == [url, *local["raw/0.0"][1:]]  # the query never leaks
    assert given["raw/0.0"][0] == url + "?sig=1"  # a presigned URL is written when given


def test_refs_of_an_archive_opened_from_a_catalog_equal_a_normal_open(
    tmp_path: Path, moto: S3Server
) -> None:
    # A provisional archive (opened from a catalog, pinned to its ETag) takes the
    # per-entry path of data_starts (re-opened if the object changed): the same refs.
    from remote_zip_store.verbs._catalog import build_catalog
    from remote_zip_store.verbs._many import open_many

    folder = f"cat-{tmp_path.name}"
    url = moto.put(_many_chunks(tmp_path).read_bytes(), f"{folder}/rec.zip")
    catalog = str(tmp_path / "c.rzc")
    build_catalog(f"s3://{moto.bucket}/{folder}/", catalog, **moto.store_kwargs())
    opened = open_many([url], catalog=catalog, **moto.store_kwargs())[url]
    assert not isinstance(opened, Exception)
    archive = opened.archive
    assert archive.provisional
    assert kerchunk_refs(archive) == kerchunk_refs(url, **moto.store_kwargs())
    opened.close()
