"""A small HTTP/1.1 client for the read path: GET and HEAD on keep-alive connections.

Why not urllib3: a small range GET through urllib3 + ``http.client`` costs ~0.7 ms
of client CPU here (request building, ``email``-based header parsing, response
wrappers), more than the signature and the store together; this client sends the
same request for ~0.1 ms. Reads are what the store does thousands of times, so
they take this path; uploads and listings keep boto3 and urllib3.

What it does, and all it does:

* one origin (scheme, host, port) per :class:`Origin`; idle connections kept per
  origin, taken newest first (spares from :meth:`WirePool.preconnect` last), up to
  ``max_connections`` (more may be open at once; the surplus is closed when
  returned, as urllib3's ``block=False``);
* TLS through :mod:`ssl` (``verify``: ``None``/``True`` the default CAs, a path a
  CA bundle or directory, ``False`` no check), SNI, ``TCP_NODELAY``;
* bodies framed by ``Content-Length``, ``chunked``, or the connection's close;
  HEAD, 1xx, 204 and 304 have none; a connection goes back to its pool only
  after its body was read to the end and neither side said ``close``;
* a kept connection that the server closed while idle is noticed before use
  (a zero-timeout poll) and, if the request still fails before any byte of an
  answer, sent once more on a new connection (GET and HEAD are idempotent);
* timeouts per socket operation (connect, then each read), as urllib3's;
* :meth:`WirePool.preconnect`: connections opened ahead, on threads, so that a
  burst of requests after an archive's open pays no connection setup (a round trip
  each, two or three with TLS) on its path. Connections are counted per origin
  while open (idle or in use), so a cohort's opens ask for spares once, not per archive.

Failures are builtin exceptions the callers' maps already take: ``TimeoutError``,
``ConnectionError`` (resets, early closes, malformed answers: a subclass,
:class:`BrokenResponse`), and :class:`ssl.SSLError` for certificate failures.
No proxies: the callers choose another path when one is configured.
"""

from __future__ import annotations

import logging
import os
import select
import socket
import ssl
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from ._forksafe import ForkSafeLock
from ._sigv4 import host_header

#: Longest status or header line accepted, and the most header lines (http.client's).
MAX_LINE = 65536
MAX_HEADERS = 100
_DEFAULT_PORTS = {"http": 80, "https": 443}
_NO_BODY_STATUS = frozenset({204, 304})
_USER_AGENT = "remote-zip-store"
_HAS_POLL = hasattr(select, "poll")

logger = logging.getLogger("remote_zip_store")


class BrokenResponse(ConnectionError):
    """An answer that broke off or is not HTTP/1.x: the connection is dropped."""


@dataclass(frozen=True)
class Origin:
    """Where requests go: ``scheme://host:port`` and the ``Host`` header that names it."""

    scheme: str
    host: str
    port: int
    host_header: str = field(compare=False)

    @classmethod
    def of(cls, scheme: str, host: str, port: int | None) -> Origin:
        scheme = scheme.lower()
        if scheme not in _DEFAULT_PORTS:
            raise ValueError(f"not an http(s) origin: {scheme}://{host}")
        return cls(scheme, host, port or _DEFAULT_PORTS[scheme], host_header(scheme, host, port))


class Headers(dict[str, str]):
    """An answer's headers: names lowercase, looked up in any case."""

    def get(self, name: str, default: Any = None) -> Any:
        return dict.get(self, name.lower(), default)

    def __getitem__(self, name: str) -> str:
        return dict.__getitem__(self, name.lower())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and dict.__contains__(self, name.lower())


class _Connection:
    __slots__ = ("_counted", "_poller", "file", "origin", "sock", "timeout")

    def __init__(self, sock: socket.socket, origin: Origin, counted: WirePool | None = None):
        self.sock = sock
        self.file = sock.makefile("rb", buffering=65536)
        self.origin = origin
        self.timeout: float | None = sock.gettimeout()
        """The socket's timeout as last set (setting it is a system call: only on change)."""
        self._poller: Any = None
        self._counted = counted  # the pool whose open-connection count holds this one

    def close(self) -> None:
        counted, self._counted = self._counted, None
        if counted is not None:
            counted._closed(self.origin)
        try:
            self.file.close()
        finally:
            self.sock.close()

    def dropped(self) -> bool:
        """Whether the idle connection has something to read (EOF or junk): not reusable."""
        if not _HAS_POLL:  # (select() is limited to descriptors below 1024: poll where it exists)
            return bool(select.select([self.sock], [], [], 0)[0])
        poller = self._poller
        if poller is None:  # one per connection, made at its first reuse
            poller = self._poller = select.poll()
            poller.register(self.sock, select.POLLIN)
        return bool(poller.poll(0))


