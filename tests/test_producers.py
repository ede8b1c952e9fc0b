"""Archives written by real tools: Info-ZIP ``zip`` and 7-Zip, read through RemoteZipStore.

One zarr hierarchy (groups, attributes, consolidated metadata, missing chunks,
``dimension_separator="/"``, a string dtype, uncompressed and Blosc chunks) is
written to a directory once, then packed by each producer. Every readable
archive must give back the directory's exact bytes and arrays, locally and from
both S3 servers; the ones we cannot read must fail with a clear error. Each
producer's own layout (extras that differ between local and central headers,
data descriptors, ZIP64 records, methods) is asserted, so a test cannot pass
on an archive that lacks the feature it claims to cover.

``zip``/``7z`` missing: skipped with a reason, except under ``CI`` where it fails
(``.ci/run`` installs zip and p7zip-full).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import zarr

from remote_zip_store import UnsupportedArchiveError, ZipArchive
from remote_zip_store.testing.servers import S3Server
from remote_zip_store.transport import LocalSource
from remote_zip_store.zipfmt._parse import FLAG_DATA_DESCRIPTOR, parse_local_header

from .archives import read_all_with_zipfile
from .worlds import (
    ZARR3,
    RemoteZipStore,
    as_mapping,
    create,
    directory_store,
    group,
    open_consolidated,
    open_group,
    zip_store,
)
from .zarr_trees import walk_arrays

ROOT_FOLDER = "data.zarr"
STUB = b"#!/bin/sh\necho 'self-extracting stub'\nexit 0\n"


def need(binary: str) -> str:
    found = shutil.which(binary)
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(f"{binary!r} is required in CI (.ci/run installs zip and p7zip-full)")
        pytest.skip(f"{binary!r} is not installed (apt-get install zip p7zip-full)")
    return found


def run(args: list[str], cwd: Path) -> None:
    subprocess.run(args, cwd=cwd, check=True, capture_output=True)


# -- the hierarchy every producer packs -------------------------------------------------


def build_hierarchy(path: Path) -> None:
    rng = np.random.default_rng(42)
    store = directory_store(path, mode="w")
    root = group(store)
    root.attrs.update({"title": "producer matrix", "subject": "S001", "channels": 2})
    raw = create(
        root, "raw", shape=(64, 50), chunks=(16, 25), dtype="<i4", compressor=None, fill_value=0
    )
    raw[:] = (np.arange(64 * 50).reshape(64, 50) % 97).astype("<i4")
    signals = root.create_group("signals")
    signals.attrs["unit"] = "uV"
    for i in range(2):
        ch = create(signals, f"ch{i:02d}", shape=(3000,), chunks=(1024,), dtype="f4")
        ch[:] = rng.standard_normal(3000).astype("f4")
    nested = create(
        root,
        "nested",
        shape=(20, 20),
        chunks=(10, 10),
        dtype="u2",
        compressor=None,
        dimension_separator="/",
    )
    nested[:] = np.arange(400, dtype="u2").reshape(20, 20)
    sparse = create(root, "sparse", shape=(40,), chunks=(10,), dtype="i8", fill_value=-1)
    sparse[0:10] = 5  # chunks 1-3 are never written: read back as fill_value
    create(root, "labels", data=np.array(["alpha", "beta", "γάμμα"], dtype="U5"))
    root.create_group("empty").attrs["note"] = "a group without arrays"
    zarr.consolidate_metadata(store)


def tree_files(path: Path) -> dict[str, bytes]:
    return {
        p.relative_to(path).as_posix(): p.read_bytes()
        for p in sorted(path.rglob("*"))
        if p.is_file()
    }


@dataclass
class Produced:
    name: str
    path: Path
    root: str  # the folder the keys sit under inside the zip ("" = top level)


# Producers: (name, required binary, root folder, builder(tree_parent, out_path)).
Builder = Callable[[Path, Path], None]


def _infozip(args: list[str], inside: bool) -> Builder:
    def build(parent: Path, out: Path) -> None:
        if inside:
            run(["zip", *args, str(out), "."], parent / ROOT_FOLDER)
        else:
            run(["zip", *args, str(out), ROOT_FOLDER], parent)

    return build


def _infozip_streamed(parent: Path, out: Path) -> None:
    # Through a pipe (not redirected to a file, which zip could seek): data descriptors.
    done = subprocess.run(
        ["zip", "-r", "-", ROOT_FOLDER], cwd=parent, check=True, capture_output=True
    )
    out.write_bytes(done.stdout)


def _infozip_comment(parent: Path, out: Path) -> None:
    run(["zip", "-r", str(out), ROOT_FOLDER], parent)
    subprocess.run(
        ["zip", "-z", str(out)], input=b"a comment from zip -z\n", check=True, capture_output=True
    )


def _sfx(adjust: bool) -> Builder:
    def build(parent: Path, out: Path) -> None:
        plain = out.with_suffix(".plain.zip")
        run(["zip", "-r", str(plain), ROOT_FOLDER], parent)
        out.write_bytes(STUB + plain.read_bytes())
        if adjust:
            run(["zip", "-A", str(out)], parent)  # rewrites offsets to absolute ones

    return build


def _sevenzip(*switches: str, inside: bool = True) -> Builder:
    def build(parent: Path, out: Path) -> None:
        if inside:
            run(["7z", "a", "-tzip", *switches, str(out), "."], parent / ROOT_FOLDER)
        else:
            run(["7z", "a", "-tzip", *switches, str(out), ROOT_FOLDER], parent)

    return build


READABLE: dict[str, tuple[str, str, Builder]] = {
    "zip-r": ("zip", "", _infozip(["-r", "-q"], inside=True)),
    "zip-r-store-only": ("zip", "", _infozip(["-r", "-q", "-0"], inside=True)),
    "zip-r-folder": ("zip", ROOT_FOLDER, _infozip(["-r", "-q"], inside=False)),
    "zip-fz": ("zip", ROOT_FOLDER, _infozip(["-r", "-q", "-fz"], inside=False)),
    "zip-streamed": ("zip", ROOT_FOLDER, _infozip_streamed),
    "zip-comment": ("zip", ROOT_FOLDER, _infozip_comment),
    "zip-sfx": ("zip", ROOT_FOLDER, _sfx(adjust=False)),
    "zip-sfx-A": ("zip", ROOT_FOLDER, _sfx(adjust=True)),
    "7z-Deflate": ("7z", "", _sevenzip("-mm=Deflate")),
    "7z-Copy": ("7z", "", _sevenzip("-mm=Copy")),
    "7z-BZip2": ("7z", "", _sevenzip("-mm=BZip2")),
    "7z-LZMA": ("7z", "", _sevenzip("-mm=LZMA")),
    "7z-folder": ("7z", ROOT_FOLDER, _sevenzip("-mm=Deflate", inside=False)),
}

REFUSED: dict[str, tuple[str, str, Builder]] = {
    "zip-encrypted": ("zip", ROOT_FOLDER, _infozip(["-r", "-q", "-e", "-P", "pw"], False)),
    "7z-Deflate64": ("7z", "", _sevenzip("-mm=Deflate64")),
    "7z-AES256": ("7z", "", _sevenzip("-pSecret", "-mem=AES256")),
    "7z-ZipCrypto": ("7z", "", _sevenzip("-pSecret", "-mem=ZipCrypto")),
}


@pytest.fixture(scope="session")
def source_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    parent = tmp_path_factory.mktemp("producers")
    build_hierarchy(parent / ROOT_FOLDER)
    return parent


class Factory:
    """Builds each producer's archive once per session."""

    def __init__(self, parent: Path):
        self.parent = parent
        self.made: dict[str, Produced] = {}

    def __call__(self, name: str) -> Produced:
        if name not in self.made:
            binary, root, build = {**READABLE, **REFUSED}[name]
            need(binary)
            out = self.parent / f"{name}.zip"
            build(self.parent, out)
            self.made[name] = Produced(name, out, root)
        return self.made[name]


