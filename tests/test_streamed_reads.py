"""Ranges read as they arrive (``transport.ReadsInto``): the HTTP source and the S3 source
(lean and botocore paths) hand a read-ahead piece's bytes over in ``STREAM_STEP`` steps,
and a body that breaks off is asked again for the bytes after those in place, not from the
start. Real servers: the test file server (its ``short`` fault), moto and SeaweedFS behind
the fault proxy (``truncate``, ``reset``); requests are counted at the server or proxy.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from remote_zip_store.errors import SourceError
from remote_zip_store.testing.servers import S3Server
from remote_zip_store.transport import HTTPSource, ReadsInto, S3Options, S3Source
from remote_zip_store.transport._base import STREAM_STEP

from .faultproxy import (  # the fixtures: pytest finds them by name
    Fault,
    FaultProxy,
    proxy_fixture,  # noqa: F401
    server_fixture,  # noqa: F401
)
from .httpserver import FileServer, file_server

DATA = os.urandom(1_000_000)
START, END = 1000, 601_000  # 600,000 bytes: 4 full steps and a part


class Progress:
    """What ``progress`` was told, and the bytes in place at each call."""

    def __init__(self, buffer: bytearray) -> None:
        self.buffer = buffer
        self.calls: list[int] = []
        self.right: list[bool] = []

    def __call__(self, filled: int) -> None:
        self.calls.append(filled)
        self.right.append(bytes(self.buffer[:filled]) == DATA[START : START + filled])


def _read(source: ReadsInto) -> Progress:
    buffer = bytearray(END - START)
    progress = Progress(buffer)
    source.read_range_into(START, END, buffer, progress)
    assert bytes(buffer) == DATA[START:END]
    assert all(progress.right), "every byte reported in place was the object's"
    assert progress.calls == sorted(set(progress.calls)) and progress.calls[-1] == END - START
    return progress


@pytest.fixture
def files() -> Iterator[FileServer]:
    with file_server() as server:
        yield server


def test_an_http_range_is_handed_over_step_by_step(files: FileServer) -> None:
    source = HTTPSource(files.put("/a.bin", DATA))
    assert source.streams
    progress = _read(source)
    assert progress.calls == [STREAM_STEP * k for k in range(1, 5)] + [END - START]
    assert len(files.requests) == 1
    assert source.stats.snapshot() == (1, END - START)
    assert source.read_range(START, START + 10) == DATA[START : START + 10]  # connection kept


def test_an_http_body_cut_short_resumes_after_the_bytes_in_place(files: FileServer) -> None:
    source = HTTPSource(files.put("/a.bin", DATA), retry_backoff=0.001)
    source.read_ends(1024)  # pinned to the ETag from here on
    files.requests.clear()
    files.faults.append("short")  # half of the body (300,000 bytes), then the server closes
    progress = _read(source)
    resumed = START + 2 * STREAM_STEP  # the two whole steps that arrived before the cut
    assert [r.get("Range") for r in files.requests] == [
        f"bytes={START}-{END - 1}",
        f"bytes={resumed}-{END - 1}",
    ]
    assert all(r.get("If-Match") for r in files.requests)
    assert progress.calls[:2] == [STREAM_STEP, 2 * STREAM_STEP]


def test_an_http_answer_for_other_bytes_never_lands(files: FileServer) -> None:
    source = HTTPSource(files.put("/a.bin", DATA), max_attempts=1, retry_backoff=0.001)
    files.faults.append("shifted")  # a 206 of the right length, one byte later
    buffer = bytearray(END - START)
    calls: list[int] = []
    with pytest.raises(SourceError, match="Content-Range"):
        source.read_range_into(START, END, buffer, calls.append)
    assert calls == [] and buffer == bytearray(END - START)


@pytest.mark.parametrize("transport", ["lean", "botocore"])
@pytest.mark.parametrize("kind", ["truncate", "reset"])
def test_an_s3_body_that_breaks_off_resumes_after_the_bytes_in_place(
    server: S3Server, proxy: FaultProxy, transport: str, kind: str
) -> None:
    url = server.put(DATA)
    bucket, key = url.removeprefix("s3://").split("/", 1)
    options = S3Options(
        **{**server.store_kwargs(), "endpoint_url": proxy.endpoint_url},
        transport=transport,
        retry_backoff=0.001,
    )
    source = S3Source(bucket, key, options=options)
    assert source.streams
    source.read_ends(1024)  # pinned to the ETag from here on
    proxy.clear()
    proxy.arm(Fault(kind, count=1, nbytes=200_000))  # past one step, inside the second
    progress = _read(source)
    records = proxy.requests("GET")
    assert [r.fault for r in records] == [kind, ""]
    assert all(r.if_match for r in records)
    assert records[0].range == f"bytes={START}-{END - 1}"
    first, _, last = (records[1].range or "").removeprefix("bytes=").partition("-")
    resumed = int(first) - START
    assert last == str(END - 1)
    # after what was in place when the body broke: a step at least on a FIN (botocore
    # hands over the part of a step that came, the wire client a whole step); an RST may
    # drop what the kernel held unread, so there any reported point (or the start)
    assert resumed in [0, *progress.calls] and resumed <= 200_000
    if kind == "truncate":
        assert resumed >= STREAM_STEP
    requests, _ = source.stats.snapshot()
    assert requests == 3  # the open's, the broken one, the rest


def test_obstore_hands_a_range_over_at_its_end(s3: S3Server) -> None:
    pytest.importorskip("obstore")
    url = s3.put(DATA)
    bucket, key = url.removeprefix("s3://").split("/", 1)
    options = S3Options(**s3.store_kwargs(), transport="obstore")
    source = S3Source(bucket, key, options=options)
    assert not source.streams  # its bodies come whole: the read-ahead sizes pieces as before
    assert _read(source).calls == [END - START]
