"""Fork safety and pickling: a store used before fork() works in the child (fresh client,
fresh pool); explicit keys travel in a pickle, default-chain credentials do not."""

from __future__ import annotations

import multiprocessing
import os
import pickle
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from remote_zip_store import HTTPSource, LocalSource
from remote_zip_store.testing.servers import S3Server

from .archives import make_zip
from .faultproxy import Fault, fault_proxy
from .httpserver import file_server
from .worlds import RemoteZipStore

#: obstore 0.12's tokio runtime does not survive fork(): the source refuses to read in a
#: child forked after obstore was used (test_obstore.py checks the refusal).
FORKS_S3 = pytest.mark.skipif(
    os.environ.get("RZS_S3_TRANSPORT") == "obstore",
    reason="obstore's runtime does not survive fork(): refused in the child instead",
)

ENTRIES = {f"x/{i}": os.urandom(6000) for i in range(30)}


def _open(s3: S3Server, **kwargs: Any) -> tuple[RemoteZipStore, str]:
    url = s3.put(make_zip(ENTRIES))
    options = dict(s3.store_kwargs(), tail_size=1024, head_size=0, **kwargs)  # reads are GETs
    store = RemoteZipStore(url, root="", **options)
    assert store["x/0"] == ENTRIES["x/0"]  # the client and the pinned ETag exist now
    assert store.getitems(["x/1", "x/9"]) == {"x/1": ENTRIES["x/1"], "x/9": ENTRIES["x/9"]}
    return store, url


def _child_reads(store: RemoteZipStore, keys: list[str]) -> bool:
    single = all(store[k] == ENTRIES[k] for k in keys)
    batch = store.getitems(keys) == {k: ENTRIES[k] for k in keys}
    return single and batch


@FORKS_S3
def test_store_used_before_os_fork_works_in_the_child(s3: S3Server) -> None:
    store, _ = _open(s3)
    parent_client = store.archive.source.client()  # type: ignore[attr-defined]
    _fork_and_check(
        lambda: (
            _child_reads(store, ["x/3", "x/4", "x/20"])
            and store.archive.source.client() is not parent_client
        )  # type: ignore[attr-defined]
    )
    assert store["x/5"] == ENTRIES["x/5"]  # the parent's store is unaffected


def _mp_target(store: RemoteZipStore, queue: Any) -> None:
    queue.put(_child_reads(store, ["x/7", "x/8", "x/25"]))


@FORKS_S3
def test_store_used_before_fork_works_in_multiprocessing_fork_children(s3: S3Server) -> None:
    store, _ = _open(s3)
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    children = [ctx.Process(target=_mp_target, args=(store, queue)) for _ in range(2)]
    for child in children:
        child.start()
    results = [queue.get(timeout=60) for _ in children]
    for child in children:
        child.join(timeout=30)
    assert results == [True, True]
    assert all(child.exitcode == 0 for child in children)


def _read_pickled(blob: bytes) -> bool:
    return _child_reads(pickle.loads(blob), ["x/11", "x/12"])


@FORKS_S3
def test_pickled_store_with_explicit_keys_reads_in_a_pool(moto: S3Server) -> None:
    store, _ = _open(moto)
    blob = pickle.dumps(store)
    # Documented: explicit keys travel with the pickle (dask workers need them).
    assert moto.secret_key.encode() in blob
    with multiprocessing.get_context("fork").Pool(2) as pool:
        assert pool.map(_read_pickled, [blob, blob]) == [True, True]


@pytest.fixture
def env_credentials(moto: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Server:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", moto.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", moto.secret_key)
    monkeypatch.setenv("AWS_SESSION_TOKEN", "rzs-test-session-token")
    return moto


def test_default_chain_credentials_are_not_pickled(env_credentials: S3Server) -> None:
    s3 = env_credentials
    url = s3.put(make_zip(ENTRIES))
    store = RemoteZipStore(url, root="", endpoint_url=s3.endpoint_url, region_name=s3.region)
    assert store["x/2"] == ENTRIES["x/2"]
    blob = pickle.dumps(store)
    for secret in (s3.secret_key, s3.access_key, "rzs-test-session-token"):
        assert secret.encode() not in blob
    assert pickle.loads(blob)["x/2"] == ENTRIES["x/2"]  # the unpickler resolves its own


