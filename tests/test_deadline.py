"""``timeout=``: a total deadline per operation (the open, each read) that no retry schedule
exceeds. Against a server that accepts connections and never answers (counted here), and
through the fault proxy on moto for reads after a good open.

Elapsed times are asserted with a generous slack (a loaded machine passes); the mechanism
is asserted exactly: the connections (attempts) made, the error's type and message.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from remote_zip_store import DeadlineExceededError, ReadOptions, SourceError
from remote_zip_store.testing.servers import S3Server
from remote_zip_store.verbs._many import open_many

from .archives import make_zip
from .faultproxy import Fault, FaultProxy, fault_proxy
from .test_cli import no_credentials_env, run_plain
from .worlds import RemoteZipStore

#: Slack on top of the deadline for an elapsed-time assertion (a loaded 2-core machine).
SLACK = 5.0

ENTRIES = {f"arr/{i}.0": os.urandom(9000 + i) for i in range(8)}


@dataclass
class Silent:
    """A TCP server that accepts connections and never answers; counts the connections."""

    url: str
    accepted: list[socket.socket] = field(default_factory=list)

    @property
    def connections(self) -> int:
        return len(self.accepted)


@contextlib.contextmanager
def silent() -> Iterator[Silent]:
    listener = socket.create_server(("127.0.0.1", 0))
    server = Silent(f"http://127.0.0.1:{listener.getsockname()[1]}")
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            with contextlib.suppress(OSError):
                server.accepted.append(listener.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        stop.set()
        thread.join(5)
        for conn in server.accepted:
            conn.close()
        listener.close()


def s3_kwargs(endpoint: str, transport: str) -> dict[str, Any]:
    return dict(
        endpoint_url=endpoint,
        aws_access_key_id="k",
        aws_secret_access_key="s",
        region_name="us-east-1",
        transport=transport,
    )


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name.startswith("remote_zip_store") and r.levelno >= logging.WARNING
    ]


@pytest.mark.parametrize("transport", ["lean", "botocore"])
def test_open_against_a_silent_s3_endpoint_ends_at_the_deadline(
    transport: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Defaults (read_timeout=60, max_attempts=5) would wait minutes; timeout=1 ends the
    open after one attempt whose read timeout shrank to the deadline."""
    caplog.set_level(logging.DEBUG, logger="remote_zip_store")
    with silent() as server:
        started = time.monotonic()
        with pytest.raises(DeadlineExceededError) as info:
            RemoteZipStore(
                "s3://b/k.zip", timeout=1, head_size=0, **s3_kwargs(server.url, transport)
            )
        elapsed = time.monotonic() - started
        assert server.connections == 1  # the one attempt the deadline allows
    assert elapsed < 1 + SLACK, elapsed
    error = info.value
    assert isinstance(error, TimeoutError) and isinstance(error, SourceError)
    assert error.archive == "s3://b/k.zip"
    timed_out = "ReadTimeoutError" if transport == "botocore" else "read timed out after "
    assert "1 s deadline (timeout=1" in str(error) and timed_out in str(error)
    assert warnings_of(caplog) == []  # no retry started: nothing to announce


def test_retries_run_until_the_deadline_and_no_further(caplog: pytest.LogCaptureFixture) -> None:
    """read_timeout=1 and a 2.6 s deadline: attempts at ~0, ~1 and ~2 s, the third cut to the
    time left; the fourth never starts. Two retries, two WARNING lines."""
    caplog.set_level(logging.WARNING, logger="remote_zip_store")
    with silent() as server:
        started = time.monotonic()
        with pytest.raises(DeadlineExceededError, match="3 attempts") as info:
            RemoteZipStore(
                "s3://b/k.zip",
                timeout=2.6,
                read_timeout=1,
                retry_backoff=0.01,
                head_size=0,
                **s3_kwargs(server.url, "lean"),
            )
        elapsed = time.monotonic() - started
        assert server.connections == 3
    assert elapsed < 2.6 + SLACK, elapsed
    assert "2.6 s deadline" in str(info.value)
    lines = warnings_of(caplog)
    assert len(lines) == 2 and "attempt 1 of 5" in lines[0] and "attempt 2 of 5" in lines[1]


