"""The zarr 2.18 store contract, written once and run for every backend.

Modelled on ``zarr/testing/store.py``: a base class whose tests use two
fixtures a backend subclass provides:

* ``archive_path``: a local zip written by ``zarr.ZipStore`` (the reference);
* ``open_store``: ``open_store(path, **kwargs) -> RemoteZipStore`` over the
  same bytes (uploaded to the backend's server for S3).

Every answer is compared with ``zarr.storage.ZipStore`` on the same file.
"""

from __future__ import annotations

import pickle
import zipfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest
import zarr
import zarr.errors
from zarr.util import ConstantMap

from remote_zip_store import (
    KeyNotFoundError,
    ReadOnlyStoreError,
    RemoteZipError,
    RemoteZipStore,
    StoreClosedError,
)

from .zarr_trees import assert_same_hierarchy, rich_tree, write_zip

OpenStore = Callable[..., RemoteZipStore]


def requests(store: RemoteZipStore) -> int:
    return store.archive.source.stats.requests


def all_paths(keys: list[str]) -> list[str]:
    """Every prefix of every key, every key, and a few paths that do not exist."""
    paths = {""}
    for key in keys:
        parts = key.split("/")
        for i in range(1, len(parts) + 1):
            paths.add("/".join(parts[:i]))
    return [*sorted(paths), "nope", "signals/nope", "signals/ch00/nope/deeper"]


