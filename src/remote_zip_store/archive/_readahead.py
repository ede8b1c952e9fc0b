"""Sequential read-ahead: keep the link busy while zarr asks for the next array.

zarr reads a hierarchy one array at a time (``for name in arrays: root[name][:]``):
each ``getitems`` waits for its bytes, then zarr decodes and asks for the next
array, so every array costs an idle round trip on the link (16 arrays at 20 ms:
0.3 s of 2.9 s; 1.3 s at 80 ms). When two large reads in a row are contiguous in
the archive (the second starts where the first ended, give or take the few
metadata entries between two arrays), the scan is sequential and the next
windows (``DEPTH`` times the bytes the read just made, at most ``limit``) are fetched
in the background, in pieces of at most ``piece`` bytes (ending where an entry starts,
when the array's region is known) on the archive's pool, at most
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
of small sequential reads counts too, once it spans ``RUN_SPAN`` bytes (an array's
first read of ``RUN_ENTRIES`` entries back to back, zarr 3's first tick, is a run on
its own: its window goes out beside it, its region built on the pool), and the
window is ``RUN_DEPTH`` times the run so far (at most ``RUN_CAP``), never past
``region_end``. So the window grows with the scan, as an OS read-ahead's does, and
stops at the array's end: reading one array never fetches the next one's bytes.
Without ``region_end`` (the zarr-2 store) only large reads count.

Order matters (issue 19): writers do not all put an array's chunks in key order
(xarray + dask writes them in task order; ``pack`` in sorted-name order), and a window
past a read that the next read does not want is bytes moved for nothing. So with a
:class:`Region` (the array's entries as contiguous *segments* of the archive, from the
index's next-entry offsets) a window only grows from a *dense* read (its entries lie
back to back, nothing between them), only inside the segment holding the read, and
never past that segment's end, on both branches. A read far behind the run (a warm
re-read from the array's start) starts a new run. And the read-ahead keeps its own
score: once the bytes it fetched and dropped unread exceed ``WASTE`` of the bytes
the reads asked for, plus ``RUN_DEPTH`` times the bytes it served them (plus
``CREDIT``), it fetches nothing more, and no window reaches further than what is left.

Key order (issue 19, round 2): the front end ranks an array's chunks in the order zarr
reads them (key order, numbers as numbers), and a :class:`Region`'s segment also ends
where the archive leaves that order by more than ``ORDER_SLACK`` places. An archive in
sorted-name order (``c/1, c/10, c/100 .. c/109, c/11 ..``: ``pack`` wrote that, ``zip -r``
of a directory store does) follows key order only in stretches; a window past a
stretch's end fetched bytes read long before or after (1.22-1.35x the bytes needed).
A growing window's increments go out in pieces of at least a quarter ``piece`` while
bytes lie ahead of the reads (not one small GET per out-of-order zarr read), and a
piece is dropped only once the scan is past it by more than a read or two of its own
(zarr 3's reads run side by side: one just behind may still need it).

A piece is served as it arrives (issue 20): with a ``fetch_into`` the piece's bytes land
in its buffer as the body streams in, and a read whose bytes lie in its first part takes
them then, not when the whole piece is in. (A piece of 1.5 MiB takes 30-120 ms of a
400 Mbit/s link shared with two others; zarr 3's gets of its chunks then all finished in
one burst after the last byte, 15-19 ms of decoding after the link went idle.) Only the
bytes the body has delivered are ever served; a piece that fails half way serves its
first part, and a read past it fetches its bytes itself.

Pure bookkeeping plus futures: the fetch and submit functions come from the
archive; no lock is held across I/O; a failed piece is ignored (the read then
fetches its bytes itself and raises its own error, with archive and key).
"""

from __future__ import annotations

import contextlib
import os
import threading
from bisect import bisect_right
from collections.abc import Callable, Iterable
from concurrent.futures import Future, InvalidStateError
from typing import Any, Protocol

