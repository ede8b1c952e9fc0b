"""Requests and round trips of ``tree()``, counted at a proxy in front of a real moto server.

Every GET is held 0.25 s at the proxy, so a request that starts after another one
finished is plainly one round trip later: the round of a request is one more than
the latest round that finished before it started. Counts and rounds are
deterministic; no wall time is asserted.
"""

from __future__ import annotations

import itertools
import zipfile
from collections.abc import Iterator
from pathlib import Path

import boto3
import botocore.config
import pytest

from remote_zip_store import ReadOptions
from remote_zip_store.hierarchy._prefetch import from_consolidated
from remote_zip_store.testing.sample import write_sample_archive
from remote_zip_store.testing.servers import S3Server

from .faultproxy import Fault, FaultProxy, Record, fault_proxy
from .worlds import ZARR3, RemoteZipStore, open_consolidated, open_group, open_zarr, tree, zip_store

HOLD = 0.6  # seconds every GET waits at the proxy (long beside thread-scheduling jitter)
#: The hold where 15 GETs go out at once on new connections: on a loaded CI machine (two
#: xdist workers, moto and the proxy starting a thread per connection) one of them once
#: reached the proxy 0.6 s after the first, and read as a round later.
WIDE_HOLD = 1.5


def rounds(records: list[Record]) -> list[int]:
    """The round trip of each request (1 = the first), in start order."""
    ordered = sorted(records, key=lambda r: r.started)
    depth: list[int] = []
    for i, record in enumerate(ordered):
        before = [depth[j] for j in range(i) if ordered[j].finished <= record.started]
        depth.append(1 + max(before, default=0))
    return depth


def _ranges(records: list[Record]) -> list[tuple[int, int]]:
    """``(start, end)`` of the explicit-range GETs (the open's suffix GET left out)."""
    out = []
    for record in records:
        assert record.range is not None
        first, _, last = record.range.removeprefix("bytes=").partition("-")
        if first:
            out.append((int(first), int(last) + 1))
    return out


@pytest.fixture(scope="module")
def archives(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("tree")
    made = {}
    for name, consolidated in (("consolidated", True), ("plain", False)):
        path = folder / f"{name}.zip"
        write_sample_archive(path, channels=16, seconds=1200, consolidated=consolidated)
        made[name] = path
    # consolidated, then one array's attributes changed: its .zmetadata copy is stale
    stale = folder / "stale.zip"
    write_sample_archive(stale, channels=16, seconds=1200, consolidated=True)
    with (
        pytest.warns(UserWarning, match="Duplicate name"),
        zip_store(stale, mode="a") as store,
    ):
        open_group(store, mode="a")["signals/ch03"].attrs["unit"] = "mV"
    made["stale"] = stale
    return made


@pytest.fixture(scope="module")
def proxy(moto: S3Server) -> Iterator[FaultProxy]:
    with fault_proxy(moto.endpoint_url) as running:
        yield running


#: zarr.open without ``.zmetadata``: zarr 3's open reads it when present, zarr 2's never does.
ENTRIES = {"use_consolidated": False} if ZARR3 else {}


def _open(
    moto: S3Server, proxy: FaultProxy, url: str, hold: float = HOLD, **options: object
) -> RemoteZipStore:
    proxy.clear()
    proxy.arm(Fault("delay", count=10**6, seconds=hold))
    client = boto3.client(
        "s3",
        endpoint_url=proxy.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id=moto.access_key,
        aws_secret_access_key=moto.secret_key,
        # a connection for every GET of a round: none waits for a free one
        config=botocore.config.Config(max_pool_connections=64),
    )
    return RemoteZipStore(url, client=client, **options)  # type: ignore[arg-type]


def test_tree_of_a_consolidated_archive_costs_the_open_only(
    moto: S3Server, proxy: FaultProxy, archives: dict[str, Path]
) -> None:
    url = moto.put_file(archives["consolidated"])
    with _open(moto, proxy, url) as store:
        text = tree(open_zarr(store))
        assert "ch15" in text
        gets = proxy.requests()
        # the open's suffix GET and head GET, side by side; then nothing at all
        assert len(gets) == 2
        assert rounds(gets) == [1, 1]
        options = ReadOptions()
        assert store.archive.source.stats.bytes == options.tail_size + options.head_size
        for c in range(16):  # attributes too (xarray reads them): still no request
            dict(open_zarr(store)[f"signals/ch{c:02d}"].attrs)
        assert len(proxy.requests()) == 2


def test_tree_without_consolidated_metadata_is_three_rounds(
    moto: S3Server, proxy: FaultProxy, archives: dict[str, Path]
) -> None:
    url = moto.put_file(archives["plain"])
    with _open(moto, proxy, url, hold=WIDE_HOLD) as store:
        tree(open_zarr(store))
        gets = proxy.requests()
        depth = rounds(gets)
        assert max(depth) == 3
        if ZARR3:
            # zarr 3 asks for the 16 arrays' metadata concurrently: the misses that arrive
            # before the round is planned go singly (15 in round 2), the rest at once
            assert depth.count(1) == 2 and depth.count(2) == 15 and depth.count(3) == 1
        else:
            # open; the first miss below the root singly; every other metadata entry at once
            assert depth.count(1) == 2 and depth.count(2) == 1
        # no byte fetched twice: the key read singly is not part of the round
        spans = sorted(_ranges(gets))
        assert all(a_end <= b_start for (_, a_end), (b_start, _) in itertools.pairwise(spans))


def test_derived_metadata_is_byte_for_byte_the_entries(archives: dict[str, Path]) -> None:
    with (
        RemoteZipStore(archives["consolidated"]) as store,
        zipfile.ZipFile(archives["consolidated"]) as zf,
    ):
        derived = from_consolidated(store.archive, store._prefix)
        # root .zgroup and .zattrs, signals/.zgroup, .zarray and .zattrs per array
        assert len(derived) == 2 + 1 + 2 * 16
        for name, data in derived.items():
            assert data == zf.read(name)


def test_stale_consolidated_metadata_is_never_served(
    moto: S3Server, proxy: FaultProxy, archives: dict[str, Path]
) -> None:
    url = moto.put_file(archives["stale"])
    with _open(moto, proxy, url) as store:
        derived = from_consolidated(store.archive, store._prefix)
        assert "signals/ch03/.zattrs" not in derived  # its CRC no longer matches
        assert "signals/ch04/.zattrs" in derived
        attrs = dict(open_zarr(store, **ENTRIES)["signals/ch03"].attrs)
        assert attrs["unit"] == "mV"  # the entry's bytes (the appended one), not .zmetadata's
        assert open_consolidated(store)["signals/ch03"].attrs["unit"] == "uV"


def test_policy_off_derives_nothing(
    moto: S3Server, proxy: FaultProxy, archives: dict[str, Path]
) -> None:
    url = moto.put_file(archives["consolidated"])
    with _open(moto, proxy, url, metadata_prefetch="off") as store:
        tree(open_zarr(store, **ENTRIES))
        assert len(proxy.requests()) > 2 + 10  # one GET per node not in the head
