"""Sequential read-ahead: keep the link busy while zarr asks for the next array.

zarr reads a hierarchy one array at a time (``for name in arrays: root[name][:]``):
each ``getitems`` waits for its bytes, then zarr decodes and asks for the next
array, so every array costs an idle round trip on the link (16 arrays at 20 ms:
0.3 s of 2.9 s; 1.3 s at 80 ms). When two large reads in a row are contiguous in
the archive (the second starts where the first ended, give or take the few
metadata entries between two arrays), the scan is sequential and the next
windows (``DEPTH`` times the bytes the read just made, at most ``limit``) are fetched
in the background, in pieces of ``piece`` bytes on the archive's pool. A later read
whose bytes lie in fetched pieces takes them from memory; any other read drops
them. Like an OS read-ahead it may fetch up to ``DEPTH`` windows the caller never
asks for (when the scan stops); single reads, small reads and scattered reads never
trigger it, so they move exactly the bytes they did.

Pure bookkeeping plus futures: the fetch and submit functions come from the
archive; no lock is held across I/O; a failed piece is ignored (the read then
fetches its bytes itself and raises its own error, with archive and key).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future

from .forksafe import ForkSafeLock

#: A read spanning fewer bytes never starts a read-ahead (metadata, single chunks).
MIN_SPAN = 1024 * 1024
#: Windows kept in flight ahead of the scan. One is not enough: the link shares its
#: bandwidth between the window being read and the next one, so both complete together
#: and the link idles for a round trip while the one after starts; with two it never does.
DEPTH = 2

Piece = tuple[int, int, "Future[bytes]"]


class Readahead:
    """The pieces fetched ahead of a sequential scan of one archive."""

    def __init__(
        self,
        submit: Callable[[int, int], Future[bytes]],
        *,
        limit: int,
        piece: int,
        slack: int,
    ):
        self._submit = submit
        self.limit = limit
        self.piece = max(1, piece)
        self.slack = slack
        self._lock = ForkSafeLock()
        self._pieces: list[Piece] = []  # contiguous, ascending
        self._last_end: int | None = None
        self.served = 0
        """Bytes reads took from pieces fetched ahead (per process; for tests and tuning)."""

    def take(self, start: int, end: int) -> bytes | None:
        """Bytes ``[start, end)`` if fetched (or being fetched) ahead, else None."""
        with self._lock:
            covering = [p for p in self._pieces if p[1] > start and p[0] < end]
        if not covering or covering[0][0] > start or covering[-1][1] < end:
            return None
        parts = []
        for first, last, future in covering:
            try:
                data = future.result()
            except Exception:  # speculative: the read then fetches the bytes itself
                return None
            parts.append(memoryview(data)[max(start, first) - first : min(end, last) - first])
        data = b"".join(parts)
        with self._lock:
            self.served += len(data)
        return data

    def advance(self, lo: int, hi: int, stop: int) -> None:
        """Before a read spanning ``[lo, hi)`` takes its bytes: maybe fetch the next window.

        Pieces wholly before ``lo`` are dropped (the scan has passed them); the
        ones inside ``[lo, hi)`` stay for this read's :meth:`take`.

        ``stop`` is where the entries' bytes end (the central directory, or the
        open's tail buffer): nothing at or past it is fetched.
        """
        launch: list[tuple[int, int]] = []
        with self._lock:
            last, self._last_end = self._last_end, hi
            sequential = last is not None and 0 <= lo - last <= self.slack
            if not sequential:
                dropped, self._pieces = self._pieces, []
            else:  # a small read may still take its bytes; only a large one fetches more
                dropped = [p for p in self._pieces if p[1] <= lo]
                self._pieces = [p for p in self._pieces if p[1] > lo]
                if hi - lo >= MIN_SPAN and self.limit > 0:
                    start = max(self._pieces[-1][1], hi) if self._pieces else hi
                    # DEPTH reads' worth of bytes, plus room for the metadata between arrays
                    end = min(hi + min(DEPTH * (hi - lo), self.limit) + self.slack, stop)
                    while start < end:
                        launch.append((start, min(start + self.piece, end)))
                        start = launch[-1][1]
            for first, last_byte in launch:
                self._pieces.append((first, last_byte, self._submit(first, last_byte)))
        for _, _, future in dropped:
            future.cancel()

    def clear(self) -> None:
        """Forget everything (the archive closed)."""
        with self._lock:
            dropped, self._pieces, self._last_end = self._pieces, [], None
        for _, _, future in dropped:
            future.cancel()

    @property
    def pending_bytes(self) -> int:
        """Bytes held or in flight ahead of the scan."""
        with self._lock:
            return sum(last - first for first, last, _ in self._pieces)
