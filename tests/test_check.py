"""``check``: every rule fails on an archive crafted to break it; real writers' archives pass."""

from __future__ import annotations

import io
import json
import os
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest

from remote_zip_store import RemoteZipStore
from remote_zip_store.archive._reader import ZipArchive
from remote_zip_store.hierarchy._frontend import open_archive
from remote_zip_store.testing.sample import write_sample_archive
from remote_zip_store.testing.servers import S3Server
from remote_zip_store.verbs._check import MAX_LISTED, Report, check
from remote_zip_store.verbs._pack import pack
from remote_zip_store.zipfmt._conventions import OzxInfo, parse_ozx_comment

from . import craft
from .archives import make_zip
from .test_cli import command, run, run_on_a_terminal, run_plain
from .worlds import create, group, zip_store

OZX_COMMENT = b'{"ome": {"version": "0.5", "zipFile": {"centralDirectory": {"jsonFirst": true}}}}'
GROUP2 = b'{"zarr_format": 2}'


def zarray(shape: list[int], chunks: list[int], **extra: object) -> bytes:
    doc = {
        "zarr_format": 2,
        "shape": shape,
        "chunks": chunks,
        "dtype": "<u1",
        "compressor": None,
        "fill_value": 0,
        "filters": None,
        "order": "C",
        **extra,
    }
    return json.dumps(doc).encode()


def v3_group() -> bytes:
    return b'{"zarr_format": 3, "node_type": "group", "attributes": {}}'


def v3_array(shape: list[int], chunks: list[int], *, sharded: bool = True) -> bytes:
    codecs: list[object] = [{"name": "bytes", "configuration": {"endian": "little"}}]
    if sharded:
        codecs = [
            {
                "name": "sharding_indexed",
                "configuration": {
                    "chunk_shape": [1] * len(shape),
                    "codecs": codecs,
                    "index_codecs": codecs,
                },
            }
        ]
    doc = {
        "zarr_format": 3,
        "node_type": "array",
        "shape": shape,
        "data_type": "uint8",
        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": chunks}},
        "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
        "fill_value": 0,
        "codecs": codecs,
    }
    return json.dumps(doc).encode()


def simple_v2(**more: bytes) -> dict[str, bytes]:
    """A valid zarr-2 hierarchy: a root group and a 4-element array in two chunks."""
    return {
        ".zgroup": GROUP2,
        "a/.zarray": zarray([4], [2]),
        "a/0": b"\1\2",
        "a/1": b"\3\4",
        **more,
    }


def write(tmp_path: Path, data: bytes, name: str = "x.zip") -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def built(entries: dict[bytes, bytes], **finish: object) -> bytes:
    b = craft.Builder()
    for name, payload in entries.items():
        b.add(name, payload)
    return b.finish(**finish)  # type: ignore[arg-type]


def statuses(report: Report) -> dict[str, str]:
    return {f.rule: f.status for f in report.findings}


def assert_clean(report: Report) -> None:
    """No rule failed and none warned."""
    bad = [f for f in report.findings if f.status in ("fail", "warn")]
    assert not bad, bad


# -- conventions ---------------------------------------------------------------------------
def test_ozx_comment_parses_into_version_and_json_first() -> None:
    info = parse_ozx_comment(OZX_COMMENT)
    assert info == OzxInfo(version="0.5", json_first=True, raw=OZX_COMMENT.decode())
    assert parse_ozx_comment(b'{"ome": {"version": "0.5"}}') == OzxInfo(
        "0.5", False, '{"ome": {"version": "0.5"}}'
    )
    assert parse_ozx_comment(b'{"ome": {"version": 5, "zipFile": []}}') == OzxInfo(
        None, False, '{"ome": {"version": 5, "zipFile": []}}'
    )


@pytest.mark.parametrize(
    "comment",
    [
        b"",
        b"made by zip 3.0",
        b"{not json",
        b"\xff\xfe{",
        b'{"other": 1}',
        b"[1, 2]",
        b'{"ome": 1}',
    ],
)
def test_other_comments_are_not_an_ozx_declaration(comment: bytes) -> None:
    assert parse_ozx_comment(comment) is None


