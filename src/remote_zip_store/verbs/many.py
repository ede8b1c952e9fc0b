"""Open many archives at once: a cohort of recordings, one archive each.

Opening an archive is one round trip (the tail and head GETs side by side), so
a loop over a thousand archives is a thousand round trips end to end. Here the
opens run ``max_workers`` at a time over the process-wide client and its pool
(:func:`remote_zip_store.transport.s3.shared_client`), and the first archives of
a prefix size the others' first GET (:mod:`remote_zip_store.archive.cohort`). An
archive that fails is reported as its exception and never stops the others.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, Any, TypeVar

from ..transport import CONNECTION_ARGUMENTS
from .frontends import store_class

if TYPE_CHECKING:
    from ..zarr2.store import RemoteZipStore  # or zarr3's: the same API to this module

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
            from ..transport.s3 import list_objects

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
    the others start: what their opens learn (:mod:`remote_zip_store.archive.cohort`)
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
    try:
        futures: dict[Future[T | Exception], str] = {}
        pending: set[Future[T | Exception]] = set()
        for wave in (urls[:lead], urls[lead:]) if lead > 0 else (urls,):
            for url in wave:
                future = pool.submit(attempt, url)
                futures[future] = url
                pending.add(future)
            pending = _collect(pending, futures, results, on_done)
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
    pending: set[Future[T | Exception]],
    futures: dict[Future[T | Exception], str],
    results: dict[str, T | Exception],
    on_done: Callable[[str, T | Exception], None] | None,
) -> set[Future[T | Exception]]:
    """Wait for every pending future, recording each outcome as it comes."""
    while pending:
        done, pending = wait(pending, return_when="FIRST_COMPLETED")
        for future in done:
            outcome = future.result()
            results[futures[future]] = outcome
            if on_done is not None:
                on_done(futures[future], outcome)
    return pending


def open_many(
    urls: str | os.PathLike[str] | Iterable[str | os.PathLike[str]] | None = None,
    *,
    catalog: str | os.PathLike[str] | None = None,
    max_workers: int = 32,
    suffix: str = ARCHIVE_SUFFIX,
    on_listed: Callable[[int], None] | None = None,
    on_done: Callable[[str, RemoteZipStore | Exception], None] | None = None,
    **store_options: Any,
) -> dict[str, RemoteZipStore | Exception]:
    """Open every archive of ``urls`` concurrently: ``{url: store or the exception}``.

        ``urls`` is an iterable of archive URLs (or paths), or one
        ``s3://bucket/prefix/`` whose objects ending in ``suffix`` are listed. The
        result has one item per distinct URL, in the order given (key order for a
        prefix). ``store_options`` are :class:`~remote_zip_store.RemoteZipStore`'s
        (connection arguments, ``client=``, read options, ``root``...), the same for
        every archive; the stores share one client and connection pool, sized for
        ``max_workers`` concurrent opens (two GETs each) unless
        ``max_pool_connections`` is given. The first archive opens alone, so that
    its siblings' first GETs are sized by what it needed
    (:mod:`remote_zip_store.archive.cohort`). ``on_listed(n)`` and ``on_done(url,
        outcome)`` drive a progress display. Close the stores when done (each
        ``close()`` leaves the shared connections to the others).

        ``catalog``: an ``s3://`` key or path written by ``remote-zip-store index``
        (:func:`~remote_zip_store.verbs.catalog.build_catalog`). One GET of it opens
        every archive it holds (with a prefix, the listing runs beside it, and an
        archive whose listed ETag differs is opened the normal way); each archive's
        GETs are pinned to the catalogued ETag, and one changed since is re-opened at
        its first read. A missing, corrupt or stale catalog logs a WARNING and the
        archives it cannot vouch for open the normal way. ``urls=None``: every
        archive in the catalog.
    """

    if catalog is None and urls is None:
        raise TypeError("open_many() needs urls, a catalog, or both")
    connection = {
        k: v for k, v in store_options.items() if k in CONNECTION_ARGUMENTS and v is not None
    }
    if catalog is not None:
        from .catalog import open_with_catalog

        options = dict(store_options)
        if options.get("max_pool_connections") is None and options.get("client") is None:
            options["max_pool_connections"] = max(2 * max_workers, 10)
        return open_with_catalog(
            urls if urls is None or isinstance(urls, str | os.PathLike) else list(urls),
            catalog,
            store_class(),
            max_workers=max_workers,
            suffix=suffix,
            on_listed=on_listed,
            on_done=on_done,
            options=options,
        )
    assert urls is not None
    listed = archive_urls(urls, suffix=suffix, client=store_options.get("client"), **connection)
    if on_listed is not None:
        on_listed(len(listed))
    options = dict(store_options)
    if options.get("max_pool_connections") is None and options.get("client") is None:
        read = options.get("read")
        per_store = options.get("max_workers") or (read.max_workers if read is not None else 16)
        options["max_pool_connections"] = max(2 * max_workers, per_store, 10)

    store = store_class()

    def open_one(url: str) -> RemoteZipStore:
        return store(url, **options)  # type: ignore[no-any-return]

    def close(store: RemoteZipStore) -> None:
        store.close()

    return run_many(
        listed, open_one, max_workers=max_workers, on_done=on_done, discard=close, lead=1
    )
