"""The package's face: its public names, the old module paths, and pickles of 0.1.0.

Runs in both zarr worlds: ``RemoteZipStore`` is the installed zarr's front end.
"""

from __future__ import annotations

import importlib
import pickle
import sys
import warnings
from pathlib import Path

import pytest

import remote_zip_store
from remote_zip_store import _legacy
from remote_zip_store.verbs._frontends import front_end

DATA = Path(__file__).with_name("data")

#: The package root's public names (a change here is an API change: say it in CHANGELOG).
PUBLIC = [
    "ArchiveAccessError",
    "ArchiveChangedError",
    "ArchiveNotFoundError",
    "BadArchiveError",
    "ChunkNotReadableError",
    "CorruptEntryError",
    "HTTPSource",
    "DeadlineExceededError",
    "InvalidURLError",
    "PartialCredentialsError",
    "KeyNotFoundError",
    "LocalSource",
    "ReadOnlyStoreError",
    "ReadOptions",
    "RemoteZipError",
    "RemoteZipStore",
    "S3Options",
    "S3Source",
    "Source",
    "SourceError",
    "StoreClosedError",
    "UnsupportedArchiveError",
    "WriteOptions",
    "ZipArchive",
    "ZipWriteStore",
    "__version__",
    "open_many",
]


def test_the_package_root_exports_exactly_the_public_names() -> None:
    assert sorted(remote_zip_store.__all__) == sorted(PUBLIC)
    for name in PUBLIC:
        assert getattr(remote_zip_store, name) is not None, name
    assert set(PUBLIC) <= set(dir(remote_zip_store))
    with pytest.raises(AttributeError):
        remote_zip_store.frontend  # noqa: B018  (internals are not on the face)


#: Each layer package's face (its ``__all__``): the names users import from it. The
#: modules inside are private. A change here is an API change: say it in CHANGELOG.
FACES = {
    "zipfmt": [
        "Entry",
        "NeedMoreBytes",
        "OzxInfo",
        "ZipIndex",
        "is_ozx_name",
        "json_first_key",
        "locate_directory",
        "ozx_comment",
        "parse_central_directory",
        "parse_ozx_comment",
    ],
    "transport": [
        "CONNECTION_ARGUMENTS",
        "Ends",
        "HTTPOptions",
        "HTTPSource",
        "LocalSink",
        "LocalSource",
        "PartOptions",
        "Preconnects",
        "ReadsInto",
        "S3MultipartSink",
        "S3Options",
        "S3Source",
        "Sink",
        "Source",
        "SourceIdentity",
        "Stats",
        "list_objects",
        "open_sink",
        "open_source",
        "parse_s3_url",
        "translate_error",
    ],
    "archive": ["ReadOptions", "WriteOptions", "ZipArchive", "ZipWriter"],
    "hierarchy": [],  # internal: what both front ends share
    "verbs": [
        "Finding",
        "IcechunkResult",
        "IndexReport",
        "OpenCost",
        "PackResult",
        "Report",
        "ScanRow",
        "archive_urls",
        "build_catalog",
        "check",
        "icechunk_credentials",
        "kerchunk_refs",
        "list_archives",
        "load_catalog",
        "open_cost",
        "open_many",
        "pack",
        "parse_prefix",
        "read_catalog",
        "scan",
        "to_icechunk",
        "write_catalog",
    ],
    "zarr2": ["ReadOnlyStoreError", "RemoteZipStore", "ZipWriteStore"],
    "zarr3": [
        "MissingKeyError",
        "ReadOnlyStoreError",
        "RemoteZipStore",
        "ZipWriteStore",
        "resolve_byte_request",
    ],
}


#: The faces that import in this zarr world (the other front end's does in the other).
THIS_WORLDS_FACES = sorted({*FACES} - {"zarr2", "zarr3"} | {front_end()})


@pytest.mark.parametrize("package", THIS_WORLDS_FACES)
def test_each_layer_face_exports_exactly_its_names(package: str) -> None:
    module = importlib.import_module(f"remote_zip_store.{package}")
    assert sorted(getattr(module, "__all__", [])) == FACES[package]
    for name in FACES[package]:
        assert getattr(module, name) is not None, name


def test_modules_inside_the_layers_are_private() -> None:
    """A module's name is not API: only the faces (``__init__``) and ``testing``'s modules
    (the `testing` extra's API) are public, so moving code between modules breaks nobody."""
    root = Path(remote_zip_store.__file__).parent
    public = []
    for path in sorted(root.glob("*/*.py")):
        package = path.parent.name
        if package in ("testing", "__pycache__") or path.name == "__init__.py":
            continue
        if not path.name.startswith("_"):
            public.append(f"{package}/{path.name}")
    assert public == []
    layers = {p.name for p in root.iterdir() if (p / "__init__.py").exists()}
    assert layers == {*FACES, "cli", "testing"}