class Response:
    """One answer: ``status``, ``headers``, and its body read once through :meth:`read`."""

    __slots__ = ("_chunk_left", "_conn", "_done", "_pool", "_remaining", "headers", "status")

    def __init__(
        self,
        status: int,
        headers: Headers,
        conn: _Connection,
        pool: WirePool,
        remaining: int | None,
        *,
        chunked: bool,
        keep: bool,
    ):
        self.status = status
        self.headers = headers
        self._conn: _Connection | None = conn
        self._pool: WirePool | None = pool if keep else None
        self._remaining = remaining  # body bytes left; None: chunked or until close
        self._chunk_left = 0 if chunked else -1  # -1: not chunked
        self._done = remaining == 0

    @property
    def complete(self) -> bool:
        """Whether the body has been read to its end."""
        return self._done

    def read(self, amt: int | None = None) -> bytes:
        """The rest of the body, or at most ``amt`` bytes of it."""
        if self._done or self._conn is None:
            return b""
        try:
            if self._chunk_left >= 0:
                return self._read_chunked(amt)
            return self._read_plain(amt)
        except TimeoutError:
            self.close()
            raise TimeoutError("read timed out inside the body") from None
        except ConnectionError:
            self.close()
            raise
        except OSError as exc:  # a TLS record or socket failure mid-body
            self.close()
            raise BrokenResponse(f"the connection broke: {exc!r}") from exc
        except BaseException:
            self.close()
            raise

    def _read_plain(self, amt: int | None) -> bytes:
        assert self._conn is not None
        file = self._conn.file
        remaining = self._remaining
        if remaining is None:  # until the server closes
            data: bytes = file.read() if amt is None else file.read(amt)
            if amt is None or not data:
                self._done = True
            return data
        want = remaining if amt is None else min(amt, remaining)
        data = _read_exactly(file, want)
        self._remaining = remaining - len(data)
        if self._remaining == 0:
            self._done = True
        return data

    def _read_chunked(self, amt: int | None) -> bytes:
        assert self._conn is not None
        file = self._conn.file
        parts: list[bytes] = []
        wanted = amt
        while wanted is None or wanted > 0:
            if self._chunk_left == 0:
                line = file.readline(MAX_LINE + 1)
                size_text = line.split(b";", 1)[0].strip()
                try:
                    size = int(size_text, 16)
                except ValueError:
                    raise BrokenResponse(f"bad chunk size line {line[:40]!r}") from None
                if size == 0:
                    _skip_trailers(file)
                    self._done = True
                    break
                self._chunk_left = size
            take = self._chunk_left if wanted is None else min(wanted, self._chunk_left)
            data = _read_exactly(file, take)
            parts.append(data)
            self._chunk_left -= take
            if wanted is not None:
                wanted -= take
            if self._chunk_left == 0 and file.read(2) != b"\r\n":
                raise BrokenResponse("a chunk without its CRLF")
        return b"".join(parts)

    def release_conn(self) -> None:
        """Give the connection back if the body was read to the end, else close it."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if self._done and self._pool is not None:
            self._pool._put(conn)
        else:
            conn.close()

    def drain_conn(self, limit: int = 1 << 16) -> None:
        """Read what is left of a small body (so the connection can be kept)."""
        if self._done or self._conn is None:
            return
        if self._remaining is not None and self._remaining > limit:
            self.close()
            return
        try:
            self.read(limit)
        except OSError:
            self.close()

    def close(self) -> None:
        """Drop the connection (an unread or broken body cannot be reused)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()


def _read_exactly(file: Any, n: int) -> bytes:
    data: bytes = file.read(n)
    if len(data) != n:
        raise BrokenResponse(f"the connection closed after {len(data)} of {n} body bytes")
    return data


def _skip_trailers(file: Any) -> None:
    for _ in range(MAX_HEADERS):
        line = file.readline(MAX_LINE + 1)
        if line in (b"\r\n", b"\n", b""):
            return
    raise BrokenResponse("too many trailer lines")


class _Stale(Exception):
    """A kept connection failed before any byte of an answer: send again on a new one."""