def test_archive_and_store_expose_the_comment(tmp_path: Path) -> None:
    path = write(tmp_path, make_zip(simple_v2(), comment=OZX_COMMENT))
    archive = open_archive(path)
    assert archive.comment == OZX_COMMENT
    assert archive.ome is not None and archive.ome.json_first and archive.ome.version == "0.5"
    archive.close()
    with RemoteZipStore(path) as store:
        assert store.archive.ome == parse_ozx_comment(OZX_COMMENT)
    plain = open_archive(write(tmp_path, make_zip(simple_v2(), comment=b"hello"), "p.zip"))
    assert plain.comment == b"hello" and plain.ome is None
    plain.close()


# -- archives that pass ----------------------------------------------------------------------
def test_a_plain_valid_archive_passes_every_rule(tmp_path: Path) -> None:
    report = check(write(tmp_path, make_zip(simple_v2())))
    assert report.ok and not report.ozx
    assert_clean(report)
    assert {"multi-volume", "encryption", "methods", "duplicates", "entry-names"} <= set(
        statuses(report)
    )


def test_our_writer_output_passes(tmp_path: Path) -> None:
    path = str(tmp_path / "w.zip")
    with RemoteZipStore(path, mode="w") as store:
        root = group(store)
        root.attrs["title"] = "t"
        a = create(root, "g/a", shape=(10, 10), chunks=(5, 5), dtype="f4", compressor=None)
        a[:] = np.ones((10, 10), dtype="f4")
    report = check(path, deep=True)
    assert_clean(report)
    assert report.finding("crc").status == "pass"


def test_zarr_zipstore_output_passes_with_the_warnings_that_apply(tmp_path: Path) -> None:
    path = tmp_path / "z.zip"
    with zip_store(path, mode="w", compression=zipfile.ZIP_DEFLATED) as store:
        a = create(group(store), "a", shape=(6,), chunks=(2,), dtype="i4")
        a[:] = 1
        a[:2] = 2  # rewrites chunk 0: a duplicate record
    report = check(str(path), deep=True)
    assert report.ok, report.failed
    assert {f.rule for f in report.warnings} == {"duplicates", "stored-chunks"}
    assert report.finding("duplicates").entries == ("a/0",)
    assert "zarr's ZipStore" in report.finding("duplicates").message


def test_pack_output_passes_and_drops_the_duplicates(tmp_path: Path) -> None:
    src = tmp_path / "z.zip"
    with zip_store(src, mode="w") as store:
        a = create(group(store), "a", shape=(6,), chunks=(2,), dtype="i4")
        a[:] = 1
        a[:2] = 2
    assert check(str(src)).finding("duplicates").status == "warn"
    pack(str(src), str(tmp_path / "p.zip"))
    assert_clean(check(str(tmp_path / "p.zip"), deep=True))


def test_check_accepts_an_archive_or_a_store(tmp_path: Path) -> None:
    path = write(tmp_path, make_zip(simple_v2()))
    archive = open_archive(path)
    assert isinstance(archive, ZipArchive) and check(archive).ok
    assert not archive.closed  # left open: the caller's
    archive.close()
    with RemoteZipStore(path) as store:
        assert check(store).ok


# -- zip-level rules ---------------------------------------------------------------------------
def test_multi_volume_end_record_fails(tmp_path: Path) -> None:
    data = built({b".zgroup": GROUP2}, disk=1, cd_disk=1)
    report = check(write(tmp_path, data))
    assert not report.ok and report.finding("multi-volume").status == "fail"


def test_records_on_another_disk_fail(tmp_path: Path) -> None:
    data = bytearray(make_zip(simple_v2()))
    cd = data.rfind(b"PK\x01\x02")  # the last record: a/1
    struct.pack_into("<H", data, cd + 34, 2)
    found = check(write(tmp_path, bytes(data))).finding("multi-volume")
    assert found.status == "fail" and found.entries == ("a/1",)


def test_encrypted_entries_fail(tmp_path: Path) -> None:
    b = craft.Builder()
    b.add(b".zgroup", GROUP2)
    b.add(b"secret", b"xxxx", flags=1)
    found = check(write(tmp_path, b.finish())).finding("encryption")
    assert found.status == "fail" and found.entries == ("secret",)


