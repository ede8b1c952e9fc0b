"""Cohort catalogs: write one (``index``), read one, open a cohort from it.

``build_catalog`` opens every archive under an S3 prefix (concurrently, as
:func:`~remote_zip_store.verbs.open_many` does) and writes one object (an S3
key or a local path) holding each one's directory, version and metadata bytes
(:mod:`remote_zip_store.archive._catalog`); ``update=True`` re-opens only the
archives whose ETag changed and drops the ones gone. ``open_catalogued`` is the
other side: one GET of the catalog, then stores whose archives need no request
to open and whose every GET is pinned to the catalogued ETag. A catalog that is
missing, corrupt or stale for some archives never fails the archives that are
fine: those it cannot vouch for are opened the normal way, with a WARNING.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..archive._catalog import (
    Catalog,
    CatalogEntry,
    adopt_entry,
    capture,
    load,
    s3_options,
    serialize,
)
from ..archive._reader import ReadOptions, ZipArchive
from ..errors import BadArchiveError, RemoteZipError
from ..hierarchy._frontend import read_options, split_options
from ..hierarchy._names import OPEN_PROFILE
from ..transport._s3 import (
    S3Options,
    S3Source,
    list_objects_etags,
    parse_s3_url,
    shared_client,
    translate_error,
)
from ..zipfmt._index import ZipIndex
from ._engine import ARCHIVE_SUFFIX, run_many

logger = logging.getLogger("remote_zip_store")


@dataclass(frozen=True)
class IndexReport:
    """What ``build_catalog`` did."""

    output: str
    archives: int
    entries: int
    catalog_bytes: int
    directory_bytes: int
    """Sum of the catalogued archives' central directory sizes."""
    opened: int
    """Archives opened (read from S3) for this catalog; the others were reused."""
    reused: int
    dropped: int
    failed: dict[str, str]

    @property
    def bytes_per_entry(self) -> float:
        return self.catalog_bytes / self.entries if self.entries else 0.0


def _s3_options(connection: dict[str, Any]) -> S3Options:
    return s3_options(connection)  # type: ignore[no-any-return]


def read_catalog(
    url: str | os.PathLike[str] | Catalog, *, client: Any = None, **connection: Any
) -> tuple[Catalog, int]:
    """``(catalog, requests)``: the catalog at ``url`` (``s3://`` key or path), one GET
    (a :class:`Catalog` given is returned as is, no request)."""
    return load(url, client=client, **connection)


def load_catalog(url: str | os.PathLike[str], *, client: Any = None, **connection: Any) -> Catalog:
    """The catalog at ``url`` (``s3://`` key: one GET; or a path), to pass as ``catalog=``
    to many stores or ``open_many`` calls without reading it again."""
    return load(url, client=client, **connection)[0]


