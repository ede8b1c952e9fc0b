"""A local file as a byte source: the same parser replaces ZipStore's read mode."""

from __future__ import annotations

import contextlib
import os
import weakref
from collections.abc import Hashable
from typing import Any

from ..errors import ArchiveAccessError, ArchiveNotFoundError, SourceError
from ._base import Ends, SourceIdentity, Stats, check_open
from ._forksafe import PerProcess
from ._status import changed

#: What a file is pinned by: (size, mtime in ns, inode).
Version = tuple[int, int, int]


def _close_quietly(fd: int) -> None:
    with contextlib.suppress(OSError):
        os.close(fd)


class LocalSource:
    """Reads with ``os.pread`` on one descriptor per process: no shared file pointer, no lock.

    The descriptor stays open, so a file replaced by rename keeps serving the
    bytes the store opened (the old inode). A file overwritten in place
    (``cp other.zip archive.zip``: same inode, new bytes) is noticed by one
    ``fstat`` after each read: its size or mtime no longer match the version
    pinned at open, and the read raises :class:`ArchiveChangedError` instead of
    returning bytes of two files.
    """

    def __init__(self, path: str | os.PathLike[str]):
        self._setup(os.path.abspath(os.fspath(path)), None)

    def _setup(self, path: str, pinned: Version | None) -> None:
        self._path = path
        self._pinned = pinned
        # Through a weak reference: no cycle, so a dropped source closes its descriptor at once.
        this = weakref.ref(self)
        self._fd: PerProcess[int] = PerProcess(lambda: _open(this), close=_close_quietly)
        self._closed = False
        self.stats = Stats()

    @property
    def url(self) -> str:
        return self._path

    @property
    def identity(self) -> SourceIdentity:
        return SourceIdentity("local", self._path, None)

    @property
    def version(self) -> Hashable | None:
        return self._pinned

    @property
    def closed(self) -> bool:
        return self._closed

    def _descriptor(self) -> int:
        check_open(self._closed, self._path)
        return self._fd.get()

    def _open(self) -> int:
        try:
            fd = os.open(self._path, os.O_RDONLY)
        except FileNotFoundError as exc:
            raise ArchiveNotFoundError("does not exist", archive=self._path) from exc
        except PermissionError as exc:
            raise ArchiveAccessError("permission denied", archive=self._path) from exc
        except OSError as exc:
            raise SourceError(str(exc.strerror), archive=self._path) from exc
        seen = _version(os.fstat(fd))
        if self._pinned is None:
            self._pinned = seen
        elif self._pinned != seen:
            os.close(fd)
            raise changed(self._path, _difference(self._pinned, seen))
        return fd

    def _check(self, fd: int) -> None:
        """After a read: the file must still be the version pinned at open."""
        seen = _version(os.fstat(fd))
        if seen != self._pinned and self._pinned is not None:
            raise changed(self._path, _difference(self._pinned, seen))

    def read_ends(self, tail: int, *, head: int = 0) -> Ends:
        fd = self._descriptor()
        size = os.fstat(fd).st_size
        start = max(0, size - tail)
        last = self._pread(fd, start, size)
        # The first bytes only when the tail does not hold them (one descriptor: one version).
        first = self._pread(fd, 0, min(head, size)) if head > 0 and start > 0 else b""
        return Ends(last, size, first)

    def read_range(self, start: int, end: int) -> bytes:
        return self._pread(self._descriptor(), start, end)

    def _pread(self, fd: int, start: int, end: int) -> bytes:
        want = end - start
        try:
            data = os.pread(fd, want, start)
        except OSError as exc:
            raise SourceError(str(exc.strerror), archive=self._path) from exc
        self.stats.add(len(data))
        self._check(fd)
        if len(data) != want:
            raise SourceError(
                f"asked for bytes {start}-{end - 1}, got {len(data)} (past the end of the file)",
                archive=self._path,
            )
        return data

    def close(self) -> None:
        self._closed = True
        self._fd.close()

    def __del__(self) -> None:
        # A raw descriptor has no finalizer of its own: without this, every store dropped
        # without close() would leak one (ZipStore's file object closes itself on GC).
        fd = getattr(self, "_fd", None)
        if fd is not None:
            fd.close()

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self._path, "pinned": self._pinned}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._setup(state["path"], state["pinned"])

    def __repr__(self) -> str:
        return f"LocalSource({self._path!r})"


def _open(ref: weakref.ref[LocalSource]) -> int:
    source = ref()
    if source is None:  # pragma: no cover - a source being collected reads nothing
        raise SourceError("the source was garbage-collected")
    return source._open()


def _difference(pinned: Version, seen: Version) -> str:
    if pinned[2] != seen[2]:
        return "another file is at its path"
    if pinned[0] != seen[0]:
        return f"its size went from {pinned[0]} to {seen[0]} bytes"
    return "it was modified"


def _version(st: os.stat_result) -> Version:
    return (st.st_size, st.st_mtime_ns, st.st_ino)
