"""Many archives at once: the engine under ``open_many``, ``scan``, ``index`` and ``refs``.

``run_many`` runs one function per archive URL, ``max_workers`` at a time, the first
ones alone (so cohort hints size their siblings' first GET); an archive that fails is
reported as its exception and never stops the others. ``archive_urls`` lists a prefix.
"""

from __future__ import annotations

import os
import queue
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")

#: Object names an ``s3://bucket/prefix/`` lists as archives.
ARCHIVE_SUFFIX = ".zip"


def archive_urls(
    urls: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    *,
    suffix: str = ARCHIVE_SUFFIX,
    client: Any = None,
    **connection: Any,
) -> list[str]:
    """The archive URLs ``urls`` names, each once, in order.

    One string ending in ``/`` that starts with ``s3://`` is a prefix: every
    object under it ending in ``suffix``, in key order (a missing bucket or a
    denied listing raises, naming the prefix). Any other single string or path
    is one archive; an iterable is a list of archives.
    """
    if isinstance(urls, str | os.PathLike):
        text = os.fspath(urls)
        if text.startswith("s3://") and text.endswith("/"):
            from ..transport._s3 import list_objects

            listing = list_objects(text, suffix=suffix, client=client, **connection)
            return [url for url, _ in listing]
        return [text]
    return list(dict.fromkeys(os.fspath(url) for url in urls))


def run_many(
    urls: Sequence[str],
    work: Callable[[str], T],
    *,
    max_workers: int = 32,
    on_done: Callable[[str, T | Exception], None] | None = None,
    discard: Callable[[T], None] | None = None,
    lead: int = 0,
) -> dict[str, T | Exception]:
    """``{url: work(url) or the Exception it raised}`` for every URL, in the order given.

    Runs ``max_workers`` at a time on threads that are joined before it returns.
    ``on_done(url, outcome)`` is called as each finishes (from the calling
    thread's side of the pool, one at a time). Anything that is not an
    ``Exception`` (``KeyboardInterrupt``) cancels what has not started and is
    raised once the running ones end; ``discard`` then releases the results
    made so far (closes opened stores). The first ``lead`` URLs run alone before
    the others start: what their opens learn (:mod:`remote_zip_store.archive._cohort`)
    then sizes every other archive's first GET, for one round trip more.
    """
    if max_workers < 1:
        raise ValueError("max_workers must be at least 1")
    results: dict[str, T | Exception] = {}
    if not urls:
        return results

    def attempt(url: str) -> T | Exception:
        try:
            return work(url)
        except Exception as exc:  # the archive's outcome, never the end of the run
            return exc

    workers = min(max_workers, len(urls))
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="rzs-many")
    # Each future reports itself done on this queue: the calling thread takes them in
    # completion order, O(1) each (``wait()`` on the pending set re-arms every future,
    # O(n) per completion: a thousand archives cost it a million lock operations).
    finished: queue.SimpleQueue[Future[T | Exception]] = queue.SimpleQueue()
    futures: dict[Future[T | Exception], str] = {}
    try:
        for wave in (urls[:lead], urls[lead:]) if lead > 0 else (urls,):
            for url in wave:
                future = pool.submit(attempt, url)
                futures[future] = url
                future.add_done_callback(finished.put)
            _collect(len(wave), finished, futures, results, on_done)
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        if discard is not None:
            for future in futures:
                if future.done() and not future.cancelled():
                    value = future.result()
                    if not isinstance(value, Exception):
                        discard(value)
        raise
    pool.shutdown(wait=True)
    return {url: results[url] for url in urls}


def _collect(
    count: int,
    finished: queue.SimpleQueue[Future[T | Exception]],
    futures: dict[Future[T | Exception], str],
    results: dict[str, T | Exception],
    on_done: Callable[[str, T | Exception], None] | None,
) -> None:
    """Record the outcomes of the next ``count`` futures to finish, each as it comes."""
    for _ in range(count):
        future = finished.get()
        outcome = future.result()
        results[futures[future]] = outcome
        if on_done is not None:
            on_done(futures[future], outcome)
