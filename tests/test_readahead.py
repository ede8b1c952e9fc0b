"""Sequential read-ahead, counted on a real moto server: a channel-by-channel scan of
the whole archive takes most of its bytes from pieces fetched while zarr was busy
with the previous channel, and moves no byte twice; a single channel, an epoch across
channels and a disabled read-ahead move exactly the bytes they always did."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from remote_zip_store import LocalSource
from remote_zip_store.archive._readahead import (
    CREDIT,
    DEPTH,
    MIN_SPAN,
    RUN_SPAN,
    WASTE,
    Readahead,
    Region,
)
from remote_zip_store.errors import SourceError
from remote_zip_store.testing.sample import write_sample_archive
from remote_zip_store.testing.servers import S3Server
from remote_zip_store.zipfmt._parse import span

from .worlds import ZARR3, RemoteZipStore, open_zarr

CHANNELS = 16
CHUNK = 30 * 256

#: Why a test of this module does not run under zarr 3 (reviewed: tests/allowed-skips/).
ZARR2_READAHEAD = (
    "the zarr-2 front end's read-ahead (no region: large reads cross arrays); zarr 3'"
    "s: tests/zarr3/test_requests.py"
)


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ra") / "rec.zip"
    write_sample_archive(path, channels=CHANNELS, seconds=1200, consolidated=True)
    return path


@pytest.fixture(scope="module")
def url(moto: S3Server, sample: Path) -> str:
    return moto.put_file(sample)


def _names() -> list[str]:
    return [f"signals/ch{c:02d}" for c in range(CHANNELS)]


def _scan(store: RemoteZipStore) -> dict[str, np.ndarray]:
    root = open_zarr(store)
    return {name: root[name][:] for name in _names()}


@pytest.mark.skipif(
    ZARR3,
    reason=ZARR2_READAHEAD,
)
def test_whole_archive_scan_is_read_ahead(moto: S3Server, url: str, sample: Path) -> None:
    with RemoteZipStore(url, client=moto.client(max_pool_connections=16)) as store:
        opened = store.archive.source.stats.snapshot()
        data = _scan(store)
        nbytes = store.archive.source.stats.bytes
        channel = CHUNK * 4 * (1200 // 30)
        assert channel >= MIN_SPAN  # large enough to count as a scan
        served = store.archive._ahead.served
        # channels 0 and 1 establish the pattern; from channel 2 on the bytes were fetched
        # ahead, but for the last ~0.6 channel, which lies in the open's 512 KiB tail buffer
        assert served >= (CHANNELS - 4) * channel
        # no byte twice: the scan moves at most the archive, the open's buffers aside
        assert nbytes - opened[1] <= sample.stat().st_size
    with RemoteZipStore(sample) as local:
        expected = _scan(local)
    for name in _names():
        np.testing.assert_array_equal(data[name], expected[name])


def _moved(moto: S3Server, url: str, action: str, readahead: int) -> tuple[int, int, int]:
    with RemoteZipStore(url, client=moto.client(), readahead=readahead) as store:
        before = store.archive.source.stats.snapshot()
        root = open_zarr(store)
        if action == "channel":
            root["signals/ch05"][:]
        else:  # one epoch of every channel: scattered single chunks
            for name in _names():
                root[name][20 * CHUNK : 21 * CHUNK]
        after = store.archive.source.stats.snapshot()
        return after[0] - before[0], after[1] - before[1], store.archive._ahead.served


@pytest.mark.parametrize("action", ["channel", "epoch"])
@pytest.mark.skipif(
    ZARR3,
    reason=ZARR2_READAHEAD,
)
def test_other_reads_move_what_they_did(moto: S3Server, url: str, action: str) -> None:
    with_ahead = _moved(moto, url, action, 64 * 1024 * 1024)
    without = _moved(moto, url, action, 0)
    assert with_ahead == without
    assert with_ahead[2] == 0


def test_readahead_zero_turns_it_off(moto: S3Server, url: str) -> None:
    with RemoteZipStore(url, client=moto.client(), readahead=0) as store:
        _scan(store)
        assert store.archive._ahead.served == 0
        assert store.archive._ahead.pending_bytes == 0


class FailingAhead(LocalSource):
    """A local file whose reads starting at or after ``fail_from`` fail ``times`` times."""

    def __init__(self, path: str, fail_from: int, times: int):
        super().__init__(path)
        self.fail_from = fail_from
        self.times = times
        self._lock = threading.Lock()

    def read_range(self, start: int, end: int) -> bytes:
        with self._lock:
            fail = start >= self.fail_from and self.times > 0
            if fail:
                self.times -= 1
        if fail:
            raise SourceError("injected read failure", archive=self.url)
        return super().read_range(start, end)


def _ch01_end(sample: Path) -> int:
    with RemoteZipStore(sample) as store:
        index = store.archive.index
        return max(
            span(entry)[1]
            for name in index.names()
            if name.startswith("signals/ch01/") and (entry := index.get(name)) is not None
        )


@pytest.mark.parametrize("times", [1, 10**6])
@pytest.mark.skipif(
    ZARR3,
    reason=ZARR2_READAHEAD,
)
def test_a_failed_piece_is_fetched_again_or_fails_with_its_key(sample: Path, times: int) -> None:
    source = FailingAhead(str(sample), fail_from=_ch01_end(sample), times=times)
    store = RemoteZipStore.from_source(source)
    root = open_zarr(store)
    root["signals/ch00"][:]
    root["signals/ch01"][:]  # contiguous and large: read-ahead starts at ch01's end
    # The read-ahead pieces run on the pool: let them finish (and fail) before ch02 is read,
    # so that the injected failure is the piece's and not the read's own (on a loaded
    # machine the read could otherwise reach the failing bytes first).
    deadline = time.monotonic() + 30
    while store.archive._ahead.in_flight() and time.monotonic() < deadline:
        time.sleep(0.01)
    with RemoteZipStore(sample) as local:
        expected = open_zarr(local)["signals/ch02"][:]
    if times == 1:  # the piece failed once: the read fetches those bytes itself
        np.testing.assert_array_equal(root["signals/ch02"][:], expected)
    else:  # every read there fails: the read's own error, naming archive and key
        with pytest.raises(SourceError, match=r"signals/ch02/\d+.*injected"):
            root["signals/ch02"][:]
    store.close()


class Recorder:
    """Fetch and submit for a bare :class:`Readahead`: pieces run at once, are recorded."""

    def __init__(self) -> None:
        self.fetched: list[tuple[int, int]] = []

    def fetch(self, start: int, end: int) -> bytes:
        self.fetched.append((start, end))
        return bytes(end - start)

    def submit(self, fn: object, *args: object) -> None:
        fn(*args)  # type: ignore[operator]


def _bare(recorder: Recorder) -> Readahead:
    return Readahead(recorder.fetch, recorder.submit, limit=64 << 20, piece=4 << 20, slack=64 << 10)


def _small_reads(
    ahead: Readahead, start: int, count: int, size: int, region_end: int | None
) -> None:
    for i in range(count):
        lo = start + i * size
        ahead.advance(lo, lo + size, 1 << 40, region_end)
        ahead.take(lo, lo + size)


def test_small_sequential_reads_read_ahead_only_with_a_region_end() -> None:
    size = 30 * 1024  # ten zarr-3 chunks of 3 KiB: one tick's read
    plain = Recorder()
    _small_reads(_bare(plain), 0, 40, size, None)
    assert plain.fetched == []  # the zarr-2 store's small reads: exactly what they were
    region = Recorder()
    ahead = _bare(region)
    end = 40 * size + 5000
    _small_reads(ahead, 0, 40, size, end)
    assert region.fetched, "a run past RUN_SPAN reads ahead"
    assert max(last for _, last in region.fetched) <= end  # never past the array's end
    assert ahead.served >= (40 * size) - RUN_SPAN - 2 * size


def test_a_scattered_read_of_another_region_does_not_join_the_run() -> None:
    """The metadata round's one read spans the whole archive; the array's reads after it
    (inside its span, but of a region of their own) start a run of their own."""
    recorder = Recorder()
    ahead = _bare(recorder)
    ahead.advance(0, 100 << 20, 1 << 40, None)  # .zarray files at both ends of the archive
    size = 30 * 1024
    start, end = 10 << 20, (10 << 20) + 100 * size
    _small_reads(ahead, start, 20, size, end)
    assert recorder.fetched and all(
        start <= first and last <= end for first, last in recorder.fetched
    )
    assert ahead.served > 0


def test_a_slightly_reordered_read_stays_in_the_run() -> None:
    recorder = Recorder()
    ahead = _bare(recorder)
    size = 30 * 1024
    end = 100 * size
    _small_reads(ahead, 0, 12, size, end)  # the run is on: pieces fetched ahead
    fetched = len(recorder.fetched)
    ahead.advance(13 * size, 14 * size, 1 << 40, end)
    ahead.advance(12 * size, 13 * size, 1 << 40, end)  # finished after its neighbour
    assert ahead.take(12 * size, 13 * size) is not None  # still served from the pieces
    assert len(recorder.fetched) >= fetched


# -- order awareness (issue 19): regions, dense reads, the waste score ---------------------


def test_a_region_is_the_array_entries_contiguous_runs() -> None:
    # (start, end, next header): a at 0-100, b at 100-200, a foreign entry at 200-300,
    # then c at 300-400 (its next header is the directory at 400)
    region = Region([(100, 200, 200), (0, 100, 100), (300, 400, 400)])
    assert (region.starts, region.ends) == ([0, 300], [200, 400])
    assert region.segment(0, 200) == (0, 200)
    assert region.segment(150, 180) == (0, 200)
    assert region.segment(150, 350) is None  # crosses the foreign entry
    assert region.segment(300, 400) == (300, 400)
    assert region.end == 400


def test_reads_that_skip_entries_never_read_ahead() -> None:
    """Sequential, inside one segment, past RUN_SPAN: but each read leaves entries out
    (chunks in task or sorted-name order), so a window would fetch bytes nobody asked for."""
    recorder = Recorder()
    ahead = _bare(recorder)
    size = 30 * 1024
    region = Region([(0, 100 * size, 100 * size)])
    for i in range(40):
        ahead.advance(i * size, (i + 1) * size, 1 << 40, region, dense=False)
    assert recorder.fetched == []
    for i in range(40, 60):  # the same reads with their entries back to back do
        ahead.advance(i * size, (i + 1) * size, 1 << 40, region, dense=True)
    assert recorder.fetched


def test_large_reads_stay_inside_the_segment() -> None:
    """zarr 3 at concurrency 64 merges a tick into reads above MIN_SPAN: the large-read
    window must stop at the array's end too (it once ran 1-2.5 MB into the next array)."""
    recorder = Recorder()
    ahead = _bare(recorder)
    size = 2 * MIN_SPAN
    end = 5 * size + 1000
    region = Region([(0, end, end), (end + 500, 10 * size, 10 * size)])
    for i in range(5):
        ahead.advance(i * size, (i + 1) * size, 1 << 40, region)
        ahead.take(i * size, (i + 1) * size)
    assert recorder.fetched
    assert max(last for _, last in recorder.fetched) <= end


