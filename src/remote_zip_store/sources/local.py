"""A local file as a byte source: the same parser replaces ZipStore's read mode."""

from __future__ import annotations

import contextlib
import os
from typing import Any

from ..errors import (
    ArchiveAccessError,
    ArchiveChangedError,
    ArchiveNotFoundError,
    SourceError,
    StoreClosedError,
    describe,
)
from ..forksafe import ForkSafeLock
from .base import Ends, SourceIdentity, Stats


class LocalSource:
    """Reads with ``os.pread`` on one descriptor: no shared file pointer, no lock.

    The descriptor stays open, so a file replaced by rename keeps serving the
    bytes the store opened (the old inode); after unpickling, the file must
    still have the size and modification time seen at open.
    """

    def __init__(self, path: str | os.PathLike[str]):
        self._path = os.path.abspath(os.fspath(path))
        self._fd: int | None = None
        self._pid = 0
        self._pinned: tuple[int, int] | None = None
        self._lock = ForkSafeLock()
        self._closed = False
        self.stats = Stats()

    @property
    def url(self) -> str:
        return self._path

    def _descriptor(self) -> int:
        if self._closed:
            raise StoreClosedError(f"archive {self._path} is closed", archive=self._path)
        fd = self._fd
        if fd is not None and self._pid == os.getpid():
            return fd
        with self._lock:
            if self._fd is None or self._pid != os.getpid():
                self._fd = self._open()
                self._pid = os.getpid()
            return self._fd

    def _open(self) -> int:
        try:
            fd = os.open(self._path, os.O_RDONLY)
        except FileNotFoundError as exc:
            raise ArchiveNotFoundError(
                f"archive {self._path} does not exist", archive=self._path
            ) from exc
        except PermissionError as exc:
            raise ArchiveAccessError(
                f"archive {self._path}: permission denied", archive=self._path
            ) from exc
        except OSError as exc:
            raise SourceError(f"archive {self._path}: {exc.strerror}", archive=self._path) from exc
        st = os.fstat(fd)
        identity = (st.st_size, st.st_mtime_ns)
        if self._pinned is None:
            self._pinned = identity
        elif self._pinned != identity:
            os.close(fd)
            raise ArchiveChangedError(
                f"archive {self._path} changed since it was opened (size/mtime differ); "
                "open a new store to read the new file",
                archive=self._path,
            )
        return fd

    def read_ends(self, length: int, *, head: int = 0) -> Ends:
        fd = self._descriptor()
        size = os.fstat(fd).st_size
        start = max(0, size - length)
        tail = self._pread(fd, start, size)
        # The first bytes only when the tail does not hold them (one descriptor: one version).
        first = self._pread(fd, 0, min(head, size)) if head > 0 and start > 0 else b""
        return Ends(tail, size, first)

    def read_range(self, start: int, end: int) -> bytes:
        return self._pread(self._descriptor(), start, end)

    @property
    def identity(self) -> SourceIdentity:
        return SourceIdentity("file", self._path, None)

    @property
    def version(self) -> tuple[int, int] | None:
        return self._pinned

    def _pread(self, fd: int, start: int, end: int, key: str | None = None) -> bytes:
        want = end - start
        try:
            data = os.pread(fd, want, start)
        except OSError as exc:
            raise SourceError(
                f"{describe(self._path, key)}: {exc.strerror}", archive=self._path, key=key
            ) from exc
        self.stats.add(len(data))
        if len(data) != want:
            raise ArchiveChangedError(
                f"{describe(self._path, key)}: asked for bytes {start}-{end - 1}, got {len(data)} "
                "(the file is shorter than when it was opened)",
                archive=self._path,
            )
        return data

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._fd is not None and self._pid == os.getpid():
                os.close(self._fd)
            self._fd = None

    def __del__(self) -> None:
        # A raw descriptor has no finalizer of its own: without this, every store dropped
        # without close() would leak one (ZipStore's file object closes itself on GC).
        fd = getattr(self, "_fd", None)
        if fd is not None and self._pid == os.getpid():
            self._fd = None
            with contextlib.suppress(OSError):
                os.close(fd)

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self._path, "pinned": self._pinned}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"])  # type: ignore[misc]
        self._pinned = state["pinned"]

    def __repr__(self) -> str:
        return f"LocalSource({self._path!r})"
