"""A small real HTTP(S) file server on 127.0.0.1 with range requests and injectable faults.

S3 servers answer correctly; this one is for what they rarely do on demand: a
503 storm, a reset connection, a short body, a server that ignores ``Range``.
It is a real socket server (``http.server``), not a mock. Faults: ``503``/``429``/``500``,
``reset``, ``short`` (truncated body), ``ignore-range`` (200 with everything), ``shifted``
(a 206 of the right length for the range one byte later).
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import http.server
import ipaddress
import os
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass
class FileServer:
    """Serves ``files`` (path -> bytes); ``faults`` are consumed one per request."""

    base_url: str = ""
    files: dict[str, bytes] = field(default_factory=dict)
    faults: list[str] = field(default_factory=list)
    requests: list[dict[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def put(self, path: str, data: bytes) -> str:
        self.files[path] = data
        return self.base_url + path

    def next_fault(self) -> str | None:
        with self.lock:
            return self.faults.pop(0) if self.faults else None


def _etag(data: bytes) -> str:
    return '"' + hashlib.md5(data).hexdigest() + '"'


def _handler(server: FileServer) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            server.requests.append({k: v for k, v in self.headers.items()})
            fault = server.next_fault()
            data = server.files.get(self.path.split("?", 1)[0])
            if fault in ("503", "429", "500"):
                return self._send(int(fault), b"busy", {})
            if fault == "reset":
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
                )
                self.close_connection = True
                return
            if data is None:
                return self._send(404, b"<Error><Code>NoSuchKey</Code></Error>", {})
            etag = _etag(data)
            match = self.headers.get("If-Match")
            if match is not None and match != etag:
                return self._send(412, b"<Error><Code>PreconditionFailed</Code></Error>", {})
            headers = {"ETag": etag, "Accept-Ranges": "bytes"}
            spec = self.headers.get("Range")
            if spec is None or fault == "ignore-range":
                return self._send(200, data, headers)
            first, _, last = spec.removeprefix("bytes=").partition("-")
            size = len(data)
            if not first:
                if size == 0:
                    return self._send(416, b"", {"Content-Range": "bytes */0"})
                start, end = max(0, size - int(last)), size
            else:
                start, end = int(first), min(size, int(last) + 1)
            if fault == "shifted" and end < size:  # right length, wrong bytes
                start, end = start + 1, end + 1
            headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
            body = data[start:end]
            if fault == "short":
                # Promise the whole range, send half, close: a truncated transfer.
                self.send_response(206)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body[: len(body) // 2])
                self.close_connection = True
                return
            return self._send(206, body, headers)

        def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


class _Server(http.server.ThreadingHTTPServer):
    request_queue_size = 128  # not socketserver's 5: concurrent connects must not wait 1 s


@contextlib.contextmanager
def file_server(tls: tuple[str, str] | None = None) -> Iterator[FileServer]:
    """Serve on a free loopback port; ``tls=(certfile, keyfile)`` for HTTPS."""
    state = FileServer()
    httpd = _Server(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    scheme = "http"
    if tls is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*tls)
        httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
        scheme = "https"
    state.base_url = f"{scheme}://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()


def self_signed_cert(directory: str) -> tuple[str, str]:
    """A CA-less self-signed certificate for 127.0.0.1 (cert path, key path)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rzs-test-ca")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path = os.path.join(directory, "cert.pem")
    key_path = os.path.join(directory, "key.pem")
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    return cert_path, key_path
