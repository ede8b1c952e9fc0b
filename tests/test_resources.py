"""File descriptors: a store dropped without close(), or one that failed to open, leaks none."""

from __future__ import annotations

import gc
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from remote_zip_store import BadArchiveError, KeyNotFoundError

from .archives import make_zip
from .worlds import RemoteZipStore

pytestmark = pytest.mark.skipif(
    not os.path.isdir("/proc/self/fd"), reason="counts descriptors through /proc/self/fd"
)


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def descriptors_on(path: Path) -> int:
    """Descriptors of this process open on ``path`` (other tests' sockets do not count)."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # closed meanwhile (another thread's socket)
            continue
        count += target == str(path.resolve())
    return count


def leaked(action: Callable[[], None], path: Path, times: int = 25) -> int:
    """Descriptors on ``path`` left open by ``times`` runs of ``action``."""
    gc.collect()
    before = descriptors_on(path)
    for _ in range(times):
        action()
    gc.collect()
    return descriptors_on(path) - before


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    path = tmp_path / "a.zip"
    path.write_bytes(make_zip({"data.zarr/.zgroup": b"{}", "data.zarr/x": b"1"}))
    return path


def test_store_dropped_without_close(archive: Path) -> None:
    def use() -> None:
        store = RemoteZipStore(archive)
        assert store["x"] == b"1"

    assert leaked(use, archive) == 0


def test_failed_open_not_a_zip(tmp_path: Path) -> None:
    path = tmp_path / "not.zip"
    path.write_bytes(b"not a zip at all" * 10)

    def fail() -> None:
        with pytest.raises(BadArchiveError):
            RemoteZipStore(path)

    assert leaked(fail, path) == 0


def test_failed_open_missing_root(archive: Path) -> None:
    def fail() -> None:
        with pytest.raises(KeyNotFoundError):
            RemoteZipStore(archive, root="nope")

    gc.disable()  # the store closes what it opened, without help from the collector
    try:
        before = open_descriptors()
        for _ in range(25):
            fail()
        assert open_descriptors() == before
    finally:
        gc.enable()


def test_close_releases_the_descriptor(archive: Path) -> None:
    before = open_descriptors()
    store = RemoteZipStore(archive)
    assert open_descriptors() == before + 1
    store.close()
    assert open_descriptors() == before
