"""An in-memory byte source for fast fuzzing: behaves like S3Source on a fixed object."""

from __future__ import annotations

from remote_zip_store.errors import SourceError, describe
from remote_zip_store.sources import SourceIdentity, Stats, Tail


class MemorySource:
    """``bytes`` as a :class:`~remote_zip_store.sources.Source`; counts requests like S3."""

    def __init__(self, data: bytes, url: str = "mem://fuzz.zip"):
        self.data = data
        self._url = url
        self.stats = Stats()

    @property
    def url(self) -> str:
        return self._url

    @property
    def identity(self) -> SourceIdentity:  # TEMP front stand-in (sources branch wins)
        return SourceIdentity("memory", self._url, None)

    def read_tail(self, length: int, *, head: int = 0) -> Tail:
        data = self.data[-length:] if length < len(self.data) else self.data
        self.stats.add(len(data))
        first = self.data[:head] if head > 0 and length < len(self.data) else b""
        if first:
            self.stats.add(len(first))
        return Tail(data, len(self.data), first)

    def read_range(self, start: int, end: int, *, key: str | None = None) -> bytes:
        if start < 0 or end > len(self.data) or end < start:
            # S3 answers 416 or a short body here; the S3 source reports either as SourceError.
            raise SourceError(
                f"{describe(self._url, key)}: bytes {start}-{end - 1} are outside the object",
                archive=self._url,
                key=key,
            )
        self.stats.add(end - start)
        return self.data[start:end]

    def close(self) -> None:
        pass
