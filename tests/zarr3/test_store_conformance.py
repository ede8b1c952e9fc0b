"""zarr 3's own store conformance suite (``zarr.testing.store.StoreTests``), read-only.

The harness's ``set`` writes the key into the zip file with zipfile and reopens the
store on it; ``get`` reads it back with zarr's own ``ZipStore`` (the oracle). Tests
that write through the store are replaced by ones that check the write is refused.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("zarr", minversion="3.1")

from zarr.abc.store import OffsetByteRequest, RangeByteRequest, SuffixByteRequest
from zarr.core.buffer import Buffer, cpu, default_buffer_prototype
from zarr.core.sync import _collect_aiterator, sync
from zarr.storage import ZipStore
from zarr.testing.store import StoreTests

from remote_zip_store.errors import RemoteZipError
from remote_zip_store.zarr3._store import ReadOnlyStoreError, RemoteZipStore

READ_ONLY = "store was opened in read-only mode and does not support writing"


def _entries(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {name: z.read(name) for name in z.namelist()}


def _rewrite(path: Path, entries: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w") as z:
        for name, data in entries.items():
            z.writestr(name, data)


class TestRemoteZipStore(StoreTests[RemoteZipStore, cpu.Buffer]):
    store_cls = RemoteZipStore
    buffer_cls = cpu.Buffer

    async def set(self, store: RemoteZipStore, key: str, value: Buffer) -> None:
        path = Path(store.url)
        entries = _entries(path)
        entries[key] = value.to_bytes()
        _rewrite(path, entries)
        fresh = RemoteZipStore(path, root="")  # the store sees the new archive
        was_open = store._is_open
        store.archive.close()
        store.__dict__.update(fresh.__dict__)
        store._is_open = was_open

    async def get(self, store: RemoteZipStore, key: str) -> Buffer:
        oracle = await ZipStore.open(store.url, mode="r")
        try:
            value = await oracle.get(key, prototype=default_buffer_prototype())
        finally:
            oracle.close()
        assert value is not None
        return value

    async def set_many(self, store: RemoteZipStore, items: dict[str, Buffer]) -> None:
        for key, value in items.items():
            await self.set(store, key, value)

    @pytest.fixture
    def store_kwargs(self, tmp_path: Path) -> dict[str, Any]:
        path = tmp_path / "store.zip"
        _rewrite(path, {})
        return {"url": path, "root": ""}

    @pytest.fixture
    def open_kwargs(self, store_kwargs: dict[str, Any]) -> dict[str, Any]:
        return dict(store_kwargs)

    @pytest.fixture
    def store(self, open_kwargs: dict[str, Any]) -> RemoteZipStore:
        return sync(RemoteZipStore.open(**open_kwargs))

    @pytest.fixture
    def store_not_open(self, store_kwargs: dict[str, Any]) -> RemoteZipStore:
        return RemoteZipStore(**store_kwargs)

    def test_store_repr(self, store: RemoteZipStore) -> None:
        assert repr(store) == f"RemoteZipStore({store.url!r})"

    def test_store_supports_writes(self, store: RemoteZipStore) -> None:
        assert not store.supports_writes
        assert not store.supports_deletes

    def test_store_supports_listing(self, store: RemoteZipStore) -> None:
        assert store.supports_listing

    # -- the suite's tests that write through the store, read-only ------------------------
    def test_store_read_only(self, store: RemoteZipStore) -> None:
        assert store.read_only
        with pytest.raises(AttributeError):
            store.read_only = False  # type: ignore[misc]

    @pytest.mark.parametrize("read_only", [True, False])
    async def test_store_open_read_only(self, open_kwargs: dict[str, Any], read_only: bool) -> None:
        open_kwargs["read_only"] = read_only
        if not read_only:
            with pytest.raises(ReadOnlyStoreError, match=READ_ONLY):
                await RemoteZipStore.open(**open_kwargs)
            return
        store = await RemoteZipStore.open(**open_kwargs)
        assert store._is_open and store.read_only

    async def test_serializable_store(self, store: RemoteZipStore) -> None:
        await self.set(store, "foo", self.buffer_cls.from_bytes(b"\x01\x02\x03\x04"))
        copy: RemoteZipStore = pickle.loads(pickle.dumps(store))
        assert copy == store and copy.read_only
        assert copy.archive._index is None  # unpickling made no request
        observed = await copy.get("foo", prototype=default_buffer_prototype())
        assert observed is not None and observed.to_bytes() == b"\x01\x02\x03\x04"

    async def test_with_read_only_store(self, open_kwargs: dict[str, Any]) -> None:
        store = await RemoteZipStore.open(**open_kwargs)
        reader = store.with_read_only(True)
        assert reader == store and reader.read_only and not reader._is_open
        with pytest.raises(ReadOnlyStoreError, match=READ_ONLY):
            store.with_read_only(False)
        for target in (store, reader):
            with pytest.raises(ValueError, match=READ_ONLY):
                await target.set("foo", self.buffer_cls.from_bytes(b"bar"))
            with pytest.raises(ValueError, match=READ_ONLY):
                await target.delete("foo")

    @pytest.mark.parametrize("key", ["zarr.json", "c/0"])
    async def test_set(self, store: RemoteZipStore, key: str) -> None:
        with pytest.raises(ReadOnlyStoreError, match=READ_ONLY) as info:
            await store.set(key, self.buffer_cls.from_bytes(b"x"))
        assert isinstance(info.value, RemoteZipError | PermissionError)
        assert info.value.key == key and info.value.archive == store.url

    async def test_set_not_open(self, store_not_open: RemoteZipStore) -> None:
        with pytest.raises(ValueError, match=READ_ONLY):
            await store_not_open.set("c/0", self.buffer_cls.from_bytes(b"x"))

    async def test_set_many(self, store: RemoteZipStore) -> None:
        with pytest.raises(ValueError, match=READ_ONLY):
            await store._set_many([("zarr.json", self.buffer_cls.from_bytes(b"x"))])

    async def test_set_if_not_exists(self, store: RemoteZipStore) -> None:
        await self.set(store, "k", self.buffer_cls.from_bytes(b"0000"))
        with pytest.raises(ValueError, match=READ_ONLY):
            await store.set_if_not_exists("k2", self.buffer_cls.from_bytes(b"1111"))
        result = await store.get("k", default_buffer_prototype())
        assert result is not None and result.to_bytes() == b"0000"

    async def test_clear(self, store: RemoteZipStore) -> None:
        await self.set(store, "key", self.buffer_cls.from_bytes(b"something"))
        for refused in (store.clear(), store.delete_dir("")):
            with pytest.raises(ValueError, match=READ_ONLY):
                await refused
        assert not await store.is_empty("")

    async def test_exists(self, store: RemoteZipStore) -> None:
        assert not await store.exists("foo")
        await self.set(store, "foo/zarr.json", self.buffer_cls.from_bytes(b"bar"))
        assert await store.exists("foo/zarr.json")
        assert not await store.exists("foo")

    async def test_list(self, store: RemoteZipStore) -> None:
        assert await _collect_aiterator(store.list()) == ()
        data = self.buffer_cls.from_bytes(b"")
        items = {"foo/zarr.json": data, **{f"foo/c/{i}": data for i in range(10)}}
        await self.set_many(store, items)
        assert sorted(await _collect_aiterator(store.list())) == sorted(items)

    async def test_list_prefix(self, store: RemoteZipStore) -> None:
        prefixes = ("", "a/", "a/b/", "a/b/c/")
        keys = [p + "zarr.json" for p in prefixes]
        await self.set_many(store, {k: self.buffer_cls.from_bytes(b"") for k in keys})
        for prefix in (*prefixes, "a", "a/b/c/z"):
            observed = sorted(await _collect_aiterator(store.list_prefix(prefix)))
            assert observed == sorted(k for k in keys if k.startswith(prefix))

    async def test_list_empty_path(self, store: RemoteZipStore) -> None:
        keys = ["foo/bar/zarr.json", "foo/bar/c/1", "foo/baz/c/0"]
        await self.set_many(store, {k: self.buffer_cls.from_bytes(b"") for k in keys})
        assert sorted(await _collect_aiterator(store.list())) == sorted(keys)
        assert sorted(await _collect_aiterator(store.list_prefix(""))) == sorted(keys)
        observed = sorted(await _collect_aiterator(store.list_prefix("foo/bar/")))
        assert observed == ["foo/bar/c/1", "foo/bar/zarr.json"]

    async def test_list_dir(self, store: RemoteZipStore) -> None:
        assert await _collect_aiterator(store.list_dir("")) == ()
        items = {
            "foo/zarr.json": b"bar",
            "foo/c/1": b"\x01",
            "foo/bar/foobar_first_child": b"1",
            "foo/bar/foobar_second_child/zarr.json": b"2",
        }
        await self.set_many(store, {k: self.buffer_cls.from_bytes(v) for k, v in items.items()})
        for root, expected in [
            ("", ["foo"]),
            ("foo", ["bar", "c", "zarr.json"]),
            ("foo/", ["bar", "c", "zarr.json"]),
            ("foo/bar", ["foobar_first_child", "foobar_second_child"]),
            ("nothing", []),
        ]:
            assert sorted(await _collect_aiterator(store.list_dir(root))) == expected

    async def test_getsize_prefix(self, store: RemoteZipStore) -> None:
        data = self.buffer_cls.from_bytes(b"\x01\x02\x03\x04")
        keys = ["c/0/0", "c/0/1", "c/1/0", "c/1/1", "cc/0"]
        await self.set_many(store, dict.fromkeys(keys, data))
        assert await store.getsize_prefix("c") == 16
        assert await store.getsize_prefix("c/") == 16

    # -- beyond the suite: every byte request against zarr's ZipStore ----------------------
    @pytest.mark.parametrize(
        "byte_range",
        [
            None,
            RangeByteRequest(0, 1),
            RangeByteRequest(5, 70_000),
            RangeByteRequest(99_990, 100_000),
            RangeByteRequest(99_990, 200_000),
            RangeByteRequest(300_000, 300_010),
            RangeByteRequest(7, 7),
            OffsetByteRequest(0),
            OffsetByteRequest(65_000),
            OffsetByteRequest(100_000),
            SuffixByteRequest(1),
            SuffixByteRequest(40_000),
            SuffixByteRequest(10**9),
            SuffixByteRequest(0),
        ],
    )
    @pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
    async def test_get_like_zipstore(
        self, tmp_path: Path, byte_range: Any, compression: int
    ) -> None:
        path = tmp_path / "oracle.zip"
        big = bytes(range(256)) * 400  # 102,400 bytes
        with zipfile.ZipFile(path, "w", compression) as z:
            z.writestr("pad", b"p" * 200_000)  # keeps "big" out of the open's buffers
            z.writestr("big", big[:100_000])
            z.writestr("after", b"a" * 600_000)
        ours = RemoteZipStore(path, root="", head_size=0, tail_size=1024)
        oracle = await ZipStore.open(path, mode="r")
        prototype = default_buffer_prototype()
        expected = await oracle.get("big", prototype, byte_range)
        observed = await ours.get("big", prototype, byte_range)
        assert expected is not None and observed is not None
        assert observed.to_bytes() == expected.to_bytes()
        assert await ours.get("missing", prototype, byte_range) is None
        oracle.close()
        ours.close()
