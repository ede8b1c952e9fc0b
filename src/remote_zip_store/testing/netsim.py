"""A user-space network simulator: a TCP proxy on 127.0.0.1 with latency, bandwidth and counters.

These machines have no ``tc netem``, so every benchmark contender talks to the S3 server
through this proxy instead. The model (deliberately simple, and the same for everyone):

* **Connection setup** costs one round trip (TCP handshake; TLS is not modelled): the
  first request on a new connection is held for an extra ``rtt``. That is exact for
  a client that sends as soon as its connect returns (work between the two included:
  on a real link it follows the handshake). A connection opened ahead and left idle
  (a client's spare) is overcharged: its handshake was over long before. With
  ``Condition.handshake_at_connect`` the round trip runs from the accept instead: a
  request is held until ``rtt`` after it, then one more ``rtt``; spares are credited
  in full, but a client's work between connect and send overlaps the handshake,
  which on a real link it cannot. Use it to bound what spares can win.
* **Each HTTP request** is held for one ``rtt`` before it reaches the server (the half
  round trip out and the half back, lumped on the request side; for a request/response
  protocol the client sees the same delay either way).
* **Downstream bandwidth** (server to client) is one token bucket shared by all
  connections: ``bandwidth`` bytes per second with a small burst. Requests upstream
  are tiny and are not throttled.
* **Counters**: HTTP requests seen (request heads parsed on the client side, so a
  keep-alive connection with many requests counts each one), connections, and bytes in
  each direction. A response's bytes are counted before the client receives them.

The proxy runs an asyncio loop in a daemon thread; it is bounded (``max_connections``,
``lifetime`` seconds after which it shuts itself down) and stops on ``close()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from dataclasses import dataclass

_READ_SIZE = 64 * 1024
_MAX_HEAD = 64 * 1024


@dataclass(frozen=True)
class Condition:
    """One network condition: a round trip in seconds and a bandwidth in bytes/s (0 = none)."""

    name: str
    rtt: float = 0.0
    bandwidth: float = 0.0
    handshake_at_connect: bool = False
    """Charge connection setup from the accept, not at the first request (see above)."""

    @classmethod
    def of(cls, name: str, rtt_ms: float, mbit_s: float) -> Condition:
        return cls(name, rtt_ms / 1000.0, mbit_s * 1e6 / 8 if mbit_s else 0.0)

    def lower_bound(self, nbytes: int, rounds: int = 2) -> float:
        """Seconds no client can beat for ``nbytes`` here: ``rounds`` round trips (by
        default connection setup and one round of GETs) plus the bytes over the bandwidth;
        0 on loopback. The benchmarks' "physical limit"."""
        return rounds * self.rtt + (nbytes / self.bandwidth if self.bandwidth else 0.0)

    def describe(self) -> str:
        if not self.rtt and not self.bandwidth:
            return "loopback (no added latency, no bandwidth cap)"
        return f"{self.rtt * 1000:g} ms RTT / {self.bandwidth * 8 / 1e6:g} Mbit/s"


LOOPBACK = Condition("loopback")
CONDITIONS = (
    LOOPBACK,
    Condition.of("20ms-400Mbit", 20, 400),
    Condition.of("80ms-100Mbit", 80, 100),
)


@dataclass(frozen=True)
class Counts:
    """A snapshot of the proxy's counters."""

    requests: int = 0
    connections: int = 0
    bytes_down: int = 0
    bytes_up: int = 0

    def __sub__(self, other: Counts) -> Counts:
        return Counts(
            self.requests - other.requests,
            self.connections - other.connections,
            self.bytes_down - other.bytes_down,
            self.bytes_up - other.bytes_up,
        )


