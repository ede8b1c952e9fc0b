"""open_many: a cohort opened concurrently; and the cohort hint that sizes the first GET."""

from __future__ import annotations

import io
import json
import threading
import time
import uuid
import zipfile
from typing import Any

import numpy as np
import pytest
import zarr

import remote_zip_store
from remote_zip_store import (
    ArchiveNotFoundError,
    BadArchiveError,
    InvalidURLError,
    ReadOptions,
    RemoteZipStore,
)
from remote_zip_store.archive import _cohort as cohort
from remote_zip_store.hierarchy._names import is_metadata
from remote_zip_store.testing.servers import S3Server
from remote_zip_store.transport._s3 import S3Options, S3Source
from remote_zip_store.verbs._many import open_many, run_many

from .archives import make_zarr_zip
from .faultproxy import fault_proxy
from .worlds import as_mapping, create


def _group(subject: str, channels: int = 2) -> Any:
    def build(root: Any) -> None:
        root.attrs["subject"] = subject
        for c in range(channels):
            create(root, f"signals/ch{c:02d}", data=np.arange(300), chunks=(10,))

    return build


@pytest.fixture(scope="module")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> list[bytes]:
    tmp = tmp_path_factory.mktemp("many")
    return [make_zarr_zip(tmp / f"{i}.zip", _group(f"s{i:02d}")) for i in range(4)]


def _subject(store: RemoteZipStore) -> str:
    return str(json.loads(as_mapping(store)[".zattrs"])["subject"])


def _rzs_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("rzs-many")]


def test_open_many_is_exported_lazily() -> None:
    assert remote_zip_store.open_many is open_many
    assert "open_many" in remote_zip_store.__all__


def test_good_missing_and_corrupt_archives_each_get_their_outcome(
    moto: S3Server, recordings: list[bytes]
) -> None:
    folder = f"mixed-{uuid.uuid4().hex}"
    good = [moto.put(data, f"{folder}/{i}.zip") for i, data in enumerate(recordings)]
    missing = f"s3://{moto.bucket}/{folder}/missing.zip"
    corrupt = moto.put(b"this is not a zip archive" * 100, f"{folder}/corrupt.zip")
    urls = [good[0], missing, good[1], corrupt, "ftp://nowhere/x.zip", good[2], good[0]]
    done: list[str] = []
    result = open_many(
        urls, max_workers=3, on_done=lambda url, _: done.append(url), **moto.store_kwargs()
    )
    try:
        # One item per distinct URL, in the order given.
        assert list(result) == list(dict.fromkeys(urls))
        assert sorted(done) == sorted(result)
        for i in range(3):
            store = result[good[i]]
            assert isinstance(store, RemoteZipStore)
            assert _subject(store) == f"s{i:02d}"
        assert isinstance(result[missing], ArchiveNotFoundError)
        assert isinstance(result[missing], FileNotFoundError)
        assert missing in str(result[missing])
        assert isinstance(result[corrupt], BadArchiveError)
        assert corrupt in str(result[corrupt])
        assert isinstance(result["ftp://nowhere/x.zip"], InvalidURLError)
        assert not _rzs_threads()  # the pool's threads are joined before it returns
    finally:
        for value in result.values():
            if isinstance(value, RemoteZipStore):
                value.close()


def test_a_prefix_is_listed_in_key_order_and_opened_on_one_client(
    moto: S3Server, recordings: list[bytes]
) -> None:
    folder = f"cohort-{uuid.uuid4().hex}"
    for i in (3, 0, 2, 1):
        moto.put(recordings[i], f"{folder}/rec{i}.zip")
    moto.put(b"not an archive", f"{folder}/notes.txt")
    moto.put(recordings[0], f"{folder}-sibling/rec9.zip")  # another prefix
    listed: list[int] = []
    result = open_many(
        f"s3://{moto.bucket}/{folder}/", on_listed=listed.append, **moto.store_kwargs()
    )
    try:
        assert list(result) == [f"s3://{moto.bucket}/{folder}/rec{i}.zip" for i in range(4)]
        assert listed == [4]
        stores = [s for s in result.values() if isinstance(s, RemoteZipStore)]
        assert [_subject(s) for s in stores] == ["s00", "s01", "s02", "s03"]
        clients = {id(s.archive.source.client()) for s in stores}  # type: ignore[attr-defined]
        assert len(clients) == 1
        client = stores[0].archive.source.client()  # type: ignore[attr-defined]
        assert client.meta.config.max_pool_connections >= 2 * 32  # two GETs per open
    finally:
        for value in result.values():
            if isinstance(value, RemoteZipStore):
                value.close()


def test_a_missing_bucket_fails_the_listing(moto: S3Server) -> None:
    with pytest.raises(ArchiveNotFoundError, match="no-such-bucket"):
        open_many("s3://no-such-bucket-rzs/x/", **moto.store_kwargs())


def test_an_empty_list_opens_nothing() -> None:
    assert open_many([]) == {}