def test_a_backoff_longer_than_the_time_left_is_not_started(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """After the first attempt 0.5 s are left and the next backoff is at least 1 s: the
    open fails then, before the deadline, instead of sleeping past it."""
    caplog.set_level(logging.WARNING, logger="remote_zip_store")
    with silent() as server:
        started = time.monotonic()
        with pytest.raises(DeadlineExceededError, match="1 attempt,"):
            RemoteZipStore(
                "s3://b/k.zip",
                timeout=1.5,
                read_timeout=1,
                retry_backoff=2,
                head_size=0,
                **s3_kwargs(server.url, "lean"),
            )
        elapsed = time.monotonic() - started
        assert server.connections == 1
    assert elapsed < 1.5 + SLACK, elapsed
    assert warnings_of(caplog) == []


def test_http_open_and_the_head_get_end_at_the_deadline() -> None:
    """An http(s) URL: the tail GET and the speculative head GET beside it both wait at most
    the time left."""
    with silent() as server:
        started = time.monotonic()
        with pytest.raises(DeadlineExceededError) as info:
            RemoteZipStore(f"{server.url}/a.zip?X-Sig=secret", timeout=1)
        elapsed = time.monotonic() - started
        assert server.connections == 2  # the tail and the head, each once
    assert elapsed < 1 + SLACK, elapsed
    assert f"{server.url}/a.zip" in str(info.value) and "secret" not in str(info.value)


def test_open_many_takes_the_timeout() -> None:
    with silent() as server:
        started = time.monotonic()
        opened = open_many(
            ["s3://b/k.zip"], timeout=1, head_size=0, **s3_kwargs(server.url, "lean")
        )
        assert server.connections == 1
    assert time.monotonic() - started < 1 + SLACK
    assert isinstance(opened["s3://b/k.zip"], DeadlineExceededError)


def test_timeout_must_be_positive() -> None:
    with pytest.raises(ValueError, match="timeout must be > 0"):
        ReadOptions(timeout=0)


@pytest.fixture
def proxy(moto: S3Server) -> Iterator[FaultProxy]:
    with fault_proxy(moto.endpoint_url, lifetime=120) as p:
        yield p


def test_each_read_has_its_own_deadline(moto: S3Server, proxy: FaultProxy) -> None:
    """After a good open, a GET the proxy holds for 4 s fails at the 1 s deadline, naming
    archive, key and deadline; single reads and getitems alike. Then reads work again."""
    url = moto.put(make_zip(ENTRIES))
    kwargs = dict(moto.store_kwargs(), endpoint_url=proxy.endpoint_url)
    # The process's request layer is built outside the deadline under test (obstore's
    # first store and credentials took over 1 s on a loaded machine): the reads are.
    RemoteZipStore(url, tail_size=1024, head_size=0, root="", **kwargs).close()
    store = RemoteZipStore(url, timeout=1, tail_size=1024, head_size=0, root="", **kwargs)
    for read in (
        lambda: store["arr/0.0"],
        lambda: store.getitems(["arr/1.0", "arr/5.0"], contexts={}),
    ):
        proxy.clear()
        proxy.arm(Fault("delay", count=1, seconds=4.0))
        started = time.monotonic()
        with pytest.raises(DeadlineExceededError) as info:
            read()
        assert time.monotonic() - started < 1 + SLACK
        assert url in str(info.value) and "'arr/" in str(info.value)
        assert "1 s deadline" in str(info.value)
        assert len(proxy.requests("GET")) == 1  # abandoned, not retried past the deadline
    proxy.clear()
    assert store["arr/2.0"] == ENTRIES["arr/2.0"]


def test_cli_timeout_option_and_variable() -> None:
    env = no_credentials_env(AWS_ACCESS_KEY_ID="k", AWS_SECRET_ACCESS_KEY="s")
    with silent() as server:
        argv = ["ls", "s3://b/k.zip", "--endpoint-url", server.url]
        started = time.monotonic()
        result = run_plain(*argv, "--timeout", "1", env=env, timeout=60)
        assert time.monotonic() - started < 1 + SLACK + 3  # + the interpreter's start
        assert result.returncode == 1, result.stderr
        last = result.stderr.decode().splitlines()[-1]
        assert "s3://b/k.zip" in last and "1 s deadline" in last
        result = run_plain(*argv, env={**env, "RZS_TIMEOUT": "1"}, timeout=60)
        assert result.returncode == 1 and b"1 s deadline" in result.stderr
    assert run_plain(*argv, "--timeout", "0", env=env).returncode == 2
    bad = run_plain(*argv, env={**env, "RZS_TIMEOUT": "soon"})
    assert bad.returncode == 2 and b"RZS_TIMEOUT" in bad.stderr
