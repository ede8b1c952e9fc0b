"""``root=``: a hierarchy stored under a folder inside the zip (``zip -r x.zip data.zarr``)."""

from __future__ import annotations

import os
import shutil
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest
import zarr

from remote_zip_store import KeyNotFoundError, RemoteZipError
from remote_zip_store.testing.servers import S3Server

from .worlds import (
    RemoteZipStore,
    as_mapping,
    directory_store,
    group,
    open_group,
    open_zarr,
    zip_store,
)
from .zarr_trees import assert_same_hierarchy, rich_tree


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``<tmp>/data.zarr``: the rich hierarchy in a DirectoryStore."""
    base = tmp_path_factory.mktemp("root")
    rich_tree(group(directory_store(base / "data.zarr", mode="w")))
    return base


def zip_like_info_zip(base: Path, out: Path, folder: str = "data.zarr") -> str:
    """What ``zip -r out folder`` writes: every key under ``folder/`` plus directory entries."""
    with zipfile.ZipFile(out, "w") as z:
        for dirpath, dirnames, filenames in os.walk(base / folder):
            dirnames.sort()
            rel = os.path.relpath(dirpath, base).replace(os.sep, "/")
            z.write(dirpath, rel + "/")  # a directory entry
            for name in sorted(filenames):
                z.write(os.path.join(dirpath, name), f"{rel}/{name}")
    return str(out)


@pytest.fixture(scope="module")
def folder_zip(data_dir: Path) -> str:
    return zip_like_info_zip(data_dir, data_dir / "zipfile-layout.zip")


@pytest.fixture(scope="module")
def info_zip(data_dir: Path) -> str:
    """The real ``zip -r`` (Info-ZIP; .ci/run installs it)."""
    if shutil.which("zip") is None:
        pytest.skip("Info-ZIP 'zip' is not installed (apt-get install zip)")
    out = data_dir / "info-zip.zip"
    subprocess.run(["zip", "-q", "-r", str(out), "data.zarr"], cwd=data_dir, check=True)
    return str(out)


@pytest.fixture
def reference(data_dir: Path) -> Any:
    return open_group(directory_store(data_dir / "data.zarr"))


@pytest.mark.parametrize("layout", ["folder_zip", "info_zip"])
def test_single_folder_is_detected(
    request: pytest.FixtureRequest, layout: str, reference: Any
) -> None:
    path = request.getfixturevalue(layout)
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
    assert "data.zarr/" in names and "data.zarr/signals/" in names  # directory entries
    assert all(name.startswith("data.zarr/") for name in names)
    with RemoteZipStore(path) as store:
        assert store.root == "data.zarr"
        ref_store = as_mapping(reference.store)
        assert list(store.keys()) == sorted(ref_store.keys())
        assert store.listdir("") == ref_store.listdir("")
        assert store.listdir("signals") == ref_store.listdir("signals")
        assert ".zgroup" in store and "data.zarr/.zgroup" not in store
        assert_same_hierarchy(open_zarr(store), reference)
        assert "root='data.zarr'" in repr(store)


def test_detected_through_s3(s3: S3Server, info_zip: str, reference: Any) -> None:
    with RemoteZipStore(s3.put_file(info_zip), **s3.store_kwargs()) as store:
        assert store.root == "data.zarr"
        assert_same_hierarchy(open_group(store), reference)


@pytest.mark.parametrize("root", ["data.zarr", "data.zarr/", "/data.zarr"])
def test_explicit_root(folder_zip: str, root: str, reference: Any) -> None:
    with RemoteZipStore(folder_zip, root=root) as store:
        assert store.root == "data.zarr"
        assert_same_hierarchy(open_zarr(store), reference)


def test_explicit_nested_root(folder_zip: str, reference: Any) -> None:
    with RemoteZipStore(folder_zip, root="data.zarr/signals") as store:
        assert store.root == "data.zarr/signals"
        ref_store = as_mapping(reference.store)
        assert store.listdir() == ref_store.listdir("signals")
        assert_same_hierarchy(open_zarr(store), reference["signals"], same_name=False)
        assert store.getsize("ch00") == ref_store.getsize("signals/ch00")


def test_empty_root_disables_detection(folder_zip: str, reference: Any) -> None:
    with RemoteZipStore(folder_zip, root="") as store:
        assert store.root == ""
        assert store.listdir() == ["data.zarr"]
        assert "data.zarr/.zgroup" in store and ".zgroup" not in store
        with pytest.raises(zarr.errors.GroupNotFoundError):
            open_group(store)
        assert_same_hierarchy(open_group(store, path="data.zarr"), reference, same_name=False)
        # Directory entries are never keys.
        assert all(not key.endswith("/") for key in store)


@pytest.mark.parametrize("root", ["missing", "data.zar", "data.zarr/nope"])
def test_missing_root_is_a_clear_error(folder_zip: str, root: str) -> None:
    with pytest.raises(KeyError) as info:
        RemoteZipStore(folder_zip, root=root)
    assert isinstance(info.value, KeyNotFoundError)
    assert isinstance(info.value, RemoteZipError)
    assert os.path.abspath(folder_zip) in str(info.value)
    assert repr(root) in str(info.value)
    assert info.value.key == root


def test_no_detection_for_two_top_level_folders(data_dir: Path, tmp_path: Path) -> None:
    shutil.copytree(data_dir / "data.zarr", tmp_path / "a.zarr")
    shutil.copytree(data_dir / "data.zarr", tmp_path / "b.zarr")
    path = tmp_path / "two.zip"
    zip_like_info_zip(tmp_path, path, "a.zarr")
    with zipfile.ZipFile(path, "a") as z:
        z.write(tmp_path / "b.zarr" / ".zgroup", "b.zarr/.zgroup")
    with RemoteZipStore(path) as store:
        assert store.root == ""
        assert store.listdir() == ["a.zarr", "b.zarr"]
    with RemoteZipStore(path, root="b.zarr") as store:
        assert list(store.keys()) == [".zgroup"]


def test_no_detection_without_zarr_metadata(tmp_path: Path) -> None:
    path = tmp_path / "plain.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("folder/", b"")
        z.writestr("folder/readme.txt", b"hello")
        z.writestr("folder/sub/.zgroup", b'{"zarr_format": 2}')
    with RemoteZipStore(path) as store:
        assert store.root == ""
        assert list(store.keys()) == ["folder/readme.txt", "folder/sub/.zgroup"]


def test_no_detection_with_a_top_level_file(tmp_path: Path) -> None:
    path = tmp_path / "mixed.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("data.zarr/.zgroup", b'{"zarr_format": 2}')
        z.writestr("README", b"hello")
    with RemoteZipStore(path) as store:
        assert store.root == ""
        assert "README" in store


def test_root_survives_pickling(folder_zip: str) -> None:
    import pickle

    with RemoteZipStore(folder_zip) as store:
        clone = pickle.loads(pickle.dumps(store))
        assert clone.root == "data.zarr"
        assert clone == store
        assert clone[".zgroup"] == store[".zgroup"]
        assert list(clone.keys()) == list(store.keys())


@pytest.mark.parametrize("layout", ["folder_zip", "info_zip"])
def test_root_disabled_lists_like_zipstore(request: pytest.FixtureRequest, layout: str) -> None:
    """With directory entries present, ZipStore's keys() include them; listdir/getsize agree."""
    path = request.getfixturevalue(layout)
    with RemoteZipStore(path, root="") as store, zip_store(path) as reference:
        ref = as_mapping(reference)
        files = [key for key in ref if not key.endswith("/")]
        assert list(store.keys()) == sorted(files)
        paths = {""} | {key.rsplit("/", 1)[0] for key in files} | set(files)
        for p in sorted(paths):
            assert store.listdir(p) == ref.listdir(p), p
            assert store.getsize(p) == ref.getsize(p), p