def test_the_front_end_names_follow_the_installed_zarr() -> None:
    store = remote_zip_store.RemoteZipStore
    writer = remote_zip_store.ZipWriteStore
    assert store.__module__ == f"remote_zip_store.{front_end()}._store"
    assert writer.__module__ == f"remote_zip_store.{front_end()}._write"
    face = importlib.import_module(f"remote_zip_store.{front_end()}")
    assert (face.RemoteZipStore, face.ZipWriteStore) == (store, writer)
    errors = importlib.import_module("remote_zip_store.errors")
    assert issubclass(remote_zip_store.ReadOnlyStoreError, errors.ReadOnlyStoreError)


def test_mode_w_builds_the_write_store_and_isinstance_holds(tmp_path: Path) -> None:
    store = remote_zip_store.RemoteZipStore(tmp_path / "new.zip", mode="w")
    try:
        assert type(store) is remote_zip_store.ZipWriteStore
        assert isinstance(store, remote_zip_store.RemoteZipStore)
        assert not store.closed and store.bytes_written == 0  # its own __init__ ran
    finally:
        store.close()
    with pytest.raises(ValueError, match="mode must be 'r', 'w' or 'w-'"):
        remote_zip_store.RemoteZipStore(tmp_path / "new.zip", mode="a")


def _importable(module: str) -> bool:
    try:
        importlib.import_module(module)
    except ImportError:
        return False  # the other zarr world's front end
    return True


#: Every old path whose module imports in this zarr world (the other front end's do not).
THIS_WORLD = [
    old for old in sorted(_legacy.MOVED) if _importable(f"remote_zip_store.{_legacy.MOVED[old]}")
]


@pytest.mark.parametrize("old", THIS_WORLD)
def test_old_module_paths_are_the_moved_modules(old: str) -> None:
    new = f"remote_zip_store.{_legacy.MOVED[old]}"
    sys.modules.pop(f"remote_zip_store.{old}", None)
    with pytest.warns(DeprecationWarning, match=f"remote_zip_store.{old} moved to {new}"):
        legacy = importlib.import_module(f"remote_zip_store.{old}")
    assert legacy is importlib.import_module(new)
    assert legacy.__spec__ is not None and legacy.__spec__.name == new  # its own spec kept


def test_a_store_pickled_by_the_previous_release_unpickles_and_reads() -> None:
    """``tests/data/legacy-zarr{2,3}.pickle``: made by 0.1.0 (commit 7e78535) with
    ``tests/data/make_legacy_pickles.py`` against moto on port 47391, the archive
    ``tests/data/legacy.zarr.zip`` in bucket ``legacy`` (moto's ETag is the MD5 of the
    bytes, so the pinned version matches the re-uploaded object)."""
    from moto.server import ThreadedMotoServer

    from remote_zip_store.transport import S3Options

    world = "zarr3" if front_end() == "zarr3" else "zarr2"
    data = (DATA / f"legacy-{world}.pickle").read_bytes()
    assert b"remote_zip_store.sources.s3" in data  # a 0.1.0 path, answered by the finder
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=47391, verbose=False)
    server.start()
    try:
        options = S3Options(
            endpoint_url="http://127.0.0.1:47391",
            region_name="us-east-1",
            aws_access_key_id="k",
            aws_secret_access_key="s",
        )
        client = options.make_client()
        client.create_bucket(Bucket="legacy")
        client.put_object(
            Bucket="legacy", Key="legacy.zarr.zip", Body=(DATA / "legacy.zarr.zip").read_bytes()
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            objects = pickle.loads(data)
        store = objects["store"]
        assert type(store) is remote_zip_store.RemoteZipStore
        assert objects["read_options"] == remote_zip_store.ReadOptions(coalesce_gap=1234)
        assert type(objects["s3_options"]) is S3Options
        entry = store.archive.index.get(".zattrs")
        assert entry is not None
        assert store.archive.read_entry(entry) == b'{"subject": "s01"}'
        store.close()
    finally:
        server.stop()


def test_a_module_under_an_old_package_path_is_not_loaded_twice() -> None:
    """``remote_zip_store.sources.s3config`` (never a 0.1.0 name) is still the one module."""
    from remote_zip_store.transport import _s3config as s3config

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        legacy = importlib.import_module("remote_zip_store.sources.s3config")
    assert legacy is s3config