class WirePool:
    """Keep-alive connections per :class:`Origin`, shared by threads; one per process."""

    def __init__(
        self,
        *,
        verify: bool | str | None = None,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        max_connections: int = 32,
    ):
        self.verify = verify
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.max_connections = max_connections
        self._idle: dict[Origin, deque[_Connection]] = {}
        self._open: dict[Origin, int] = {}  # connections open (idle, in use or connecting)
        self._lock = ForkSafeLock()
        self._tls: ssl.SSLContext | None = None

    # -- requests -------------------------------------------------------------------------
    def request(
        self,
        method: str,
        origin: Origin,
        target: str,
        headers: dict[str, str],
        *,
        timeout: tuple[float, float] | None = None,
    ) -> Response:
        """Send ``method target`` with ``headers`` (``Host`` added) and read the answer's head.

        ``timeout``: ``(connect, read)`` seconds for this request, else the pool's.
        """
        lines = [f"{method} {target} HTTP/1.1\r\nHost: {origin.host_header}\r\n"]
        lines.extend(f"{name}: {value}\r\n" for name, value in headers.items())
        if "User-Agent" not in headers:
            lines.append(f"User-Agent: {_USER_AGENT}\r\n")
        lines.append("\r\n")
        raw = "".join(lines).encode("latin-1")
        connect, read = timeout or (self.connect_timeout, self.read_timeout)
        conn = self._take(origin)
        if conn is not None:
            try:
                return self._exchange(conn, raw, method, read, reused=True)
            except _Stale:
                pass  # closed by the server while idle: once more, on a new connection
        return self._exchange(self._connect(origin, connect), raw, method, read, reused=False)

    def _exchange(
        self, conn: _Connection, raw: bytes, method: str, read: float, *, reused: bool
    ) -> Response:
        try:
            if conn.timeout != read:
                conn.sock.settimeout(read)
                conn.timeout = read
            conn.sock.sendall(raw)
            line = conn.file.readline(MAX_LINE + 1)
            if not line:
                raise BrokenResponse("the server closed the connection before answering")
        except (ConnectionError, ssl.SSLZeroReturnError) as exc:
            conn.close()
            if reused:
                raise _Stale(str(exc)) from exc
            raise
        except TimeoutError:
            conn.close()
            host = conn.origin.host_header
            raise TimeoutError(f"read timed out after {read:.3g} s waiting for {host}") from None
        except BaseException:
            conn.close()
            raise
        try:
            return self._answer(conn, line, method)
        except BaseException:
            conn.close()
            raise

    def _answer(self, conn: _Connection, line: bytes, method: str) -> Response:
        file = conn.file
        while True:
            status, version = _status_line(line)
            headers = _read_headers(file)
            if not 100 <= status < 200 or status == 101:
                break
            line = file.readline(MAX_LINE + 1)  # an interim answer: the real one follows
            if not line:
                raise BrokenResponse("the server closed the connection after an interim answer")
        connection = headers.get("connection", "").lower()
        keep = "close" not in connection and (version != "HTTP/1.0" or "keep-alive" in connection)
        chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        remaining: int | None
        if method == "HEAD" or status in _NO_BODY_STATUS or 100 <= status < 200:
            remaining, chunked = 0, False
        elif chunked:
            remaining = None
        else:
            length = headers.get("content-length")
            if length is None:
                remaining, keep = None, False  # the body ends when the server closes
            else:
                try:
                    remaining = int(length.split(",")[0])
                except ValueError:
                    raise BrokenResponse(f"bad Content-Length {length[:40]!r}") from None
                if remaining < 0:
                    raise BrokenResponse(f"bad Content-Length {length[:40]!r}")
        response = Response(status, headers, conn, self, remaining, chunked=chunked, keep=keep)
        if remaining == 0:
            response.release_conn()
        return response

    # -- connections ----------------------------------------------------------------------
    def _take(self, origin: Origin) -> _Connection | None:
        dropped: list[_Connection] = []
        found = None
        with self._lock:
            idle = self._idle.get(origin)
            while idle:
                conn = idle.pop()
                if not conn.dropped():
                    found = conn
                    break
                dropped.append(conn)
        for conn in dropped:  # (outside the lock: closing gives back its count)
            conn.close()
        return found

    def _put(self, conn: _Connection, *, spare: bool = False) -> None:
        """Keep ``conn`` idle: taken newest first, a ``spare`` after every used one."""
        with self._lock:
            idle = self._idle.setdefault(conn.origin, deque())
            if len(idle) < self.max_connections:
                if spare:
                    idle.appendleft(conn)
                else:
                    idle.append(conn)
                return
        conn.close()

    def _connect(self, origin: Origin, timeout: float, *, counted: bool = False) -> _Connection:
        """A new connection; ``counted``: :meth:`preconnect` counted it before it began."""
        if not counted:
            with self._lock:
                self._open[origin] = self._open.get(origin, 0) + 1
        try:
            sock = self._new_socket(origin, timeout)
        except BaseException:
            self._closed(origin)
            raise
        return _Connection(sock, origin, self)

    def _closed(self, origin: Origin) -> None:
        with self._lock:
            self._open[origin] -= 1

    def preconnect(self, origin: Origin, connections: int) -> int:
        """Open connections to ``origin`` on threads until ``connections`` are open; at once.

        Counts connections already open (idle, in use, or being opened), so many
        callers asking for the same number open it once. Returns how many it started.
        A connection that fails to open is only logged: the request that would have
        used it opens its own, and reports that failure.
        """
        with self._lock:
            have = self._open.get(origin, 0)
            start = min(connections, self.max_connections) - have
            if start <= 0:
                return 0
            self._open[origin] = have + start
        for _ in range(start):
            threading.Thread(
                target=self._open_spare,
                args=(origin,),
                name="remote-zip-store-connect",
                daemon=True,
            ).start()
        return start

    def _open_spare(self, origin: Origin) -> None:
        try:
            conn = self._connect(origin, self.connect_timeout, counted=True)
        except Exception as exc:  # (the count was given back by _connect)
            logger.debug("a spare connection to %s not opened: %r", origin.host_header, exc)
            return
        # Last in line: a request takes a connection that served one before it (warm,
        # its handshake long done) and a spare only when none is idle.
        self._put(conn, spare=True)

    def open_count(self, origin: Origin) -> int:
        """Connections to ``origin`` open now: idle, in use, or being opened."""
        with self._lock:
            return self._open.get(origin, 0)

    def _new_socket(self, origin: Origin, timeout: float) -> socket.socket:
        try:
            sock = socket.create_connection((origin.host, origin.port), timeout=timeout)
        except TimeoutError:
            host = origin.host_header
            raise TimeoutError(f"connect timed out after {timeout:.3g} s to {host}") from None
        except ConnectionError:
            raise
        except OSError as exc:  # name resolution, no route: as a refused connection
            raise ConnectionError(f"cannot connect to {origin.host_header}: {exc}") from exc
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if origin.scheme == "https":
                sock = self._context().wrap_socket(sock, server_hostname=origin.host)
        except BaseException:
            sock.close()
            raise
        return sock

    def _context(self) -> ssl.SSLContext:
        context = self._tls
        if context is None:
            verify = self.verify
            if verify is False:
                context = ssl.create_default_context()
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            elif isinstance(verify, str):
                if os.path.isdir(verify):
                    context = ssl.create_default_context(capath=verify)
                else:
                    context = ssl.create_default_context(cafile=verify)
            else:
                context = ssl.create_default_context()
            self._tls = context
        return context

    def clear(self) -> None:
        """Close every idle connection (connections in use close when returned)."""
        with self._lock:
            idle, self._idle = self._idle, {}
        for connections in idle.values():
            for conn in connections:
                conn.close()

    def idle_count(self, origin: Origin | None = None) -> int:
        """Idle connections kept (for one origin, or all)."""
        with self._lock:
            if origin is not None:
                return len(self._idle.get(origin, ()))
            return sum(len(c) for c in self._idle.values())

    def __repr__(self) -> str:
        return f"WirePool(max_connections={self.max_connections}, idle={self.idle_count()})"


