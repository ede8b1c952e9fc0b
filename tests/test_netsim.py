"""The benchmark network simulator: exact counters, and at least the configured delays.

A raw HTTP/1.1 server on 127.0.0.1 answers every request with a known response, so the
bytes on the wire are known exactly. Timing is asserted as a lower bound only.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from remote_zip_store.testing.netsim import Condition, NetSim, RequestSplitter


def _response(body: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body


class RawServer:
    """Answers each request ``GET /N`` with N bytes; reads request bodies by Content-Length."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.received = 0
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        buf = b""
        with conn:
            while True:
                while b"\r\n\r\n" not in buf:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buf += data
                head, buf = buf.split(b"\r\n\r\n", 1)
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                while len(buf) < length:
                    buf += conn.recv(65536)
                buf = buf[length:]
                self.received += len(head) + 4 + length
                size = int(head.split(b" ")[1].lstrip(b"/") or 0)
                conn.sendall(_response(b"x" * size))

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def server() -> Iterator[RawServer]:
    s = RawServer()
    yield s
    s.close()


def _exchange(sock: socket.socket, request: bytes, size: int) -> bytes:
    sock.sendall(request)
    want = len(_response(b"x" * size))
    got = b""
    while len(got) < want:
        data = sock.recv(65536)
        assert data, "connection closed early"
        got += data
    return got


def test_counts_are_exact_for_a_known_exchange(server: RawServer) -> None:
    requests = [
        (b"GET /10 HTTP/1.1\r\nHost: x\r\n\r\n", 10),
        (b"PUT /0 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", 0),
        (b"GET /100000 HTTP/1.1\r\nHost: x\r\nRange: bytes=0-9\r\n\r\n", 100000),
    ]
    with NetSim("127.0.0.1", server.port) as sim:
        down = 0
        with socket.create_connection(("127.0.0.1", sim.port)) as sock:
            for request, size in requests:
                down += len(_exchange(sock, request, size))
        with socket.create_connection(("127.0.0.1", sim.port)) as sock:
            down += len(_exchange(sock, requests[0][0], 10))
        counts = sim.counts()
    assert counts.requests == 4
    assert counts.connections == 2
    assert counts.bytes_down == down
    assert counts.bytes_up == sum(len(r) for r, _ in requests) + len(requests[0][0])


def test_reset_zeroes_the_counters(server: RawServer) -> None:
    with NetSim("127.0.0.1", server.port) as sim:
        with socket.create_connection(("127.0.0.1", sim.port)) as sock:
            _exchange(sock, b"GET /1 HTTP/1.1\r\n\r\n", 1)
            sim.reset()
            got = _exchange(sock, b"GET /2 HTTP/1.1\r\n\r\n", 2)
        counts = sim.counts()
    assert (counts.requests, counts.connections, counts.bytes_down) == (1, 0, len(got))


def test_cpu_time_is_the_proxy_threads_own(server: RawServer) -> None:
    """The proxy's CPU is counted apart from the caller's (benchmarks subtract it)."""
    sim = NetSim("127.0.0.1", server.port)
    assert sim.cpu_time() == 0.0  # not started
    with sim:
        with socket.create_connection(("127.0.0.1", sim.port)) as sock:
            for _ in range(20):
                _exchange(sock, b"GET /100000 HTTP/1.1\r\n\r\n", 100_000)
        used = sim.cpu_time()
        mine = time.thread_time()
        busy_until = time.thread_time() + 0.05
        while time.thread_time() < busy_until:  # the caller's CPU is not the proxy's
            pass
        assert 0.0 < used <= sim.cpu_time() < used + 0.04
    assert mine > 0


def _timed(sock: socket.socket) -> float:
    """Seconds one one-byte exchange took."""
    t0 = time.perf_counter()
    _exchange(sock, b"GET /1 HTTP/1.1\r\n\r\n", 1)
    return time.perf_counter() - t0


def test_each_request_waits_at_least_one_rtt_and_a_new_connection_one_more(
    server: RawServer,
) -> None:
    rtt = 0.05
    sim = NetSim("127.0.0.1", server.port, Condition("test", rtt=rtt))
    with sim, socket.create_connection(("127.0.0.1", sim.port)) as sock:
        first, second = _timed(sock), _timed(sock)
    assert first >= 2 * rtt
    assert second >= rtt


@pytest.mark.parametrize("at_connect", [False, True])
def test_a_connection_opened_ahead_is_credited_only_with_handshake_at_connect(
    server: RawServer, at_connect: bool
) -> None:
    """By default a connection's first request pays the handshake whenever it comes; with
    ``handshake_at_connect`` the round trip runs from the accept, so a spare used a round
    trip later costs its first request one RTT (bounds with wide slack)."""
    rtt = 0.25
    condition = Condition("test", rtt=rtt, handshake_at_connect=at_connect)
    sim = NetSim("127.0.0.1", server.port, condition)
    with sim, socket.create_connection(("127.0.0.1", sim.port)) as sock:
        time.sleep(1.5 * rtt)  # idle past its handshake
        first, second = _timed(sock), _timed(sock)
    if at_connect:
        assert rtt <= first < 1.6 * rtt
    else:
        assert first >= 2 * rtt
    assert rtt <= second < 1.6 * rtt


def test_bandwidth_is_shared_across_connections(server: RawServer) -> None:
    rate = 4e6  # bytes/s
    size = 400_000
    with NetSim("127.0.0.1", server.port, Condition("test", bandwidth=rate)) as sim:
        socks = [socket.create_connection(("127.0.0.1", sim.port)) for _ in range(2)]
        request = b"GET /%d HTTP/1.1\r\n\r\n" % size
        t0 = time.perf_counter()
        threads = [threading.Thread(target=_exchange, args=(s, request, size)) for s in socks]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - t0
        for s in socks:
            s.close()
        moved = sim.counts().bytes_down
    burst = 64 * 1024
    assert moved >= 2 * size
    assert elapsed >= (moved - burst) / rate


def test_splitter_finds_requests_split_anywhere() -> None:
    stream = (
        b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
        b"PUT /b HTTP/1.1\r\nContent-Length: 4\r\n\r\nbody"
        b"PUT /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
        b"GET /d HTTP/1.1\r\n\r\n"
    )
    for step in (1, 2, 7, 13, len(stream)):
        splitter = RequestSplitter()
        pieces = []
        for i in range(0, len(stream), step):
            pieces += splitter.feed(stream[i : i + step])
        assert splitter.requests == 4
        assert sum(1 for starts, _ in pieces if starts) == 4
        assert b"".join(p for _, p in pieces) == stream
        heads = [p for starts, p in pieces if starts]
        assert [h.split(b" ")[1] for h in heads] == [b"/a", b"/b", b"/c", b"/d"]


def test_closes_by_itself_after_its_lifetime(server: RawServer) -> None:
    sim = NetSim("127.0.0.1", server.port, lifetime=0.2).start()
    assert sim._thread is not None
    sim._thread.join(5)
    assert not sim._thread.is_alive()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", sim.port), timeout=1).close()
