"""What opening a cohort costs the client besides its GETs (issues 20 and 21): counted, not
timed. A closed store is freed by reference counting (no cyclic garbage for the collector
to find among a thousand live stores), a catalog's cohort works out its S3 transport once,
and ``run_many`` reports every archive once, the lead first."""

from __future__ import annotations

import dataclasses
import gc
import io
import threading
import time
import uuid
import weakref
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from remote_zip_store import BadArchiveError
from remote_zip_store.archive import _catalog as catalog_format
from remote_zip_store.testing.servers import S3Server
from remote_zip_store.transport import _s3
from remote_zip_store.verbs._catalog import build_catalog
from remote_zip_store.verbs._many import open_many, run_many

from .archives import make_zarr_zip, make_zip
from .worlds import as_mapping, create


def _group(subject: str) -> Any:
    def build(root: Any) -> None:
        root.attrs["subject"] = subject
        create(root, "signals/ch00", data=list(range(300)), chunks=(10,))

    return build


@pytest.fixture(scope="module")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> list[bytes]:
    tmp = tmp_path_factory.mktemp("cohort-cost")
    return [make_zarr_zip(tmp / f"{i}.zip", _group(f"s{i}")) for i in range(3)]


def _cohort(s3: S3Server, recordings: list[bytes]) -> str:
    folder = f"cost-{uuid.uuid4().hex}"
    for i, data in enumerate(recordings):
        s3.put(data, f"{folder}/rec{i}.zip")
    return f"s3://{s3.bucket}/{folder}/"


@contextmanager
def _no_collector() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _read_and_drop(stores: dict[str, Any]) -> list[weakref.ref[Any]]:
    """Read metadata and a chunk of every store, close it, keep only weak references."""
    refs = []
    for url in list(stores):
        store = stores.pop(url)
        assert not isinstance(store, Exception), store
        mapping = as_mapping(store)
        keys = sorted(mapping.keys())
        chunk = next(
            k
            for k in keys
            if k.startswith("signals/ch00/") and not k.endswith((".zarray", ".zattrs", "zarr.json"))
        )
        for key in (keys[0], chunk, keys[-1]):
            assert mapping[key]
        refs += [weakref.ref(store), weakref.ref(store.archive), weakref.ref(store.archive.source)]
        store.close()
        del store, mapping
    return refs


def test_a_closed_store_is_freed_without_the_garbage_collector(
    s3: S3Server, recordings: list[bytes], tmp_path: Path
) -> None:
    """Neither the store, its archive nor its source holds a reference cycle (the pool's
    builder and the read-ahead reach the archive weakly): with the collector off, dropping
    a closed store frees it, opened from a catalog or the normal way."""
    prefix = _cohort(s3, recordings)
    output = str(tmp_path / "c.rzc")
    build_catalog(prefix, output, **s3.store_kwargs())
    for catalog in (output, None):
        with _no_collector():
            stores = open_many(prefix, catalog=catalog, **s3.store_kwargs())
            refs = _read_and_drop(stores)
            # (a worker thread of the pools or of zarr's loop may still be letting go of
            # its last frame: a moment, never the collector)
            deadline = time.monotonic() + 10
            while any(ref() is not None for ref in refs) and time.monotonic() < deadline:
                time.sleep(0.01)
            alive = sum(ref() is not None for ref in refs)
            assert alive == 0, f"catalog={catalog}: {alive} objects wait for the collector"