def test_run_many_cancels_and_discards_on_an_interrupt() -> None:
    """Ctrl-C arrives in the calling thread (here: raised by ``on_done`` after the first
    result): what has not started is cancelled, what was made is discarded (closed)."""
    started: list[str] = []
    discarded: list[str] = []

    def work(url: str) -> str:
        started.append(url)
        time.sleep(0.05)
        return url

    def done(url: str, outcome: object) -> None:
        raise KeyboardInterrupt

    urls = list("abcdefgh")
    with pytest.raises(KeyboardInterrupt):
        run_many(urls, work, max_workers=2, on_done=done, discard=discarded.append)
    assert len(started) <= 4  # the rest never started
    assert set(discarded) == set(started)  # every result made was released
    assert not _rzs_threads()


# -- cohort hints ---------------------------------------------------------------------------
def _first_round(proxy: Any) -> list[str]:
    return sorted(r.range or "" for r in proxy.requests())


def _big_group(subject: str, consolidated: bool) -> Any:
    """Larger than ``cohort.WHOLE_MAX``: siblings get a tail (and maybe head) hint."""

    def build(root: Any) -> None:
        root.attrs["subject"] = subject
        for c in range(2):
            create(
                root,
                f"signals/ch{c:02d}",
                data=np.arange(60_000),
                chunks=(5_000,),
                compressor=None,
            )
        if consolidated:
            zarr.consolidate_metadata(root.store)

    return build


def _siblings(
    moto: S3Server, blobs: list[bytes], chunks: bool = True
) -> tuple[list[Any], list[str]]:
    """Open each archive (all under one new prefix) through a recording proxy; read its
    metadata and (``chunks``) a few values."""
    folder = f"hint-{uuid.uuid4().hex}"
    urls = [moto.put(data, f"{folder}/{i}.zip") for i, data in enumerate(blobs)]
    with fault_proxy(moto.endpoint_url) as proxy:
        kwargs = {**moto.store_kwargs(), "endpoint_url": proxy.endpoint_url}
        seen = []
        for url in urls:
            proxy.clear()
            with RemoteZipStore(url, **kwargs) as store:
                root = zarr.open(store, mode="r")
                assert root.attrs["subject"] == _subject(store)
                array = root["signals/ch00"]
                if chunks:
                    assert list(array[:20]) == list(range(20))
            seen.append(proxy.requests())
    return seen, urls


def _first_gets(requests: list[Any]) -> tuple[int | None, int | None]:
    """``(tail, head)`` sizes of an open's first round (None: not sent)."""
    ranges = [r.range or "" for r in requests[:2]]
    tails = [int(r[len("bytes=-") :]) for r in ranges if r.startswith("bytes=-")]
    heads = [int(r.rpartition("-")[2]) + 1 for r in ranges if r.startswith("bytes=0-")]
    return (tails[0] if tails else None), (heads[0] if heads else None)


def test_a_small_sibling_is_fetched_whole_by_one_get(
    moto: S3Server, recordings: list[bytes]
) -> None:
    seen, urls = _siblings(moto, recordings[:3])
    defaults = ReadOptions()
    assert _first_gets(seen[0]) == (defaults.tail_size, defaults.head_size)
    for data, requests in zip(recordings[1:3], seen[1:], strict=True):
        tail, head = _first_gets(requests)
        assert head is None  # no head GET: the one suffix GET holds the whole object
        assert tail is not None and len(data) <= tail <= cohort.WHOLE_MAX
        assert len(requests) == len(seen[0]) - 1  # the head GET less, nothing missed
    # The archive that taught the hint opens as configured again.
    with fault_proxy(moto.endpoint_url) as proxy:
        kwargs = {**moto.store_kwargs(), "endpoint_url": proxy.endpoint_url}
        with RemoteZipStore(urls[0], **kwargs):
            assert f"bytes=-{defaults.tail_size}" in _first_round(proxy)


def test_a_sibling_opens_with_the_first_gets_sized_by_the_first_archive(
    moto: S3Server, tmp_path: Any
) -> None:
    blobs = [make_zarr_zip(tmp_path / f"{i}.zip", _big_group(f"b{i}", False)) for i in range(3)]
    assert min(map(len, blobs)) > cohort.WHOLE_MAX
    seen, _ = _siblings(moto, blobs, chunks=False)  # the head is sized for metadata only
    defaults = ReadOptions()
    for requests in seen[1:]:
        tail, head = _first_gets(requests)
        # no comment: the tail holds just the directory (no 64 KiB comment window)
        assert tail is not None and tail < cohort.MIN_TAIL
        # the leading .zgroup/.zattrs of a ZipStore archive (zarr 2 writes them first; zarr 3
        # writes the root's twice, the superseded copies first: they are stepped over)
        first = zipfile.ZipFile(io.BytesIO(blobs[1])).infolist()[0].filename
        if is_metadata(first):
            assert head is not None and 0 < head < defaults.head_size // 4
        else:
            assert head is None
        assert len(requests) == len(seen[0])  # the same requests: no metadata was missed


