"""Open sizing (issue 20): the first GET of an archive whose end record is known asks for
exactly what its open needs.

A copy of an opened store (a pickle: a dask worker, a new process) is pinned to the
version its original read, so the original's end record still holds: the copy's open is
one GET of the directory and the end records (with a consolidated ``.zmetadata`` written
right before the directory), or that and a GET of the leading metadata entries beside it,
never the configured 512 KiB + 64 KiB guess, and one GET even for a directory larger than
``tail_size``. Counted at a pass-through proxy in front of moto, on the lean transport.
"""

from __future__ import annotations

import operator
import pickle
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from remote_zip_store import ReadOptions
from remote_zip_store.archive import _cohort as cohort
from remote_zip_store.archive import _indexcache as indexcache
from remote_zip_store.hierarchy._names import is_metadata
from remote_zip_store.testing.sample import write_sample_archive
from remote_zip_store.testing.servers import S3Server

from .archives import make_zip
from .faultproxy import FaultProxy, fault_proxy
from .worlds import RemoteZipStore, open_group


@pytest.fixture
def proxy(moto: S3Server) -> Iterator[FaultProxy]:
    with fault_proxy(moto.endpoint_url, lifetime=120) as p:
        yield p


def open_store(moto: S3Server, proxy: FaultProxy, url: str, **kwargs: Any) -> RemoteZipStore:
    options = dict(moto.store_kwargs(), endpoint_url=proxy.endpoint_url)
    return RemoteZipStore(url, transport="lean", **options, **kwargs)


def copy_elsewhere(store: RemoteZipStore) -> RemoteZipStore:
    """The store as a new process gets it: unpickled, with no directory or hint cached."""
    data = pickle.dumps(store)
    indexcache.clear()
    cohort.clear()
    copy: RemoteZipStore = pickle.loads(data)
    return copy


span_end = operator.attrgetter("span_end")


def gets(proxy: FaultProxy) -> list[tuple[str | None, str | None]]:
    return [(r.range, r.if_match) for r in proxy.requests("GET")]


def test_a_copy_opens_with_one_get_of_the_directory_and_the_consolidated_metadata(
    moto: S3Server, proxy: FaultProxy, tmp_path: Path
) -> None:
    url = moto.put_file(write_sample_archive(tmp_path / "rec.zip", channels=4, seconds=300))
    with open_store(moto, proxy, url) as store:
        assert len(gets(proxy)) == 2  # nothing known: the configured tail and head guesses
        size = store.archive.size
        assert size is not None
        consolidated = store.archive.index.get(".zmetadata")
        assert consolidated is not None
        assert consolidated.span_end == store.archive.index.location.cd_start  # written last
        etag = store.archive.source.version[0]  # type: ignore[index]
        proxy.clear()
        with copy_elsewhere(store) as copy:
            root = open_group(copy)
            assert dict(root.attrs)["subject"] == "S001"
            assert root["signals/ch00"].shape == (300 * 256,)
            need = size - consolidated.header_offset
            assert gets(proxy) == [(f"bytes=-{need}", etag)]  # one GET, no head beside it
            assert copy.stats().bytes == need


def test_a_copy_fetches_the_leading_metadata_beside_the_directory(
    moto: S3Server, proxy: FaultProxy, tmp_path: Path
) -> None:
    path = write_sample_archive(tmp_path / "plain.zip", channels=4, seconds=300, consolidated=False)
    url = moto.put_file(path)
    with open_store(moto, proxy, url, metadata_prefetch="off") as store:
        index = store.archive.index
        size = store.archive.size
        assert size is not None
        # the writer's leading run of metadata (.zgroup, .zattrs, signals/.zgroup, ...,
        # signals/ch00/.zarray), up to the first chunk
        with zipfile.ZipFile(path) as zf:
            first_chunk = min(i.header_offset for i in zf.infolist() if not is_metadata(i.filename))
        entries = [e for n in index.names() if (e := index.get(n)) is not None]
        lead = max((e for e in entries if e.span_end <= first_chunk), key=span_end)
        assert lead.name.endswith((".zarray", ".zattrs"))
        proxy.clear()
        with copy_elsewhere(store) as copy:
            root = open_group(copy)
            assert dict(root.attrs)["subject"] == "S001"
            assert root["signals/ch00"].shape == (300 * 256,)  # all four from the head
            seen = sorted(range_ for range_, _ in gets(proxy))
            tail = size - index.location.cd_start
            assert seen == sorted([f"bytes=-{tail}", f"bytes=0-{lead.span_end - 1}"])
            traffic = copy.stats()
            assert (traffic.requests, traffic.bytes) == (2, tail + lead.span_end)


def test_a_copy_reads_a_directory_larger_than_the_tail_with_one_get(
    moto: S3Server, proxy: FaultProxy
) -> None:
    names = {f"array/{i // 100:04d}.{i % 100:04d}.padding-padding": b"x" for i in range(12_000)}
    url = moto.put(make_zip(names))
    with open_store(moto, proxy, url, head_size=0) as store:
        location = store.archive.index.location
        assert location.cd_size > ReadOptions().tail_size  # the case under test
        assert len(gets(proxy)) == 2  # the tail guess, then the rest of the directory
        size = store.archive.size
        assert size is not None
        proxy.clear()
        with copy_elsewhere(store) as copy:
            assert len(copy.archive.index) == 12_000
            assert [r for r, _ in gets(proxy)] == [f"bytes=-{size - location.cd_start}"]


def test_an_unopened_copy_and_an_old_pickle_open_as_configured(
    moto: S3Server, proxy: FaultProxy, tmp_path: Path
) -> None:
    url = moto.put_file(write_sample_archive(tmp_path / "rec.zip", channels=2, seconds=60))
    with open_store(moto, proxy, url) as store:
        state = store.archive.__getstate__()
        assert "ends" in state
        del state["ends"]  # a pickle from before this field: the configured guesses
        old = store.archive.__class__.__new__(store.archive.__class__)
        old.__setstate__(state)
        indexcache.clear()
        proxy.clear()
        old.open()
        options = ReadOptions()
        assert sorted(r for r, _ in gets(proxy)) == sorted(
            [f"bytes=-{options.tail_size}", f"bytes=0-{options.head_size - 1}"]
        )
