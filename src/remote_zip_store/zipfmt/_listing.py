"""Sorted key listing with prefix queries: ``listdir`` without scanning every key.

One sorted list of the archive's names (references to the index's own
strings: 8 bytes per entry), built on first use. A folder's range is found by
bisection, and each child folder is skipped in one more bisection, so
``listdir`` costs O(children x log n), not O(keys).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator


def _after(prefix: str) -> str:
    """The smallest string greater than every string starting with ``prefix``."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


class Listing:
    """Sorted names; queries take a prefix that ends with "/" (or "" for everything)."""

    def __init__(self, names: list[str]):
        self._names = sorted(names)

    def _range(self, prefix: str) -> tuple[int, int]:
        names = self._names
        if not prefix:
            return 0, len(names)
        return bisect_left(names, prefix), bisect_left(names, _after(prefix))

    def count(self, prefix: str = "") -> int:
        lo, hi = self._range(prefix)
        return hi - lo

    def keys(self, prefix: str = "") -> Iterator[str]:
        """Names under ``prefix``, with the prefix cut off, sorted."""
        lo, hi = self._range(prefix)
        cut = len(prefix)
        names = self._names
        for i in range(lo, hi):
            yield names[i][cut:]

    def children(self, prefix: str = "") -> list[str]:
        """Direct children (files and folders) under ``prefix``, sorted, no duplicates."""
        lo, hi = self._range(prefix)
        names = self._names
        cut = len(prefix)
        found: dict[str, None] = {}
        i = lo
        while i < hi:
            rest = names[i][cut:]
            slash = rest.find("/")
            if slash < 0:
                found[rest] = None
                i += 1
            else:
                child = rest[:slash]
                found[child] = None
                i = bisect_left(names, prefix + child + "0", i + 1, hi)  # "0" follows "/"
        return sorted(found)