def test_methods_other_than_stored_and_deflate_warn(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, value in simple_v2().items():
            z.writestr(name, value, compress_type=zipfile.ZIP_BZIP2 if name == "a/0" else None)
    report = check(write(tmp_path, buf.getvalue()), deep=True)
    assert report.ok
    assert report.finding("methods").status == "warn"
    assert report.finding("methods").entries == ("a/0 (bzip2)",)


def test_duplicates_warn_and_say_when_the_last_record_is_not_the_newest(tmp_path: Path) -> None:
    b = craft.Builder()
    b.add(b".zgroup", GROUP2)
    b.add(b"k", b"old")
    b.add(b"k", b"new")
    b.central[1], b.central[2] = b.central[2], b.central[1]  # directory order != file order
    found = check(write(tmp_path, b.finish())).finding("duplicates")
    assert found.status == "warn" and found.entries == ("k",)
    assert "not the last written" in found.message


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        (b"/abs/key", "absolute"),
        (b"a\\b", "backslash"),
        (b"a/../b", "'.' or '..' segment"),
        (b"a//b", "empty segment"),
        (b"./a", "'.' or '..' segment"),
    ],
)
def test_entry_names_that_are_not_keys_fail(tmp_path: Path, name: bytes, problem: str) -> None:
    data = built({b".zgroup": GROUP2, b"ok/": b"", name: b"x"})
    found = check(write(tmp_path, data)).finding("entry-names")
    assert found.status == "fail"
    assert found.entries == (f"{name.decode()!r} ({problem})",)  # the folder entry is fine


def test_data_descriptors_are_reported(tmp_path: Path) -> None:
    class Unseekable(io.RawIOBase):
        def __init__(self) -> None:
            self.parts: list[bytes] = []

        def writable(self) -> bool:
            return True

        def write(self, b: object) -> int:
            data = bytes(b)  # type: ignore[call-overload]
            self.parts.append(data)
            return len(data)

    out = Unseekable()
    with zipfile.ZipFile(out, "w") as z:
        for name, value in simple_v2().items():
            z.writestr(name, value)
    report = check(write(tmp_path, b"".join(out.parts)), deep=True)
    assert report.ok
    found = report.finding("data-descriptors")
    assert found.status == "info" and found.count == 4


def test_a_local_header_that_disagrees_fails(tmp_path: Path) -> None:
    raw = make_zip(simple_v2())
    with zipfile.ZipFile(io.BytesIO(raw)) as z:
        first, second = z.getinfo("a/0").header_offset, z.getinfo("a/1").header_offset
    data = bytearray(raw)
    struct.pack_into("<H", data, first + 8, 8)  # method: deflate in the local header only
    struct.pack_into("<L", data, second + 18, 99)  # compressed size
    found = check(write(tmp_path, bytes(data))).finding("local-headers")
    assert found.status == "fail"
    assert found.entries == ("a/0 (local method deflate)", "a/1 (local sizes 99/2)")


def test_a_bad_crc_is_found_by_deep_only_when_nothing_is_buffered(tmp_path: Path) -> None:
    b = craft.Builder()
    b.add(b".zgroup", GROUP2)
    b.add(b"a/.zarray", zarray([6000], [3000]))
    b.add(b"a/1", b"\1" * 3000, crc=0x1234)  # far from the end: not in a 1 KiB tail
    b.add(b"a/0", b"\0" * 3000)
    path = write(tmp_path, b.finish())
    unbuffered = {"head_size": 0, "tail_size": 1024}
    shallow = check(path, **unbuffered)
    assert shallow.ok and shallow.finding("crc").status == "info"
    deep = check(path, deep=True, **unbuffered)
    assert not deep.ok
    assert deep.finding("crc").status == "fail" and deep.finding("crc").entries[0].startswith("a/1")


def test_not_a_zip_is_a_failed_report(tmp_path: Path) -> None:
    report = check(write(tmp_path, b"junk" * 100))
    assert not report.ok and report.finding("zip-structure").status == "fail"


def test_long_lists_are_capped_and_counted(tmp_path: Path) -> None:
    entries = {".zgroup": GROUP2, **{f"stray{i}": b"x" for i in range(25)}}
    found = check(write(tmp_path, make_zip(entries))).finding("hierarchy")
    assert found.status == "warn" and len(found.entries) == MAX_LISTED and found.count == 25
    assert "(and 15 more)" in "\n".join(check(write(tmp_path, make_zip(entries))).lines())


