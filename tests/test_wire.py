"""The read path's HTTP/1.1 client (transport/_wire.py) against a scripted TCP server.

Each test scripts the server's answers byte for byte (framing, early closes, idle
closes, interim answers, malformed heads) and checks what the client returns, which
connections it keeps, and what it raises. The S3 and HTTP sources run on this client
in the rest of the suite (moto, SeaweedFS, the fault proxy); these are the cases
those servers never produce.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest

from remote_zip_store.transport._wire import BrokenResponse, Origin, WirePool


@dataclass
class Step:
    """One answer: the bytes sent back, then ``keep`` the connection, ``close`` it, or
    ``drop`` (close without answering), ``silent`` (never answer)."""

    answer: bytes = b""
    then: str = "keep"


@dataclass
class Scripted:
    steps: list[Step]
    port: int = 0
    requests: list[bytes] = field(default_factory=list)
    connections: int = 0

    @property
    def origin(self) -> Origin:
        return Origin.of("http", "127.0.0.1", self.port)


def _serve_connection(conn: socket.socket, server: Scripted, lock: threading.Lock) -> None:
    buffer = b""
    with conn:
        while True:
            while b"\r\n\r\n" not in buffer:
                data = conn.recv(65536)
                if not data:
                    return
                buffer += data
            request, _, buffer = buffer.partition(b"\r\n\r\n")
            with lock:
                server.requests.append(request)
                step = server.steps.pop(0) if server.steps else Step(then="drop")
            if step.then == "silent":
                time.sleep(5)
                return
            if step.then == "drop":
                return
            conn.sendall(step.answer)
            if step.then == "close":
                return


@contextmanager
def scripted(*steps: Step) -> Iterator[Scripted]:
    server = Scripted(list(steps))
    listener = socket.create_server(("127.0.0.1", 0))
    server.port = listener.getsockname()[1]
    lock = threading.Lock()
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with lock:
                server.connections += 1
            threading.Thread(
                target=_serve_connection, args=(conn, server, lock), daemon=True
            ).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        stop.set()
        thread.join()
        listener.close()


def ok(body: bytes, *headers: str, status: str = "206 Partial Content") -> bytes:
    head = "".join(f"{h}\r\n" for h in headers)
    return f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n{head}\r\n".encode() + body


def get(pool: WirePool, server: Scripted, target: str = "/k") -> tuple[int, bytes]:
    response = pool.request("GET", server.origin, target, {"Range": "bytes=0-9"})
    body = response.read()
    response.release_conn()
    return response.status, body


def test_a_request_is_sent_as_written_and_its_connection_kept() -> None:
    with scripted(Step(ok(b"0123456789")), Step(ok(b"abc"))) as server:
        pool = WirePool()
        assert get(pool, server, "/b/k%20x?versionId=3") == (206, b"0123456789")
        assert get(pool, server) == (206, b"abc")
        assert server.connections == 1 and pool.idle_count(server.origin) == 1
        first = server.requests[0].decode()
        assert first.startswith("GET /b/k%20x?versionId=3 HTTP/1.1\r\n")
        assert f"\r\nHost: 127.0.0.1:{server.port}\r\n" in first
        assert "\r\nRange: bytes=0-9" in first and "\r\nUser-Agent: remote-zip-store" in first


def test_headers_are_found_in_any_case_and_repeated_ones_joined() -> None:
    answer = ok(b"x", 'ETag: "e1"', "X-Amz-Meta-A: 1", "x-amz-meta-a: 2", "Folded: a", " b")
    with scripted(Step(answer)) as server:
        response = WirePool().request("GET", server.origin, "/", {})
        assert response.headers.get("etag") == '"e1"' and response.headers["ETAG"] == '"e1"'
        assert "Content-Length" in response.headers and "content-range" not in response.headers
        assert response.headers.get("x-amz-meta-a") == "1, 2"
        assert response.headers.get("folded") == "a b"
        assert response.read() == b"x"


def test_a_chunked_body_is_joined_and_its_connection_kept() -> None:
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"4;ext=1\r\nwiki\r\n5\r\npedia\r\n0\r\nTrailer: t\r\n\r\n"
    )
    with scripted(Step(chunked), Step(ok(b"z"))) as server:
        pool = WirePool()
        assert get(pool, server) == (200, b"wikipedia")
        assert get(pool, server) == (206, b"z")
        assert server.connections == 1


def test_a_chunked_body_read_in_pieces() -> None:
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nwiki\r\n5\r\npedia\r\n0\r\n\r\n"
    )
    with scripted(Step(chunked)) as server:
        response = WirePool().request("GET", server.origin, "/", {})
        assert [response.read(3), response.read(3), response.read(), response.read()] == [
            b"wik",
            b"ipe",
            b"dia",
            b"",
        ]


def test_a_body_without_length_ends_at_the_close_and_is_not_kept() -> None:
    with scripted(
        Step(b"HTTP/1.1 200 OK\r\n\r\nall of it", then="close"), Step(ok(b"y"))
    ) as server:
        pool = WirePool()
        assert get(pool, server) == (200, b"all of it")
        assert pool.idle_count() == 0
        assert get(pool, server) == (206, b"y")
        assert server.connections == 2


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.0 206 Partial Content\r\nContent-Length: 2\r\n\r\nab",
        b"HTTP/1.1 206 Partial Content\r\nContent-Length: 2\r\nConnection: close\r\n\r\nab",
    ],
    ids=["http-1.0", "connection-close"],
)
def test_a_connection_the_server_closes_is_not_kept(answer: bytes) -> None:
    with scripted(Step(answer, then="close")) as server:
        pool = WirePool()
        assert get(pool, server) == (206, b"ab")
        assert pool.idle_count() == 0


def test_an_interim_answer_is_skipped() -> None:
    with scripted(Step(b"HTTP/1.1 100 Continue\r\n\r\n" + ok(b"after"))) as server:
        assert get(WirePool(), server) == (206, b"after")


def test_a_head_answer_has_no_body_whatever_its_length() -> None:
    head = b'HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nETag: "h"\r\n\r\n'
    with scripted(Step(head), Step(ok(b"next"))) as server:
        pool = WirePool()
        response = pool.request("HEAD", server.origin, "/", {})
        assert response.status == 200 and response.headers.get("content-length") == "1000"
        assert response.read() == b""
        assert get(pool, server) == (206, b"next")  # the same connection, in step
        assert server.connections == 1


def test_a_body_cut_short_raises_and_drops_the_connection() -> None:
    cut = b"HTTP/1.1 206 Partial Content\r\nContent-Length: 100\r\n\r\n" + b"x" * 10
    with scripted(Step(cut, then="close")) as server:
        pool = WirePool()
        response = pool.request("GET", server.origin, "/", {})
        with pytest.raises(BrokenResponse, match="closed after 10 of 100 body bytes") as info:
            response.read()
        assert isinstance(info.value, ConnectionError)
        response.release_conn()
        assert pool.idle_count() == 0


def test_a_body_left_unread_is_not_kept() -> None:
    with scripted(Step(ok(b"0123456789"))) as server:
        pool = WirePool()
        response = pool.request("GET", server.origin, "/", {})
        assert response.read(4) == b"0123"
        response.release_conn()
        assert pool.idle_count() == 0


@pytest.mark.parametrize(
    ("answer", "match"),
    [
        (b"SSH-2.0-OpenSSH\r\n\r\n", "not an HTTP/1.x answer"),
        (b"HTTP/1.1 abc OK\r\n\r\n", "bad status line"),
        (b"HTTP/1.1 206 OK\r\nContent-Length: -3\r\n\r\n", "bad Content-Length"),
        (b"HTTP/1.1 206 OK\r\nno colon here\r\n\r\n", "bad header line"),
        (b"HTTP/1.1 206 OK\r\n" + b"X: y\r\n" * 101 + b"\r\n", "header lines"),
        (b"HTTP/1.1 206 OK\r\nContent-Le", "closed inside the answer's headers"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "bad chunk size"),
    ],
    ids=["not-http", "status", "length", "header", "too-many", "cut-head", "chunk-size"],
)
def test_a_malformed_answer_raises_broken_response(answer: bytes, match: str) -> None:
    with scripted(Step(answer, then="close")) as server:
        pool = WirePool()
        with pytest.raises(BrokenResponse, match=match):
            response = pool.request("GET", server.origin, "/", {})
            response.read()
        assert pool.idle_count() == 0


def test_a_kept_connection_closed_while_idle_is_replaced_without_an_error() -> None:
    # The server answers, then closes: the client notices before reusing the connection.
    with scripted(Step(ok(b"one"), then="close"), Step(ok(b"two"))) as server:
        pool = WirePool()
        response = pool.request("GET", server.origin, "/", {})
        assert response.read() == b"one"
        response.release_conn()
        time.sleep(0.1)  # the server's FIN arrives
        assert get(pool, server) == (206, b"two")
        assert server.connections == 2


def test_a_kept_connection_that_fails_before_an_answer_is_sent_again_once() -> None:
    # The server reads the second request and closes without a word (its idle timeout
    # raced the request): sent once more, on a new connection.
    with scripted(Step(ok(b"one")), Step(then="drop"), Step(ok(b"two"))) as server:
        pool = WirePool()
        assert get(pool, server) == (206, b"one")
        assert get(pool, server) == (206, b"two")
        assert server.connections == 2 and len(server.requests) == 3


def test_a_new_connection_closed_without_an_answer_raises() -> None:
    with scripted(Step(then="drop")) as server:
        with pytest.raises(BrokenResponse, match="closed the connection before answering"):
            WirePool().request("GET", server.origin, "/", {})
        assert server.connections == 1  # not sent again: the failure is the server's


def test_a_silent_server_times_out_at_the_read_timeout() -> None:
    with scripted(Step(then="silent")) as server:
        started = time.monotonic()
        expected = rf"read timed out after 0\.3 s waiting for 127\.0\.0\.1:{server.port}"
        with pytest.raises(TimeoutError, match=expected):
            WirePool(read_timeout=0.3).request("GET", server.origin, "/", {})
        assert time.monotonic() - started < 2


def test_a_request_timeout_overrides_the_pools() -> None:
    with scripted(Step(then="silent")) as server:
        pool = WirePool(read_timeout=60)
        with pytest.raises(TimeoutError, match=r"after 0\.2 s"):
            pool.request("GET", server.origin, "/", {}, timeout=(1.0, 0.2))


def test_a_refused_connection_is_a_connection_error() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()
    with pytest.raises(ConnectionError):
        WirePool().request("GET", Origin.of("http", "127.0.0.1", port), "/", {})


def test_the_pool_keeps_at_most_max_connections_idle() -> None:
    with scripted(*[Step(ok(b"x")) for _ in range(3)]) as server:
        pool = WirePool(max_connections=2)
        responses = [pool.request("GET", server.origin, "/", {}) for _ in range(3)]
        for response in responses:  # three at once: three connections
            assert response.read() == b"x"
            response.release_conn()
        assert server.connections == 3 and pool.idle_count(server.origin) == 2
        pool.clear()
        assert pool.idle_count() == 0


def test_origins_name_their_host_as_sigv4_signs_it() -> None:
    assert Origin.of("https", "s3.eu-west-1.amazonaws.com", None).host_header == (
        "s3.eu-west-1.amazonaws.com"
    )
    assert Origin.of("http", "127.0.0.1", 80).host_header == "127.0.0.1"
    assert Origin.of("http", "::1", 9000).host_header == "[::1]:9000"
    assert Origin.of("HTTPS", "Minio.Local", 9000).port == 9000
    with pytest.raises(ValueError, match="not an http"):
        Origin.of("ftp", "x", None)


def _settle(check: Callable[[], bool], seconds: float = 5.0) -> None:
    """Wait for background connects (``check`` returns True when done)."""
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "spare connections never settled"
        time.sleep(0.01)


def test_preconnect_opens_spares_once_and_requests_use_them() -> None:
    with scripted(*(Step(ok(b"x")) for _ in range(3))) as server:
        pool = WirePool()
        assert pool.preconnect(server.origin, 3) == 3
        _settle(lambda: pool.idle_count(server.origin) == 3 and server.connections == 3)
        assert pool.open_count(server.origin) == 3
        # Asked again (a cohort's next archive): they are open already, none more.
        assert pool.preconnect(server.origin, 3) == 0
        # Three requests at once find them ready: no connection opened on their path.
        responses = [pool.request("GET", server.origin, "/k", {}) for _ in range(3)]
        assert [r.read() for r in responses] == [b"x"] * 3
        for response in responses:
            response.release_conn()
        assert server.connections == 3 and len(server.requests) == 3


def test_preconnect_counts_connections_in_use_and_gives_back_closed_ones() -> None:
    with scripted(Step(ok(b"abc")), Step(ok(b"abc"))) as server:
        pool = WirePool()
        response = pool.request("GET", server.origin, "/k", {})  # in use, not yet idle
        assert pool.open_count(server.origin) == 1
        assert pool.preconnect(server.origin, 2) == 1
        _settle(lambda: pool.idle_count(server.origin) == 1)
        response.close()  # its body unread: dropped, no longer open
        assert pool.open_count(server.origin) == 1
        assert pool.preconnect(server.origin, 2) == 1
        _settle(lambda: pool.idle_count(server.origin) == 2 and server.connections == 3)
        pool.clear()
        assert pool.open_count(server.origin) == 0


def test_a_spare_that_cannot_connect_is_only_logged() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()  # nothing listens there: each connect is refused
    origin = Origin.of("http", "127.0.0.1", port)
    pool = WirePool(connect_timeout=1)
    assert pool.preconnect(origin, 4) == 4
    _settle(lambda: pool.open_count(origin) == 0)
    assert pool.idle_count(origin) == 0
    # The request that needed one reports the refusal itself.
    with pytest.raises(ConnectionError):
        pool.request("GET", origin, "/k", {})
    assert pool.open_count(origin) == 0


def test_preconnect_never_exceeds_the_pools_size() -> None:
    with scripted() as server:
        pool = WirePool(max_connections=2)
        assert pool.preconnect(server.origin, 10) == 2
        _settle(lambda: pool.idle_count(server.origin) == 2 and server.connections == 2)
        time.sleep(0.2)  # (a third would have been accepted by now)
        assert server.connections == 2 and pool.open_count(server.origin) == 2


def test_a_used_connection_is_taken_before_a_spare() -> None:
    """Spares wait at the back: a request takes the connection that served the last one
    (its handshake long done), a spare only when no used one is idle."""
    with scripted(*(Step(ok(b"x")) for _ in range(3))) as server:
        pool = WirePool()
        response = pool.request("GET", server.origin, "/k", {})
        response.read()
        used = response._conn
        response.release_conn()
        assert pool.preconnect(server.origin, 3) == 2
        _settle(lambda: pool.idle_count(server.origin) == 3)
        response = pool.request("GET", server.origin, "/k", {})
        assert response._conn is used
        response.read()
        response.release_conn()
