"""An in-memory byte source for fast fuzzing: behaves like S3Source on a fixed object."""

from __future__ import annotations

from remote_zip_store.errors import SourceError
from remote_zip_store.transport import Ends, SourceIdentity, Stats


class MemorySource:
    """``bytes`` as a :class:`~remote_zip_store.transport.Source`; counts requests like S3."""

    def __init__(self, data: bytes, url: str = "mem://fuzz.zip"):
        self.data = data
        self._url = url
        self._closed = False
        self.stats = Stats()

    @property
    def url(self) -> str:
        return self._url

    @property
    def identity(self) -> SourceIdentity:
        return SourceIdentity("memory", self._url, None)

    @property
    def version(self) -> None:
        """Never pinned: the index cache is not used (every fuzz case is another object)."""
        return None

    @property
    def closed(self) -> bool:
        return self._closed

    def read_ends(self, tail: int, *, head: int = 0) -> Ends:
        data = self.data[-tail:] if tail < len(self.data) else self.data
        self.stats.add(len(data))
        first = self.data[:head] if head > 0 and tail < len(self.data) else b""
        if first:
            self.stats.add(len(first))
        return Ends(data, len(self.data), first)

    def read_range(self, start: int, end: int) -> bytes:
        if start < 0 or end > len(self.data) or end < start:
            # S3 answers 416 or a short body here; the S3 source reports either as SourceError.
            raise SourceError(f"bytes {start}-{end - 1} are outside the object", archive=self._url)
        self.stats.add(end - start)
        return self.data[start:end]

    def close(self) -> None:
        self._closed = True