# -- hierarchy rules ------------------------------------------------------------------------------
def test_metadata_that_does_not_parse_fails(tmp_path: Path) -> None:
    report = check(write(tmp_path, make_zip(simple_v2(**{".zattrs": b"{nope"}))))
    found = report.finding("metadata-json")
    assert found.status == "fail" and found.entries == (".zattrs",)


def test_chunks_outside_the_grid_fail_missing_ones_are_info(tmp_path: Path) -> None:
    entries = simple_v2()
    del entries["a/1"]
    entries["a/2"] = b"\0\0"  # the grid is 2 chunks: 0 and 1
    report = check(write(tmp_path, make_zip(entries)))
    assert report.finding("chunk-grid").status == "fail"
    assert report.finding("chunk-grid").entries == ("a/2",)
    missing = report.finding("missing-chunks")
    assert missing.status == "info" and missing.entries == ("a/1",) and missing.count == 1


def test_slash_separated_v2_chunks_are_understood(tmp_path: Path) -> None:
    entries = {
        ".zgroup": GROUP2,
        "b/.zarray": zarray([2, 2], [1, 2], dimension_separator="/"),
        "b/0/0": b"\0\0",
        "b/1/0": b"\0\0",
    }
    assert_clean(check(write(tmp_path, make_zip(entries))))


def test_keys_outside_the_hierarchy_warn(tmp_path: Path) -> None:
    entries = simple_v2(**{"notes.txt": b"hi", "a/readme": b"x", "lost/b/.zgroup": GROUP2})
    found = check(write(tmp_path, make_zip(entries))).finding("hierarchy")
    assert found.status == "warn"
    assert set(found.entries) == {"notes.txt", "a/readme", "lost/b/"}


def test_compressed_chunks_warn(tmp_path: Path) -> None:
    report = check(write(tmp_path, make_zip(simple_v2(), compression=zipfile.ZIP_DEFLATED)))
    assert report.ok and report.finding("stored-chunks").status == "warn"
    assert report.finding("stored-chunks").entries == ("a/0 (deflate)", "a/1 (deflate)")


def test_a_hierarchy_under_a_folder_fails_the_root_rule(tmp_path: Path) -> None:
    entries = {f"data.zarr/{k}": v for k, v in simple_v2().items()}
    report = check(write(tmp_path, make_zip(entries)))
    assert report.finding("store-root").status == "fail"
    assert "'data.zarr'" in report.finding("store-root").message
    assert report.finding("chunk-grid").status == "pass"  # the rest is still checked


def test_no_metadata_fails_the_root_rule(tmp_path: Path) -> None:
    report = check(write(tmp_path, make_zip({"a": b"1"})))
    assert report.finding("store-root").status == "fail"


def test_open_cost_counts_requests_and_where_metadata_lies(tmp_path: Path) -> None:
    path = write_sample_archive(tmp_path / "rec.zip", channels=4, seconds=300)
    report = check(path)
    facts = report.facts
    assert (facts["open_requests"], facts["metadata_requests"]) == (2, 0)  # .zmetadata: free
    assert (
        facts["metadata_in_head"] + facts["metadata_in_tail"] + facts["metadata_in_middle"]
        == (facts["metadata_keys"])
    )
    small = check(path, head_size=0, tail_size=1024)
    assert small.facts["open_requests"] == 2  # the tail was short: one more GET
    assert small.facts["metadata_requests"] >= 1 and small.facts["metadata_in_head"] == 0


# -- RFC-9 rules (hand-built; zarr-3 writers' archives are in tests/zarr3/test_check_ozx.py) --
def ozx_entries() -> dict[str, bytes]:
    """A minimal RFC-9 layout: every zarr.json first, root first, breadth-first."""
    return {
        "zarr.json": v3_group(),
        "img/zarr.json": v3_group(),
        "img/0/zarr.json": v3_array([4], [2]),
        "img/0/c/0": b"\0\0",
        "img/0/c/1": b"\0\0",
    }


def zip64_zip(entries: dict[str, bytes], comment: bytes = OZX_COMMENT, **kw: int) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", **kw) as z:  # type: ignore[arg-type]
        for name, value in entries.items():
            with z.open(name, "w", force_zip64=True) as f:
                f.write(value)
        z.comment = comment
    data = buf.getvalue()
    # zipfile writes ZIP64 end records only when needed; RFC-9 wants them: rebuild the end.
    return _with_zip64_end(data)


