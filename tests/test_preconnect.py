"""Spare connections at open (``ReadOptions.preconnect``), counted at a TCP proxy.

A large archive's reads grow into read-ahead windows fetched several pieces at once;
each piece that finds no idle connection pays a connection setup on its path (a
round trip; more with TLS). The open of an archive of at least ``PRECONNECT_FROM``
bytes starts the spares on threads; a read after them opens no connection. Counts,
not timings: the proxy counts the connections the client opened.
"""

from __future__ import annotations

import io
import os
import time
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import pytest

from remote_zip_store.archive import ReadOptions, ZipArchive
from remote_zip_store.archive._reader import PRECONNECT_FROM
from remote_zip_store.testing.netsim import NetSim
from remote_zip_store.testing.servers import S3Server
from remote_zip_store.transport import HTTPSource, S3Options, S3Source, Source
from remote_zip_store.zipfmt import Entry

from .archives import make_zip
from .httpserver import file_server

PIECE = 1536 * 1024
#: Twelve 1.5 MiB entries: an 18 MiB archive, over the preconnect threshold.
LARGE = make_zip({f"a/{i}": os.urandom(PIECE) for i in range(12)})
SMALL = make_zip({f"a/{i}": os.urandom(1024) for i in range(12)})
#: Every other entry: four GETs at once (``coalesce_gap=0`` keeps them apart).
WANTED = ["a/0", "a/3", "a/6", "a/9"]


def _settle(count: Callable[[], int], seconds: float = 10.0) -> int:
    """The proxy's connection count once it stopped moving for 0.3 s."""
    deadline = time.monotonic() + seconds
    last, since = count(), time.monotonic()
    while time.monotonic() - since < 0.3:
        assert time.monotonic() < deadline, "connections never settled"
        time.sleep(0.02)
        now = count()
        if now != last:
            last, since = now, time.monotonic()
    return last


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    return parts.hostname, parts.port


@contextmanager
def _source(kind: str, data: bytes, s3: S3Server | None) -> Iterator[tuple[Source, NetSim]]:
    """A source reading ``data`` through a counting proxy (its own port, so its own
    connections in the process's shared pool)."""
    if kind == "http":
        with file_server() as files:
            url = files.put("/big.zip", data)
            with NetSim(*_host_port(url)) as sim:
                yield HTTPSource(url.replace(files.base_url, sim.endpoint)), sim
        return
    assert s3 is not None
    url = s3.put(data)
    with NetSim(*_host_port(s3.endpoint_url)) as sim:
        options = S3Options(**{**s3.store_kwargs(), "endpoint_url": sim.endpoint})
        bucket, key = url.removeprefix("s3://").split("/", 1)
        yield S3Source(bucket, key, options=options), sim


@pytest.fixture(params=["http", "moto", "seaweedfs"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def server(kind: str, request: pytest.FixtureRequest) -> S3Server | None:
    return None if kind == "http" else request.getfixturevalue(kind)


def _open(source: Source, preconnect: int) -> ZipArchive:
    options = ReadOptions(preconnect=preconnect, coalesce_gap=0, readahead=0)
    return ZipArchive(source, options).open()


def test_a_large_archives_open_leaves_spares_its_reads_use(
    kind: str, server: S3Server | None
) -> None:
    assert len(LARGE) >= PRECONNECT_FROM
    with _source(kind, LARGE, server) as (source, sim):
        archive = _open(source, preconnect=6)
        opened = _settle(lambda: sim.counts().connections)
        # Six open: the open's two (tail and head) kept and four spares; moto's server
        # closes each connection after its answer, so there all six are spares.
        assert opened == (8 if kind == "moto" else 6)
        got = archive.read_many(_entries(archive))
        assert sim.counts().requests == 2 + len(WANTED)
        # The four GETs at once found connections ready: none opened on their path.
        assert sim.counts().connections == opened
    assert all(got[name] == _entry(LARGE, name) for name in WANTED)


def test_without_spares_the_same_reads_open_their_own(kind: str, server: S3Server | None) -> None:
    """The control: the same reads with ``preconnect=0`` open connections as they go."""
    with _source(kind, LARGE, server) as (source, sim):
        archive = _open(source, preconnect=0)
        opened = _settle(lambda: sim.counts().connections)
        assert opened == 2
        archive.read_many(_entries(archive))
        assert sim.counts().connections > opened


def test_a_small_archive_gets_no_spares(kind: str, server: S3Server | None) -> None:
    """A small archive is read in a GET or two: spares would only cost the server."""
    with _source(kind, SMALL, server) as (source, sim):
        _open(source, preconnect=6)
        assert _settle(lambda: sim.counts().connections) <= 2


def _entry(data: bytes, name: str) -> bytes:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return z.read(name)


def _entries(archive: ZipArchive) -> list[Entry]:
    found = [archive.index.get(name) for name in WANTED]
    assert all(entry is not None for entry in found)
    return [entry for entry in found if entry is not None]