def test_a_catalog_cohort_works_out_its_transport_once(
    s3: S3Server, recordings: list[bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every archive of one ``open_many(catalog=)`` has the same S3 options: the transport
    (which reads the environment: RZS_S3_TRANSPORT, the proxy variables) is chosen for the
    first and reused by its siblings; the choice is still the environment's."""
    prefix = _cohort(s3, recordings)
    output = str(tmp_path / "c.rzc")  # a local catalog: no source of its own
    build_catalog(prefix, output, **s3.store_kwargs())
    calls = []
    real = _s3.transport_of

    def counted(options: Any) -> str:
        calls.append(options)
        return real(options)

    monkeypatch.setattr(_s3, "transport_of", counted)
    for variable, lean in ((None, True), ("botocore", False)):
        if variable is None:
            monkeypatch.delenv("RZS_S3_TRANSPORT", raising=False)
        else:
            monkeypatch.setenv("RZS_S3_TRANSPORT", variable)
        calls.clear()
        stores = open_many(catalog=output, **s3.store_kwargs())
        try:
            assert len(stores) == len(recordings) and len(calls) == 1
            sources = [store.archive.source for store in stores.values()]
            assert [source._lean is not None for source in sources] == [lean] * len(sources)
            for store in stores.values():  # and each reads, pinned to its catalogued ETag
                assert as_mapping(store)[sorted(as_mapping(store).keys())[-1]]
        finally:
            for store in stores.values():
                store.close()


def test_catalog_offsets_are_checked_for_every_archive(
    s3: S3Server, recordings: list[bytes], tmp_path: Path
) -> None:
    """The offset bounds are computed for the whole catalog at once: an entry offset past
    the directory of the *last* archive is still refused, naming it."""
    prefix = _cohort(s3, recordings)
    output = tmp_path / "c.rzc"
    build_catalog(prefix, str(output), **s3.store_kwargs())
    catalog = catalog_format.deserialize(output.read_bytes(), source="c.rzc")
    entries = [dataclasses.replace(e, pieces=()) for e in catalog.entries.values()]
    last = entries[-1]
    shrunk = dataclasses.replace(  # every offset but the first now lies past the directory
        last.location,
        cd_start=1,
        end_records_start=max(last.location.end_records_start, 1 + last.location.cd_size),
    )
    broken = [*entries[:-1], dataclasses.replace(last, location=shrunk)]
    with pytest.raises(BadArchiveError, match=r"rec2\.zip.*outside"):
        catalog_format.deserialize(catalog_format.serialize(broken), source="c.rzc")
    again = catalog_format.deserialize(catalog_format.serialize(entries))
    assert [e.url for e in again.entries.values()] == [e.url for e in entries]
    assert [list(e.records.header_offset) for e in again.entries.values()] == [
        list(e.records.header_offset) for e in entries
    ]


def test_run_many_reports_every_url_once_the_lead_first() -> None:
    urls = [f"u{i}" for i in range(500)]
    started: list[str] = []
    reported: list[str] = []
    lock = threading.Lock()

    def work(url: str) -> str:
        with lock:
            started.append(url)
        if url == "u7":
            raise ValueError(url)
        return url.upper()

    results = run_many(
        urls, work, max_workers=8, on_done=lambda url, _: reported.append(url), lead=1
    )
    assert list(results) == urls
    assert isinstance(results["u7"], ValueError)
    assert all(results[u] == u.upper() for u in urls if u != "u7")
    assert sorted(reported) == sorted(urls) and len(reported) == len(urls)
    assert started[0] == reported[0] == "u0"  # the lead ran (and was reported) alone


def test_siblings_parse_their_directories_by_the_first_ones_layout(
    s3: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Archives of one prefix laid out alike (a cohort: the same names, other sizes) are
    parsed by gathering at the first one's record starts, not record by record, and share
    its names and lookup; one laid out otherwise is parsed the usual way. Every archive
    reads exactly what zipfile reads."""
    from remote_zip_store.archive import _reader

    def sibling(i: int, extra: int = 0) -> bytes:  # names in one order (zarr 3 writes any)
        entries = {".zgroup": b'{"zarr_format": 2}', ".zattrs": b'{"subject": "s%d"}' % i}
        entries |= {
            f"signals/ch{c:02d}/{k}": bytes([i]) * (50 + 7 * i + k)
            for c in range(1 + extra)
            for k in range(12)
        }
        return make_zip(entries)

    datas = [sibling(i) for i in range(3)] + [sibling(9, extra=1)]
    prefix = _cohort(s3, datas)
    calls = {"loop": 0, "like": 0}
    loop, like = _reader.parse_central_directory, _reader.parse_like

    def counted_loop(*args: Any) -> Any:
        calls["loop"] += 1
        return loop(*args)

    def counted_like(*args: Any) -> Any:
        found = like(*args)
        calls["like"] += found is not None
        return found

    monkeypatch.setattr(_reader, "parse_central_directory", counted_loop)
    monkeypatch.setattr(_reader, "parse_like", counted_like)
    stores = open_many(prefix, **s3.store_kwargs())
    try:
        # the lead opens alone and teaches; its two siblings gather; the odd one loops
        assert calls == {"loop": 2, "like": 2}
        archives = [store.archive for store in stores.values()]
        first = archives[0].index.records.names
        assert all(a.index.records.names is first for a in archives[1:3])
        assert archives[-1].index.records.names is not first
        for archive, data in zip(archives, datas, strict=True):
            with zipfile.ZipFile(io.BytesIO(data)) as reference:
                names = [n for n in reference.namelist() if not n.endswith("/")]
                assert sorted(archive.index.names()) == sorted(set(names))
                for name in names:
                    assert archive.read(name) == reference.read(name), name
    finally:
        for store in stores.values():
            store.close()