from ..transport._forksafe import ForkSafeLock

#: A read spanning fewer bytes never starts a read-ahead (metadata, single chunks).
MIN_SPAN = 1024 * 1024
#: A run of small sequential reads (with a region end) starts a read-ahead past this span.
RUN_SPAN = 256 * 1024
#: An array's first read of this many entries back to back is a run already: zarr 3's
#: first tick of a scan (``async.concurrency``, 10, less the one or two the open's buffers
#: may hold).
RUN_ENTRIES = 8
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
#: A window's increment smaller than this waits for the window to grow while bytes lie
#: ahead of the reads (no GET per one-chunk read). Not more: the rest of zarr 3's first
#: window at concurrency 64 (0.95 MiB of 2 MiB) waited a tick and the link idled 30 ms.
MIN_INCREMENT = 512 * 1024
#: Read-ahead stops while the bytes it dropped unread exceed this share of the bytes read
#: (plus ``CREDIT``): no window reaches further than what is left of it.
WASTE = 0.1
#: What a read-ahead may drop unread before the reads have asked for anything: about one
#: bandwidth-delay product (20 ms x 400 Mbit/s, 80 ms x 100 Mbit/s), the window that keeps
#: the link busy for the round trip the next reads take. (256 KiB held zarr 3's reads of
#: one channel to 300 KiB windows for two round trips: 1.9x the physical limit, now 1.5x.)
CREDIT = 1024 * 1024
#: How far (in places of the read order) an archive's next entry may stray from the one
#: after its predecessor and still extend a :class:`Region`'s segment: zarr's own writers
#: (its ZipStore, ours) store each batch of chunks as they finish, up to 19 places out of
#: key order at concurrency 10; a sorted-name order jumps 17-108 places at ``c/2``,
#: ``c/20``, ``c/100``... (and a whole array's ``c/1/...`` to ``c/10/...``).
ORDER_SLACK = 24


class Landing(Protocol):
    """Where a streamed fetch writes: ``buffer`` (the range's size) and ``advance(n)``,
    called with how many leading bytes of it are in place each time more arrive; or
    ``put(data)``, all of it at once."""

    @property
    def buffer(self) -> bytearray: ...

    def advance(self, filled: int) -> None: ...

    def put(self, data: bytes) -> None: ...


#: ``fetch_into(start, end, sink)``: bytes ``[start, end)`` written into ``sink`` as they come.
FetchInto = Callable[[int, int, Landing], None]


class Piece:
    """Bytes ``[first, last)`` fetched ahead, served as they arrive.

    ``future`` is done when the fetch ended (complete, failed or cancelled); ``filled``
    is how many leading bytes of ``buffer`` are in place. A reader waits with
    :meth:`until` for the bytes it needs, then reads them with :meth:`view`.
    """

    __slots__ = ("_lock", "_waiters", "buffer", "filled", "first", "future", "last")

    def __init__(self, first: int, last: int):
        self.first = first
        self.last = last
        self.future: Future[None] = Future()
        self.buffer = bytearray(last - first)
        self.filled = 0
        self._lock = threading.Lock()
        self._waiters: list[tuple[int, Future[None]]] = []
        self.future.add_done_callback(self._ended)

    def advance(self, filled: int) -> None:
        """``filled`` leading bytes are in place (the fetch's thread): wake who waits for them."""
        with self._lock:
            self.filled = filled
            ready = [w for w in self._waiters if w[0] <= filled]
            if ready:
                self._waiters = [w for w in self._waiters if w[0] > filled]
        for _, waiter in ready:
            _wake(waiter)

    def _ended(self, ended: Future[None]) -> None:
        with self._lock:
            waiters, self._waiters = self._waiters, []
        for _, waiter in waiters:
            _wake(waiter)

    def until(self, offset: int) -> Future[None] | None:
        """None when ``offset`` leading bytes are in, else a future done once they are or
        the fetch ended (then :meth:`view` tells which)."""
        with self._lock:
            if self.filled >= offset:
                return None
            if self.future.done():
                return None
            waiter: Future[None] = Future()
            self._waiters.append((offset, waiter))
            return waiter

    def view(self, start: int, end: int) -> memoryview | None:
        """Bytes ``[start, end)`` (absolute, inside the piece) once in place, else None."""
        if self.filled < end - self.first:
            return None
        return memoryview(self.buffer)[start - self.first : end - self.first]

    def put(self, data: bytes) -> None:
        """The whole piece at once (a fetch that returns bytes)."""
        if len(data) != len(self.buffer):
            raise ValueError(f"a piece of {len(self.buffer)} bytes received {len(data)}")
        self.buffer[:] = data
        self.advance(len(data))


