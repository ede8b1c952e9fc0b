"""Pure range planner: coalesce byte ranges that lie close together into fewer GETs.

No I/O and no knowledge of zip or S3: ranges in, batches out. Each batch says
which input ranges it serves, so the caller can cut the response back per key.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

#: Merge two ranges when the bytes between them are at most this many. Requests run
#: concurrently, so a separate request costs about RTT / workers of wall time; 64 KiB is
#: that much transfer at 20 ms x 400 Mbit/s over 16 workers (obstore's 1 MiB moved 7.7x the
#: bytes and took 2.9x as long for every 10th chunk of a channel: docs/performance.md).
DEFAULT_COALESCE_GAP = 64 * 1024
#: Never grow a merged request beyond this many bytes (a single larger range stands alone).
#: Each GET costs ~1 ms of botocore CPU, which shows when the network is fast: reading a
#: whole 118 MB archive on loopback took 0.61 s in 1 MiB GETs and 0.34 s in 4 MiB ones,
#: while one channel at 20 ms / 400 Mbit/s took the same with 1-4 MiB (8 MiB: slower
#: for both; benchmarks/coalesce_sweep.py, docs/performance.md).
DEFAULT_COALESCE_MAX = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class ByteRange:
    """Half-open ``[start, end)``."""

    start: int
    end: int

    def __post_init__(self) -> None:
        if self.start < 0 or self.end < self.start:
            raise ValueError(f"invalid byte range [{self.start}, {self.end})")

    @property
    def size(self) -> int:
        return self.end - self.start


@dataclass(frozen=True, slots=True)
class Batch:
    """One request covering ``[start, end)`` that serves the inputs at ``members``."""

    start: int
    end: int
    members: tuple[int, ...]

    @property
    def size(self) -> int:
        return self.end - self.start

    def cut(self, data: bytes | memoryview, wanted: ByteRange) -> memoryview:
        """The slice of this batch's response that holds ``wanted``."""
        view = memoryview(data)
        return view[wanted.start - self.start : wanted.end - self.start]


def plan(
    ranges: Sequence[ByteRange],
    *,
    coalesce_gap: int = DEFAULT_COALESCE_GAP,
    coalesce_max: int = DEFAULT_COALESCE_MAX,
    max_waste: float | None = None,
) -> list[Batch]:
    """Group ``ranges`` into batches, in ascending offset order.

    Two neighbours (by start offset) share a batch when the gap between them is
    at most ``coalesce_gap`` and the merged request stays within ``coalesce_max``;
    with ``max_waste``, also only while the batch's gaps stay within that share of
    its wanted bytes (small entries scattered among others' are then not fetched
    with everything between them). Overlapping and duplicate ranges always share.
    Every input index appears in exactly one batch.
    """
    if coalesce_gap < 0 or coalesce_max < 1:
        raise ValueError("coalesce_gap must be >= 0 and coalesce_max >= 1")
    order = sorted(range(len(ranges)), key=lambda i: (ranges[i].start, ranges[i].end))
    batches: list[Batch] = []
    start = end = gaps = 0
    members: list[int] = []
    for index in order:
        item = ranges[index]
        if members:
            merged_end = max(end, item.end)
            overlaps = item.start < end
            gap = max(0, item.start - end)
            cheap = max_waste is None or gaps + gap <= max_waste * (merged_end - start - gaps - gap)
            if overlaps or (gap <= coalesce_gap and merged_end - start <= coalesce_max and cheap):
                end = merged_end
                gaps += gap
                members.append(index)
                continue
            batches.append(Batch(start, end, tuple(members)))
        start, end, gaps, members = item.start, item.end, 0, [index]
    if members:
        batches.append(Batch(start, end, tuple(members)))
    return batches