@pytest.fixture(scope="session")
def produce(source_tree: Path) -> Iterator[Factory]:
    yield Factory(source_tree)


# -- what each producer must have written (so each test covers what it claims) --------------


def _local_extra_lengths(path: Path, archive: ZipArchive) -> list[tuple[int, int]]:
    blob = path.read_bytes()
    index = archive.index
    pairs = []
    for name in index.names():
        entry = index.get(name)
        assert entry is not None
        local = parse_local_header(blob[entry.header_offset : entry.header_offset + 1024])
        pairs.append((local.data_offset - 30 - len(local.name), entry.extra_length))
    return pairs


def check_layout(produced: Produced) -> None:
    archive = ZipArchive(LocalSource(produced.path)).open()
    index = archive.index
    methods = {index.get(n).method for n in index.names()}  # type: ignore[union-attr]
    flags = [index.get(n).flags for n in index.names()]  # type: ignore[union-attr]
    names = index._records.names  # every record, directories too
    name = produced.name
    if name.startswith("zip-"):
        # Info-ZIP: UT+ux extras, 28 bytes locally vs 24 centrally, and directory entries.
        assert any(
            local != central for local, central in _local_extra_lengths(produced.path, archive)
        )
        assert any(n.endswith("/") for n in names)
    if name == "zip-r-store-only":
        assert methods == {zipfile.ZIP_STORED}
    if name == "zip-fz":
        assert index.location.zip64
    if name == "zip-streamed":
        assert all(f & FLAG_DATA_DESCRIPTOR for f in flags)
    if name == "zip-comment":
        assert index.location.comment == b"a comment from zip -z"
    if name == "zip-sfx":
        assert index.location.prefix == len(STUB)
    if name == "zip-sfx-A":
        assert index.location.prefix == 0 and min(index._records.header_offset) == len(STUB)
    expected_method = {
        "7z-Deflate": zipfile.ZIP_DEFLATED,
        "7z-Copy": zipfile.ZIP_STORED,
        "7z-BZip2": zipfile.ZIP_BZIP2,
        "7z-LZMA": zipfile.ZIP_LZMA,
    }.get(name)
    if expected_method is not None:
        assert expected_method in methods
        assert methods <= {expected_method, zipfile.ZIP_STORED}
    if produced.root:
        assert all(n.startswith(produced.root + "/") for n in names)
    archive.close()