def _with_zip64_end(data: bytes) -> bytes:
    eocd = data.rfind(b"PK\x05\x06")
    _, _, _, _, entries, cd_size, cd_offset, clen = struct.unpack_from("<4s4H2LH", data, eocd)
    comment = data[eocd + 22 : eocd + 22 + clen]
    z64_offset = eocd
    return (
        data[:eocd]
        + craft.zip64_eocd(entries=entries, cd_size=cd_size, cd_offset=cd_offset)
        + craft.zip64_locator(offset=z64_offset)
        + craft.eocd(entries=craft.U16, cd_size=craft.U32, cd_offset=craft.U32, comment=comment)
    )


def test_a_conforming_ozx_passes_every_rfc9_rule(tmp_path: Path) -> None:
    report = check(write(tmp_path, zip64_zip(ozx_entries()), "x.ozx"), deep=True)
    assert report.ozx and report.ome is not None and report.ome.json_first
    assert_clean(report)
    assert {f.rule for f in report.findings if f.rule.startswith("rfc9-")} == {
        "rfc9-zarr-v3",
        "rfc9-root",
        "rfc9-zip64",
        "rfc9-stored",
        "rfc9-sharding",
        "rfc9-json-first",
        "rfc9-comment",
        "rfc9-extension",
    }


def test_rfc9_applies_by_comment_or_by_name_only(tmp_path: Path) -> None:
    plain = zip64_zip(ozx_entries(), comment=b"")
    assert not check(write(tmp_path, plain, "a.zip")).ozx
    by_name = check(write(tmp_path, plain, "a.ozx"))
    assert by_name.ozx and by_name.finding("rfc9-comment").status == "warn"
    by_comment = check(write(tmp_path, zip64_zip(ozx_entries()), "b.zip"))
    assert by_comment.ozx and by_comment.finding("rfc9-extension").status == "warn"


def test_rfc9_must_rules_fail(tmp_path: Path) -> None:
    v2 = check(write(tmp_path, zip64_zip(simple_v2()), "v2.ozx"))
    assert v2.finding("rfc9-zarr-v3").status == "fail"
    assert v2.finding("rfc9-root").status == "fail"
    assert ".zgroup" in v2.finding("rfc9-zarr-v3").entries


def test_v3_chunk_keys_outside_the_grid_fail(tmp_path: Path) -> None:
    entries = ozx_entries()
    entries["img/0/c/2"] = b"\0\0"  # the grid is c/0 and c/1
    entries["img/0/c.1"] = b"\0\0"  # not a key of the default encoding
    report = check(write(tmp_path, zip64_zip(entries), "g.ozx"))
    assert report.finding("chunk-grid").entries == ("img/0/c/2",)
    assert report.finding("hierarchy").entries == ("img/0/c.1",)


def test_rfc9_should_rules_warn(tmp_path: Path) -> None:
    entries = ozx_entries()
    entries["img/0/zarr.json"] = v3_array([4], [2], sharded=False)
    data = make_zip(entries, comment=OZX_COMMENT, compression=zipfile.ZIP_DEFLATED)
    report = check(write(tmp_path, data, "w.ozx"))
    assert report.ok
    assert {f.rule for f in report.warnings} >= {
        "rfc9-zip64",
        "rfc9-stored",
        "rfc9-sharding",
        "stored-chunks",
    }
    assert report.finding("rfc9-sharding").entries == ("img/0/",)


def test_json_first_order_warns_and_fails_when_the_comment_declares_it(tmp_path: Path) -> None:
    entries = ozx_entries()
    late = {k: v for k, v in entries.items() if k != "img/zarr.json"}
    late["img/zarr.json"] = entries["img/zarr.json"]  # after the chunks
    declared = check(write(tmp_path, zip64_zip(late), "d.ozx"))
    assert declared.finding("rfc9-json-first").status == "fail"
    assert not declared.ok
    undeclared = check(write(tmp_path, zip64_zip(late, comment=b""), "u.ozx"))
    assert undeclared.finding("rfc9-json-first").status == "warn" and undeclared.ok
    depth_first = dict(entries)
    order = ["zarr.json", "img/0/zarr.json", "img/zarr.json", "img/0/c/0", "img/0/c/1"]
    swapped = {k: depth_first[k] for k in order}
    found = check(write(tmp_path, zip64_zip(swapped), "s.ozx")).finding("rfc9-json-first")
    assert found.status == "fail" and "breadth-first" in found.entries[0]


