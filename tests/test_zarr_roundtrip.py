"""Hierarchies written with ``zarr.ZipStore`` read back through S3 exactly like ``ZipStore``.

Every test opens the same file twice: with ``zarr.storage.ZipStore`` (the
reference) and with ``RemoteZipStore`` over the uploaded object (moto and
SeaweedFS), through each of zarr's entry points.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numcodecs
import numpy as np
import pytest
import zarr

from remote_zip_store import RemoteZipStore
from remote_zip_store.testing.servers import S3Server

from .zarr_trees import (
    assert_same_array,
    assert_same_hierarchy,
    rich_tree,
    write_array_zip,
    write_rewritten_chunk_zip,
    write_zip,
)


@pytest.fixture(scope="module")
def rich_zip(tmp_path_factory: pytest.TempPathFactory) -> str:
    return write_zip(tmp_path_factory.mktemp("rt") / "rich.zip", rich_tree)


@pytest.fixture(scope="module", params=["deflate", "bzip2", "lzma"])
def rich_zip_compressed(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> str:
    """The same tree with zip-level compression on top of zarr's codecs."""
    method = {
        "deflate": zipfile.ZIP_DEFLATED,
        "bzip2": zipfile.ZIP_BZIP2,
        "lzma": zipfile.ZIP_LZMA,
    }[request.param]
    return write_zip(
        tmp_path_factory.mktemp("rt") / f"rich-{request.param}.zip", rich_tree, compression=method
    )


@pytest.fixture(scope="module")
def consolidated_zip(tmp_path_factory: pytest.TempPathFactory) -> str:
    return write_zip(tmp_path_factory.mktemp("rt") / "cons.zip", rich_tree, consolidate=True)


@pytest.fixture(params=["small_tail", "default_tail"])
def both(request: pytest.FixtureRequest, s3: S3Server) -> Iterator[Any]:
    """``both(path)`` -> (ours, reference); every store opened is closed afterwards.

    With the default 512 KiB tail a test archive arrives whole in the first GET;
    a 1 KiB tail makes every entry outside the last 64 KiB a range GET.
    """
    options: dict[str, Any] = {"tail_size": 1024} if request.param == "small_tail" else {}
    opened: list[Any] = []

    def make(path: str) -> tuple[RemoteZipStore, zarr.storage.ZipStore]:
        ours = RemoteZipStore(s3.put_file(path), **s3.store_kwargs(), **options)
        pair = (ours, zarr.storage.ZipStore(path, mode="r"))
        opened.extend(pair)
        return pair

    yield make
    for store in opened:
        store.close()


def test_open_reads_like_zipstore(both: Any, rich_zip: str) -> None:
    ours, ref = both(rich_zip)
    assert_same_hierarchy(zarr.open(ours, mode="r"), zarr.open(ref, mode="r"))
    if ours.archive.options.tail_size == 1024:
        assert ours.archive.source.stats.requests > 2  # chunks really came by range GETs


def test_zip_level_compression_reads_like_zipstore(both: Any, rich_zip_compressed: str) -> None:
    ours, ref = both(rich_zip_compressed)
    assert_same_hierarchy(zarr.open(ours, mode="r"), zarr.open(ref, mode="r"))


def test_open_group_and_subgroups(both: Any, rich_zip: str) -> None:
    ours, ref = both(rich_zip)
    assert_same_hierarchy(zarr.open_group(ours, mode="r"), zarr.open_group(ref, mode="r"))
    for path in ("signals", "deep/er", "text"):
        assert_same_hierarchy(
            zarr.open_group(ours, mode="r", path=path), zarr.open_group(ref, mode="r", path=path)
        )
    group = zarr.open_group(ours, mode="r", path="empty_group")
    assert list(group) == []
    with pytest.raises(zarr.errors.GroupNotFoundError):
        zarr.open_group(ours, mode="r", path="nope")


def test_open_array_by_path(both: Any, rich_zip: str) -> None:
    ours, ref = both(rich_zip)
    for path in ("signals/ch02", "sparse", "deep/er/est/slash", "text/vlen", "scalar"):
        assert_same_array(
            zarr.open_array(ours, mode="r", path=path), zarr.open_array(ref, mode="r", path=path)
        )
    with pytest.raises(zarr.errors.ContainsGroupError):
        zarr.open_array(ours, mode="r", path="signals")
    with pytest.raises(zarr.errors.ArrayNotFoundError):
        zarr.open_array(ours, mode="r", path="nope")


def test_array_at_the_root(both: Any, tmp_path: Path) -> None:
    ours, ref = both(write_array_zip(tmp_path / "array.zip"))
    ours_array, ref_array = zarr.open_array(ours, mode="r"), zarr.open_array(ref, mode="r")
    assert_same_array(ours_array, ref_array)
    assert np.isnan(ours_array[24, 24])  # a chunk that was never written
    assert isinstance(zarr.open(ours, mode="r"), zarr.Array)


