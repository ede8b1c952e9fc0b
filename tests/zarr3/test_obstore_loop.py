"""transport="obstore", loop_reads=True under zarr 3: chunk GETs awaited on zarr's event loop.

The fault, consistency, deadline and request suites run on this path too (``.ci/run``
step 4, ``RZS_S3_TRANSPORT=obstore RZS_LOOP_READS=1``); these tests show that it is the
path they run (which thread sends each GET, the store's pool unused for chunks), and that
without ``loop_reads`` the reads stay on the pool.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("zarr", minversion="3.1")
pytest.importorskip("obstore")

import zarr
from zarr.core.sync import sync

from remote_zip_store import ArchiveChangedError, StoreClosedError
from remote_zip_store.testing.servers import S3Server
from remote_zip_store.transport._obstore import ObstoreS3
from remote_zip_store.verbs._catalog import build_catalog
from remote_zip_store.zarr3._store import RemoteZipStore

from .helpers import write_hierarchy

DATA = np.arange(64 * 256, dtype="int32").reshape(64, 256)


def _build(group: Any, data: Any = DATA) -> None:
    a = group.create_array("x", shape=DATA.shape, chunks=(8, 32), dtype="int32", compressors=None)
    a[...] = data


def _build_other(group: Any) -> None:
    _build(group, DATA + 1)


async def _loop_thread() -> int:
    return threading.get_ident()


class Calls:
    """Which thread made each sync and async GET through one source's ObstoreS3."""

    def __init__(self, store: RemoteZipStore):
        layer = store.archive.source._lean.get()  # type: ignore[attr-defined]
        assert isinstance(layer, ObstoreS3)
        self.sync: list[int] = []
        self.on_loop: list[int] = []
        self.pool_jobs = 0
        call, call_async = layer.call, layer.call_async

        def counted_call(*args: Any, **kwargs: Any) -> Any:
            self.sync.append(threading.get_ident())
            return call(*args, **kwargs)

        async def counted_call_async(*args: Any, **kwargs: Any) -> Any:
            self.on_loop.append(threading.get_ident())
            return await call_async(*args, **kwargs)

        layer.call = counted_call  # type: ignore[method-assign]
        layer.call_async = counted_call_async  # type: ignore[method-assign]
        pool = store._pool.get()
        submit: Callable[..., Any] = pool.submit

        def counted_submit(*args: Any, **kwargs: Any) -> Any:
            self.pool_jobs += 1
            return submit(*args, **kwargs)

        pool.submit = counted_submit  # type: ignore[method-assign]


def _open(s3: S3Server, url: str, **more: Any) -> RemoteZipStore:
    options = {**s3.store_kwargs(), "loop_reads": True, **more}
    return RemoteZipStore(url, transport="obstore", **options)


@pytest.mark.parametrize("readahead", [0, 64 << 20])
def test_chunks_are_awaited_on_zarrs_loop_with_no_thread(
    s3: S3Server, tmp_path: Path, readahead: int
) -> None:
    url = s3.put(write_hierarchy(tmp_path / "a.zip", _build))
    store = _open(s3, url, head_size=0, tail_size=1024, readahead=readahead)
    array = zarr.open_array(store, path="x", mode="r")  # metadata: read on the pool
    calls = Calls(store)
    loop_thread = sync(_loop_thread())
    np.testing.assert_array_equal(array[...], DATA)
    assert calls.on_loop, "no chunk was read through obstore's async API"
    assert set(calls.on_loop) == {loop_thread}
    if readahead == 0:  # (a read-ahead fetches its pieces on the archive's pool)
        assert calls.sync == []
    assert calls.pool_jobs == 0  # the store's pool ran no read
    store.close()