def test_a_reread_from_the_start_reads_ahead_again() -> None:
    """A warm re-read of the same array starts a new run: it once counted as 'inside the
    run' (same region, after its start) and fetched nothing ahead, costing more requests."""
    recorder = Recorder()
    ahead = _bare(recorder)
    size = 30 * 1024
    end = 40 * size
    _small_reads(ahead, 0, 40, size, end)
    cold = ahead.served
    assert cold > 0
    _small_reads(ahead, 0, 40, size, end)
    assert ahead.served - cold >= cold


def test_read_ahead_stops_when_it_only_wastes() -> None:
    """Pairs of large sequential reads, each pair before the last one (an order it cannot
    follow): every window is dropped unread, so once the dropped bytes use up the credit
    (CREDIT + WASTE of the bytes read) no window is fetched any more."""
    recorder = Recorder()
    ahead = _bare(recorder)
    size = MIN_SPAN
    for pair in range(40, 0, -1):
        start = pair * 8 * size
        for i in range(2):
            ahead.advance(start + i * size, start + (i + 1) * size, 1 << 40)
            ahead.take(start + i * size, start + (i + 1) * size)
    assert ahead.served == 0 and ahead.wasted > 0
    window = DEPTH * size + 64 * 1024  # the one fetched before the credit ran out
    assert ahead.wasted <= CREDIT + WASTE * ahead.asked + window
    assert sum(last - first for first, last in recorder.fetched) <= ahead.wasted + window