def write_catalog(data: bytes, url: str, *, client: Any = None, **connection: Any) -> None:
    """Put ``data`` at ``url``: an S3 key (one PUT) or a local path (atomic rename)."""
    if url.startswith("s3://"):
        bucket, key = parse_s3_url(url)
        s3 = client if client is not None else shared_client(_s3_options(connection))
        try:
            s3.put_object(Bucket=bucket, Key=key, Body=data)
        except Exception as exc:
            raise translate_error(exc, url) from exc
        return
    folder = os.path.dirname(os.path.abspath(url))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".catalog-")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        os.replace(tmp, url)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def build_catalog(
    prefix_url: str,
    output: str,
    *,
    update: bool = False,
    suffix: str = ARCHIVE_SUFFIX,
    concurrency: int = 32,
    client: Any = None,
    on_listed: Callable[[int], None] | None = None,
    on_done: Callable[[str, Any], None] | None = None,
    **connection: Any,
) -> IndexReport:
    """Catalog every archive under ``prefix_url`` into ``output``; see the module doc.

    Archives that fail to open are left out (``IndexReport.failed``), logged at
    WARNING; they open the normal way later. ``update``: reuse the entries of the
    catalog at ``output`` whose ETag still matches the listing (a missing or
    corrupt catalog there is rebuilt whole, with a WARNING).
    """
    if not prefix_url.startswith("s3://"):
        raise ValueError(f"index needs an s3://bucket/prefix/ URL, not {prefix_url!r}")
    connection.setdefault("max_pool_connections", max(10, 2 * concurrency))
    options = None if client is not None else _s3_options(connection)
    shared = client if client is not None else shared_client(options)  # type: ignore[arg-type]
    listed = list(list_objects_etags(prefix_url, suffix=suffix, client=shared))
    if on_listed is not None:
        on_listed(len(listed))
    old: dict[str, CatalogEntry] = {}
    if update:
        try:
            old = read_catalog(output, client=shared)[0].entries
        except (RemoteZipError, OSError, ValueError) as exc:
            logger.warning("catalog %s: not reused, rebuilding it whole (%s)", output, exc)
    etags = {url: etag for url, _, etag in listed}
    keep = {url: old[url] for url in etags if url in old and old[url].etag == etags[url]}
    todo = [url for url in etags if url not in keep]
    read = ReadOptions(max_workers=4, preconnect=0)  # directories only: no spares

    def one(url: str) -> CatalogEntry:
        bucket, key = parse_s3_url(url)
        source = S3Source(bucket, key, options=options, client=shared)
        archive = ZipArchive(source, read, OPEN_PROFILE)
        try:
            archive.open()
            etag, version_id = source.etag, source.version_id
            if etag is None:
                raise BadArchiveError("no ETag in the response; not catalogued", archive=url)
            return capture(archive, etag, version_id)
        finally:
            archive.close()

    outcomes = run_many(todo, one, max_workers=concurrency, on_done=on_done, lead=1)
    failed = {}
    for url, outcome in outcomes.items():
        if isinstance(outcome, Exception):
            failed[url] = str(outcome) or type(outcome).__name__
            logger.warning("catalog %s: %s left out (%s)", output, url, failed[url])
        else:
            keep[url] = outcome
    entries = [keep[url] for url in etags if url in keep]
    data = serialize(entries)
    write_catalog(data, output, client=shared)
    return IndexReport(
        output=output,
        archives=len(entries),
        entries=sum(len(e.records) for e in entries),
        catalog_bytes=len(data),
        directory_bytes=sum(e.directory_size for e in entries),
        opened=len(todo),
        reused=len(keep) - (len(todo) - len(failed)),
        dropped=len(set(old) - set(etags)),
        failed=failed,
    )


@dataclass
class CatalogPlan:
    """Which archives a catalog opens, which open the normal way, in the caller's order."""

    order: list[str]
    catalogued: dict[str, CatalogEntry]
    rest: list[str]
    requests: int
    sizes: dict[str, int]
    """Object sizes from the listing (a prefix only)."""


def plan_opens(
    urls: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None,
    catalog_url: str | os.PathLike[str] | Catalog,
    *,
    suffix: str = ARCHIVE_SUFFIX,
    client: Any = None,
    **connection: Any,
) -> CatalogPlan:
    """Read the catalog (one GET) and, for a prefix, list it at the same time; never raises
    for the catalog (a WARNING and normal opens instead). ``urls=None``: the catalog's
    archives, in its order (then the catalog must be readable)."""
    box: list[Catalog | Exception] = []
    requests = [0]

    def fetch() -> None:
        try:
            catalog, made = read_catalog(catalog_url, client=client, **connection)
            requests[0] = made
            box.append(catalog)
        except Exception as exc:  # reported below, never fatal
            box.append(exc)

    thread = threading.Thread(target=fetch, name="rzs-catalog")
    thread.start()
    etags: dict[str, str] | None = None
    sizes: dict[str, int] = {}
    try:
        if urls is None:
            order: list[str] = []
        elif isinstance(urls, str | os.PathLike):
            text = os.fspath(urls)
            if text.startswith("s3://") and text.endswith("/"):
                listed = list_objects_etags(
                    text,
                    suffix=suffix,
                    client=client,
                    **{k: v for k, v in connection.items() if v is not None},
                )
                etags = {}
                for url, size, etag in listed:
                    etags[url], sizes[url] = etag, size
                order = list(etags)
            else:
                order = [text]
        else:
            order = list(dict.fromkeys(os.fspath(url) for url in urls))
    finally:
        thread.join()
    loaded = box[0]
    if isinstance(loaded, Exception):
        if urls is None:
            raise loaded
        logger.warning(
            "catalog %s unusable, opening %d archive(s) the normal way: %s",
            catalog_name(catalog_url),
            len(order),
            loaded,
        )
        return CatalogPlan(order, {}, order, 0, sizes)
    if urls is None:
        order = list(loaded.entries)
    catalogued: dict[str, CatalogEntry] = {}
    rest: list[str] = []
    for url in order:
        entry = loaded.get(url)
        if entry is not None and (etags is None or etags[url] == entry.etag):
            catalogued[url] = entry
        else:
            rest.append(url)
    gone = len(loaded) - len(catalogued) - sum(url in loaded.entries for url in rest)
    if rest or (etags is not None and gone):
        logger.warning(
            "catalog %s is stale: %d archive(s) new or changed since it was written (opened "
            "the normal way)%s; run `remote-zip-store index --update`",
            catalog_name(catalog_url),
            len(rest),
            f", {gone} catalogued archive(s) gone" if etags is not None and gone else "",
        )
    return CatalogPlan(order, catalogued, rest, requests[0], sizes)