def test_selections_and_missing_chunks(both: Any, rich_zip: str) -> None:
    ours, ref = both(rich_zip)
    a, b = zarr.open(ours, mode="r")["sparse"], zarr.open(ref, mode="r")["sparse"]
    assert a.nchunks_initialized == 2
    for selection in (
        np.s_[:],
        np.s_[5:35, 3:47],
        np.s_[10:30, 10:40],  # only chunks that were never written: fill_value
        np.s_[::3, ::7],
        np.s_[39, 49],
    ):
        np.testing.assert_array_equal(a[selection], b[selection])
    assert (a[10:30, 10:40] == -7).all()
    np.testing.assert_array_equal(
        a.get_orthogonal_selection(([0, 39], [0, 49])), [[1, -7], [-7, 99]]
    )
    np.testing.assert_array_equal(
        a.get_coordinate_selection(([0, 39, 20], [0, 49, 20])),
        b.get_coordinate_selection(([0, 39, 20], [0, 49, 20])),
    )
    slash_a = zarr.open(ours, mode="r")["deep/er/est/slash"]
    assert slash_a._dimension_separator == "/"
    assert "deep/er/est/slash/4/3" in ours
    np.testing.assert_array_equal(slash_a[3:29, 5:19], np.arange(600).reshape(30, 20)[3:29, 5:19])


def test_string_dtypes(both: Any, rich_zip: str) -> None:
    ours, _ = both(rich_zip)
    text = zarr.open(ours, mode="r")["text"]
    assert list(text["fixed_u"][:]) == ["a", "bb", "ccc", "dddd", "eeeee", "ü€"]
    assert list(text["fixed_s"][:]) == [b"x", b"yy", b"zzz", b"", b"\x00a"]
    vlen = text["vlen"]
    assert vlen.filters == [numcodecs.VLenUTF8()]
    assert vlen[4] == "日本語"
    assert vlen[5] == "x" * 300


def test_open_consolidated_reads_only_zmetadata(both: Any, consolidated_zip: str) -> None:
    ours, ref = both(consolidated_zip)
    before = ours.archive.source.stats.requests
    group = zarr.open_consolidated(ours, mode="r")
    # .zmetadata is written last: it came with the directory in the tail read at open;
    # a 1 KiB tail holds only the end record, so the directory and .zmetadata cost a GET each.
    small = ours.archive.options.tail_size < 64 * 1024
    assert ours.archive.source.stats.requests == before + (1 if small else 0)
    assert_same_hierarchy(group, zarr.open_consolidated(ref, mode="r"))
    assert_same_hierarchy(group, zarr.open(ref, mode="r"))


def test_open_consolidated_without_zmetadata_is_a_key_error(both: Any, rich_zip: str) -> None:
    ours, ref = both(rich_zip)
    with pytest.raises(KeyError):
        zarr.open_consolidated(ref, mode="r")
    with pytest.raises(KeyError):
        zarr.open_consolidated(ours, mode="r")


def test_rewritten_chunk_reads_the_newest_like_zipstore(both: Any, tmp_path: Path) -> None:
    path = write_rewritten_chunk_zip(tmp_path / "dup.zip")
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
    assert len(names) > len(set(names)), "the archive should hold duplicate entries"
    ours, ref = both(path)
    want = np.full(20, 2)
    want[5] = 99
    np.testing.assert_array_equal(zarr.open(ref, mode="r")["a"][:], want)
    assert_same_hierarchy(zarr.open(ours, mode="r"), zarr.open(ref, mode="r"))
    assert dict(zarr.open(ours, mode="r").attrs) == {"written": "three times"}
    # Keys are distinct (ZipStore's keys() repeats duplicates; zarr never relies on that).
    assert list(ours.keys()) == sorted(set(ref.keys()))
    for key in set(names):
        assert ours[key] == ref[key]
        assert ours.getsize(key) == ref.getsize(key)


def test_tree_output_equal(both: Any, rich_zip: str) -> None:
    ours, ref = both(rich_zip)
    text = str(zarr.open(ours, mode="r").tree())
    assert text == str(zarr.open(ref, mode="r").tree())
    assert "slash (30, 20) uint16" in text
    ours_info = dict(zarr.open(ours, mode="r")["signals/ch01"].info_items())
    ref_info = dict(zarr.open(ref, mode="r")["signals/ch01"].info_items())
    assert ours_info.pop("Store type") == "remote_zip_store.zarr2._store.RemoteZipStore"
    ref_info.pop("Store type")
    assert ours_info == ref_info  # includes "No. bytes stored" (getsize) and chunks initialized
