"""The zarr-2 store's own API (zarr 2.18's ``MutableMapping`` store), run for every backend.

What both front ends share is the front-end contract
(:class:`remote_zip_store.testing.contract.FrontEndContract`, run by
tests/test_frontend_contract.py in every zarr world); this suite keeps what only the
zarr-2 API has: non-string keys, ``keys``/``len``/``items``, ``listdir`` and ``getsize``
as zarr 2's ``ZipStore`` answers them, ``getitems`` with zarr's contexts, the
``is_*`` capabilities, ``zarr.errors.ReadOnlyError`` and the mutations zarr 2 calls.
A backend subclass sets the ``backend`` fixture (local files unless told).

Every answer is compared with ``zarr.storage.ZipStore`` on the same file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
import zarr
import zarr.errors
from zarr.util import ConstantMap

from remote_zip_store import RemoteZipStore, StoreClosedError
from remote_zip_store.testing.contract import READ_OPTIONS, FrontEndFixtures, OpenStore

from .zarr_trees import assert_same_hierarchy, rich_tree, write_zip


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


class StoreSuite(FrontEndFixtures):
    """The zarr-2 API over the archive of ``rich_tree`` (several codecs, missing chunks)."""

    @pytest.fixture(scope="class")
    @classmethod
    def archive_path(cls, tmp_path_factory: pytest.TempPathFactory) -> str:
        return write_zip(tmp_path_factory.mktemp("suite") / "rich.zip", rich_tree)

    @pytest.fixture
    def ref(self, archive_path: str) -> Iterator[zarr.storage.ZipStore]:
        with zarr.storage.ZipStore(archive_path, mode="r") as ref:
            yield ref

    @pytest.fixture(params=sorted(READ_OPTIONS))
    def store(
        self, request: pytest.FixtureRequest, open_store: OpenStore, archive_path: str
    ) -> RemoteZipStore:
        store: RemoteZipStore = open_store(archive_path, **READ_OPTIONS[request.param])
        return store

    # -- keys that are not strings; the mapping API ----------------------------------------
    def test_a_key_that_is_not_a_string_is_a_key_error_and_never_contained(
        self, store: RemoteZipStore
    ) -> None:
        before = requests(store)
        for odd in (None, 3, b".zgroup"):
            assert odd not in store
            with pytest.raises(KeyError) as info:
                store[odd]  # type: ignore[index]
            shown = repr(repr(odd))
            assert str(info.value).startswith(f"key {shown} in archive")  # not "archive ..."
        assert "/.zgroup" not in store
        assert requests(store) == before

    def test_keys_iter_len_sorted_like_zipstore(
        self, store: RemoteZipStore, ref: zarr.storage.ZipStore
    ) -> None:
        before = requests(store)
        want = sorted(ref.keys())
        assert list(store.keys()) == want
        assert list(store) == want
        assert store.keylist() == want
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

    def test_getsize_like_zarr_store_tests(
        self, open_store: OpenStore, tmp_path_factory: pytest.TempPathFactory
    ) -> None:
        """zarr's own StoreTests.test_hierarchy sizes (v2); the rest is in the contract."""
        import zipfile

        path = tmp_path_factory.mktemp("hier") / "h.zip"
        with zipfile.ZipFile(path, "w") as z:
            for key in ("a", "b", "c/d", "c/e/f", "c/e/g"):
                z.writestr(key, key[-1].encode() * 3)  # "aaa", "bbb", "ddd", ...
        store = open_store(str(path))
        sizes = {"": 6, "a": 3, "b": 3, "c": 3, "c/d": 3, "c/e": 6, "c/e/f": 3, "c/e/g": 3}
        for p, size in sizes.items():
            assert store.getsize(p) == size, p
        for p in ("x", "a/x", "c/x", "c/x/y", "c/d/y", "c/d/y/z"):
            assert store.getsize(p) == 0
        assert store.listdir() == ["a", "b", "c"]
        for key in ("c", "c/e", "c/d/x"):
            with pytest.raises(KeyError):
                store[key]

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

    def test_getitems_serves_buffered_entries_without_a_request(
        self, store: RemoteZipStore
    ) -> None:
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

    def test_no_get_partial_values(self, store: RemoteZipStore) -> None:
        # zarr 2.18 would route reads through it (partial decompression) if present.
        assert not hasattr(store, "get_partial_values")
        assert hasattr(store, "getitems")

    def test_zarr_reads_the_hierarchy_like_zipstore(
        self, store: RemoteZipStore, ref: zarr.storage.ZipStore
    ) -> None:
        assert_same_hierarchy(zarr.open(store, mode="r"), zarr.open(ref, mode="r"))

    # -- read-only, closed -----------------------------------------------------------------
    def test_every_mutation_raises_zarrs_read_only_error(
        self, store: RemoteZipStore, ref: zarr.storage.ZipStore
    ) -> None:
        attempts: list[Callable[[], object]] = [
            lambda: store.__setitem__(".zgroup", b"{}"),
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
            assert store.url in str(info.value)
        assert list(store.keys()) == sorted(ref.keys())
        with pytest.raises(zarr.errors.ReadOnlyError):
            zarr.open(store, mode="r+")["signals/ch00"][:3] = 0
        with pytest.raises(PermissionError):
            zarr.open_group(store, mode="r").create_group("x")

    def test_zarr_on_a_closed_store_raises_store_closed_error(
        self, open_store: OpenStore, archive_path: str
    ) -> None:
        store = open_store(archive_path)
        store.close()
        uses: list[Callable[[], object]] = [
            lambda: store.getitems(["signals/ch00/0"], contexts={}),
            lambda: zarr.open(store, mode="r")["signals/ch00"][:],
        ]
        for use in uses:
            with pytest.raises(StoreClosedError, match="closed"):
                use()
