"""Fault injection: moto and SeaweedFS behind tests/faultproxy.py. Each fault ends in the
right bytes or a clear SourceError after the configured retries; attempts are counted at
the proxy."""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
import uuid

import pytest

from remote_zip_store import (
    ArchiveChangedError,
    ReadOptions,
    SourceError,
)
from remote_zip_store.testing.servers import S3Server
from remote_zip_store.transport import S3Options
from remote_zip_store.transport import _base as base
from remote_zip_store.transport._s3lean import transport_of

from .archives import make_zip
from .faultproxy import (  # the fixtures: pytest finds them by name
    Fault,
    FaultProxy,
    open_store,
    proxy_fixture,  # noqa: F401
    server_fixture,  # noqa: F401
)
from .worlds import RemoteZipStore

# ~330 kB: the first GET fetches at least the last 64 kiB (the EOCD comment may be that long),
# so entries in the first half always need their own GETs.
ENTRIES = {f"arr/{i}.0": os.urandom(8000 + 7 * i) for i in range(40)}
ENTRIES["arr/.zarray"] = b"{}"


#: The exception each body fault surfaces as (checked, so a botocore change is noticed).
RAISED = {
    "reset": "(ResponseStreamingError: An error occurred while reading from response stream: "
    '("Connection broken: ConnectionResetError',
    "truncate": "(ResponseStreamingError: An error occurred while reading from response stream: "
    "('Connection broken: IncompleteRead(",
    "short": "(_ShortBody: expected 8",
}
if transport_of(S3Options()) == "lean":  # the wire client's (transport/_wire.py), unwrapped
    RAISED.update(
        reset="(ConnectionResetError: [Errno 104] Connection reset by peer",
        truncate="(BrokenResponse: the connection closed after ",
    )
#: RZS_S3_TRANSPORT=obstore runs this suite on obstore (the ``obstore`` extra).
OBSTORE = transport_of(S3Options()) == "obstore"
if OBSTORE:  # reqwest's one message for a body that broke off, whichever way
    RAISED.update(reset="request or response body error", truncate="request or response body error")
#: obstore reads a 200 (Range ignored) itself and returns the bytes asked for, slicing the
#: whole object: right bytes, never an error, and the source cannot see the status.
OBSTORE_SLICES_200 = pytest.mark.skipif(
    OBSTORE, reason="obstore slices a 200 answer to the range asked (right bytes, whole object)"
)


@pytest.fixture(scope="module")
def archive_url(server: S3Server) -> str:
    return server.put(make_zip(ENTRIES))


def needs_unsigned_range(server: S3Server) -> None:
    """Faults that drop the Range header (``norange``, ``suffix`` with 200) change a signed
    header: SeaweedFS checks SigV4 and answers 403, moto does not check. Those run on moto."""
    if server.name != "moto":
        pytest.skip("dropping the signed Range header breaks SigV4 on a server that checks it")


def entry_gets(proxy: FaultProxy) -> list[str]:
    """Faults applied to each ranged GET (``""`` = passed through), in order."""
    return [r.fault for r in proxy.requests("GET") if not (r.range or "").startswith("bytes=-")]


@pytest.mark.parametrize("kind", ["reset", "truncate", "short"])
@pytest.mark.parametrize("nbytes", [0, 100, 7999])
def test_body_faults_are_retried_to_the_right_bytes(
    server: S3Server,
    proxy: FaultProxy,
    archive_url: str,
    kind: str,
    nbytes: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = open_store(server, proxy, archive_url)
    proxy.clear()
    proxy.arm(Fault(kind, count=3, nbytes=nbytes))
    caplog.set_level(logging.DEBUG, logger="remote_zip_store")
    assert store["arr/5.0"] == ENTRIES["arr/5.0"]
    assert entry_gets(proxy) == [kind, kind, kind, ""]
    # What botocore or the wire client really raise mid-body, as the retry log names it.
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("remote_zip_store")]
    assert len(ours) == 3
    assert all(RAISED[kind] in message for message in ours), ours


@pytest.mark.parametrize("kind", ["reset", "truncate", "short"])
def test_body_faults_beyond_the_retries_raise_source_error(
    server: S3Server, proxy: FaultProxy, archive_url: str, kind: str
) -> None:
    store = open_store(server, proxy, archive_url, body_retries=2)
    proxy.clear()
    proxy.arm(Fault(kind, count=10, nbytes=50))
    with pytest.raises(SourceError) as info:
        store["arr/7.0"]
    message = str(info.value)
    assert "'arr/7.0'" in message and archive_url in message and "after 3 attempts" in message
    assert entry_gets(proxy) == [kind] * 3