class Region:
    """Where one array's entries lie: its contiguous runs (segments) of the archive.

    Two entries are in one segment when the second's local header is the first's
    next entry in the archive (``next_header``): no other entry lies between them.
    When the caller knows the order the array's entries are read in (a *rank* per
    entry: zarr reads chunks in key order), a segment also ends where the archive
    leaves that order by more than ``ORDER_SLACK`` places (an archive in sorted-name
    order puts ``c/10`` .. ``c/109`` right after ``c/1``, read a hundred chunks
    later): a window never reaches bytes read long after (or before) the read that
    fetched them. Entries without a rank (metadata) follow any order.
    Built once per array from its own entries (``O(k log k)``), kept as two sorted
    columns; :meth:`segment` is a bisection. ``spans`` may be a function that returns
    them: the columns are then built at the first question (a read of one chunk per
    array, the usual small read, never asks one: see :meth:`Readahead.advance`).
    """

    __slots__ = ("_columns", "_slack", "_spans")

    def __init__(
        self,
        spans: Iterable[tuple[int, int, int] | tuple[int, int, int, int | None]]
        | Callable[[], Iterable[tuple[int, int, int] | tuple[int, int, int, int | None]]],
        *,
        order_slack: int | None = None,
    ):
        """``spans``: ``(start, end, next_header)`` of each of the array's entries, or
        ``(start, end, next_header, rank)`` with its place in the read order (or None);
        or a function returning them (called once, at the first question)."""
        self._slack = ORDER_SLACK if order_slack is None else order_slack
        self._columns: tuple[list[int], list[int], list[int]] | None = None
        self._spans = spans
        if not callable(spans):
            self._build()

    def _build(self) -> tuple[list[int], list[int], list[int]]:
        """``(starts, ends, cuts)``; built once (two threads may both build: the same)."""
        columns = self._columns
        if columns is not None:
            return columns
        spans = self._spans
        slack = self._slack
        starts: list[int] = []
        ends: list[int] = []
        ordered = sorted(spans() if callable(spans) else spans, key=lambda item: item[:3])
        cuts = [item[0] for item in ordered]  # where a window may end: an entry's start
        reach = -1  # the next entry's offset after the current segment's last entry
        last: int | None = None  # the rank of the current segment's last ranked entry
        for item in ordered:
            start, end, following = item[0], item[1], item[2]
            rank = item[3] if len(item) > 3 else None
            in_order = rank is None or last is None or abs(rank - last - 1) <= slack
            if starts and start <= reach and in_order:
                ends[-1] = max(ends[-1], end)
                reach = max(reach, following)
            else:
                starts.append(start)
                ends.append(end)
                reach = following
                last = None
            if rank is not None:
                last = rank
        self._columns = columns = (starts, ends, cuts)
        self._spans = []
        return columns

    @property
    def built(self) -> bool:
        """Whether the columns exist yet (for tests: a single read builds none)."""
        return self._columns is not None

    @property
    def starts(self) -> list[int]:
        return self._build()[0]

    @property
    def ends(self) -> list[int]:
        return self._build()[1]

    @property
    def cuts(self) -> list[int]:
        return self._build()[2]

    def segment(self, lo: int, hi: int) -> tuple[int, int] | None:
        """The segment holding all of ``[lo, hi)``, or None (the bytes cross other entries)."""
        starts, ends, _ = self._build()
        i = bisect_right(starts, lo) - 1
        if i >= 0 and hi <= ends[i]:
            return starts[i], ends[i]
        return None

    def snap(self, goal: int, after: int, segment_end: int) -> int:
        """``goal`` moved back to the start of the entry it falls in (or the segment's end):
        a window never ends inside an entry, which a read would then fetch again whole.
        Left as it is when that entry starts at or before ``after`` (the read's end)."""
        if goal >= segment_end:
            return segment_end
        i = bisect_right(self.cuts, goal) - 1
        return self.cuts[i] if i >= 0 and self.cuts[i] > after else goal

    @property
    def end(self) -> int:
        """Where the array's last byte lies (its last segment's end)."""
        return max(self.ends, default=0)