# -- comparisons --------------------------------------------------------------------------------


def compare_arrays(store: RemoteZipStore, source: Path) -> None:
    expected = open_consolidated(directory_store(source))
    for opener in (open_consolidated, open_group):
        got = opener(store)
        assert dict(got.attrs) == dict(expected.attrs)
        for path, array in walk_arrays(expected).items():
            mine = got[path]
            assert mine.dtype == array.dtype and mine.shape == array.shape
            np.testing.assert_array_equal(mine[:], array[:])
            assert dict(mine.attrs) == dict(array.attrs)
        assert dict(got["signals"].attrs) == {"unit": "uV"}
        assert dict(got["empty"].attrs) == {"note": "a group without arrays"}
    np.testing.assert_array_equal(got["sparse"][:], [5] * 10 + [-1] * 30)


def compare_store(store: RemoteZipStore, produced: Produced, source: Path) -> None:
    files = tree_files(source)
    assert store.root == produced.root
    assert list(store.keys()) == sorted(files)
    reference = read_all_with_zipfile(produced.path.read_bytes())
    cut = len(produced.root) + 1 if produced.root else 0
    assert {k[cut:]: v for k, v in reference.items()} == files
    for key, payload in files.items():
        assert store[key] == payload, key
    assert store.getitems(list(files), contexts={}) == files
    compare_arrays(store, source)
    if not produced.root:
        reference_store = zip_store(produced.path)
        zipped = as_mapping(reference_store)
        try:
            # ZipStore lists directory entries ("arr/") as keys too; they are not keys here.
            assert [k for k in zipped.keylist() if not k.endswith("/")] == list(store.keys())
            assert all(zipped[k] == store[k] for k in files)
        finally:
            reference_store.close()


@pytest.mark.parametrize("name", sorted(READABLE))
def test_producer_local(name: str, produce: Factory, source_tree: Path) -> None:
    produced = produce(name)
    check_layout(produced)
    with RemoteZipStore(produced.path) as store:
        compare_store(store, produced, source_tree / ROOT_FOLDER)


@pytest.mark.parametrize("name", sorted(READABLE))
def test_producer_s3(name: str, produce: Factory, source_tree: Path, s3: S3Server) -> None:
    produced = produce(name)
    url = s3.put_file(produced.path)
    with RemoteZipStore(url, **s3.store_kwargs()) as store:
        compare_store(store, produced, source_tree / ROOT_FOLDER)