class StoreSuite:
    """Backend-independent conformance tests (subclasses provide ``open_store``)."""

    @pytest.fixture(scope="class")
    @classmethod
    def archive_path(cls, tmp_path_factory: pytest.TempPathFactory) -> str:
        return write_zip(tmp_path_factory.mktemp("suite") / "rich.zip", rich_tree)

    @pytest.fixture
    def open_store(self) -> OpenStore:  # pragma: no cover - overridden
        raise NotImplementedError("a backend subclass provides open_store")

    @pytest.fixture
    def ref(self, archive_path: str) -> Iterator[zarr.storage.ZipStore]:
        with zarr.storage.ZipStore(archive_path, mode="r") as ref:
            yield ref

    @pytest.fixture(params=["small_tail", "default_tail", "small_tail_and_head"])
    def store(
        self, request: pytest.FixtureRequest, open_store: OpenStore, archive_path: str
    ) -> Iterator[RemoteZipStore]:
        """The archive is smaller than the default tail GET, which then holds every byte;
        a 1 KiB tail (and no head) makes every entry a range GET of its own (or a coalesced
        one); a 1 KiB tail with a 16 KiB head serves the first entries from the head."""
        options: dict[str, int] = {
            "small_tail": {"tail_size": 1024, "head_size": 0},
            "default_tail": {},
            "small_tail_and_head": {"tail_size": 1024, "head_size": 16 * 1024},
        }[request.param]
        with open_store(archive_path, **options) as store:
            yield store

    # -- reading keys -----------------------------------------------------------------
    def test_every_key_reads_like_zipstore(
        self, store: RemoteZipStore, ref: zarr.storage.ZipStore
    ) -> None:
        keys = list(ref.keys())
        assert len(keys) > 50
        for key in keys:
            assert store[key] == ref[key], key

    def test_missing_key_raises_key_error_naming_key_and_archive(
        self, store: RemoteZipStore
    ) -> None:
        for key in ("nope", "signals/ch00/99", "signals", "signals/", ""):
            with pytest.raises(KeyError) as info:
                store[key]
            assert isinstance(info.value, KeyNotFoundError)
            assert isinstance(info.value, RemoteZipError)
            assert store.url in str(info.value)
            assert repr(key) in str(info.value)
        for odd in (None, 3, b".zgroup"):
            with pytest.raises(KeyError) as info:
                store[odd]  # type: ignore[index]
            shown = repr(repr(odd))
            assert str(info.value).startswith(f"key {shown} in archive")  # not "archive ..."

    def test_contains(self, store: RemoteZipStore, ref: zarr.storage.ZipStore) -> None:
        before = requests(store)
        for key in ref:
            assert key in store
        for key in ("nope", "signals", "signals/", "/.zgroup", "", 3, None, b".zgroup"):
            assert key not in store
        assert requests(store) == before

    def test_keys_iter_len_sorted_like_zipstore(
        self, store: RemoteZipStore, ref: zarr.storage.ZipStore
    ) -> None:
        before = requests(store)
        want = sorted(ref.keys())
        assert list(store.keys()) == want
        assert list(store) == want
        assert len(store) == len(want)
        assert requests(store) == before

    def test_listdir_and_getsize_like_zipstore_without_requests(
        self, store: RemoteZipStore, ref: zarr.storage.ZipStore
    ) -> None:
        before = requests(store)
        paths = all_paths(list(ref.keys()))
        for path in [*paths, None, "/signals/", "signals//ch00"]:
            assert store.listdir(path) == ref.listdir(path), path
            assert store.getsize(path) == ref.getsize(path), path
        assert requests(store) == before
        # zarr's module-level helpers go through the same methods.
        assert zarr.storage.listdir(store, "signals") == zarr.storage.listdir(ref, "signals")
        assert zarr.storage.getsize(store, "signals/ch01") == zarr.storage.getsize(
            ref, "signals/ch01"
        )
        assert requests(store) == before

    def test_mapping_api_and_copy_store(
        self, store: RemoteZipStore, ref: zarr.storage.ZipStore
    ) -> None:
        assert store.get(".zgroup") == ref[".zgroup"]
        assert store.get("missing") is None
        assert store.get("missing", b"default") == b"default"
        assert dict(store.items()) == {key: ref[key] for key in ref}
        dest: dict[str, bytes] = {}
        zarr.copy_store(store, dest)
        assert dest == {key: ref[key] for key in ref}

    def test_capabilities(self, store: RemoteZipStore) -> None:
        assert store.is_readable() and store.is_listable()
        assert not store.is_writeable() and not store.is_erasable()
        mutations: list[Callable[[], object]] = [
            lambda: store.pop(".zgroup"),
            store.popitem,
            lambda: store.update({"x": b"1"}),
            lambda: store.setdefault("x", b"1"),
        ]
        for mutate in mutations:
            with pytest.raises(zarr.errors.ReadOnlyError):
                mutate()
        assert ".zgroup" in store and "x" not in store

    def test_hierarchy_like_zarr_store_tests(
        self, open_store: OpenStore, tmp_path_factory: pytest.TempPathFactory
    ) -> None:
        """zarr's own StoreTests.test_hierarchy expectations (v2), read-only part."""
        path = tmp_path_factory.mktemp("hier") / "h.zip"
        with zipfile.ZipFile(path, "w") as z:
            for key in ("a", "b", "c/d", "c/e/f", "c/e/g"):
                z.writestr(key, key[-1].encode() * 3)  # "aaa", "bbb", "ddd", ...
        with open_store(str(path)) as store:
            for key in ("a", "b", "c/d", "c/e/f", "c/e/g"):
                assert key in store
            for key in ("c", "c/", "c/e", "c/e/", "c/d/x"):
                assert key not in store
            for key in ("c", "c/e", "c/d/x"):
                with pytest.raises(KeyError):
                    store[key]
            sizes = {"": 6, "a": 3, "b": 3, "c": 3, "c/d": 3, "c/e": 6, "c/e/f": 3, "c/e/g": 3}
            for p, size in sizes.items():
                assert store.getsize(p) == size, p
            for p in ("x", "a/x", "c/x", "c/x/y", "c/d/y", "c/d/y/z"):
                assert store.getsize(p) == 0
                assert store.listdir(p) == []
            assert store.listdir() == ["a", "b", "c"]
            assert store.listdir("c") == ["d", "e"]
            assert store.listdir("c/e") == ["f", "g"]
            assert store.listdir("c/e/f") == []

    # -- getitems ----------------------------------------------------------------------
    @pytest.mark.parametrize("contexts", ["empty", "constant_map"])
    def test_getitems_omits_missing_keys(
        self, store: RemoteZipStore, ref: zarr.storage.ZipStore, contexts: str
    ) -> None:
        present = [k for k in ref if k.startswith(("signals/ch0", "sparse/"))]
        missing = ["sparse/1.1", "signals/ch00/42", "nope", "sparse/.zarray/x"]
        keys = [*present, *missing, present[0]]
        ctx: Any = {} if contexts == "empty" else ConstantMap(keys, {"meta_array": np.empty(())})
        got = store.getitems(keys, contexts=ctx)
        assert got == {k: ref[k] for k in present}
        assert store.getitems([], contexts={}) == {}
        assert store.getitems(missing, contexts={}) == {}

    def test_getitems_coalesces_neighbouring_chunks(self, store: RemoteZipStore) -> None:
        keys = [f"signals/ch01/{i}" for i in range(8)]
        before = requests(store)
        got = store.getitems(keys, contexts={})
        assert sorted(got) == sorted(keys)
        made = requests(store) - before
        options = store.archive.options
        if options.tail_size == 1024:
            # The eight chunks are adjacent in the zip: one coalesced GET, for those past
            # the head (served from memory).
            entries = [store.archive.index.get(k) for k in keys]
            in_head = [e is not None and store.archive.is_buffered(e) for e in entries]
            assert made == (0 if all(in_head) else 1)
            assert options.head_size > 0 or not any(in_head)
        else:
            assert made == 0  # all served from the tail read at open

    @pytest.mark.parametrize("max_workers", [1, 4])
    def test_getitems_one_get_per_entry_without_coalescing(
        self,
        open_store: OpenStore,
        archive_path: str,
        ref: zarr.storage.ZipStore,
        max_workers: int,
    ) -> None:
        keys = [f"signals/ch0{c}/{i}" for c in (1, 4) for i in range(8)]
        options = {"tail_size": 1024, "head_size": 0, "coalesce_max": 1}
        options["max_workers"] = max_workers
        with open_store(archive_path, **options) as store:
            before = requests(store)
            got = store.getitems([*keys, "signals/ch01/99"], contexts={})
            assert requests(store) - before == len(keys)  # all far from the tail
        assert got == {key: ref[key] for key in keys}

    def test_concurrent_reads_from_threads(
        self, store: RemoteZipStore, ref: zarr.storage.ZipStore
    ) -> None:
        keys = list(ref.keys())
        want = {key: ref[key] for key in keys}
        chunks = [k for k in keys if k.startswith("signals/")]

        def one(i: int) -> bool:
            if i % 2:
                return store.getitems(chunks, contexts={}) == {k: want[k] for k in chunks}
            return all(store[k] == want[k] for k in keys[i % 7 :: 5])

        with ThreadPoolExecutor(max_workers=8) as pool:
            assert all(pool.map(one, range(24)))

    def test_no_get_partial_values(self, store: RemoteZipStore) -> None:
        # zarr 2.18 would route reads through it (partial decompression) if present.
        assert not hasattr(store, "get_partial_values")
        assert hasattr(store, "getitems")

    def test_zarr_reads_the_hierarchy_like_zipstore(
        self, store: RemoteZipStore, ref: zarr.storage.ZipStore
    ) -> None:
        assert_same_hierarchy(zarr.open(store, mode="r"), zarr.open(ref, mode="r"))

    # -- read-only -----------------------------------------------------------------------
    def test_writes_raise_read_only_error(
        self, store: RemoteZipStore, ref: zarr.storage.ZipStore
    ) -> None:
        attempts: list[Callable[[], object]] = [
            lambda: store.__setitem__(".zgroup", b"{}"),
            lambda: store.__setitem__("new", b"x"),
            lambda: store.__delitem__(".zgroup"),
            store.clear,
            lambda: store.rmdir("signals"),
            lambda: store.rmdir(),
            lambda: store.rename("signals", "other"),
        ]
        for attempt in attempts:
            with pytest.raises(zarr.errors.ReadOnlyError) as info:
                attempt()
            assert isinstance(info.value, PermissionError)
            assert isinstance(info.value, ReadOnlyStoreError)
            assert store.url in str(info.value)
        assert list(store.keys()) == sorted(ref.keys())
        assert store[".zgroup"] == ref[".zgroup"]
        with pytest.raises(zarr.errors.ReadOnlyError):
            zarr.open(store, mode="r+")["signals/ch00"][:3] = 0
        with pytest.raises(PermissionError):
            zarr.open_group(store, mode="r").create_group("x")

    # -- lifecycle -----------------------------------------------------------------------
    def test_context_manager_and_close(
        self, open_store: OpenStore, archive_path: str, ref: zarr.storage.ZipStore
    ) -> None:
        with open_store(archive_path) as store:
            assert not store.closed
            assert store[".zgroup"] == ref[".zgroup"]
        assert store.closed
        store.close()  # closing twice is harmless
        uses: list[Callable[[], object]] = [
            lambda: store[".zgroup"],
            lambda: store["no-such-key"],
            lambda: store.getitems(["signals/ch00/0"], contexts={}),
            lambda: zarr.open(store, mode="r")["signals/ch00"][:],
        ]
        for use in uses:
            with pytest.raises(ValueError) as info:
                use()
            assert isinstance(info.value, StoreClosedError)
            assert store.url in str(info.value)
            assert "closed" in str(info.value)

    # -- identity ------------------------------------------------------------------------
    def test_equality_means_same_archive(
        self, open_store: OpenStore, archive_path: str, tmp_path: Any
    ) -> None:
        with open_store(archive_path) as a, open_store(archive_path) as b:
            assert a.url == b.url
            assert a == b
            assert hash(a) == hash(b)
            assert a is not b
            other_path = write_zip(tmp_path / "other.zip", lambda g: g.attrs.update(x=1))
            with open_store(other_path) as c:
                assert a != c
            assert a != "not a store"
            with zarr.storage.ZipStore(archive_path, mode="r") as zip_store:
                assert a != zip_store

    def test_same_url_is_equal(self, open_store: OpenStore, archive_path: str) -> None:
        with (
            open_store(archive_path) as a,
            RemoteZipStore.from_source(a.archive.source) as b,
        ):
            assert a == b
            assert hash(a) == hash(b)

    def test_repr_and_str_name_the_archive(self, store: RemoteZipStore) -> None:
        for text in (repr(store), str(store)):
            assert store.url in text
            assert text.startswith("RemoteZipStore(")

    # -- pickling ------------------------------------------------------------------------
    def test_pickle_round_trip_makes_no_request(
        self, store: RemoteZipStore, ref: zarr.storage.ZipStore
    ) -> None:
        blob = pickle.dumps(store)
        clone = pickle.loads(blob)
        assert isinstance(clone, RemoteZipStore)
        assert requests(clone) == 0
        # Deterministic (dask's tokenize compares pickles), also after a round trip.
        assert pickle.dumps(store) == blob
        assert pickle.dumps(clone) == blob
        assert clone == store
        assert repr(clone) == repr(store)
        # The first use reads the directory; then it serves the same bytes.
        assert list(clone.keys()) == sorted(ref.keys())
        assert clone["signals/ch03/2"] == ref["signals/ch03/2"]
        assert clone.getitems(["sparse/0.0", "sparse/1.1"], contexts={}) == {
            "sparse/0.0": ref["sparse/0.0"]
        }
        assert pickle.dumps(clone) == blob  # reading changes nothing that is pickled
        clone.close()
        assert not store.closed  # closing a clone leaves the original open

    def test_pickled_zarr_array_reads_back(
        self, store: RemoteZipStore, ref: zarr.storage.ZipStore
    ) -> None:
        array = zarr.open(store, mode="r")["deep/er/est/slash"]
        clone = pickle.loads(pickle.dumps(array))
        np.testing.assert_array_equal(clone[:], zarr.open(ref, mode="r")["deep/er/est/slash"][:])