def _wake(waiter: Future[None]) -> None:
    """Set ``waiter`` done, unless its reader gave up on it (an event loop cancelled it)."""
    with contextlib.suppress(InvalidStateError):
        waiter.set_result(None)


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
        fetch_into: FetchInto | None = None,
    ):
        """``fetch(start, end)`` returns a piece's bytes; ``fetch_into``, when given (the
        source streams), is used instead and writes them as they arrive: a piece is then
        served in part, and pieces are sized and started to finish in the scan's order."""
        self._fetch = fetch
        self._fetch_into = fetch_into
        self._submit = submit
        self.limit = limit
        self.piece = max(1, piece)
        self.slack = slack
        self._lock = ForkSafeLock()
        self._reset()
        self.served = 0
        """Bytes reads took from pieces fetched ahead (per process; for tests and tuning)."""
        self.wasted = 0
        """Bytes of pieces dropped before any read reached them (per process)."""
        self.asked = 0
        """Bytes the reads spanned (per process): what ``wasted`` is weighed against."""

    def _reset(self) -> None:
        self._pid = os.getpid()
        self._pieces: list[Piece] = []  # contiguous, ascending
        self._last_end: int | None = None
        self._run_start = 0  # where the current sequential run began
        self._segment: tuple[int, int] | None = None  # the last read's segment (if asked)
        self._region: Region | None = None  # the last read's region, and its span
        self._region_span: tuple[int, int] | None = None
        self._ended: tuple[int, Region] | None = None  # the Region of an int ``region``
        self._next = 0  # the first byte no piece covers yet
        self._goal = 0  # fetch up to here
        self._cap = 0  # where the window must stop (the segment's end): the last goal's
        self._span = 0  # the largest read of the run
        self._running = 0
        self._stopped = False

    def _forked(self) -> None:
        """In a forked child the parent's pieces never complete: start afresh (under the lock)."""
        if self._pid != os.getpid():
            self._reset()

    def take(self, start: int, end: int, wait: float | None = None) -> bytes | None:
        """Bytes ``[start, end)`` if fetched (or being fetched) ahead, else None.

        ``wait``: the most seconds to wait for bytes still on their way (then None).
        Returns once those bytes are in, not when the pieces holding them are.
        """
        covering = self.claim(start, end)
        if covering is None:
            return None
        for waiter in self.waits(start, end, covering):
            try:
                waiter.result(timeout=wait)
            except Exception:  # late: the read then fetches the bytes itself
                return None
        return self.join(start, end, covering)

    def claim(self, start: int, end: int) -> list[Piece] | None:
        """The pieces that hold (or will hold) bytes ``[start, end)``, else None (no wait).

        A caller waits for :meth:`waits`' futures (an event loop: itself), then calls
        :meth:`join`.
        """
        with self._lock:
            self._forked()
            covering = [p for p in self._pieces if p.last > start and p.first < end]
        if not covering or covering[0].first > start or covering[-1].last < end:
            return None
        return covering

    @staticmethod
    def waits(start: int, end: int, covering: list[Piece]) -> list[Future[None]]:
        """Futures done once ``covering`` (:meth:`claim`'s) holds bytes ``[start, end)`` or
        one of its fetches ended (none: they are in already)."""
        waiters = []
        for piece in covering:
            waiter = piece.until(min(end, piece.last) - piece.first)
            if waiter is not None:
                waiters.append(waiter)
        return waiters

    def join(self, start: int, end: int, covering: list[Piece]) -> bytes | None:
        """Bytes ``[start, end)`` from ``covering`` (:meth:`claim`'s), or None when some are
        not in (a piece failed, was cancelled or is still on its way: the read then fetches
        them itself). Only bytes a body delivered are ever served."""
        parts = []
        for piece in covering:
            part = piece.view(max(start, piece.first), min(end, piece.last))
            if part is None:
                return None
            parts.append(part)
        data = b"".join(parts)
        with self._lock:
            self.served += len(data)
        return data

    def advance(
        self,
        lo: int,
        hi: int,
        stop: int,
        region: Region | int | None = None,
        *,
        dense: bool = True,
        wanted: int | None = None,
        entries: int = 1,
    ) -> None:
        """Before a read spanning ``[lo, hi)`` takes its bytes: maybe fetch the next windows.

        Pieces wholly before ``lo`` are dropped (the scan has passed them); the
        ones inside ``[lo, hi)`` stay for this read's :meth:`take`. ``stop`` is
        where the entries' bytes end (the central directory, or the open's tail
        buffer): nothing at or past it is fetched. ``region``, when given, is
        where the read's array lies (a :class:`Region`, or an int: one segment
        ending there): a run of small reads may then start a read-ahead, and no
        window leaves the segment holding the read. ``dense``: the read's entries
        lie back to back; only a dense read grows a window. ``wanted``: the bytes
        the read asks for (default: the span), what the waste score weighs against.
        ``entries``: how many entries the read takes (a first read of ``RUN_ENTRIES``
        back to back is a run already, however small they are).
        """
        if isinstance(region, int):  # one segment ending there: the same object each time
            kept = self._ended
            if kept is None or kept[0] != region:
                kept = self._ended = (region, Region([(0, region, region)]))
            region = kept[1]
        deferred: tuple[Region, int, int, int] | None = None
        with self._lock:
            self._forked()
            self.asked += hi - lo if wanted is None else wanted
            last = self._last_end
            # A segment only matters when the last read was of the same region (a run can
            # only continue there): the first read of an array asks its region nothing, so
            # one chunk per array (the usual small read) never builds the array's region.
            segment = None
            if region is not None and region is self._region:
                segment = region.segment(lo, hi)
                if self._segment is None and self._region_span is not None:
                    self._segment = region.segment(*self._region_span)
            self._region, self._region_span = region, (lo, hi)
            # A read starting just after the last one continues the scan; so does a small
            # one of the same segment starting just behind it (zarr 3 finishes its gets
            # slightly out of order). Anything else starts a new run.
            inside = segment is not None and segment == self._segment
            behind = last is not None and last - lo <= 2 * (hi - lo) + self.slack
            sequential = (
                last is not None
                and (region is None or inside)
                and (0 <= lo - last <= self.slack or (inside and behind and self._run_start <= lo))
            )
            self._segment = segment
            if not sequential:
                dropped, self._pieces = self._pieces, []
                reached = last or 0  # pieces past the last read's end: never read
                self.wasted += sum(
                    p.last - max(p.first, reached) for p in dropped if p.last > reached
                )
                self._goal = 0
                self._run_start = lo
                self._last_end = hi
                self._span = hi - lo
                if region is not None and dense and (hi - lo >= RUN_SPAN or entries >= RUN_ENTRIES):
                    # zarr 3's first tick of an array is already a run (ten chunks back to
                    # back): its window starts now, not a round trip later. A region not
                    # built yet is built on the pool (the first one sorts the archive's
                    # names: ~10 ms), not before this read's own GET.
                    if region.built:
                        self._first_window(region, lo, hi, stop)
                    else:
                        deferred = (region, lo, hi, stop)
            else:  # a small read may still take its bytes; only a large one fetches more
                self._last_end = max(hi, last or hi)
                # pieces the scan has passed; but zarr 3 runs its reads side by side, and one
                # a little behind (see ``behind``) may not have taken its bytes yet
                self._span = max(self._span, hi - lo)
                passed = min(lo, self._last_end - 2 * self._span - self.slack)
                dropped = [p for p in self._pieces if p.last <= passed]
                self._pieces = [p for p in self._pieces if p.last > passed]
                cap = stop if segment is None else min(stop, segment[1])
                self._cap = cap
                # the bytes this read takes from pieces count as served already (take comes
                # after advance): the window after a served read is not held back a read
                taking = sum(
                    min(p.last, hi) - max(p.first, lo) for p in self._pieces if p.first < hi
                )
                goal = self._window(lo, hi, cap, region is not None, dense, taking)
                if goal is not None and region is not None and segment is not None:
                    goal = region.snap(goal, hi, cap)
                self._aim(goal, hi)
            launch = self._launchable()
        for piece in dropped:
            piece.future.cancel()
        self._start(launch)
        if deferred is not None:
            with contextlib.suppress(RuntimeError):  # the pool is shut down: the archive closed
                self._submit(self._deferred_window, *deferred)

    def _first_window(self, region: Region, lo: int, hi: int, stop: int) -> None:
        """The window of an array's first read that is a run already (under the lock)."""
        segment = self._segment = region.segment(lo, hi)
        # only with another read's worth left in the segment: a read of a whole small
        # array leaves at most its metadata, fetched already
        if segment is None or min(stop, segment[1]) - hi < hi - lo:
            return
        self._cap = cap = min(stop, segment[1])
        goal = self._window(lo, hi, cap, True, True, is_run=True)
        self._aim(None if goal is None else region.snap(goal, hi, cap), hi)

    def _aim(self, goal: int | None, hi: int) -> None:
        """Fetch up to ``goal`` (under the lock), from past the pieces and the reads so far
        (``hi``: this read's end); nothing when the read-ahead is off or stopped."""
        if goal is not None and self.limit > 0 and not self._stopped:
            self._next = max(self._pieces[-1].last if self._pieces else hi, self._last_end or hi)
            self._goal = max(self._goal, goal)

    def _deferred_window(self, region: Region, lo: int, hi: int, stop: int) -> None:
        """On the pool: build ``region``, then start the first read's window, unless
        another read came since (that one built or asked for its own)."""
        region.segment(lo, hi)  # the columns, with no lock held
        with self._lock:
            self._forked()
            if self._region is not region or self._region_span != (lo, hi) or self._goal:
                return
            self._first_window(region, lo, hi, stop)
            launch = self._launchable()
        self._start(launch)

    def _window(
        self,
        lo: int,
        hi: int,
        cap: int,
        region: bool,
        dense: bool,
        taking: int = 0,
        *,
        is_run: bool = False,
    ) -> int | None:
        """Where this sequential read's read-ahead should reach (never past ``cap``), or None.
        ``is_run``: the read is a run however short (its entries lie back to back)."""
        # What it may still risk: CREDIT to start with, WASTE of what was asked and RUN_DEPTH
        # times what it served (a followed order earns its windows), less what it dropped.
        served = self.served + taking
        credit = CREDIT + int(WASTE * self.asked) + RUN_DEPTH * served - self.wasted
        if credit <= 0 or not dense:
            return None  # it has been fetching what nobody read; or the read skips entries
        if is_run:
            # an array's first run may risk DEPTH times its own size: zarr 3 at concurrency
            # 64 asks 2 MiB a tick, and a 1 MiB window ran dry a round trip before the next
            credit = max(credit, DEPTH * (hi - lo))
        if hi - lo >= MIN_SPAN:  # a large read: DEPTH reads' worth, plus the metadata between
            reach = DEPTH * (hi - lo) + self.slack
        else:
            run = (self._last_end or hi) - self._run_start
            if not region or (run < RUN_SPAN and not is_run):
                return None
            reach = RUN_DEPTH * min(run, RUN_CAP)
        bound = min(self.limit, credit)
        goal = hi + min(reach, bound)
        if cap - goal < self.piece // INFLIGHT and cap - hi <= bound:
            goal = cap  # nearly there: the rest now, not a last small GET for it later
        return min(goal, cap)

    def _launchable(self) -> list[Piece]:
        """Reserve the next pieces (under the lock); the first of a burst are smaller."""
        launch: list[Piece] = []
        while self._running < INFLIGHT and self._next < self._goal:
            size = max(1, self.piece * (self._running + 1) // INFLIGHT)
            # Pieces on the link share it, so a piece started after others finishes first
            # when it is smaller than what they still have to come: its bytes then wait
            # unread (the reads are still in the pieces before it), and after the last
            # byte the reads take them all at once. A new piece is at least as long as
            # the longest rest ahead of it; one that cannot be (the window's last) waits
            # while those rests keep the link busy for two bandwidth-delay products (its
            # request then goes out a round trip and more before the link would idle).
            if self._fetch_into is not None:  # (pieces that come whole: only at their end)
                rests = [p.last - p.first - p.filled for p in self._pieces if not p.future.done()]
                behind = max(rests, default=0)
                if self._goal - self._next < behind and sum(rests) >= 2 * CREDIT:
                    break
                size = max(size, behind)
            end = min(self._next + size, self._goal)
            region = self._region
            if end < self._goal and region is not None and region.built:
                # a piece ends where an entry starts: a read never finds its entry half in
                # a piece (it would fetch the whole entry again)
                end = region.snap(end, self._next, self._goal)
            if (
                end - self._next < MIN_INCREMENT
                and self._goal < self._cap
                and self._next > (self._last_end or 0)
            ):
                # Bytes are ahead of the reads and the window moves on with the next one:
                # its increments go out as pieces of MIN_INCREMENT at least, not as one
                # small GET per read (zarr 3's out-of-order batches make reads of one or
                # two chunks). With nothing ahead, whatever there is goes now.
                break
            piece = Piece(self._next, end)
            self._pieces.append(piece)
            launch.append(piece)
            self._running += 1
            self._next = end
        return launch

    def _start(self, launch: list[Piece]) -> None:
        for piece in launch:
            try:
                self._submit(self._fill, piece)
            except RuntimeError as exc:  # the pool is shut down: the archive closed
                with self._lock:
                    self._running -= 1
                if piece.future.set_running_or_notify_cancel():
                    piece.future.set_exception(exc)

    def _fill(self, piece: Piece) -> None:
        """One piece, on the pool; when it is done the next one starts."""
        future = piece.future
        try:
            if future.set_running_or_notify_cancel():
                try:
                    if self._fetch_into is not None:
                        self._fetch_into(piece.first, piece.last, piece)
                    else:
                        piece.put(self._fetch(piece.first, piece.last))
                    if piece.filled != piece.last - piece.first:
                        raise ValueError("the fetch ended before the piece was filled")
                except BaseException as exc:
                    future.set_exception(exc)
                else:
                    future.set_result(None)
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
        for piece in dropped:
            piece.future.cancel()

    def in_flight(self) -> bool:
        """Whether a piece is still being fetched (tests wait on it; no I/O here)."""
        with self._lock:
            return any(not piece.future.done() for piece in self._pieces)

    @property
    def pending_bytes(self) -> int:
        """Bytes held or in flight ahead of the scan."""
        with self._lock:
            return sum(piece.last - piece.first for piece in self._pieces)