def _status_line(line: bytes) -> tuple[int, str]:
    if len(line) > MAX_LINE:
        raise BrokenResponse("status line too long")
    parts = line.split(None, 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
        raise BrokenResponse(f"not an HTTP/1.x answer: {line[:40]!r}")
    try:
        status = int(parts[1])
    except ValueError:
        raise BrokenResponse(f"bad status line {line[:40]!r}") from None
    if not 100 <= status <= 999:
        raise BrokenResponse(f"bad status {status}")
    return status, parts[0].decode("ascii")


def _read_headers(file: Any) -> Headers:
    readline = file.readline
    found: dict[str, str] = {}  # a plain dict while filling (Headers lowers every lookup)
    last = ""
    for _ in range(MAX_HEADERS + 1):
        line = readline(MAX_LINE + 1)
        if line == b"\r\n" or line == b"\n":
            return Headers(found)
        if len(line) > MAX_LINE:
            raise BrokenResponse("header line too long")
        if line[-1:] != b"\n":
            raise BrokenResponse("the connection closed inside the answer's headers")
        text = line.decode("latin-1")
        if text[0] in " \t" and last:  # an obsolete folded continuation
            found[last] = f"{found[last]} {text.strip()}"
            continue
        name, sep, value = text.partition(":")
        if not sep:
            raise BrokenResponse(f"bad header line {line[:40]!r}")
        last = name.strip().lower()
        value = value.strip()
        if last in found:
            value = f"{found[last]}, {value}"
        found[last] = value
    raise BrokenResponse(f"more than {MAX_HEADERS} header lines")
