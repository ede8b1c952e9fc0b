"""Sequential read-ahead, counted on a real moto server: a channel-by-channel scan of
the whole archive takes most of its bytes from pieces fetched while zarr was busy
with the previous channel, and moves no byte twice; a single channel, an epoch across
channels and a disabled read-ahead move exactly the bytes they always did."""

from __future__ import annotations

import itertools
import threading
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from remote_zip_store import LocalSource, ReadOptions
from remote_zip_store.archive._readahead import (
    CREDIT,
    DEPTH,
    MIN_SPAN,
    RUN_ENTRIES,
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


def test_whole_archive_scan_is_read_ahead(moto: S3Server, url: str, sample: Path) -> None:
    with RemoteZipStore(url, client=moto.client(max_pool_connections=16)) as store:
        opened = store.archive.source.stats.snapshot()
        data = _scan(store)
        nbytes = store.archive.source.stats.bytes
        channel = CHUNK * 4 * (1200 // 30)
        assert channel >= MIN_SPAN  # large enough to count as a scan
        served = store.archive._ahead.served
        if ZARR3:
            # zarr 3 reads a channel ten chunks at a time; the read-ahead stays inside each
            # array (its region), so per channel its first two reads (the run) are zarr's
            # own and the rest comes from pieces; the last channel lies partly in the tail
            assert served >= (CHANNELS - 2) * (channel - 2 * 10 * CHUNK * 4)
        else:
            # zarr 2 reads a channel in one getitems: channels 0 and 1 establish the pattern;
            # from channel 2 on the bytes were fetched ahead, but for the last ~0.6 channel,
            # which lies in the open's 512 KiB tail buffer
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
def test_other_reads_move_what_they_did(moto: S3Server, url: str, action: str) -> None:
    """A single channel and an epoch across channels move the bytes they do without
    read-ahead. zarr 2 reads a channel in one getitems (a single read: nothing ahead);
    zarr 3 in reads of ten chunks, which it reads ahead inside the channel: no more
    requests, not one byte more."""
    with_ahead = _moved(moto, url, action, 64 * 1024 * 1024)
    without = _moved(moto, url, action, 0)
    if ZARR3 and action == "channel":
        assert with_ahead[0] <= without[0] and with_ahead[1] == without[1]
        assert with_ahead[2] > 0  # the channel's last reads came from pieces
    else:
        assert with_ahead == without
        assert with_ahead[2] == 0


def test_readahead_zero_turns_it_off(moto: S3Server, url: str) -> None:
    with RemoteZipStore(url, client=moto.client(), readahead=0) as store:
        _scan(store)
        assert store.archive._ahead.served == 0
        assert store.archive._ahead.pending_bytes == 0


class FailingAhead(LocalSource):
    """A local file whose reads reaching past ``fail_from`` fail ``times`` times."""

    def __init__(self, path: str, fail_from: int, times: int):
        super().__init__(path)
        self.fail_from = fail_from
        self.times = times
        self._lock = threading.Lock()

    def read_range(self, start: int, end: int) -> bytes:
        with self._lock:
            fail = end > self.fail_from and self.times > 0
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
            # its chunks' end: the read-ahead's first piece starts there (ch01/.zattrs
            # follows; counted in, the piece started before the failing bytes)
            if name.startswith("signals/ch01/") and not name.rpartition("/")[2].startswith(".")
            if (entry := index.get(name)) is not None
        )


def _entry_start(sample: Path, name: str) -> int:
    with RemoteZipStore(sample) as store:
        entry = store.archive.index.get(name)
        assert entry is not None
        return span(entry)[0]


@pytest.mark.parametrize("times", [1, 10**6])
def test_a_failed_piece_is_fetched_again_or_fails_with_its_key(sample: Path, times: int) -> None:
    if ZARR3:
        # zarr 3's read-ahead stays inside the array: ch01's first 30 chunks (three reads
        # of ten) start it, and its window reaches the last ten, whose bytes fail
        fail_from = _entry_start(sample, "signals/ch01/30")
        name, after = "signals/ch01", slice(30 * CHUNK, None)
    else:
        # zarr 2's reads one channel at a time, in one getitems: contiguous and large,
        # read-ahead starts at ch01's end, into ch02
        fail_from = _ch01_end(sample)
        name, after = "signals/ch02", slice(None)
    source = FailingAhead(str(sample), fail_from=fail_from, times=times)
    store = RemoteZipStore.from_source(source)
    root = open_zarr(store)
    if not ZARR3:
        root["signals/ch00"][:]
        root["signals/ch01"][:]
    else:  # zarr 3's reads of ten chunks, in a fixed order (zarr's own ticks vary)
        archive = store.archive
        for tick in range(0, 30, 10):
            entries = [archive.index.get(f"{name}/{i}") for i in range(tick, tick + 10)]
            archive.read_many([e for e in entries if e], region=store.region(f"{name}/0"))
    # The read-ahead pieces run on the pool: let them finish (and fail) before the rest is
    # read, so that the injected failure is the piece's and not the read's own (on a loaded
    # machine the read could otherwise reach the failing bytes first).
    deadline = time.monotonic() + 30
    while store.archive._ahead.in_flight() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert source.times < times  # a piece read ahead into the failing bytes
    with RemoteZipStore(sample) as local:
        expected = open_zarr(local)[name][after]
    if times == 1:  # the piece failed once: the read fetches those bytes itself
        np.testing.assert_array_equal(root[name][after], expected)
    else:  # every read there fails: the read's own error, naming archive and key
        with pytest.raises(SourceError, match=rf"{name}/\d+.*injected"):
            root[name][after]
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


def test_an_arrays_first_read_of_a_run_span_starts_its_window() -> None:
    """zarr 3's first tick of a channel (ten chunks back to back) is a run already: its
    window goes out beside it, not a round trip later; a read of fewer entries smaller
    than RUN_SPAN, one that skips entries, or one that leaves less than its own size of
    the array, starts none."""
    cases = (  # chunk size, chunks read, chunks in the array, back to back, starts a window
        (32 * 1024, 10, 240, True, True),  # past RUN_SPAN
        (2 * 1024, RUN_ENTRIES, 240, True, True),  # small, but RUN_ENTRIES of them
        (32 * 1024, 4, 240, True, False),
        (32 * 1024, 10, 240, False, False),
        (32 * 1024, 10, 15, True, False),  # less than another read's worth left
    )
    for chunk, count, total, dense, starts in cases:
        region = Region([(i * chunk, (i + 1) * chunk, (i + 1) * chunk) for i in range(total)])
        recorder = Recorder()
        ahead = _bare(recorder)
        hi = count * chunk
        ahead.advance(0, hi, 1 << 40, region, dense=dense, entries=count)
        if not starts:
            assert recorder.fetched == []
            continue
        assert recorder.fetched and recorder.fetched[0][0] == hi  # from the read's end on
        reach = max(last for _, last in recorder.fetched)
        assert reach - hi <= CREDIT + WASTE * hi  # what it may risk before any is read
        assert reach <= total * chunk


class Queued(Recorder):
    """Submits wait in a queue until :meth:`run` (the pool, slower than the reads)."""

    def __init__(self) -> None:
        super().__init__()
        self.queue: list[tuple[Any, tuple[object, ...]]] = []

    def submit(self, fn: object, *args: object) -> None:
        self.queue.append((fn, args))

    def run(self) -> None:
        while self.queue:
            fn, args = self.queue.pop(0)
            fn(*args)


def test_a_first_window_builds_its_region_off_the_reads_path() -> None:
    """An array's region not built yet is built on the pool, after the read's own GET
    went out (the first one sorts the archive's names); the window then starts, unless
    another read came in between."""
    chunk = 32 * 1024
    spans = [(i * chunk, (i + 1) * chunk, (i + 1) * chunk) for i in range(240)]
    hi = 10 * chunk
    queued = Queued()
    ahead = _bare(queued)
    region = Region(lambda: spans)
    ahead.advance(0, hi, 1 << 40, region, entries=10)
    assert not region.built and queued.fetched == []  # nothing on the read's own path
    queued.run()
    assert region.built and queued.fetched and queued.fetched[0][0] == hi
    # another array's read before the pool got to it: that window is not started
    queued = Queued()
    ahead = _bare(queued)
    region, other = Region(lambda: spans), Region(lambda: [(1 << 30, (1 << 30) + 10, 0)])
    ahead.advance(0, hi, 1 << 40, region, entries=10)
    ahead.advance(1 << 30, (1 << 30) + 10, 1 << 40, other)
    queued.run()
    assert queued.fetched == []


def test_pieces_end_where_entries_start() -> None:
    """A read never finds its entry half in a piece: it would fetch the whole entry again
    (at concurrency 64 a channel once moved one chunk twice)."""
    chunk = 10_000 + 37  # entries that do not divide a piece
    count = 400
    region = Region([(i * chunk, (i + 1) * chunk, (i + 1) * chunk) for i in range(count)])
    recorder = Recorder()
    ahead = _bare(recorder)
    starts = {i * chunk for i in range(count + 1)}
    for tick in range(0, count, 64):
        lo, hi = tick * chunk, min(tick + 64, count) * chunk
        ahead.advance(lo, hi, 1 << 40, region)
        assert ahead.take(lo, hi) is not None or tick == 0
    assert len(recorder.fetched) > 1
    assert all(first in starts and last in starts for first, last in recorder.fetched)


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


def test_a_region_given_as_a_function_is_built_at_its_first_question() -> None:
    calls: list[int] = []

    def spans() -> list[tuple[int, int, int]]:
        calls.append(1)
        return [(100, 200, 200), (0, 100, 100), (300, 400, 400)]

    region = Region(spans)
    assert not region.built and calls == []
    ahead = _bare(Recorder())
    ahead.advance(0, 100, 1 << 40, region)  # the array's first read: nothing asked
    assert not region.built and calls == []
    ahead.advance(100, 200, 1 << 40, region)  # its second: the run needs the segments
    assert region.built and calls == [1]
    assert (region.starts, region.ends) == ([0, 300], [200, 400])
    assert region.segment(150, 180) == (0, 200) and calls == [1]


@pytest.mark.parametrize("action", ["channel", "epoch"])
def test_one_chunk_per_array_builds_no_region(moto: S3Server, url: str, action: str) -> None:
    """The epoch across channels reads one chunk of each array: no array's region is
    built (0.5 ms each, before its GET); a channel's reads build its one region."""
    with RemoteZipStore(url, client=moto.client()) as store:
        root = open_zarr(store)
        if action == "channel":
            root["signals/ch05"][:]
        else:
            for name in _names():
                root[name][20 * CHUNK : 21 * CHUNK]
        built = [name for name in _names() if (r := store.region(f"{name}/0")) and r.built]
    if action == "epoch":
        assert built == []
    elif ZARR3:  # zarr 3 reads the channel in several reads: a run, so a region
        assert built == ["signals/ch05"]
    else:  # zarr 2 reads it in one getitems: nothing to continue
        assert built == []


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


# -- entry order against key order (issue 19, pack's layout) -----------------------------

ORDER_CHUNKS, ORDER_CHUNK = 150, 8 * 1024


def _ordered_zip(path: Path, order: str) -> Path:
    """One array ``a`` (zarr 2 names, 150 stored chunks of 8 KiB), its chunks written in
    ``"key"`` order (0, 1, 2 ... the order zarr reads them) or ``"name"`` order (0, 1, 10,
    100 ... 109, 11, ... what a sorted walk of a directory store gives)."""
    rng = np.random.default_rng(1)
    names = [f"a/{i}" for i in range(ORDER_CHUNKS)]
    if order == "name":
        names.sort()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        for name in names:
            zf.writestr(name, rng.bytes(ORDER_CHUNK))
        zf.writestr(".zgroup", b'{"zarr_format": 2}')
        zf.writestr("a/.zarray", b"{}")  # only its presence matters: it marks the array
    return path


def _key_order_scan(path: Path, readahead: bool = True) -> tuple[int, int, int, int]:
    """Read ``a``'s chunks in key order, ten per read (zarr 3's default batch), with the
    array's region, the read-ahead's pieces fetched on the calling thread (deterministic).
    (requests, bytes moved, bytes of the chunks' entries, bytes served from read-ahead)."""
    options = ReadOptions(tail_size=1024, head_size=0, readahead=64 << 20 if readahead else 0)
    store = RemoteZipStore.from_source(LocalSource(str(path)), options=options, root="")
    try:
        archive = store.archive
        archive._ahead._submit = lambda fn, *args: fn(*args)  # type: ignore[method-assign]
        index = archive.index
        entries = [index.get(f"a/{i}") for i in range(ORDER_CHUNKS)]
        assert all(e is not None for e in entries)
        region = store.region("a/0")
        needed = sum(span(e)[1] - span(e)[0] for e in entries if e is not None)
        stats = archive.source.stats
        stats.reset()
        for tick in range(0, ORDER_CHUNKS, 10):
            got = archive.read_many([e for e in entries[tick : tick + 10] if e], region=region)
            assert len(got) == len(entries[tick : tick + 10])
        requests, moved = stats.snapshot()
        return requests, moved, needed, archive._ahead.served
    finally:
        store.close()


def test_a_sorted_name_layout_moves_only_what_the_reads_need(tmp_path: Path) -> None:
    """pack wrote chunks in sorted-name order (issue 19: 1.22-1.35x the bytes needed): read
    in key order, the archive runs ahead of the reads at c/2 .. c/99 and then jumps, so a
    window past c/99 fetched c/100 .. (read long before) or the next array's bytes. With
    the read order known (the region's ranks), windows stop where the archive leaves it."""
    path = _ordered_zip(tmp_path / "name.zip", "name")
    requests, moved, needed, _ = _key_order_scan(path)
    without = _key_order_scan(path, readahead=False)
    assert moved == needed, (moved, needed, moved / needed)  # once 1.2x and more
    assert requests <= without[0]


def test_a_key_order_layout_is_read_ahead(tmp_path: Path) -> None:
    """The same chunks in key order (pack's layout now): the scan is read ahead, in fewer
    requests than its fifteen reads, and still moves exactly the bytes it needs."""
    path = _ordered_zip(tmp_path / "key.zip", "key")
    requests, moved, needed, served = _key_order_scan(path)
    assert moved == needed
    assert served >= needed - RUN_SPAN - 2 * 10 * ORDER_CHUNK
    assert requests < ORDER_CHUNKS // 10


def test_a_region_ends_a_segment_where_the_archive_leaves_the_read_order() -> None:
    # five back-to-back entries of 100 bytes; ranks 0, 1, 40, 2, 3: the third is read later
    spans = [(i * 100, (i + 1) * 100, (i + 1) * 100, r) for i, r in enumerate([0, 1, 40, 2, 3])]
    region = Region(spans)
    assert (region.starts, region.ends) == ([0, 200, 300], [200, 300, 500])
    assert Region(spans, order_slack=100).starts == [0]  # tolerant enough: one segment
    assert Region([s[:3] for s in spans]).starts == [0]  # no ranks: the archive's order
    # a metadata entry (no rank) between two chunks in order does not end a segment
    assert Region([(0, 100, 100, 0), (100, 200, 200, None), (200, 300, 300, 1)]).starts == [0]


# -- pieces served as they arrive (a source that streams: transport.ReadsInto) -------------


class Streamed:
    """A streamed fetch for a bare :class:`Readahead`: each piece runs on its own thread,
    writes its first ``half`` bytes, then waits for ``release`` (or fails there)."""

    def __init__(self, *, fail: bool = False) -> None:
        self.release = threading.Event()
        self.halfway = threading.Event()
        self.fail = fail
        self.threads: list[threading.Thread] = []

    def fetch(self, start: int, end: int) -> bytes:
        raise AssertionError("a streamed read-ahead fetches into its pieces")

    def fetch_into(self, start: int, end: int, sink: Any) -> None:
        half = (end - start) // 2
        sink.buffer[:half] = _pattern(start, start + half)
        sink.advance(half)
        self.halfway.set()
        assert self.release.wait(10)
        if self.fail:
            raise SourceError("the connection broke")
        sink.buffer[half:] = _pattern(start + half, end)
        sink.advance(end - start)

    def submit(self, fn: Any, *args: Any) -> None:
        thread = threading.Thread(target=fn, args=args, daemon=True)
        self.threads.append(thread)
        thread.start()


def _pattern(start: int, end: int) -> bytes:
    """Bytes that tell where they lie: position modulo 251."""
    return bytes(i % 251 for i in range(start, end))


def _one_piece(streamed: Streamed) -> tuple[Readahead, int, int]:
    """A read-ahead that started one 1 MiB piece (a zarr-3 first tick of 32 KiB chunks);
    returns it and the piece's span, once the piece's first half is in."""
    ahead = Readahead(
        streamed.fetch,
        streamed.submit,
        limit=64 << 20,
        piece=4 << 20,
        slack=64 << 10,
        fetch_into=streamed.fetch_into,
    )
    chunk = 32 * 1024
    region = Region([(i * chunk, (i + 1) * chunk, (i + 1) * chunk) for i in range(240)])
    ahead.advance(0, 10 * chunk, 1 << 40, region, entries=10)
    assert len(streamed.threads) == 1
    assert streamed.halfway.wait(10)
    first, last = 10 * chunk, 10 * chunk + CREDIT
    assert ahead.pending_bytes == last - first
    return ahead, first, last


def test_a_piece_serves_its_first_part_before_its_last_byte() -> None:
    streamed = Streamed()
    ahead, first, last = _one_piece(streamed)
    middle = first + (last - first) // 2
    # bytes of the first half: served now, while the piece's fetch still waits
    assert ahead.take(first, first + 65536, wait=5) == _pattern(first, first + 65536)
    assert ahead.take(middle - 100, middle, wait=0) == _pattern(middle - 100, middle)
    assert streamed.threads[0].is_alive()
    # bytes of the second half: not yet (no wait: None), then once they are in
    assert ahead.take(middle, middle + 100, wait=0) is None
    got: list[bytes | None] = []
    reader = threading.Thread(target=lambda: got.append(ahead.take(last - 100, last, wait=10)))
    reader.start()
    reader.join(0.2)
    assert reader.is_alive(), "a read of bytes not in yet waits for them"
    streamed.release.set()
    reader.join(10)
    assert got == [_pattern(last - 100, last)]
    assert ahead.waits(first, last, ahead.claim(first, last) or []) == []


def test_a_piece_that_breaks_off_serves_only_what_arrived() -> None:
    streamed = Streamed(fail=True)
    ahead, first, last = _one_piece(streamed)
    middle = first + (last - first) // 2
    covering = ahead.claim(middle - 10, middle + 10)
    assert covering is not None
    waiters = ahead.waits(middle - 10, middle + 10, covering)
    assert len(waiters) == 1 and not waiters[0].done()
    streamed.release.set()
    waiters[0].result(timeout=10)  # woken by the failure, not by the bytes
    assert ahead.join(middle - 10, middle + 10, covering) is None  # the read fetches them
    assert ahead.take(middle, last, wait=5) is None
    assert ahead.take(first, middle, wait=5) == _pattern(first, middle)  # these did arrive


def _held_open(submit: Any, *, streamed: bool) -> Readahead:
    """A bare read-ahead whose pieces the test's ``submit`` holds (and fills, if it will);
    ``streamed``: as for a source that streams (pieces sized to finish in order)."""
    return Readahead(
        Recorder().fetch,
        submit,
        limit=64 << 20,
        piece=4 << 20,
        slack=64 << 10,
        fetch_into=(lambda start, end, sink: None) if streamed else None,
    )


@pytest.mark.parametrize("chunk, count", [(32 * 1024, 240), (8 * 1024, 2000), (256 * 1024, 60)])
def test_streamed_pieces_finish_in_the_scans_order(chunk: int, count: int) -> None:
    """Pieces on one link share it: one started after others and shorter than what they
    still have to come finishes first, and its bytes wait unread until the last byte of
    the scan is in (zarr 3 then decoded 80-100 chunks after the link went idle). In a
    fluid model of a fairly shared link, the bytes in when the scan's last byte arrives
    that the reads have not reached are at most one bandwidth-delay product (``CREDIT``)."""
    running: list[Any] = []
    finished: list[Any] = []
    launched: list[tuple[int, int]] = []

    def submit(fn: Any, piece: Any) -> None:
        assert piece.future.set_running_or_notify_cancel()
        launched.append((piece.first, piece.last))
        running.append(piece)

    ahead = _held_open(submit, streamed=True)

    def deliver(total: int) -> None:  # a fair share each, 16 KiB at a time
        while total > 0 and running:
            share = max(1, min(16384, total // len(running)))
            for piece in list(running):
                got = min(share, piece.last - piece.first - piece.filled)
                piece.advance(piece.filled + got)
                total -= got
                if piece.filled == piece.last - piece.first:
                    running.remove(piece)
                    finished.append(piece)
                    piece.future.set_result(None)
                    with ahead._lock:
                        ahead._running -= 1
                        launch = ahead._launchable()
                    ahead._start(launch)

    region = Region([(i * chunk, (i + 1) * chunk, (i + 1) * chunk) for i in range(count)])
    step = 10  # zarr 3's reads: ten chunks at a time
    for i in range(0, count, step):
        lo, hi = i * chunk, min(count, i + step) * chunk
        ahead.advance(lo, hi, 1 << 40, region, entries=min(step, count - i))
        while ahead.take(lo, hi, wait=0) is None and running:
            deliver(64 * 1024)
    assert len(launched) >= 3, "a scan of several pieces"
    last = finished[-1]
    unread = sum(p.last - p.first for p in finished if p.first > last.first)
    assert unread <= CREDIT, (unread, launched, [(p.first, p.last) for p in finished])
    assert ahead.served >= (count - 2 * step) * chunk - CREDIT


def test_a_first_tick_of_64_chunks_gets_two_ticks_ahead_at_once() -> None:
    """zarr 3 at concurrency 64 reads a channel in four ticks of 2 MiB: the first tick's
    window is DEPTH ticks (more than CREDIT) and goes out beside it, in pieces started
    together; a 1 MiB window, its rest held for a tick, left the link idle for 30 ms."""
    queued: list[tuple[int, int]] = []

    def submit(fn: Any, piece: Any) -> None:
        queued.append((piece.first, piece.last))  # on the link, not finished

    chunk = 32 * 1024
    for streamed in (True, False):
        queued.clear()
        ahead = _held_open(submit, streamed=streamed)
        region = Region([(i * chunk, (i + 1) * chunk, (i + 1) * chunk) for i in range(240)])
        hi = 64 * chunk
        ahead.advance(0, hi, 1 << 40, region, entries=64)
        assert queued and queued[0][0] == hi
        assert all(a[1] == b[0] for a, b in itertools.pairwise(queued))
        assert queued[-1][1] > hi + CREDIT + chunk, queued
        if not streamed:
            assert queued[-1][1] == hi + DEPTH * hi, queued
        # streamed, the window's last MiB waits (it would finish before the 2 MiB piece
        # ahead of it): it goes once that piece's rest is under 2 * CREDIT
