"""Cohort catalogs (issue 21): one GET opens a cohort; stale, corrupt or missing ones degrade.

Requests are counted by a real proxy in front of the server (netsim on loopback), never
by mocks: each test opens through ``sim.endpoint`` and asserts what crossed it.
"""

from __future__ import annotations

import gc
import json
import logging
import pickle
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from remote_zip_store import ArchiveChangedError, BadArchiveError, RemoteZipStore
from remote_zip_store.archive import _catalog as catalog_format
from remote_zip_store.testing.netsim import NetSim
from remote_zip_store.testing.servers import S3Server
from remote_zip_store.verbs._catalog import build_catalog, load_catalog, read_catalog
from remote_zip_store.verbs._many import open_many as _open_many

from .archives import make_zarr_zip
from .worlds import ZARR3, as_mapping, create, open_zarr, zarr_store


def open_many(*args: Any, **kwargs: Any) -> Any:
    """``open_many``, each store seen as a mapping in either zarr world (tests/worlds.py)."""
    return {
        url: store if isinstance(store, Exception) else as_mapping(store)
        for url, store in _open_many(*args, **kwargs).items()
    }


def _group(subject: str, channels: int = 2, offset: int = 0) -> Any:
    def build(root: Any) -> None:
        root.attrs["subject"] = subject
        for c in range(channels):
            create(root, f"signals/ch{c:02d}", data=[offset + i for i in range(300)], chunks=(10,))

    return build


@pytest.fixture(scope="module")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> list[bytes]:
    tmp = tmp_path_factory.mktemp("catalog")
    return [make_zarr_zip(tmp / f"{i}.zip", _group(f"s{i:02d}")) for i in range(4)]


@pytest.fixture
def sim(s3: S3Server) -> Iterator[NetSim]:
    host, port = s3.endpoint_url.removeprefix("http://").split(":")
    with NetSim(host, int(port)) as proxy:
        yield proxy


def _kwargs(s3: S3Server, sim: NetSim) -> dict[str, Any]:
    return {**s3.store_kwargs(), "endpoint_url": sim.endpoint}


def _cohort(s3: S3Server, recordings: list[bytes]) -> str:
    folder = f"cat-{uuid.uuid4().hex}"
    for i, data in enumerate(recordings):
        s3.put(data, f"{folder}/rec{i}.zip")
    return f"s3://{s3.bucket}/{folder}/"


def _everything(store: Any) -> dict[str, bytes]:
    return {key: store[key] for key in sorted(store.keys())}


def _close(result: dict[str, Any]) -> None:
    for value in result.values():
        if not isinstance(value, Exception):
            value.close()


def test_round_trip_reads_equal_a_normal_open(
    s3: S3Server, recordings: list[bytes], tmp_path: Path
) -> None:
    prefix = _cohort(s3, recordings)
    for output in (f"s3://{s3.bucket}/catalogs/{uuid.uuid4().hex}.rzc", str(tmp_path / "c.rzc")):
        report = build_catalog(prefix, output, **s3.store_kwargs())
        assert (report.archives, report.opened, report.failed) == (4, 4, {})
        assert report.catalog_bytes <= report.directory_bytes  # compact: within the directories
        with_catalog = open_many(prefix, catalog=output, **s3.store_kwargs())
        plain = open_many(prefix, **s3.store_kwargs())
        try:
            assert list(with_catalog) == list(plain)
            for url, store in with_catalog.items():
                assert isinstance(getattr(store, "store", store), RemoteZipStore)
                assert store.archive.provisional
                assert _everything(store) == _everything(plain[url])
                assert not store.archive.provisional  # a chunk GET confirmed the version
        finally:
            _close(with_catalog)
            _close(plain)


