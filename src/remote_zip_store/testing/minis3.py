"""A small in-process S3-compatible endpoint (standard library only): what the demo serves from.

The demo needs an S3 endpoint with no external server. moto's S3 server (``moto[s3]``
plus flask and flask-cors) brought 20-odd packages and most of a minute to install
(issue 19); this one is the standard library's threading HTTP server. It speaks the
part of the S3 REST API (path-style) that reading and uploading one archive needs:

* ``PUT /bucket`` (create), ``HEAD /bucket``;
* ``PUT /bucket/key`` (a plain body, or ``aws-chunked`` as boto3 sends files, its
  trailing checksum ignored), ``HEAD`` and ``GET /bucket/key`` with ``Range``
  (``bytes=a-b``, ``bytes=a-``, ``bytes=-n``: 206 and ``Content-Range``; 416 when
  unsatisfiable) and ``If-Match`` (412 when the ETag differs: the store pins an open
  archive's version with it), the ETag being the body's MD5;
* ``GET /bucket?list-type=2&prefix=`` (ListObjectsV2, one page) and ``DELETE /bucket/key``;
* S3's XML errors: ``NoSuchBucket``, ``NoSuchKey``, ``InvalidRange``, ``PreconditionFailed``.

Signatures are not checked (any keys work) and objects live in memory. Not an S3
emulator: the tests use moto and SeaweedFS (``testing.servers``), real servers that
check what this one does not.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit
from xml.sax.saxutils import escape

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class _Object:
    __slots__ = ("body", "etag", "modified")

    def __init__(self, body: bytes):
        self.body = body
        self.etag = '"' + hashlib.md5(body, usedforsecurity=False).hexdigest() + '"'
        self.modified = formatdate(usegmt=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: clients reuse their connections
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet, like the demo's moto
        pass

    # -- plumbing --------------------------------------------------------------------------
    def _target(self) -> tuple[str, str, dict[str, list[str]]]:
        parts = urlsplit(self.path)
        bucket, _, key = parts.path.lstrip("/").partition("/")
        return unquote(bucket), unquote(key), parse_qs(parts.query, keep_blank_values=True)

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-amz-request-id", "minis3")
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def _error(self, status: int, code: str, message: str) -> None:
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{code}</Code><Message>{escape(message)}</Message>"
            f"<Resource>{escape(self.path)}</Resource></Error>"
        ).encode()
        self._send(status, body, {"Content-Type": "application/xml"})

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(length) if length else b""
        encoding = self.headers.get("Content-Encoding") or ""
        streaming = (self.headers.get("x-amz-content-sha256") or "").startswith("STREAMING")
        return _unchunk(data) if "aws-chunked" in encoding or streaming else data

    def _bucket(self, name: str) -> dict[str, _Object] | None:
        with self.server.lock:
            bucket = self.server.buckets.get(name)
        if bucket is None:
            self._error(404, "NoSuchBucket", "The specified bucket does not exist")
        return bucket

    def _object(self, bucket: str, key: str) -> _Object | None:
        objects = self._bucket(bucket)
        if objects is None:
            return None
        with self.server.lock:
            found = objects.get(key)
        if found is None:
            self._error(404, "NoSuchKey", "The specified key does not exist.")
        return found

    # -- verbs -----------------------------------------------------------------------------
    def do_PUT(self) -> None:
        bucket, key, _ = self._target()
        body = self._body()
        if not key:
            with self.server.lock:
                self.server.buckets.setdefault(bucket, {})
            self._send(200, headers={"Location": "/" + bucket})
            return
        objects = self._bucket(bucket)
        if objects is None:
            return
        stored = _Object(body)
        with self.server.lock:
            objects[key] = stored
        self._send(200, headers={"ETag": stored.etag})

    def do_DELETE(self) -> None:
        bucket, key, _ = self._target()
        objects = self._bucket(bucket)
        if objects is not None:
            with self.server.lock:
                objects.pop(key, None)
            self._send(204)

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        bucket, key, query = self._target()
        if not key:
            self._list(bucket, query)
            return
        found = self._object(bucket, key)
        if found is None:
            return
        match = self.headers.get("If-Match")
        if match is not None and match.strip() not in ("*", found.etag):
            self._error(412, "PreconditionFailed", "At least one of the preconditions failed")
            return
        headers = {
            "ETag": found.etag,
            "Last-Modified": found.modified,
            "Accept-Ranges": "bytes",
            "Content-Type": "application/octet-stream",
        }
        size = len(found.body)
        wanted = self.headers.get("Range")
        if wanted is None:
            self._send(200, found.body, headers)
            return
        span = _byte_range(wanted.strip(), size)
        if span is None:
            headers["Content-Range"] = f"bytes */{size}"
            self._error(416, "InvalidRange", "The requested range is not satisfiable")
            return
        start, end = span
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
        self._send(206, found.body[start:end], headers)

    def _list(self, bucket: str, query: dict[str, list[str]]) -> None:
        objects = self._bucket(bucket)
        if objects is None:
            return
        if self.command == "HEAD":
            self._send(200)
            return
        prefix = query.get("prefix", [""])[0]
        with self.server.lock:
            keys = sorted((k, o) for k, o in objects.items() if k.startswith(prefix))
        contents = "".join(
            f"<Contents><Key>{escape(k)}</Key><LastModified>2026-01-01T00:00:00.000Z"
            f"</LastModified><ETag>{escape(o.etag)}</ETag><Size>{len(o.body)}</Size>"
            "<StorageClass>STANDARD</StorageClass></Contents>"
            for k, o in keys
        )
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
            f"<Name>{escape(bucket)}</Name><Prefix>{escape(prefix)}</Prefix>"
            f"<KeyCount>{len(keys)}</KeyCount><MaxKeys>1000</MaxKeys>"
            f"<IsTruncated>false</IsTruncated>{contents}</ListBucketResult>"
        ).encode()
        self._send(200, body, {"Content-Type": "application/xml"})


def _byte_range(header: str, size: int) -> tuple[int, int] | None:
    """``[start, end)`` of an HTTP ``Range`` header against ``size`` bytes, or None."""
    found = _RANGE.match(header)
    if found is None:
        return None
    first, last = found.groups()
    if not first:  # a suffix: the last N bytes
        if not last or int(last) == 0:
            return None
        return max(0, size - int(last)), size
    start = int(first)
    end = size if not last else min(size, int(last) + 1)
    return (start, end) if start < size and start < end else None


def _unchunk(data: bytes) -> bytes:
    """The payload of an ``aws-chunked`` body: ``<hex size>[;...]\\r\\n<bytes>\\r\\n`` chunks,
    a zero-size one, then trailers (a checksum, not checked here)."""
    out = bytearray()
    at = 0
    while True:
        line_end = data.index(b"\r\n", at)
        size = int(data[at:line_end].split(b";", 1)[0], 16)
        if size == 0:
            return bytes(out)
        out += data[line_end + 2 : line_end + 2 + size]
        at = line_end + 2 + size + 2


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int]):
        super().__init__(address, _Handler)
        self.lock = threading.Lock()
        self.buckets: dict[str, dict[str, _Object]] = {}


class MiniS3Server:
    """The endpoint, served on a background thread: ``start()``, ``endpoint_url``, ``stop()``."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self._server = _Server((host, port))
        self._thread: threading.Thread | None = None

    @property
    def endpoint_url(self) -> str:
        host, port = self.get_host_and_port()
        return f"http://{host}:{port}"

    def get_host_and_port(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return host.decode() if isinstance(host, bytes) else str(host), int(port)

    def start(self) -> MiniS3Server:
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="minis3", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def put(self, bucket: str, key: str, body: bytes) -> None:
        """Store an object directly (no request)."""
        with self._server.lock:
            self._server.buckets.setdefault(bucket, {})[key] = _Object(body)


@contextmanager
def mini_s3() -> Iterator[MiniS3Server]:
    server = MiniS3Server().start()
    try:
        yield server
    finally:
        server.stop()