def test_without_loop_reads_chunks_stay_on_the_pool(
    s3: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RZS_LOOP_READS", raising=False)
    url = s3.put(write_hierarchy(tmp_path / "a.zip", _build))
    store = _open(s3, url, head_size=0, tail_size=1024, readahead=0, loop_reads=False)
    array = zarr.open_array(store, path="x", mode="r")
    calls = Calls(store)
    np.testing.assert_array_equal(array[...], DATA)
    assert calls.on_loop == [] and calls.sync and calls.pool_jobs >= 1
    store.close()


def test_the_loop_path_moves_what_the_thread_path_moves(s3: S3Server, tmp_path: Path) -> None:
    url = s3.put(write_hierarchy(tmp_path / "a.zip", _build))
    counts = []
    for transport in ("obstore", "lean"):
        store = RemoteZipStore(
            url,
            transport=transport,
            readahead=0,
            loop_reads=True,
            **{**s3.store_kwargs(), "head_size": 0},
        )
        array = zarr.open_array(store, path="x", mode="r")
        before = store.archive.source.stats.snapshot()
        np.testing.assert_array_equal(array[...], DATA)
        after = store.archive.source.stats.snapshot()
        counts.append((after[0] - before[0], after[1] - before[1]))
        store.close()
    assert counts[0] == counts[1]


def test_a_replaced_object_is_changed_error_on_the_loop(s3: S3Server, tmp_path: Path) -> None:
    url = s3.put(write_hierarchy(tmp_path / "a.zip", _build))
    store = _open(s3, url, readahead=0, head_size=0, tail_size=1024)
    array = zarr.open_array(store, path="x", mode="r")
    calls = Calls(store)
    np.testing.assert_array_equal(array[:8], DATA[:8])
    s3.put(write_hierarchy(tmp_path / "b.zip", _build_other), url.split("/", 3)[3])
    with pytest.raises(ArchiveChangedError) as info:
        array[8:16]
    assert url in str(info.value) and "x/c/" in str(info.value)
    assert calls.on_loop and calls.sync == []
    store.close()


def test_a_closed_store_is_a_clear_error_not_bytes(s3: S3Server, tmp_path: Path) -> None:
    url = s3.put(write_hierarchy(tmp_path / "a.zip", _build))
    store = _open(s3, url, readahead=0, head_size=0, tail_size=1024)
    array = zarr.open_array(store, path="x", mode="r")
    store.archive.close()
    with pytest.raises(StoreClosedError) as info:
        array[...]
    assert url in str(info.value)
    store.close()


def test_a_catalogued_archive_confirms_on_the_pool_then_reads_on_the_loop(
    s3: S3Server, tmp_path: Path
) -> None:
    url = s3.put(write_hierarchy(tmp_path / "a.zip", _build), f"cat-{os.getpid()}/a.zip")
    catalog = str(tmp_path / "cat.catalog")
    build_catalog(url.rsplit("/", 1)[0] + "/", catalog, **s3.store_kwargs())
    store = _open(s3, url, catalog=catalog, readahead=0)
    assert store.archive.provisional
    array = zarr.open_array(store, path="x", mode="r")
    calls = Calls(store)
    np.testing.assert_array_equal(array[:8], DATA[:8])  # the first GET confirms the catalog
    assert not store.archive.provisional
    assert calls.pool_jobs >= 1
    first = len(calls.on_loop)
    np.testing.assert_array_equal(array[8:], DATA[8:])
    assert len(calls.on_loop) > first
    store.close()


def _sharded(group: Any) -> None:
    a = group.create_array(
        "sh",
        shape=DATA.shape,
        chunks=(8, 32),
        shards=(32, 128),
        dtype="int32",
        compressors=None,
    )
    a[...] = DATA


def test_inner_chunks_of_a_known_shard_are_awaited_on_the_loop(
    s3: S3Server, tmp_path: Path
) -> None:
    url = s3.put(write_hierarchy(tmp_path / "s.zip", _sharded))
    store = _open(s3, url, readahead=0, head_size=0, tail_size=1024)
    array = zarr.open_array(store, path="sh", mode="r")
    calls = Calls(store)
    loop_thread = sync(_loop_thread())
    np.testing.assert_array_equal(array[:8, :32], DATA[:8, :32])  # learns the shard's start
    jobs = calls.pool_jobs
    assert jobs >= 1
    on_loop = len(calls.on_loop)
    np.testing.assert_array_equal(array[8:16, :32], DATA[8:16, :32])  # same shard: on the loop
    assert len(calls.on_loop) > on_loop and set(calls.on_loop) == {loop_thread}
    assert calls.pool_jobs == jobs
    np.testing.assert_array_equal(array[...], DATA)
    store.close()