def test_store_built_from_a_client_pickles_without_its_credentials(moto: S3Server) -> None:
    url = moto.put(make_zip(ENTRIES))
    store = RemoteZipStore(url, root="", client=moto.client())
    assert store["x/2"] == ENTRIES["x/2"]
    blob = pickle.dumps(store)
    assert moto.secret_key.encode() not in blob and moto.access_key.encode() not in blob


@FORKS_S3
def test_fork_while_another_thread_holds_the_stores_lock(moto: S3Server) -> None:
    """A thread of the parent is opening the archive (holding its lock, waiting on a slow
    GET) when the process forks: the child must not inherit that lock held."""
    with fault_proxy(moto.endpoint_url, lifetime=60) as proxy:
        store, _ = _open(moto, endpoint_url=proxy.endpoint_url)
        proxy.clear()
        lazy = pickle.loads(pickle.dumps(store))  # unpickled: the index loads on first use
        proxy.arm(Fault("delay", seconds=3.0, suffix_only=True))
        opener = threading.Thread(target=lambda: lazy["x/0"])
        opener.start()
        deadline = time.monotonic() + 10
        while not proxy.requests("GET") and time.monotonic() < deadline:
            time.sleep(0.02)
        assert lazy.archive._open_lock.locked()  # held across the slow open, by the other thread
        pid = os.fork()
        if pid == 0:
            ok = False
            try:
                ok = _child_reads(lazy, ["x/13", "x/14"])
            finally:
                os._exit(0 if ok else 1)
        status = _wait(pid, timeout=30)
        opener.join(timeout=30)
    assert status == 0


def _wait(pid: int, timeout: float) -> int | None:
    """The child's exit status, or ``None`` (after killing it) if it hangs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return None


def _fork_and_check(child: Any) -> None:
    """Run ``child()`` in a forked child; it must return True."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report and leave without running pytest's teardown
        ok = False
        try:
            ok = bool(child())
        finally:
            os.write(write_fd, b"1" if ok else b"0")
            os._exit(0)
    os.close(write_fd)
    answer = os.read(read_fd, 1)
    os.close(read_fd)
    _, status = os.waitpid(pid, 0)
    assert status == 0 and answer == b"1"


def test_http_store_used_before_fork_builds_its_own_pool_in_the_child() -> None:
    with file_server() as files:
        url = files.put("/a.zip", make_zip(ENTRIES))
        store = RemoteZipStore(url, root="", tail_size=1024, head_size=0)
        assert store["x/0"] == ENTRIES["x/0"]
        source = store.archive.source
        assert isinstance(source, HTTPSource)
        parent_pool = source.pool()
        _fork_and_check(
            lambda: _child_reads(store, ["x/3", "x/4", "x/20"]) and source.pool() is not parent_pool
        )
        assert store["x/5"] == ENTRIES["x/5"] and source.pool() is parent_pool


def test_local_store_used_before_fork_opens_its_own_descriptor_in_the_child(
    tmp_path: Path,
) -> None:
    path = tmp_path / "a.zip"
    path.write_bytes(make_zip(ENTRIES))
    store = RemoteZipStore(path, root="", tail_size=1024, head_size=0)
    assert store["x/0"] == ENTRIES["x/0"]
    source = store.archive.source
    assert isinstance(source, LocalSource)
    parent_fd = source._fd.peek()
    assert parent_fd is not None

    def child() -> bool:
        fresh = source._fd.peek() is None  # the parent's descriptor is not the child's
        return fresh and _child_reads(store, ["x/3", "x/4", "x/20"])

    _fork_and_check(child)
    assert store["x/5"] == ENTRIES["x/5"] and source._fd.peek() == parent_fd
    os.fstat(parent_fd)  # the child did not close the parent's descriptor


def test_a_lock_held_by_another_thread_at_fork_is_free_in_the_child() -> None:
    """Locks renew themselves lazily in a child (a generation bumped at fork, no registry
    of every lock): one another thread of the parent held at fork() is free there, one
    never taken since works, and ``locked()`` reports the child's lock."""
    from remote_zip_store.transport._forksafe import ForkSafeLock

    held, idle = ForkSafeLock(), ForkSafeLock()
    taken, release = threading.Event(), threading.Event()

    def hold() -> None:
        with held:
            taken.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    assert taken.wait(10) and held.locked()
    try:

        def child() -> bool:
            if held.locked():
                return False
            with held, idle:
                inside = held.locked() and idle.locked()
            return inside and not held.locked()

        _fork_and_check(child)
        assert held.locked()  # the parent's lock is untouched
    finally:
        release.set()
        holder.join(10)
    with held:  # and still a lock in the parent
        assert held.locked()
