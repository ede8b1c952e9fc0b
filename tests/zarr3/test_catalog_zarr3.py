"""A format-3 cohort opened from a catalog (issue 21): one GET, equal reads, pinned versions."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("zarr", minversion="3.1")

import zarr

from remote_zip_store.testing.netsim import NetSim
from remote_zip_store.testing.servers import S3Server
from remote_zip_store.verbs._catalog import build_catalog
from remote_zip_store.verbs._many import open_many
from remote_zip_store.zarr3._store import RemoteZipStore

from .helpers import write_hierarchy


def _recording(subject: str, offset: int) -> Any:
    def build(group: Any) -> None:
        group.attrs["subject"] = subject
        for c in range(2):
            a = group.create_array(f"signals/ch{c}", shape=(300,), chunks=(10,), dtype="int64")
            a[:] = np.arange(300) + offset
        s = group.create_array(
            "sharded", shape=(64,), chunks=(8,), shards=(32,), dtype="uint16", compressors=None
        )
        s[:] = np.arange(64) + offset

    return build


@pytest.fixture
def sim(s3: S3Server) -> Iterator[NetSim]:
    host, port = s3.endpoint_url.removeprefix("http://").split(":")
    with NetSim(host, int(port)) as proxy:
        yield proxy


def _read(store: RemoteZipStore) -> tuple[Any, ...]:
    group = zarr.open_group(store, mode="r")
    return (
        dict(group.attrs),
        group["signals/ch0"][:].tolist(),
        group["signals/ch1"][95:105].tolist(),
        group["sharded"][5:40].tolist(),
    )


def _close(result: dict[str, Any]) -> None:
    for value in result.values():
        if not isinstance(value, Exception):
            value.close()


def test_a_format_3_cohort_opens_with_one_get_and_reads_equal(
    s3: S3Server, sim: NetSim, tmp_path: Path
) -> None:
    folder = f"cat3-{uuid.uuid4().hex}"
    for i in range(3):
        data = write_hierarchy(tmp_path / f"{i}.zip", _recording(f"s{i}", 100 * i))
        s3.put(data, f"{folder}/rec{i}.zip")
    prefix = f"s3://{s3.bucket}/{folder}/"
    output = f"s3://{s3.bucket}/catalogs/{uuid.uuid4().hex}.rzc"
    report = build_catalog(prefix, output, **s3.store_kwargs())
    assert report.archives == 3 and report.catalog_bytes <= report.directory_bytes
    kwargs = {**s3.store_kwargs(), "endpoint_url": sim.endpoint}
    before = sim.counts()
    result = open_many(catalog=output, **kwargs)
    assert (sim.counts() - before).requests == 1  # the catalog opened its three with one GET
    plain = open_many(prefix, **kwargs)
    try:
        before = sim.counts()
        for i, store in enumerate(result.values()):
            assert isinstance(store, RemoteZipStore)
            assert dict(zarr.open_group(store, mode="r").attrs) == {"subject": f"s{i}"}
        assert (sim.counts() - before).requests == 0  # zarr.json from the catalog
        for url, store in result.items():
            assert _read(store) == _read(plain[url])
    finally:
        _close(result)
        _close(plain)


def test_a_replaced_format_3_archive_is_reopened_and_read_right(
    s3: S3Server, tmp_path: Path
) -> None:
    folder = f"cat3r-{uuid.uuid4().hex}"
    s3.put(write_hierarchy(tmp_path / "a.zip", _recording("s0", 0)), f"{folder}/rec0.zip")
    prefix = f"s3://{s3.bucket}/{folder}/"
    output = str(tmp_path / "c.rzc")
    build_catalog(prefix, output, **s3.store_kwargs())
    s3.put(write_hierarchy(tmp_path / "b.zip", _recording("s0", 5000)), f"{folder}/rec0.zip")
    result = open_many(catalog=output, **s3.store_kwargs())
    try:
        store = result[f"{prefix}rec0.zip"]
        assert _read(store)[1] == list(range(5000, 5300))  # metadata unchanged: re-opened
        assert not store.archive.provisional
    finally:
        _close(result)