def test_declared_json_first_covers_the_central_directory_only(tmp_path: Path) -> None:
    """jsonFirst sits under zipFile.centralDirectory: a file order that differs only warns."""
    from remote_zip_store.archive._writer import ZipWriter
    from remote_zip_store.transport._sinks import open_sink
    from remote_zip_store.zipfmt._conventions import json_first_key, ozx_comment

    def write_ozx(name: str, order: list[str]) -> str:
        path = tmp_path / name
        writer = ZipWriter(open_sink(path), zip64_end_records=True, directory_order=json_first_key)
        for key in order:
            writer.write(key, ozx_entries()[key])
        writer.close(comment=ozx_comment())
        return str(path)

    chunks_first = ["img/0/c/0", "img/0/c/1", "img/0/zarr.json", "img/zarr.json", "zarr.json"]
    report = check(write_ozx("late.ozx", chunks_first))
    found = report.finding("rfc9-json-first")
    assert found.status == "warn" and report.ok
    assert found.entries == ("file: first entry is 'img/0/c/0'",)
    assert "first in the central directory" in found.message
    assert check(write_ozx("first.ozx", list(ozx_entries()))).finding("rfc9-json-first").status == (
        "pass"
    )


# -- over S3 ---------------------------------------------------------------------------------------
def test_check_over_s3_matches_the_local_report(s3: S3Server, tmp_path: Path) -> None:
    data = zip64_zip(ozx_entries())
    local = check(write(tmp_path, data, "x.ozx"), deep=True)
    remote = check(s3.put(data, key=f"t/{os.urandom(4).hex()}.ozx"), deep=True, **s3.store_kwargs())
    assert [(f.rule, f.status, f.entries) for f in remote.findings] == [
        (f.rule, f.status, f.entries) for f in local.findings
    ]
    # the tail and head GETs (one round trip); the metadata is in them
    assert (remote.facts["open_requests"], remote.facts["metadata_requests"]) == (2, 0)


# -- command line ----------------------------------------------------------------------------------
def test_cli_check_exit_codes_and_json(s3: S3Server, tmp_path: Path) -> None:
    good = s3.put(make_zip(simple_v2()), key=f"t/{os.urandom(4).hex()}.zip")
    result = run(s3, "check", good)
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode().splitlines()[-1].startswith("result: ok")
    bad_entries = simple_v2()
    bad_entries["a/7"] = b"\0\0"
    bad = s3.put(make_zip(bad_entries), key=f"t/{os.urandom(4).hex()}.zip")
    failed = run(s3, "check", bad, "--json")
    assert failed.returncode == 1, failed.stderr
    document = json.loads(failed.stdout)
    assert document["ok"] is False
    grid = next(f for f in document["findings"] if f["rule"] == "chunk-grid")
    assert grid["status"] == "fail" and grid["entries"] == ["a/7"] and grid["count"] == 1
    assert run_plain("check").returncode == 2
    assert run_plain("check", "gs://x/y.zip").returncode == 2
    assert run_plain("check", str(tmp_path / "missing.zip")).returncode == 1


def test_cli_deep_check_draws_progress_on_a_terminal(tmp_path: Path) -> None:
    path = write(tmp_path, make_zip(simple_v2()))
    code, terminal, stdout = run_on_a_terminal(
        [*command(), "check", "--deep", path], {**os.environ, "TERM": "xterm"}
    )
    assert code == 0, terminal
    assert "check [" in terminal and "4/4" in terminal
    assert stdout.splitlines()[-1].startswith("result: ok")


def test_cli_info_prints_the_ozx_comment(s3: S3Server, tmp_path: Path) -> None:
    url = s3.put(make_zip(simple_v2(), comment=OZX_COMMENT), key=f"t/{os.urandom(4).hex()}.ozx")
    result = run(s3, "info", url)
    assert result.returncode == 0, result.stderr
    assert "ome:          RFC-9 comment, version 0.5, jsonFirst" in result.stdout.decode()
    other = s3.put(make_zip(simple_v2(), comment=b"zip 3.0"), key=f"t/{os.urandom(4).hex()}.zip")
    assert "comment:      b'zip 3.0'" in run(s3, "info", other).stdout.decode()