def catalog_name(catalog: str | os.PathLike[str] | Catalog) -> str:
    """Where a catalog is from, for messages."""
    return catalog.source if isinstance(catalog, Catalog) else os.fspath(catalog)


def open_catalogued(
    entry: CatalogEntry,
    store: Any,
    *,
    layouts: dict[int, ZipIndex] | None = None,
    client: Any = None,
    s3: S3Options | None = None,
    read: ReadOptions,
    root: str | None = None,
    metadata_prefetch: Any = "auto",
    body_retries: int | None = None,
    retry_backoff: float | None = None,
    like: Any = None,
) -> Any:
    """A ``store`` (front-end class) over ``entry``'s archive: no request, pinned to its ETag
    (``like``: a sibling's source, see :func:`~remote_zip_store.archive._catalog.adopt_entry`)."""
    archive = adopt_entry(
        entry,
        read=read,
        profile=OPEN_PROFILE,
        layouts=layouts,
        client=client,
        s3=s3,
        body_retries=body_retries,
        retry_backoff=retry_backoff,
        like=like,
    )
    try:
        return store.from_archive(archive, root=root, metadata_prefetch=metadata_prefetch)
    except BaseException:
        archive.close()
        raise


def open_with_catalog(
    urls: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None,
    catalog_url: str | os.PathLike[str] | Catalog,
    store: Any,
    *,
    max_workers: int,
    suffix: str,
    on_listed: Callable[[int], None] | None,
    on_done: Callable[[str, Any], None] | None,
    options: dict[str, Any],
) -> dict[str, Any]:
    """``open_many`` with a catalog: see :func:`~remote_zip_store.verbs.open_many`."""
    opts = dict(options)
    client = opts.pop("client", None)
    root = opts.pop("root", None)
    prefetch = opts.pop("metadata_prefetch", "auto")
    read = opts.pop("read", None)
    opts.pop("mode", None)
    overrides, connection = split_options(opts)
    chosen = read_options(read, **overrides)
    plan = plan_opens(urls, catalog_url, suffix=suffix, client=client, **connection)
    if on_listed is not None:
        on_listed(len(plan.order))
    results: dict[str, Any] = {}
    if plan.catalogued:
        s3 = None if client is not None else _s3_options(connection)
        layouts: dict[int, ZipIndex] = {}
        like = None  # the first source: its siblings reuse its choice of transport
        for url, entry in plan.catalogued.items():
            try:
                value: Any = open_catalogued(
                    entry,
                    store,
                    layouts=layouts,
                    client=client,
                    s3=s3,
                    read=chosen,
                    root=root,
                    metadata_prefetch=prefetch,
                    body_retries=connection.get("body_retries"),
                    retry_backoff=connection.get("retry_backoff"),
                    like=like,
                )
                if like is None:
                    like = value.archive.source
            except Exception as exc:  # the archive's outcome
                value = exc
            results[url] = value
            if on_done is not None:
                on_done(url, value)
    if plan.rest:

        def open_one(url: str) -> Any:
            return store(url, client=client, root=root, metadata_prefetch=prefetch, **options_rest)

        options_rest = {k: v for k, v in options.items() if k not in _OWN}
        if read is not None:
            options_rest["read"] = read
        opened = run_many(
            plan.rest,
            open_one,
            max_workers=max_workers,
            on_done=on_done,
            discard=lambda s: s.close(),
            lead=1,
        )
        results.update(opened)
    return {url: results[url] for url in plan.order}


_OWN = frozenset({"client", "root", "metadata_prefetch", "read", "mode"})