def test_a_consolidated_sibling_opens_with_one_get(moto: S3Server, tmp_path: Any) -> None:
    blobs = [make_zarr_zip(tmp_path / f"{i}.zip", _big_group(f"c{i}", True)) for i in range(3)]
    seen, _ = _siblings(moto, blobs, chunks=False)
    for requests in seen[1:]:
        tail, head = _first_gets(requests)
        # .zmetadata sits before the directory, so every metadata read comes from the tail
        assert head is None
        assert tail is not None and tail < cohort.MIN_TAIL
        assert len(requests) == len(seen[0]) - 1


def test_a_sibling_with_a_larger_directory_still_opens_and_raises_the_hint(
    moto: S3Server, tmp_path: Any, recordings: list[bytes]
) -> None:
    folder = f"grow-{uuid.uuid4().hex}"
    small = moto.put(recordings[0], f"{folder}/a.zip")
    large_data = make_zarr_zip(tmp_path / "large.zip", _group("big", channels=120))
    large = moto.put(large_data, f"{folder}/b.zip")
    with RemoteZipStore(small, **moto.store_kwargs()):
        pass
    hinted = cohort.suggest(_source(moto, large), 512 * 1024, 64 * 1024)[0]
    with RemoteZipStore(large, **moto.store_kwargs()) as store:
        size = store.archive.size
        assert size is not None
        assert size - store.archive.index.location.cd_start > hinted  # the case under test
        requests = store.archive.source.stats.requests
        # the small teacher was fetched whole (no head): tail, then the rest of the directory
        assert requests == 2
        root = zarr.open(store, mode="r")
        assert list(root["signals/ch119"][:5]) == list(range(5))
        assert _subject(store) == "big"
    # A third sibling now asks for at least the larger directory.
    third = moto.put(large_data, f"{folder}/c.zip")
    assert cohort.suggest(_source(moto, third), 512 * 1024, 64 * 1024)[0] > hinted
    with RemoteZipStore(third, **moto.store_kwargs()) as store:
        # one GET: the grown tail holds the whole directory; no head GET (the small
        # teacher was fetched whole, and the large one never fetched a head to learn from)
        assert store.archive.source.stats.requests == 1


def test_local_archives_get_no_hints(tmp_path: Any, recordings: list[bytes]) -> None:
    for i in range(2):
        (tmp_path / f"{i}.zip").write_bytes(recordings[i])
    with RemoteZipStore(tmp_path / "0.zip") as store:
        assert cohort.suggest(store.archive.source, 1 << 19, 1 << 16) == (1 << 19, 1 << 16)
    result = open_many([tmp_path / "0.zip", tmp_path / "1.zip"])
    assert [_subject(s) for s in result.values()] == ["s00", "s01"]  # type: ignore[arg-type]
    for s in result.values():
        s.close()  # type: ignore[union-attr]


def _source(moto: S3Server, url: str) -> S3Source:
    bucket, key = url[5:].split("/", 1)
    return S3Source(bucket, key, options=S3Options(endpoint_url=moto.endpoint_url))


def test_the_cohort_path_opens_what_the_store_opens_choosing_the_transport_once(
    moto: S3Server, recordings: list[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    """open_many builds the connection options once and reuses the first source's choice
    of transport: each store equals (and reads as) ``RemoteZipStore(url, **options)``
    with the pool size open_many picks, on one S3Options object."""
    from remote_zip_store.transport import _s3

    folder = f"once-{uuid.uuid4().hex}"
    urls = [moto.put(data, f"{folder}/{i}.zip") for i, data in enumerate(recordings)]
    chosen: list[str] = []
    original = _s3.transport_of

    def counting(options: S3Options) -> str:
        chosen.append(original(options))
        return chosen[-1]

    monkeypatch.setattr(_s3, "transport_of", counting)
    kwargs = {**moto.store_kwargs(), "read": ReadOptions(max_workers=4), "coalesce_gap": 100}
    result = open_many(urls, max_workers=2, **kwargs)
    stores = [result[url] for url in urls]
    try:
        assert all(isinstance(s, RemoteZipStore) for s in stores)
        assert len(chosen) == 1  # the first archive's; its siblings reuse it
        sources = [s.archive.source for s in stores]  # type: ignore[union-attr]
        assert len({id(source.options) for source in sources}) == 1
        for url, store in zip(urls, stores, strict=True):
            # (open_many sizes the pool: max(2 * max_workers, read.max_workers, 10))
            with RemoteZipStore(url, max_pool_connections=10, **kwargs) as alone:
                assert store == alone
                assert store.archive.options == alone.archive.options  # type: ignore[union-attr]
                assert store.archive.source.options == alone.archive.source.options  # type: ignore[union-attr]
                assert store.root == alone.root  # type: ignore[union-attr]
                assert _subject(store) == _subject(alone)  # type: ignore[arg-type]
    finally:
        for store in stores:
            if isinstance(store, RemoteZipStore):
                store.close()


def test_a_misspelled_option_is_each_archives_type_error_as_before(
    moto: S3Server, recordings: list[bytes]
) -> None:
    urls = [moto.put(recordings[0], f"typo-{uuid.uuid4().hex}/{i}.zip") for i in range(2)]
    result = open_many(urls, endpoint="http://x", **moto.store_kwargs())
    for url in urls:
        assert isinstance(result[url], TypeError)
        assert "endpoint_url" in str(result[url])
