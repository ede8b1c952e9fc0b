"""Open many archives at once: a cohort of recordings, one archive each.

Opening an archive is one round trip (the tail and head GETs side by side), so
a loop over a thousand archives is a thousand round trips end to end. Here the
opens run ``max_workers`` at a time over the process-wide client and its pool
(:func:`remote_zip_store.transport._s3.shared_client`), and the first archives of
a prefix size the others' first GET (:mod:`remote_zip_store.archive._cohort`). An
archive that fails is reported as its exception and never stops the others.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from ..archive._reader import ZipArchive
from ..hierarchy._frontend import READ_OPTION_NAMES, resolve_options
from ..hierarchy._names import OPEN_PROFILE
from ..transport import CONNECTION_ARGUMENTS
from ._engine import ARCHIVE_SUFFIX as ARCHIVE_SUFFIX
from ._engine import archive_urls as archive_urls
from ._engine import run_many as run_many
from ._frontends import store_class

if TYPE_CHECKING:
    from ..archive._catalog import Catalog
    from ..zarr2._store import RemoteZipStore  # or zarr3's: the same API to this module


def open_many(
    urls: str | os.PathLike[str] | Iterable[str | os.PathLike[str]] | None = None,
    *,
    catalog: str | os.PathLike[str] | Catalog | None = None,
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
    (:mod:`remote_zip_store.archive._cohort`). ``on_listed(n)`` and ``on_done(url,
        outcome)`` drive a progress display. Close the stores when done (each
        ``close()`` leaves the shared connections to the others).

        ``catalog``: an ``s3://`` key or path written by ``remote-zip-store index``
        (:func:`~remote_zip_store.verbs.build_catalog`), or a catalog loaded
        already (:func:`~remote_zip_store.verbs.load_catalog`). One GET of it opens
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
        from ._catalog import open_with_catalog

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
    cohort_open = _cohort_opener(store, options)

    def open_one(url: str) -> RemoteZipStore:
        if cohort_open is not None and isinstance(url, str) and url.startswith("s3://"):
            return cohort_open(url)  # type: ignore[no-any-return]
        return store(url, **options)  # type: ignore[no-any-return]

    def close(store: RemoteZipStore) -> None:
        store.close()

    return run_many(
        listed, open_one, max_workers=max_workers, on_done=on_done, discard=close, lead=1
    )


#: The store options :func:`_cohort_opener` takes (any other: each store is built as usual).
_COHORT_NAMES = READ_OPTION_NAMES | CONNECTION_ARGUMENTS | {"root", "metadata_prefetch", "read"}


def _cohort_opener(store: Any, options: dict[str, Any]) -> Callable[[str], Any] | None:
    """``open(url)`` for the ``s3://`` archives of one ``open_many``: what ``store(url,
    **options)`` does, with what is the same for every archive worked out once.

    ``store(url, **options)`` checks the option names, splits them, builds the read
    options and an :class:`~remote_zip_store.transport.S3Options`, and works out the
    transport from the environment, for every archive (~0.1 ms of a sibling's ~0.7 ms of
    client CPU). Here they are built once; each archive gets its own source on the one
    ``S3Options`` object, reusing the first source's choice of transport (``like=``, as a
    catalog's cohort does), then the same archive open and store setup. None (every
    archive opened the usual way, each saying what is wrong) when the options are not
    plain read and connection options, or building them fails.
    """
    if options.get("client") is not None or not set(options) <= _COHORT_NAMES:
        return None
    from ..archive._catalog import s3_options
    from ..transport._s3 import S3Source, parse_s3_url

    opts = dict(options)
    opts.pop("client", None)
    root = opts.pop("root", None)
    prefetch = opts.pop("metadata_prefetch", "auto")
    read = opts.pop("read", None)
    try:
        chosen, connection = resolve_options(read, opts, f"{store.__name__}()")
        s3 = s3_options(connection)
    except Exception:
        return None
    first: list[S3Source] = []  # the first archive's source (it opens alone: lead=1)

    def open_s3(url: str) -> Any:
        bucket, key = parse_s3_url(url)
        source = S3Source(bucket, key, options=s3, like=first[0] if first else None)
        archive = ZipArchive(source, chosen, OPEN_PROFILE)
        try:
            archive.open()
            opened = store.from_archive(archive, root=root, metadata_prefetch=prefetch)
        except BaseException:
            archive.close()  # a failed open must not leak the descriptor or the client
            raise
        if not first:
            first.append(source)
        return opened

    return open_s3
