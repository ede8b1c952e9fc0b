"""One store shared by many threads, and no lock held across network I/O."""

from __future__ import annotations

import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from remote_zip_store.testing.servers import S3Server
from remote_zip_store.zipfmt._parse import span

from .archives import make_zip
from .faultproxy import Fault, fault_proxy
from .worlds import RemoteZipStore

THREADS = 16
READS = int(os.environ.get("RZS_CONCURRENCY_READS", "10000"))
ENTRIES = {f"data/{i // 20}.{i % 20}": os.urandom(1000 + (i * 37) % 4000) for i in range(600)}


@pytest.mark.seaweedfs
def test_sixteen_threads_random_reads_every_byte_verified(seaweedfs: S3Server) -> None:
    url = seaweedfs.put(make_zip(ENTRIES))
    names = list(ENTRIES)
    store = RemoteZipStore(url, root="", tail_size=1024, max_workers=4, **seaweedfs.store_kwargs())
    per_thread = READS // THREADS
    mismatches: list[str] = []

    def worker(seed: int) -> int:
        rng = random.Random(seed)
        done = 0
        while done < per_thread:
            if rng.random() < 0.1:  # a small getitems batch, as zarr issues them
                keys = rng.sample(names, 4)
                got = store.getitems(keys)
                mismatches.extend(k for k in keys if got.get(k) != ENTRIES[k])
                done += len(keys)
            else:
                key = rng.choice(names)
                if store[key] != ENTRIES[key]:
                    mismatches.append(key)
                done += 1
        return done

    started = time.monotonic()
    with ThreadPoolExecutor(THREADS) as pool:
        total = sum(pool.map(worker, range(THREADS)))  # re-raises any worker's error
    elapsed = time.monotonic() - started
    assert total >= READS - THREADS and not mismatches
    requests, _ = store.archive.source.stats.snapshot()
    print(f"{total} reads by {THREADS} threads in {elapsed:.1f} s, {requests} requests")


def test_one_slow_request_does_not_block_the_others(moto: S3Server) -> None:
    """The proxy holds one GET for 3 s; reads of other keys on other threads finish meanwhile."""
    entries = {f"k/{i}": os.urandom(20_000) for i in range(20)}
    url = moto.put(make_zip(entries))
    with fault_proxy(moto.endpoint_url, lifetime=60) as proxy:
        store = RemoteZipStore(
            url,
            root="",
            tail_size=1024,
            head_size=0,
            endpoint_url=proxy.endpoint_url,
            **{k: v for k, v in moto.store_kwargs().items() if k != "endpoint_url"},
        )
        slow_key = "k/0"
        start, end = span(store.archive.entry(slow_key))  # type: ignore[arg-type]
        proxy.arm(Fault("delay", seconds=3.0, range=f"bytes={start}-{end - 1}"))
        finished: dict[str, float] = {}
        t0 = time.monotonic()

        def read(key: str) -> None:
            assert store[key] == entries[key]
            finished[key] = time.monotonic() - t0

        slow = threading.Thread(target=read, args=(slow_key,))
        slow.start()
        time.sleep(0.3)  # the slow GET is in flight (and would hold any lock it took)
        others = [f"k/{i}" for i in range(1, 6)]
        with ThreadPoolExecutor(5) as pool:
            list(pool.map(read, others))
        slow.join(timeout=30)
        assert [r.fault for r in proxy.requests("GET")].count("delay") == 1
        assert finished[slow_key] >= 3.0
        assert all(finished[k] < finished[slow_key] - 1.0 for k in others), finished