def test_one_get_opens_the_cohort_then_chunks_read(
    s3: S3Server, sim: NetSim, recordings: list[bytes]
) -> None:
    prefix = _cohort(s3, recordings)
    output = f"s3://{s3.bucket}/catalogs/{uuid.uuid4().hex}.rzc"
    build_catalog(prefix, output, **s3.store_kwargs())
    before = sim.counts()
    result = open_many(catalog=output, **_kwargs(s3, sim))  # every archive in the catalog
    try:
        assert (sim.counts() - before).requests == 1
        # One layout (the same names): the catalog stores the names once, and the indexes
        # share one lookup table.
        tables = {id(store.archive.index._table) for store in result.values()}
        # (zarr 3 writes chunks concurrently: entry order, so the layout, differs per archive)
        assert len(tables) == 1 or (ZARR3 and len(tables) <= len(result))
        for i, store in enumerate(result.values()):
            assert json.loads(store[".zattrs"])["subject"] == f"s{i:02d}"
            group = open_zarr(store, mode="r")  # metadata served from the catalog
            assert list(group["signals/ch01"][25:35]) == list(range(25, 35))
        reads = (sim.counts() - before).requests - 1
        # two chunks: one coalesced GET each (zarr 3's gets of one selection may arrive in
        # two event-loop ticks: then two GETs)
        assert reads == len(result) or (ZARR3 and len(result) <= reads <= 2 * len(result))
    finally:
        _close(result)
    # A prefix: the listing runs beside the catalog GET (one round trip, two requests).
    before = sim.counts()
    result = open_many(prefix, catalog=output, **_kwargs(s3, sim))
    try:
        assert len(result) == 4
        assert (sim.counts() - before).requests == 2
    finally:
        _close(result)


def test_an_archive_replaced_after_indexing_is_reopened_at_its_first_read(
    s3: S3Server, sim: NetSim, recordings: list[bytes], tmp_path: Path
) -> None:
    prefix = _cohort(s3, recordings)
    output = str(tmp_path / "c.rzc")
    build_catalog(prefix, output, **s3.store_kwargs())
    key = prefix.removeprefix(f"s3://{s3.bucket}/") + "rec1.zip"
    # Same metadata, other chunk values: a re-upload of the recording.
    s3.put(make_zarr_zip(tmp_path / "new.zip", _group("s01", offset=1000)), key)
    result = open_many(catalog=output, **_kwargs(s3, sim))
    try:
        store = result[f"{prefix}rec1.zip"]
        array = open_zarr(store, mode="r")["signals/ch00"]  # metadata: from the catalog
        before = sim.counts()
        # 412 on the pinned GET, the new directory read, the chunk GET again: new bytes.
        assert list(array[0:10]) == list(range(1000, 1010))
        assert (sim.counts() - before).requests == 3
        assert not store.archive.provisional
        assert list(array[290:300]) == list(range(1290, 1300))
        # The others were not replaced: read as catalogued.
        assert list(open_zarr(result[f"{prefix}rec2.zip"], mode="r")["signals/ch00"][:3]) == [
            0,
            1,
            2,
        ]
    finally:
        _close(result)


def test_a_replacement_that_changes_served_metadata_is_never_mixed(
    s3: S3Server, recordings: list[bytes], tmp_path: Path
) -> None:
    prefix = _cohort(s3, recordings)
    output = str(tmp_path / "c.rzc")
    build_catalog(prefix, output, **s3.store_kwargs())
    key = prefix.removeprefix(f"s3://{s3.bucket}/") + "rec0.zip"
    s3.put(make_zarr_zip(tmp_path / "other.zip", _group("someone else", offset=7)), key)
    result = open_many(catalog=output, **s3.store_kwargs())
    try:
        store = result[f"{prefix}rec0.zip"]
        assert json.loads(store[".zattrs"])["subject"] == "s00"  # the catalogued version
        with pytest.raises(ArchiveChangedError, match=r"rec0\.zip"):
            store["signals/ch00/0"]
        with pytest.raises(ArchiveChangedError):  # and stays so: no new bytes after old ones
            store["signals/ch00/1"]
    finally:
        _close(result)


