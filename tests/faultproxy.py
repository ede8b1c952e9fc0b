"""A fault-injecting HTTP proxy for the tests: store -> proxy (127.0.0.1) -> real S3 server.

Requests pass through unchanged (the ``Host`` header too, so SigV4 signatures
stay valid) until a test arms a :class:`Fault`; the next ``count`` matching
requests then get that fault instead of (or on top of) the server's answer:

* ``reset``: send the headers and ``nbytes`` of the body, then reset the connection (RST)
* ``truncate``: promise the full ``Content-Length``, send ``nbytes``, close (FIN)
* ``short``: send ``nbytes`` of the body with a matching ``Content-Length`` (a short body
  that is valid HTTP)
* ``delay``: wait ``seconds`` before answering (read timeouts, slow requests)
* ``status``: answer ``status`` with an S3 XML error ``code`` (503 SlowDown, 500, 429)
* ``suffix``: for ``Range: bytes=-N`` only: answer ``status`` (501/416), or with
  ``status=200`` drop the Range header and send the whole object
* ``norange``: drop the Range header of any GET (the server answers 200, whole object)

Everything is bounded: faults fire a fixed number of times, every wait has a
timeout, and the proxy stops itself after ``lifetime`` seconds. It listens on
127.0.0.1 only; with ``tls=(cert, key)`` it terminates TLS in front of the server.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest

from remote_zip_store.testing.servers import S3Server
from remote_zip_store.transport import _s3lean as s3lean

from .worlds import RemoteZipStore

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "te"}


@dataclass
class Fault:
    """One armed fault; ``count`` is how many matching requests it hits."""

    kind: str
    count: int = 1
    nbytes: int = 0
    seconds: float = 0.0
    status: int = 503
    code: str = "SlowDown"
    method: str = "GET"
    range: str | None = None
    """Only requests with exactly this ``Range`` header (``None``: any)."""
    suffix_only: bool = False
    fired: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    """Extra response headers of a ``status`` fault (``x-amz-bucket-region``)."""


@dataclass
class Record:
    """A request the proxy saw, and the fault it applied (``""``: passed through)."""

    method: str
    path: str
    range: str | None
    if_match: str | None
    fault: str
    started: float
    finished: float = 0.0
    scope: str = ""
    """The SigV4 credential scope signed (``date/region/s3/aws4_request``), if signed."""


@dataclass
class FaultProxy:
    upstream: str
    lifetime: float = 600.0
    tls: tuple[str, str] | None = None
    drop_headers: set[str] = field(default_factory=set)
    """Request headers removed before forwarding (e.g. ``if-match``: a server ignoring it)."""
    faults: list[Fault] = field(default_factory=list)
    records: list[Record] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._threads: list[threading.Thread] = []
        self._stopped = threading.Event()

    # -- control -----------------------------------------------------------------------
    def arm(self, fault: Fault) -> Fault:
        with self._lock:
            self.faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self.faults.clear()
            self.records.clear()

    def requests(self, method: str = "GET") -> list[Record]:
        with self._lock:
            return [r for r in self.records if r.method == method]

    def _take(self, method: str, byte_range: str | None) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.fired >= fault.count or fault.method != method:
                    continue
                if fault.range is not None and fault.range != byte_range:
                    continue
                is_suffix = byte_range is not None and byte_range.startswith("bytes=-")
                if (fault.kind == "suffix" or fault.suffix_only) and not is_suffix:
                    continue
                fault.fired += 1
                return fault
        return None

    @property
    def endpoint_url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{host!s}:{port}"

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> FaultProxy:
        proxy = self
        target = urlsplit(self.upstream)
        assert target.hostname == "127.0.0.1", "the proxy only forwards to 127.0.0.1"
        context = None
        if self.tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*self.tls)

        class Handler(_Handler):
            owner = proxy
            upstream_port = target.port or 80

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            # socketserver's default listen backlog is 5: a round of 16 new connections
            # overflowed it on a loaded machine, and a dropped SYN is retried after 1 s,
            # which read as a request one round trip late.
            request_queue_size = 128

            def get_request(self) -> tuple[Any, Any]:
                sock, addr = self.socket.accept()
                sock.settimeout(30)
                if context is not None:
                    sock = context.wrap_socket(
                        sock, server_side=True, do_handshake_on_connect=False
                    )
                return sock, addr

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # resets and failed TLS handshakes are the point here

        self._server = Server(("127.0.0.1", 0), Handler)
        serve = threading.Thread(target=self._server.serve_forever, daemon=True)
        serve.start()
        timer = threading.Timer(self.lifetime, self.stop)
        timer.daemon = True
        timer.start()
        self._threads = [serve]
        self._timer = timer
        return self

    def stop(self) -> None:
        if self._stopped.is_set():
            return
        self._stopped.set()
        self._timer.cancel()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    owner: FaultProxy
    upstream_port: int

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._forward("GET")

    def do_HEAD(self) -> None:
        self._forward("HEAD")

    def do_PUT(self) -> None:
        self._forward("PUT")

    def do_POST(self) -> None:  # multipart create/complete
        self._forward("POST")

    def do_DELETE(self) -> None:  # multipart abort
        self._forward("DELETE")

    def setup(self) -> None:
        if isinstance(self.request, ssl.SSLSocket):
            self.request.do_handshake()  # a client that rejects our certificate fails here
        super().setup()

    def _forward(self, method: str) -> None:
        byte_range = self.headers.get("Range")
        record = Record(
            method, self.path, byte_range, self.headers.get("If-Match"), "", time.monotonic()
        )
        authorization = self.headers.get("Authorization") or ""
        record.scope = authorization.partition("Credential=")[2].partition(",")[0].partition("/")[2]
        with self.owner._lock:
            self.owner.records.append(record)
        length = int(self.headers.get("Content-Length") or 0)
        body_in = self.rfile.read(length) if length else None
        fault = self.owner._take(method, byte_range)
        record.fault = fault.kind if fault else ""
        try:
            self._answer(method, byte_range, body_in, fault)
        finally:
            record.finished = time.monotonic()

    def _answer(
        self, method: str, byte_range: str | None, body: bytes | None, fault: Fault | None
    ) -> None:
        if fault is not None and fault.kind == "delay":
            time.sleep(fault.seconds)
        if fault is not None and (
            fault.kind == "status" or (fault.kind == "suffix" and fault.status != 200)
        ):
            self._error(fault.status, fault.code, fault.headers)
            return
        dropped = _HOP_BY_HOP | self.owner.drop_headers
        headers = {k: v for k, v in self.headers.items() if k.lower() not in dropped}
        if fault is not None and fault.kind in ("suffix", "norange"):
            headers.pop("Range", None)
        upstream = http.client.HTTPConnection("127.0.0.1", self.upstream_port, timeout=30)
        try:
            upstream.request(method, self.path, body=body, headers=headers)
            response = upstream.getresponse()
            data = response.read()
            status = response.status
            out_headers = [
                (k, v)
                for k, v in response.getheaders()
                if k.lower() not in _HOP_BY_HOP and k.lower() != "content-length"
            ]
        finally:
            upstream.close()
        kind = fault.kind if fault is not None else ""
        send = data if method != "HEAD" else b""
        declared = len(data)
        if kind == "short":
            send = data[: fault.nbytes] if fault else data
            declared = len(send)
        elif kind in ("reset", "truncate"):
            send = data[: fault.nbytes] if fault else data
        self.send_response(status)
        for k, v in out_headers:
            self.send_header(k, v)
        if method == "HEAD":
            self.send_header("Content-Length", str(response.getheader("Content-Length") or 0))
        else:
            self.send_header("Content-Length", str(declared))
        self.end_headers()
        self.wfile.write(send)
        self.wfile.flush()
        if kind == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
        elif kind == "truncate":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)

    def _error(self, status: int, code: str, headers: dict[str, str] | None = None) -> None:
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{code}</Code><Message>injected by the test proxy</Message>"
            "<RequestId>faultproxy</RequestId></Error>"
        ).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/xml")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@contextmanager
def fault_proxy(
    upstream: str, *, lifetime: float = 600.0, tls: tuple[str, str] | None = None
) -> Iterator[FaultProxy]:
    proxy = FaultProxy(upstream, lifetime=lifetime, tls=tls).start()
    try:
        yield proxy
    finally:
        proxy.stop()


# -- what the fault tests share (tests/test_faults.py, tests/test_lean_s3.py): import the
# fixtures by their function names, pytest finds them by ``name``.


@pytest.fixture(name="server", scope="module", params=["moto", "seaweedfs"])
def server_fixture(request: pytest.FixtureRequest) -> S3Server:
    """Each fault test runs against both real servers (the same assertions)."""
    found: S3Server = request.getfixturevalue(request.param)
    return found


@pytest.fixture(name="proxy")
def proxy_fixture(server: S3Server) -> Iterator[FaultProxy]:
    with fault_proxy(server.endpoint_url, lifetime=120) as p:
        yield p
    s3lean.clear_shared_lean()  # regions learned through this proxy stay with it


def open_store(server: S3Server, proxy: FaultProxy, url: str, **kwargs: Any) -> RemoteZipStore:
    """A store reading ``url`` through ``proxy``: small tail, fast retries, no root detection.

    The speculative head GET would take faults meant for the reads under test
    (``head_size=0``); its own faults are tested in tests/test_faults.py.
    """
    options: dict[str, Any] = dict(server.store_kwargs(), endpoint_url=proxy.endpoint_url)
    options.update(tail_size=1024, retry_backoff=0.01, body_retries=3, max_attempts=3, root="")
    options.update(head_size=0)
    options.update(kwargs)
    return RemoteZipStore(url, **options)