def test_explicit_root_matches_detected_root(produce: Factory, source_tree: Path) -> None:
    produced = produce("zip-r-folder")
    with RemoteZipStore(produced.path, root=ROOT_FOLDER) as explicit:
        compare_store(explicit, produced, source_tree / ROOT_FOLDER)
    with RemoteZipStore(produced.path, root="") as off:
        assert all(k.startswith(ROOT_FOLDER + "/") for k in off)


def test_infozip_non_ascii_names_read_like_zipfile(tmp_path: Path) -> None:
    """Info-ZIP 3.0 stores UTF-8 bytes without flag 0x800: by the spec (and zipfile), cp437."""
    need("zip")
    folder = tmp_path / "u"
    folder.mkdir()
    (folder / "größe.txt").write_bytes(b"umlaut")
    (folder / "plain.txt").write_bytes(b"ascii")
    out = tmp_path / "names.zip"
    run(["zip", "-r", "-q", str(out), "u"], tmp_path)
    reference = read_all_with_zipfile(out.read_bytes())
    assert "u/größe.txt".encode().decode("cp437") in reference
    with RemoteZipStore(out, root="") as store:
        assert {k: store[k] for k in store} == reference


def test_sevenzip_utf8_names(tmp_path: Path) -> None:
    """7-Zip sets flag 0x800 for non-ASCII names: they read back as the real names."""
    need("7z")
    folder = tmp_path / "u"
    folder.mkdir()
    (folder / "größe.txt").write_bytes(b"umlaut")
    (folder / "日本.bin").write_bytes(b"kanji")
    out = tmp_path / "names7z.zip"
    run(["7z", "a", "-tzip", str(out), "u"], tmp_path)
    expected = {"u/größe.txt": b"umlaut", "u/日本.bin": b"kanji"}
    assert read_all_with_zipfile(out.read_bytes()) == expected
    with RemoteZipStore(out, root="") as store:
        assert {k: store[k] for k in store} == expected


# -- refused archives: a clear error, never bytes ------------------------------------------------


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_refused_producer_raises_clear_error(
    name: str, produce: Factory, source_tree: Path, s3: S3Server
) -> None:
    produced = produce(name)
    archive = ZipArchive(LocalSource(produced.path)).open()
    refused = {
        n[len(produced.root) + 1 if produced.root else 0 :]: archive.index.get(n)
        for n in archive.index.names()
    }
    archive.close()
    word = {
        "zip-encrypted": "encrypted",
        "7z-AES256": "encrypted (aes-encrypted)",
        "7z-ZipCrypto": "encrypted",
        "7z-Deflate64": "deflate64",
    }[name]
    bad = {
        k: e for k, e in refused.items() if e is not None and (e.flags & 1 or e.method in (9, 99))
    }
    assert bad, f"{name} wrote no entry this test can refuse"
    url = s3.put_file(produced.path)
    for store in (RemoteZipStore(produced.path), RemoteZipStore(url, **s3.store_kwargs())):
        with store:
            assert store.root == produced.root
            assert sorted(store.keys()) == sorted(tree_files(source_tree / ROOT_FOLDER))
            for key in bad:
                with pytest.raises(UnsupportedArchiveError) as info:
                    store[key]
                message = str(info.value)
                assert (
                    store.url in message
                    and repr(produced.root + "/" + key if produced.root else key) in message
                )
                assert word in message, message
            with pytest.raises(UnsupportedArchiveError):
                store.getitems(list(bad), contexts={})
            if ".zgroup" in bad:
                with pytest.raises(UnsupportedArchiveError, match=re.escape(word)):
                    open_group(store)
            else:
                # 7-Zip stores tiny files; the raw array's chunks are Deflate64: reading them
                # must fail, not come back as fill_value.
                entries_only = {}
                if ZARR3 and ".zmetadata" in bad:
                    # zarr 3 opens through .zmetadata (Deflate64 too): the open fails clearly
                    with pytest.raises(UnsupportedArchiveError, match="deflate64"):
                        open_group(store)
                    entries_only = {"use_consolidated": False, "zarr_format": 2}
                root = open_group(store, **entries_only)
                assert any(k.startswith("raw/") and k != "raw/.zarray" for k in bad)
                with pytest.raises(UnsupportedArchiveError, match="deflate64"):
                    root["raw"][:]