def test_a_stale_catalog_opens_new_and_changed_archives_normally(
    s3: S3Server, sim: NetSim, recordings: list[bytes], tmp_path: Path, caplog: Any
) -> None:
    prefix = _cohort(s3, recordings[:3])
    output = str(tmp_path / "c.rzc")
    build_catalog(prefix, output, **s3.store_kwargs())
    folder = prefix.removeprefix(f"s3://{s3.bucket}/")
    s3.put(recordings[3], f"{folder}rec3.zip")  # new
    s3.client().delete_object(Bucket=s3.bucket, Key=f"{folder}rec2.zip")  # gone
    s3.put(recordings[2], f"{folder}rec0.zip")  # changed (another recording)
    caplog.set_level(logging.WARNING, logger="remote_zip_store")
    before = sim.counts()
    result = open_many(prefix, catalog=output, **_kwargs(s3, sim))
    try:
        assert list(result) == [f"{prefix}rec{i}.zip" for i in (0, 1, 3)]
        subjects = [json.loads(s[".zattrs"])["subject"] for s in result.values()]
        assert subjects == ["s02", "s01", "s03"]
        assert not result[f"{prefix}rec0.zip"].archive.provisional  # opened the normal way
        assert result[f"{prefix}rec1.zip"].archive.provisional
        # LIST + catalog GET, then two normal opens (tail and head GETs at most each).
        assert (sim.counts() - before).requests <= 2 + 2 * 2
    finally:
        _close(result)
    assert "stale: 2 archive(s) new or changed" in caplog.text
    assert "1 catalogued archive(s) gone" in caplog.text


