"""zarr 3's byte requests as ``[start, end)``: shared by the read and the write store."""

from __future__ import annotations

from typing import Any

from zarr.abc.store import OffsetByteRequest, RangeByteRequest, SuffixByteRequest


def resolve_byte_request(byte_range: Any, size: int) -> tuple[int, int]:
    """``[start, end)`` of a zarr byte request on a value of ``size`` bytes, clamped.

    Past-the-end requests are clamped like ``LocalStore``/``ZipStore`` read them.
    """
    if isinstance(byte_range, RangeByteRequest):
        start, end = byte_range.start, byte_range.end
        if start < 0 or end < start:
            raise ValueError(f"invalid byte range [{start}, {end})")
    elif isinstance(byte_range, OffsetByteRequest):
        start, end = byte_range.offset, size
        if start < 0:
            raise ValueError(f"invalid byte offset {start}")
    elif isinstance(byte_range, SuffixByteRequest):
        if byte_range.suffix < 0:
            raise ValueError(f"invalid byte suffix {byte_range.suffix}")
        start, end = max(0, size - byte_range.suffix), size
    else:
        raise TypeError(f"Unexpected byte_range, got {byte_range}.")
    start = min(start, size)
    return start, min(max(end, start), size)
