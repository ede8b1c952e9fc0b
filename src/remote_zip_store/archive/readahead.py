"""Sequential read-ahead: keep the link busy while zarr asks for the next array.

zarr reads a hierarchy one array at a time (``for name in arrays: root[name][:]``):
each ``getitems`` waits for its bytes, then zarr decodes and asks for the next
array, so every array costs an idle round trip on the link (16 arrays at 20 ms:
0.3 s of 2.9 s; 1.3 s at 80 ms). When two large reads in a row are contiguous in
the archive (the second starts where the first ended, give or take the few
metadata entries between two arrays), the scan is sequential and the next
windows (``DEPTH`` times the bytes the read just made, at most ``limit``) are fetched
in the background, in pieces of at most ``piece`` bytes on the archive's pool, at most
``INFLIGHT`` at a time: each finished piece starts the next, and the first pieces of a
burst are graded in size so that they finish one after the other. (Pieces started
together share the link fairly and finish together; the link would then idle for a
round trip while the next ones start, once per burst.) A later read
whose bytes lie in fetched pieces takes them from memory; any other read drops
them. Like an OS read-ahead it may fetch up to ``DEPTH`` windows the caller never
asks for (when the scan stops); single reads, small reads and scattered reads never
trigger it, so they move exactly the bytes they did.

zarr 3 reads one array as many small reads instead (``async.concurrency`` gets
at a time: about ten 30 KiB chunks per read), each waiting a round trip. A caller
that knows where the array's bytes end passes it as ``region_end``: then a *run*
of small sequential reads counts too, once it spans ``RUN_SPAN`` bytes, and the
window is ``RUN_DEPTH`` times the run so far (at most ``RUN_CAP``), never past
``region_end``. So the window grows with the scan, as an OS read-ahead's does,
and stops at the array's end: reading one array never fetches the next one's
bytes. Without ``region_end`` (the zarr-2 store) only large reads count.

Pure bookkeeping plus futures: the fetch and submit functions come from the
archive; no lock is held across I/O; a failed piece is ignored (the read then
fetches its bytes itself and raises its own error, with archive and key).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from ..transport.forksafe import ForkSafeLock

#: A read spanning fewer bytes never starts a read-ahead (metadata, single chunks).
MIN_SPAN = 1024 * 1024
#: A run of small sequential reads (with a region end) starts a read-ahead past this span.
RUN_SPAN = 256 * 1024
#: A run's window is ``RUN_DEPTH`` times the run so far: it doubles in a round trip or two,
#: so a scan of small reads reaches the link's rate in a few round trips.
RUN_DEPTH = 4
#: A run's window grows with it up to ``RUN_DEPTH`` times this.
RUN_CAP = 8 * 1024 * 1024
#: Reads' worth of bytes kept ahead of the scan: the window being fetched and the next.
DEPTH = 2
#: Pieces in flight at once (4 x 4 MiB: several times a 20-80 ms x 100-400 Mbit/s link's
#: bandwidth-delay product).
INFLIGHT = 4

Piece = tuple[int, int, "Future[bytes]"]


class Readahead:
    """The pieces fetched ahead of a sequential scan of one archive."""

    def __init__(
        self,
        fetch: Callable[[int, int], bytes],
        submit: Callable[..., Any],
        *,
        limit: int,
        piece: int,
        slack: int,
    ):
        self._fetch = fetch
        self._submit = submit
        self.limit = limit
        self.piece = max(1, piece)
        self.slack = slack
        self._lock = ForkSafeLock()
        self._reset()
        self.served = 0
        """Bytes reads took from pieces fetched ahead (per process; for tests and tuning)."""

    def _reset(self) -> None:
        self._pid = os.getpid()
        self._pieces: list[Piece] = []  # contiguous, ascending
        self._last_end: int | None = None
        self._run_start = 0  # where the current sequential run began
        self._region: int | None = None  # the last read's region end
        self._next = 0  # the first byte no piece covers yet
        self._goal = 0  # fetch up to here
        self._running = 0
        self._stopped = False

    def _forked(self) -> None:
        """In a forked child the parent's pieces never complete: start afresh (under the lock)."""
        if self._pid != os.getpid():
            self._reset()

    def take(self, start: int, end: int, wait: float | None = None) -> bytes | None:
        """Bytes ``[start, end)`` if fetched (or being fetched) ahead, else None.

        ``wait``: the most seconds to wait for a piece still on its way (then None).
        """
        with self._lock:
            self._forked()
            covering = [p for p in self._pieces if p[1] > start and p[0] < end]
        if not covering or covering[0][0] > start or covering[-1][1] < end:
            return None
        parts = []
        for first, last, future in covering:
            try:
                data = future.result(timeout=wait)
            except Exception:  # speculative (or late): the read then fetches the bytes itself
                return None
            parts.append(memoryview(data)[max(start, first) - first : min(end, last) - first])
        data = b"".join(parts)
        with self._lock:
            self.served += len(data)
        return data

    def advance(self, lo: int, hi: int, stop: int, region_end: int | None = None) -> None:
        """Before a read spanning ``[lo, hi)`` takes its bytes: maybe fetch the next windows.

        Pieces wholly before ``lo`` are dropped (the scan has passed them); the
        ones inside ``[lo, hi)`` stay for this read's :meth:`take`. ``stop`` is
        where the entries' bytes end (the central directory, or the open's tail
        buffer): nothing at or past it is fetched. ``region_end``, when given, is
        where the read's array ends: a run of small reads may then start a
        read-ahead, which stops there.
        """
        with self._lock:
            self._forked()
            last = self._last_end
            # A read starting just after the last one continues the scan; so does a small
            # one of the same region starting inside the run (zarr 3 finishes its gets
            # slightly out of order). Anything else starts a new run.
            inside = region_end is not None and region_end == self._region
            sequential = last is not None and (
                0 <= lo - last <= self.slack
                or (inside and hi - lo < MIN_SPAN and self._run_start <= lo)
            )
            self._region = region_end
            if not sequential:
                dropped, self._pieces = self._pieces, []
                self._goal = 0
                self._run_start = lo
                self._last_end = hi
            else:  # a small read may still take its bytes; only a large one fetches more
                self._last_end = max(hi, last or hi)
                dropped = [p for p in self._pieces if p[1] <= lo]
                self._pieces = [p for p in self._pieces if p[1] > lo]
                goal = self._window(lo, hi, stop, region_end)
                if goal is not None and self.limit > 0 and not self._stopped:
                    self._next = max(self._pieces[-1][1] if self._pieces else hi, self._last_end)
                    self._goal = max(self._goal, goal)
            launch = self._launchable()
        for _, _, future in dropped:
            future.cancel()
        self._start(launch)

    def _window(self, lo: int, hi: int, stop: int, region_end: int | None) -> int | None:
        """Where this sequential read's read-ahead should reach, or None for none."""
        if hi - lo >= MIN_SPAN:  # a large read: DEPTH reads' worth, plus the metadata between
            return min(hi + min(DEPTH * (hi - lo), self.limit) + self.slack, stop)
        run = (self._last_end or hi) - self._run_start
        if region_end is None or run < RUN_SPAN:
            return None
        return min(hi + min(RUN_DEPTH * min(run, RUN_CAP), self.limit), stop, region_end)

    def _launchable(self) -> list[Piece]:
        """Reserve the next pieces (under the lock); the first of a burst are smaller."""
        launch: list[Piece] = []
        while self._running < INFLIGHT and self._next < self._goal:
            size = max(1, self.piece * (self._running + 1) // INFLIGHT)
            end = min(self._next + size, self._goal)
            piece: Piece = (self._next, end, Future())
            self._pieces.append(piece)
            launch.append(piece)
            self._running += 1
            self._next = end
        return launch

    def _start(self, launch: list[Piece]) -> None:
        for first, last, future in launch:
            try:
                self._submit(self._fill, first, last, future)
            except RuntimeError as exc:  # the pool is shut down: the archive closed
                with self._lock:
                    self._running -= 1
                if future.set_running_or_notify_cancel():
                    future.set_exception(exc)

    def _fill(self, first: int, last: int, future: Future[bytes]) -> None:
        """One piece, on the pool; when it is done the next one starts."""
        try:
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(self._fetch(first, last))
                except BaseException as exc:
                    future.set_exception(exc)
        finally:
            with self._lock:
                self._running -= 1
                launch = self._launchable()
            self._start(launch)

    def clear(self) -> None:
        """Forget everything and fetch nothing more (the archive closed)."""
        with self._lock:
            dropped, self._pieces = self._pieces, []
            self._goal = 0
            self._stopped = True
        for _, _, future in dropped:
            future.cancel()

    @property
    def pending_bytes(self) -> int:
        """Bytes held or in flight ahead of the scan."""
        with self._lock:
            return sum(last - first for first, last, _ in self._pieces)