def test_faults_in_getitems_return_all_or_raise(
    server: S3Server, proxy: FaultProxy, archive_url: str
) -> None:
    # No coalescing: one GET per key, so faults hit several concurrent requests. Which GETs
    # take the 8 faults depends on timing: one key may take all of them, so its retries
    # must outlast 8 (body_retries=8), or the test would fail for the order, not the store.
    store = open_store(server, proxy, archive_url, coalesce_gap=0, coalesce_max=1, body_retries=8)
    keys = [f"arr/{i}.0" for i in range(0, 20, 2)]
    proxy.clear()
    proxy.arm(Fault("reset", count=4, nbytes=10))
    proxy.arm(Fault("short", count=4, nbytes=10))
    assert store.getitems(keys) == {k: ENTRIES[k] for k in keys}
    faults = entry_gets(proxy)
    assert faults.count("reset") == 4 and faults.count("short") == 4
    assert len(faults) == len(keys) + 8
    proxy.arm(Fault("reset", count=100, nbytes=10))
    with pytest.raises(SourceError):
        store.getitems(keys)


@pytest.mark.parametrize(
    ("status", "code"), [(503, "SlowDown"), (500, "InternalError"), (429, "TooManyRequests")]
)
def test_status_faults_use_botocore_retries(
    server: S3Server,
    proxy: FaultProxy,
    archive_url: str,
    status: int,
    code: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = open_store(server, proxy, archive_url, max_attempts=3)
    proxy.clear()
    proxy.arm(Fault("status", count=2, status=status, code=code))
    caplog.set_level(logging.WARNING, logger="remote_zip_store")
    assert store["arr/9.0"] == ENTRIES["arr/9.0"]
    assert entry_gets(proxy) == ["status", "status", ""]
    # Each of botocore's retries is visible: attempt, maximum, URL and the status. (Only
    # this proxy's lines: reads a failed getitems left running elsewhere may still log.)
    lines = [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and proxy.endpoint_url in r.getMessage()
    ]
    assert len(lines) == 2, lines
    assert "attempt 1 of 3" in lines[0] and "attempt 2 of 3" in lines[1]
    assert all(f"HTTP {status}" in line for line in lines)
    proxy.clear()
    proxy.arm(Fault("status", count=10, status=status, code=code))
    with pytest.raises(SourceError) as info:
        store["arr/9.0"]
    assert code in str(info.value) and "'arr/9.0'" in str(info.value)
    assert entry_gets(proxy) == ["status"] * 3  # max_attempts, not more


def test_read_timeout_is_retried_then_reported(
    server: S3Server, proxy: FaultProxy, archive_url: str
) -> None:
    store = open_store(server, proxy, archive_url, read_timeout=0.5, max_attempts=2)
    proxy.clear()
    proxy.arm(Fault("delay", count=1, seconds=1.5))
    assert store["arr/11.0"] == ENTRIES["arr/11.0"]
    assert entry_gets(proxy) == ["delay", ""]
    proxy.clear()
    proxy.arm(Fault("delay", count=2, seconds=1.5))
    started = time.monotonic()
    with pytest.raises(SourceError) as info:
        store["arr/11.0"]
    assert time.monotonic() - started < 10
    assert "timeout" in str(info.value).lower()
    assert entry_gets(proxy) == ["delay", "delay"]


def test_connect_failure_is_a_clear_error(server: S3Server, archive_url: str) -> None:
    proxy = FaultProxy(server.endpoint_url, lifetime=30).start()
    endpoint = proxy.endpoint_url
    proxy.stop()  # nothing listens there any more
    options = dict(server.store_kwargs(), endpoint_url=endpoint)
    with pytest.raises(SourceError) as info:
        RemoteZipStore(archive_url, connect_timeout=0.5, max_attempts=2, **options)
    assert archive_url in str(info.value)


@pytest.mark.parametrize("kind", ["reset", "short"])
def test_faults_while_opening_are_retried(
    server: S3Server, proxy: FaultProxy, archive_url: str, kind: str
) -> None:
    proxy.arm(Fault(kind, count=2, nbytes=20, suffix_only=True))
    store = open_store(server, proxy, archive_url)
    assert [r.fault for r in proxy.requests("GET")][:3] == [kind, kind, ""]
    assert store["arr/3.0"] == ENTRIES["arr/3.0"]


@pytest.mark.parametrize(("status", "code"), [(501, "NotImplemented"), (416, "InvalidRange")])
def test_suffix_range_rejected_falls_back_to_head(
    server: S3Server, proxy: FaultProxy, archive_url: str, status: int, code: str
) -> None:
    proxy.arm(Fault("suffix", status=status, code=code))
    store = open_store(server, proxy, archive_url)
    assert proxy.requests("GET")[0].fault == "suffix"
    assert len(proxy.requests("HEAD")) == 1
    assert store.getitems(list(ENTRIES)) == ENTRIES


@OBSTORE_SLICES_200
def test_suffix_range_ignored_falls_back_to_head(
    server: S3Server, proxy: FaultProxy, archive_url: str
) -> None:
    """A server that answers ``bytes=-N`` with 200 and the whole (large) object."""
    needs_unsigned_range(server)
    proxy.arm(Fault("suffix", status=200))
    store = open_store(server, proxy, archive_url)
    assert proxy.requests("GET")[0].fault == "suffix"
    assert len(proxy.requests("HEAD")) == 1
    assert store["arr/1.0"] == ENTRIES["arr/1.0"]


def test_suffix_range_ignored_on_a_small_object_uses_the_body(
    server: S3Server, proxy: FaultProxy
) -> None:
    needs_unsigned_range(server)
    entries = {"a": b"x" * 100, "b": b"y" * 200}
    url = server.put(make_zip(entries))
    proxy.arm(Fault("suffix", status=200))
    store = open_store(server, proxy, url)
    assert not proxy.requests("HEAD")
    assert store["a"] == entries["a"] and store["b"] == entries["b"]
    assert len(proxy.requests("GET")) == 1  # everything came in the one (full) answer


def test_retries_are_logged_without_credentials(
    server: S3Server, proxy: FaultProxy, archive_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    store = open_store(server, proxy, archive_url)
    caplog.set_level(logging.DEBUG, logger="remote_zip_store")
    proxy.arm(Fault("reset", count=2, nbytes=10))
    assert store["arr/2.0"] == ENTRIES["arr/2.0"]
    records = [r for r in caplog.records if r.name.startswith("remote_zip_store")]
    assert all(r.levelno == logging.WARNING for r in records)
    ours = [r.getMessage() for r in records]
    # The source no longer knows the key: each line names the URL, the byte range and the attempt.
    assert len(ours) == 2
    assert all(archive_url in m and "reading bytes " in m and "retrying" in m for m in ours)
    assert "attempt 1 of" in ours[0] and "attempt 2 of" in ours[1]
    assert not any(server.secret_key in m or server.access_key in m for m in ours)


@OBSTORE_SLICES_200
def test_a_server_ignoring_range_on_entry_reads_is_an_error_not_data(
    server: S3Server, proxy: FaultProxy, archive_url: str
) -> None:
    needs_unsigned_range(server)
    store = open_store(server, proxy, archive_url)
    proxy.clear()
    proxy.arm(Fault("norange", count=5))
    with pytest.raises(SourceError, match="ignored the Range header") as info:
        store["arr/4.0"]
    assert "'arr/4.0'" in str(info.value)
    assert entry_gets(proxy) == ["norange"]  # not a transient fault: no retry


HEAD_RANGE = f"bytes=0-{ReadOptions().head_size - 1}"
HEAD_FAULTS = [
    Fault("reset", nbytes=100),
    Fault("truncate", nbytes=100),
    Fault("short", nbytes=100),
    Fault("status", count=5, status=503),  # past botocore's 3 attempts
    Fault("status", count=5, status=403, code="AccessDenied"),
    Fault("norange"),  # a 200 with the whole object: not taken as the head
]


@pytest.mark.parametrize("fault", [None, *HEAD_FAULTS], ids=lambda f: f.kind if f else "none")
def test_faults_on_the_head_get_drop_it_and_reads_stay_right(
    server: S3Server, proxy: FaultProxy, archive_url: str, fault: Fault | None
) -> None:
    if fault is not None and fault.kind == "norange":
        needs_unsigned_range(server)
        if OBSTORE:
            pytest.skip("obstore slices a 200 answer to the range asked: the head is right bytes")
    if fault is not None:
        # A fresh copy per run: the parameter is shared by both servers' runs.
        fault = dataclasses.replace(fault, range=HEAD_RANGE, fired=0)
        proxy.arm(fault)
    store = open_store(server, proxy, archive_url, head_size=ReadOptions().head_size)
    first = store.archive.index.get("arr/0.0")
    assert first is not None
    # the open never fails for the head; without a fault its bytes serve the first entries
    assert store.archive.is_buffered(first) is (fault is None)
    proxy.clear()
    assert store.getitems(list(ENTRIES), contexts={}) == ENTRIES
    assert entry_gets(proxy)  # the rest of the archive still needs GETs


def test_a_head_of_another_version_is_dropped(
    server: S3Server, proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    def archive(version: int) -> bytes:
        group = f'{{"zarr_format": {version}}}'.encode()  # same length, other bytes
        return make_zip({".zgroup": group, "blob": os.urandom(600_000)})  # beyond the tail

    key = f"t/race-{uuid.uuid4().hex}.zip"
    url = server.put(archive(2), key)
    # held (the tail goes through meanwhile) for less than the open waits for it
    monkeypatch.setattr(base, "HEAD_WAIT", 10.0)
    proxy.arm(Fault("delay", seconds=2.0, range=HEAD_RANGE))
    opened: list[RemoteZipStore] = []
    thread = threading.Thread(
        target=lambda: opened.append(
            open_store(server, proxy, url, head_size=ReadOptions().head_size, tail_size=512 * 1024)
        )
    )
    thread.start()
    deadline = time.monotonic() + 10
    while not any(r.range == "bytes=-524288" and r.finished for r in proxy.requests("GET")):
        assert time.monotonic() < deadline, "the tail GET never finished"
        time.sleep(0.01)
    server.put(archive(3), key)  # replaced while the head GET waits: it reads the new version
    thread.join(30)
    (store,) = opened
    entry = store.archive.index.get(".zgroup")
    assert entry is not None and not store.archive.is_buffered(entry)  # the head was dropped
    with pytest.raises(ArchiveChangedError):
        store[".zgroup"]  # If-Match on the pinned (first) version: never the new bytes


def test_a_stuck_head_get_does_not_hold_up_the_open(
    server: S3Server, proxy: FaultProxy, archive_url: str
) -> None:
    """The mechanism, not wall time (a loaded machine stretches both): the head GET is held
    30 s at the proxy, and the open returned before the proxy answered it."""
    proxy.arm(Fault("delay", seconds=30, range=HEAD_RANGE))
    store = open_store(server, proxy, archive_url, head_size=ReadOptions().head_size)
    opened = time.monotonic()
    deadline = opened + 20
    while not [r for r in proxy.requests("GET") if r.range == HEAD_RANGE]:
        assert time.monotonic() < deadline, "the head GET never reached the proxy"
        time.sleep(0.05)
    (head,) = [r for r in proxy.requests("GET") if r.range == HEAD_RANGE]
    assert head.fault == "delay"
    # Not answered when the open returned: the open did not wait for it.
    assert head.finished == 0.0 or head.finished > opened, (head, opened)
    first = store.archive.index.get("arr/0.0")
    assert first is not None and not store.archive.is_buffered(first)
    assert store["arr/0.0"] == ENTRIES["arr/0.0"]


def test_retries_at_open_are_logged_once_each(
    server: S3Server, proxy: FaultProxy, archive_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """N 503s on the open's tail GET are N WARNING lines; the head GET beside it is one
    attempt (speculative: a failure drops it), so its 503 is neither retried nor logged."""
    caplog.set_level(logging.DEBUG, logger="remote_zip_store")
    retries = 2
    proxy.arm(Fault("status", count=retries, status=503, suffix_only=True))
    proxy.arm(Fault("status", count=5, status=503, range=HEAD_RANGE))
    store = open_store(server, proxy, archive_url, head_size=ReadOptions().head_size)
    warnings = [
        r.getMessage()
        for r in caplog.records
        if r.name.startswith("remote_zip_store") and r.levelno >= logging.WARNING
    ]
    assert len(warnings) == retries, warnings
    assert all(archive_url in m or "bytes=-" in m or "GetObject" in m for m in warnings)
    gets = proxy.requests("GET")
    assert [r.fault for r in gets if r.range == HEAD_RANGE] == ["status"]  # never retried
    assert [r.fault for r in gets if (r.range or "").startswith("bytes=-")] == [
        "status",
        "status",
        "",
    ]
    first = store.archive.index.get("arr/0.0")
    assert first is not None and not store.archive.is_buffered(first)  # the head was dropped
    proxy.clear()
    assert store.getitems(list(ENTRIES), contexts={}) == ENTRIES