class RequestSplitter:
    """Finds where HTTP/1.1 requests start in a client-to-server byte stream.

    ``feed(data)`` returns pieces ``(starts_request, bytes)`` in order. A request head
    is held until complete (so its start is known); bodies with ``Content-Length`` or
    chunked encoding are passed through as they arrive. Anything unparseable switches
    to pass-through (counted no further) rather than breaking the connection.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._body_left = 0
        self._chunked = False
        self._raw = False
        self.requests = 0

    def feed(self, data: bytes) -> list[tuple[bool, bytes]]:
        if self._raw:
            return [(False, data)]
        self._buf += data
        out: list[tuple[bool, bytes]] = []
        while self._buf:
            if self._body_left:
                take = bytes(self._buf[: self._body_left])
                del self._buf[: len(take)]
                self._body_left -= len(take)
                out.append((False, take))
                continue
            if self._chunked:
                piece = self._chunk_step()
                if piece is None:
                    break
                out.append((False, piece))
                continue
            end = self._buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buf) > _MAX_HEAD:
                    self._raw = True
                    out.append((False, bytes(self._buf)))
                    self._buf.clear()
                break
            head = bytes(self._buf[: end + 4])
            del self._buf[: end + 4]
            self.requests += 1
            self._start_body(head)
            out.append((True, head))
        return out

    def _start_body(self, head: bytes) -> None:
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                self._body_left = int(value.strip() or 0)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                self._chunked = True

    def _chunk_step(self) -> bytes | None:
        """One chunk (size line, data, CRLF) or the final zero chunk with trailers."""
        line_end = self._buf.find(b"\r\n")
        if line_end < 0:
            return None
        size = int(bytes(self._buf[:line_end]).split(b";")[0].strip() or b"0", 16)
        if size == 0:
            end = self._buf.find(b"\r\n\r\n", line_end)
            if end < 0:
                return None
            piece = bytes(self._buf[: end + 4])
            self._chunked = False
        else:
            total = line_end + 2 + size + 2
            if len(self._buf) < total:
                return None
            piece = bytes(self._buf[:total])
        del self._buf[: len(piece)]
        return piece


class _Pacer:
    """A shared token bucket as a FIFO schedule: each send reserves its transmission time.

    A send returns once the link would have carried everything reserved so far, less
    ``burst`` bytes of credit: bytes delivered by time T <= rate x T + burst.
    """

    def __init__(self, rate: float, burst: int = 64 * 1024):
        self.rate = rate
        self.burst_seconds = burst / rate if rate else 0.0
        self._next_free = 0.0

    async def send(self, nbytes: int) -> None:
        if not self.rate:
            return
        now = time.monotonic()
        start = max(now, self._next_free)
        self._next_free = start + nbytes / self.rate
        wait = self._next_free - now - self.burst_seconds
        if wait > 0:
            await asyncio.sleep(wait)


class NetSim:
    """A TCP proxy from ``127.0.0.1:port`` to ``upstream`` under a :class:`Condition`.

    Use as a context manager; ``endpoint`` is the URL to give clients, ``counts()`` the
    counters, ``reset()`` zeroes them, ``set_condition()`` changes the condition for new
    requests (existing connections keep working).
    """

    def __init__(
        self,
        upstream_host: str,
        upstream_port: int,
        condition: Condition = LOOPBACK,
        *,
        max_connections: int = 512,
        lifetime: float = 4 * 3600.0,
    ):
        self.upstream = (upstream_host, upstream_port)
        self.condition = condition
        self.max_connections = max_connections
        self.lifetime = lifetime
        self.port = 0
        self._lock = threading.Lock()
        self._requests = 0
        self._connections = 0
        self._bytes_down = 0
        self._bytes_up = 0
        self._open = 0
        self._pacer = _Pacer(condition.bandwidth)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopped: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # -- lifecycle ----------------------------------------------------------------------
    def start(self) -> NetSim:
        self._thread = threading.Thread(target=self._run, name="netsim", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("netsim did not start within 10 s")
        if self._error is not None:
            raise RuntimeError(f"netsim failed to start: {self._error}") from self._error
        return self

    def close(self) -> None:
        loop, stopped = self._loop, self._stopped
        if loop is not None and stopped is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stopped.set)
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> NetSim:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- counters ------------------------------------------------------------------------
    def counts(self) -> Counts:
        with self._lock:
            return Counts(self._requests, self._connections, self._bytes_down, self._bytes_up)

    def cpu_time(self) -> float:
        """CPU seconds the proxy's thread has used so far (0 before it starts).

        The proxy runs inside the benchmark's process: a benchmark subtracts this from
        ``time.process_time()`` to get the client's own CPU time.
        """
        thread = self._thread
        if thread is None or thread.ident is None or not thread.is_alive():
            return 0.0
        return time.clock_gettime(time.pthread_getcpuclockid(thread.ident))

    def reset(self) -> None:
        with self._lock:
            self._requests = self._connections = self._bytes_down = self._bytes_up = 0

    def set_condition(self, condition: Condition) -> None:
        self.condition = condition
        self._pacer = _Pacer(condition.bandwidth)

    # -- the loop --------------------------------------------------------------------------
    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:  # reported to start() or ends the thread
            self._error = exc
            self._ready.set()
        finally:
            loop.close()

    async def _serve(self) -> None:
        self._stopped = asyncio.Event()
        server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        tasks = self._tasks
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._stopped.wait(), self.lifetime)
        server.close()
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        ready = asyncio.get_running_loop().time() + self.condition.rtt  # (handshake_at_connect)
        task = asyncio.current_task()
        if self._open >= self.max_connections or task is None:
            writer.close()
            return
        self._tasks.add(task)
        self._open += 1
        with self._lock:
            self._connections += 1
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            self._open -= 1
            self._tasks.discard(task)
            writer.close()
            return
        try:
            await asyncio.gather(
                self._upstream(reader, up_writer, ready), self._downstream(up_reader, writer)
            )
        except (OSError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            # close() cancels open connections; ending quietly keeps asyncio's stream
            # callback from logging the cancellation as an error at every shutdown.
            pass
        finally:
            for w in (writer, up_writer):
                with contextlib.suppress(Exception):
                    w.close()
            self._open -= 1
            self._tasks.discard(task)

    async def _upstream(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, ready: float
    ) -> None:
        """Client to server: hold each request for one RTT, and a new connection's first
        for its handshake's too (one more RTT, or until ``ready`` with
        ``handshake_at_connect``)."""
        splitter = RequestSplitter()
        loop = asyncio.get_running_loop()
        first = True
        try:
            while data := await reader.read(_READ_SIZE):
                for starts, piece in splitter.feed(data):
                    if starts:
                        condition = self.condition
                        hold = condition.rtt
                        if first and condition.handshake_at_connect:
                            hold += max(0.0, ready - loop.time())
                        elif first:
                            hold += condition.rtt
                        first = False
                        if hold > 0:
                            await asyncio.sleep(hold)
                        with self._lock:
                            self._requests += 1
                    with self._lock:
                        self._bytes_up += len(piece)
                    writer.write(piece)
                    await writer.drain()
        finally:
            with contextlib.suppress(OSError):
                if writer.can_write_eof():
                    writer.write_eof()

    async def _downstream(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Server to client: paced by the shared bucket, counted before delivery."""
        try:
            while data := await reader.read(_READ_SIZE):
                await self._pacer.send(len(data))
                with self._lock:
                    self._bytes_down += len(data)
                writer.write(data)
                await writer.drain()
        finally:
            with contextlib.suppress(OSError):
                if writer.can_write_eof():
                    writer.write_eof()