@pytest.mark.parametrize("damage", ["missing", "garbage", "truncated", "newer"])
def test_a_missing_or_corrupt_catalog_degrades_to_normal_opens(
    s3: S3Server, recordings: list[bytes], tmp_path: Path, caplog: Any, damage: str
) -> None:
    prefix = _cohort(s3, recordings[:2])
    output = tmp_path / "c.rzc"
    build_catalog(prefix, str(output), **s3.store_kwargs())
    data = output.read_bytes()
    if damage == "missing":
        output.unlink()
    elif damage == "garbage":
        output.write_bytes(b"not a catalog" * 10)
    elif damage == "truncated":
        output.write_bytes(data[: len(data) // 2])
    else:
        output.write_bytes(data[:8] + (99).to_bytes(4, "little") + data[12:])
    caplog.set_level(logging.WARNING, logger="remote_zip_store")
    result = open_many(prefix, catalog=output, **s3.store_kwargs())
    try:
        assert [json.loads(s[".zattrs"])["subject"] for s in result.values()] == ["s00", "s01"]
        assert not any(s.archive.provisional for s in result.values())
    finally:
        _close(result)
    assert f"catalog {output} unusable, opening 2 archive(s) the normal way" in caplog.text


def test_update_reopens_only_changed_and_new_archives(
    s3: S3Server, recordings: list[bytes], tmp_path: Path
) -> None:
    prefix = _cohort(s3, recordings[:3])
    folder = prefix.removeprefix(f"s3://{s3.bucket}/")
    output = f"s3://{s3.bucket}/catalogs/{uuid.uuid4().hex}.rzc"
    first = build_catalog(prefix, output, **s3.store_kwargs())
    assert (first.opened, first.reused) == (3, 0)
    again = build_catalog(prefix, output, update=True, **s3.store_kwargs())
    assert (again.opened, again.reused, again.dropped) == (0, 3, 0)
    s3.put(recordings[3], f"{folder}rec1.zip")  # changed
    s3.put(recordings[0], f"{folder}rec9.zip")  # new
    s3.client().delete_object(Bucket=s3.bucket, Key=f"{folder}rec2.zip")  # gone
    updated = build_catalog(prefix, output, update=True, **s3.store_kwargs())
    assert (updated.opened, updated.reused, updated.dropped, updated.archives) == (2, 1, 1, 3)
    catalog, requests = read_catalog(output, **s3.store_kwargs())
    assert requests == 1
    assert list(catalog.entries) == [f"{prefix}rec{i}.zip" for i in (0, 1, 9)]
    result = open_many(catalog=output, **s3.store_kwargs())
    try:
        subjects = [json.loads(s[".zattrs"])["subject"] for s in result.values()]
        assert subjects == ["s00", "s03", "s00"]
        assert all(s.archive.provisional for s in result.values())
    finally:
        _close(result)


def test_deserialize_refuses_damage_naming_the_catalog(
    s3: S3Server, recordings: list[bytes], tmp_path: Path
) -> None:
    prefix = _cohort(s3, recordings[:2])
    output = tmp_path / "c.rzc"
    build_catalog(prefix, str(output), **s3.store_kwargs())
    data = output.read_bytes()
    catalog = catalog_format.deserialize(data, source="x.rzc")
    assert len(catalog) == 2
    for bad in (data[:-1], data[:30], data[:21] + b"\xff" + data[22:], b"", data + b"x"):
        with pytest.raises(BadArchiveError, match=r"x\.rzc"):
            catalog_format.deserialize(bad, source="x.rzc")
    with pytest.raises(BadArchiveError, match="exceeds the limit"):
        catalog_format.deserialize(data, source="x.rzc", max_body=10)


def test_cli_index_update_and_scan_with_the_catalog(moto: S3Server, tmp_path: Path) -> None:
    from .archives import make_zip
    from .test_cli import run

    folder = f"cli-cat-{uuid.uuid4().hex[:8]}/"
    client = moto.client()
    for i in range(5):
        body = make_zip({".zgroup": b'{"zarr_format": 2}', ".zattrs": b'{"i": %d}' % i})
        client.put_object(Bucket=moto.bucket, Key=f"{folder}{i:02d}.zip", Body=body)
    client.put_object(Bucket=moto.bucket, Key=f"{folder}zz-broken.zip", Body=b"junk" * 100)
    prefix = f"s3://{moto.bucket}/{folder}"
    output = str(tmp_path / "cohort.rzc")
    result = run(moto, "index", prefix, "-o", output)
    assert result.returncode == 1  # the broken archive is left out, and said so
    assert "5 archive(s), 10 entries" in result.stdout.decode()
    stderr = result.stderr.decode()
    assert "6 opened, 0 reused, 0 dropped, 1 failed" in stderr and "zz-broken.zip" in stderr
    scanned = run(moto, "scan", prefix, "--json", "--catalog", output)
    rows = [json.loads(line) for line in scanned.stdout.decode().splitlines()]
    assert [r["value"] for r in rows[:5]] == [{"i": i} for i in range(5)]
    assert [r["requests"] for r in rows[:5]] == [0] * 5  # directory and .zattrs: catalogued
    assert rows[-1]["ok"] is False
    assert "stale: 1 archive(s) new or changed" in scanned.stderr.decode()
    client.delete_object(Bucket=moto.bucket, Key=f"{folder}zz-broken.zip")
    again = run(moto, "index", prefix, "-o", output, "--update")
    assert again.returncode == 0
    assert "0 opened, 5 reused, 0 dropped, 0 failed" in again.stderr.decode()


def test_recipe_a_cohort_as_one_dask_array(
    s3: S3Server, sim: NetSim, recordings: list[bytes], tmp_path: Path
) -> None:
    """docs/recipes.md "a cohort as one dataset": the catalog opens, then one GET per chunk."""
    da = pytest.importorskip("dask.array")
    prefix = _cohort(s3, recordings)
    output = str(tmp_path / "c.rzc")
    build_catalog(prefix, output, **s3.store_kwargs())
    before = sim.counts()
    stores = open_many(catalog=output, **_kwargs(s3, sim))
    try:
        arrays = [
            da.from_zarr(zarr_store(store), component="signals/ch01")
            for store in stores.values()
            if not isinstance(store, Exception)
        ]
        cohort = da.stack(arrays)  # (archives, samples)
        assert cohort.shape == (4, 300)
        # Metadata from the catalog; dask's tokenize unpickles a copy of each zarr array,
        # which finds the adopted directory in this process (no directory GET either).
        assert (sim.counts() - before).requests == 0
        means = cohort[:, 100:120].mean(axis=1).compute(scheduler="threads")
        assert means.tolist() == [109.5] * 4
        reads = (sim.counts() - before).requests
        # chunks 10 and 11 of each: a task each, a GET each (the zarr-3 store merges two
        # tasks' gets that reach it in one event-loop tick into one GET)
        assert reads == 4 * 2 or (ZARR3 and 4 <= reads <= 4 * 2)
    finally:
        _close(stores)


def test_the_benchmark_runs(tmp_path: Path) -> None:
    """benchmarks/catalog_open.py end to end on its own moto, tiny: one GET per catalog open."""
    from benchmarks import catalog_open

    out = tmp_path / "r.json"
    argv = ["--server", "moto", "--many", "5", "--repeat", "1", "--rtt-ms", "0", "--mbit", "0"]
    assert catalog_open.main([*argv, "--json", str(out)]) == 0
    results = json.loads(out.read_text())
    modes = {run["mode"]: run for run in results["runs"]}
    assert modes["catalog"]["requests"] == 1 and modes["catalog+list"]["requests"] == 2
    assert modes["normal"]["requests"] == 5 + 1 + 1  # the first archive's head GET too
    assert results["catalog_5"]["ratio"] <= 1.0


def test_the_cpu_benchmark_runs(tmp_path: Path) -> None:
    """benchmarks/catalog_cpu.py end to end, tiny: catalogs built once, then reused."""
    from benchmarks import catalog_cpu

    out = tmp_path / "r.json"
    argv = ["--many", "3", "--repeat", "2", "--catalogs", str(tmp_path / "cats")]
    assert catalog_cpu.main([*argv, "--json", str(out)]) == 0
    assert (tmp_path / "cats" / "c3.rzc").exists()
    assert catalog_cpu.main(argv) == 0  # no server this time: the catalog file is reused
    assert json.loads(out.read_text())["3"]["open_cpu_s_min"] > 0


def test_an_entry_gone_from_the_new_version_is_a_changed_error_naming_it(
    s3: S3Server, recordings: list[bytes], tmp_path: Path
) -> None:
    prefix = _cohort(s3, recordings[:1])
    output = str(tmp_path / "c.rzc")
    build_catalog(prefix, output, **s3.store_kwargs())
    key = prefix.removeprefix(f"s3://{s3.bucket}/") + "rec0.zip"
    s3.put(make_zarr_zip(tmp_path / "one.zip", _group("s00", channels=1)), key)
    result = open_many(catalog=output, **s3.store_kwargs())
    try:
        store = result[f"{prefix}rec0.zip"]
        # (zarr 3's front end looks where the array lies before the read, for read-ahead:
        # its own use of the names, not a listing served, so the re-open goes ahead)
        with pytest.raises(ArchiveChangedError, match="no longer has this entry") as info:
            store["signals/ch01/0"]  # the first read: a GET, 412, re-opened, entry gone
        assert info.value.key == "signals/ch01/0"
        assert store["signals/ch00/0"]  # the new version serves what it has
        assert "signals/ch01/0" not in store
    finally:
        _close(result)


def test_a_store_opens_from_a_catalog_with_no_directory_get(
    s3: S3Server, sim: NetSim, recordings: list[bytes]
) -> None:
    """``RemoteZipStore(url, catalog=...)``: the catalog's GET (none for a loaded one), no
    directory GET, metadata from the catalog, pinned to the catalogued ETag; pickles."""
    prefix = _cohort(s3, recordings)
    output = f"s3://{s3.bucket}/catalogs/{uuid.uuid4().hex}.rzc"
    build_catalog(prefix, output, **s3.store_kwargs())
    url = f"{prefix}rec2.zip"
    before = sim.counts()
    store = as_mapping(RemoteZipStore(url, catalog=output, **_kwargs(s3, sim)))
    try:
        assert (sim.counts() - before).requests == 1  # the catalog; no directory GET
        assert store.archive.provisional
        etag = store.archive.source.etag
        assert etag == read_catalog(output, **s3.store_kwargs())[0].entries[url].etag
        group = open_zarr(store, mode="r")
        assert group.attrs["subject"] == "s02"
        assert (sim.counts() - before).requests == 1  # metadata: from the catalog
        assert list(group["signals/ch01"][25:35]) == list(range(25, 35))
        assert (sim.counts() - before).requests == 2  # one coalesced chunk GET
        assert not store.archive.provisional
    finally:
        store.close()
    catalog = load_catalog(output, **s3.store_kwargs())  # loaded once: no GET per store
    before = sim.counts()
    stores = [
        as_mapping(RemoteZipStore(f"{prefix}rec{i}.zip", catalog=catalog, **_kwargs(s3, sim)))
        for i in range(4)
    ]
    try:
        assert (sim.counts() - before).requests == 0
        assert [json.loads(s[".zattrs"])["subject"] for s in stores] == [
            f"s{i:02d}" for i in range(4)
        ]
        assert (sim.counts() - before).requests == 0
        # Pickled (a dask task): a copy in this process finds the adopted directory...
        copy = as_mapping(pickle.loads(pickle.dumps(zarr_store(stores[1]))))
        assert copy.archive.source.etag == catalog.entries[f"{prefix}rec1.zip"].etag
        assert (sim.counts() - before).requests == 0
        assert json.loads(copy["signals/ch00/.zarray"])["chunks"] == [10]
        assert (sim.counts() - before).requests == 0
        assert copy["signals/ch00/3"] == stores[1]["signals/ch00/3"]
        # ...one unpickled where no store of it lives (a worker) reads the directory under
        # If-Match (the catalogued version), then serves the same bytes.
        blob = pickle.dumps(zarr_store(stores[3]))
        stores[3].close()
        del stores[3]
        gc.collect()
        worker = as_mapping(pickle.loads(blob))
        try:
            assert worker.archive.source.etag == catalog.entries[f"{prefix}rec3.zip"].etag
            assert list(open_zarr(worker, mode="r")["signals/ch00"][:3]) == [0, 1, 2]
            assert not worker.archive.provisional
        finally:
            worker.close()
    finally:
        for store in stores:
            store.close()


def test_a_store_degrades_like_open_many_on_a_missing_catalog_or_entry(
    s3: S3Server, sim: NetSim, recordings: list[bytes], tmp_path: Path, caplog: Any
) -> None:
    prefix = _cohort(s3, recordings[:2])
    output = str(tmp_path / "c.rzc")
    build_catalog(prefix, output, **s3.store_kwargs())
    folder = prefix.removeprefix(f"s3://{s3.bucket}/")
    s3.put(recordings[2], f"{folder}new.zip")  # not catalogued
    caplog.set_level(logging.WARNING, logger="remote_zip_store")
    new = as_mapping(RemoteZipStore(f"{prefix}new.zip", catalog=output, **s3.store_kwargs()))
    try:
        assert not new.archive.provisional  # opened the normal way
        assert json.loads(new[".zattrs"])["subject"] == "s02"
    finally:
        new.close()
    assert f"catalog {output} does not hold {prefix}new.zip (opened the normal way)" in caplog.text
    caplog.clear()
    missing = tmp_path / "nowhere.rzc"
    store = as_mapping(RemoteZipStore(f"{prefix}rec0.zip", catalog=missing, **s3.store_kwargs()))
    try:
        assert not store.archive.provisional
        assert json.loads(store[".zattrs"])["subject"] == "s00"
    finally:
        store.close()
    assert f"catalog {missing} unusable, opening {prefix}rec0.zip the normal way" in caplog.text
    # A stale entry (replaced since): pinned to the catalogued ETag, re-opened at its first
    # read (the same metadata, new chunk values), never two versions mixed.
    s3.put(make_zarr_zip(tmp_path / "new.zip", _group("s01", offset=1000)), f"{folder}rec1.zip")
    before = sim.counts()
    stale = as_mapping(RemoteZipStore(f"{prefix}rec1.zip", catalog=output, **_kwargs(s3, sim)))
    try:
        assert (sim.counts() - before).requests == 0  # a local catalog
        array = open_zarr(stale, mode="r")["signals/ch00"]
        assert list(array[0:10]) == list(range(1000, 1010))
        assert (sim.counts() - before).requests == 3  # 412, the new directory, the chunk
    finally:
        stale.close()


def test_performance_doc_one_archive_opened_from_the_catalog_of_its_folder(
    s3: S3Server, sim: NetSim, recordings: list[bytes]
) -> None:
    """docs/performance.md "Small reads against unzipped zarr": ``index`` of the folder that
    holds one archive, then ``RemoteZipStore(url, catalog=...)``: the open is the catalog's
    one GET, the metadata need none, a chunk is one GET pinned to the catalogued ETag."""
    from .test_cli import run

    folder = f"one-{uuid.uuid4().hex[:8]}"
    url = s3.put(recordings[1], f"{folder}/night.zip")
    catalog = f"s3://{s3.bucket}/{folder}.rzc"
    indexed = run(s3, "index", f"s3://{s3.bucket}/{folder}/", "-o", catalog)
    assert indexed.returncode == 0, indexed.stderr.decode()
    assert "1 archive(s)" in indexed.stdout.decode()
    before = sim.counts()
    store = RemoteZipStore(url, catalog=catalog, **_kwargs(s3, sim))
    try:
        assert (sim.counts() - before).requests == 1  # the catalog's GET; no directory GET
        root = open_zarr(store)
        assert root.attrs["subject"] == "s01"
        assert list(root["signals/ch01"][10:12]) == [10, 11]
        assert (sim.counts() - before).requests == 2  # and the chunk's
    finally:
        store.close()
