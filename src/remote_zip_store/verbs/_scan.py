"""Open every archive under an S3 prefix concurrently and read one small key from each.

A bucket of thousands of recordings is catalogued by its root attributes. Each
archive costs its directory read (one suffix GET of ``tail_size`` bytes, a
second only for a larger directory) plus one GET for the key, whatever its
size; archives run ``concurrency`` at a time (:func:`remote_zip_store.verbs._many.run_many`,
the engine of :func:`~remote_zip_store.verbs.open_many`) on the process-wide
boto3 client for these settings. A failing archive becomes a row with an
error, never the end of the scan.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from ..archive._catalog import CatalogEntry, index_of
from ..archive._reader import ReadOptions, ZipArchive
from ..errors import InvalidURLError, KeyNotFoundError, describe
from ..hierarchy._names import METADATA_FILES, ZARR_V3_METADATA, ZATTRS
from ..hierarchy._roots import resolve_root
from ..transport._s3 import S3Options, S3Source, list_objects, parse_s3_url, shared_client
from ..zipfmt._index import ZipIndex
from ._catalog import plan_opens
from ._engine import run_many

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
else:
    S3Client = Any


@dataclass(frozen=True)
class ScanRow:
    """One archive's outcome: ``value`` when it could be read, else ``error``."""

    url: str
    size: int
    value: Any = None
    error: str | None = None
    requests: int = 0
    bytes_read: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


def parse_prefix(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix/`` -> ``("bucket", "some/prefix/")`` (prefix may be empty)."""
    if not url.startswith("s3://"):
        raise InvalidURLError(f"a scan needs an s3://bucket/prefix/ URL, not {url!r}")
    bucket, _, prefix = url[5:].partition("/")
    if not bucket:
        raise InvalidURLError(f"an S3 URL needs a bucket: {url!r}")
    return bucket, prefix


def list_archives(
    client: S3Client, bucket: str, prefix: str, *, suffix: str = ".zip"
) -> Iterator[tuple[str, int]]:
    """``(key, size)`` of every object under ``prefix`` ending in ``suffix`` (paginated)."""
    for url, size in list_objects(f"s3://{bucket}/{prefix}", suffix=suffix, client=client):
        yield parse_s3_url(url)[1], size


def scan(
    prefix_url: str,
    *,
    key: str | None = None,
    concurrency: int = 32,
    suffix: str = ".zip",
    tail_size: int = 128 * 1024,
    head_size: int = 16 * 1024,
    client: S3Client | None = None,
    options: S3Options | None = None,
    on_listed: Callable[[int], None] | None = None,
    on_row: Callable[[ScanRow], None] | None = None,
    catalog: str | None = None,
    timeout: float | None = None,
    **connection: Any,
) -> list[ScanRow]:
    """Rows for every archive under ``prefix_url``, in key order.

    ``key`` is read relative to each archive's zarr root (a single top-level
    folder is detected as in :class:`RemoteZipStore`); JSON keys are decoded,
    and a missing ``.zattrs`` reads as ``{}`` as zarr does. The default (None)
    reads each archive's root attributes whatever its zarr format: ``.zattrs``
    (format 2) or the ``attributes`` of the root ``zarr.json`` (format 3), so one
    scan serves a prefix that holds both. Connection
    arguments are those of :class:`RemoteZipStore` (``endpoint_url``,
    ``verify``, ``anon``, ``profile_name``, keys ...), or a ready ``client``.
    ``on_listed(n)`` and ``on_row(row)`` drive a progress display.
    ``tail_size`` (128 KiB) covers the zip's largest possible end-record window
    (64 KiB comment plus the records) with room for a typical directory: a
    smaller tail costs every archive larger than it one more GET. ``head_size``
    (16 KiB) is fetched alongside it from archives larger than the tail: zarr
    writers put the root ``.zgroup``/``.zattrs`` first, so the key usually needs
    no second round trip (0 turns it off).

    ``timeout``: seconds each archive's open
    and each of its reads may take in all (:attr:`ReadOptions.timeout`); an archive
    that runs out of it is a failed row.

    ``catalog``: a catalog written by ``remote-zip-store index`` (an ``s3://`` key or a
    path). It is read (one GET) beside the listing, and every archive it holds with the
    listed ETag opens from it with no request; its metadata keys are read from it too
    (a scan of root attributes is then one LIST and one GET in all). Archives it does
    not hold, or holds at another ETag, are read as without it (WARNING).
    """
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    bucket, prefix = parse_prefix(prefix_url)
    if options is None:
        # Two GETs per open (tail and head) side by side: two connections per worker.
        connection.setdefault("max_pool_connections", max(10, 2 * concurrency))
        options = S3Options(**connection)
    elif connection:
        raise TypeError("pass either options= or connection keyword arguments, not both")
    shared = client if client is not None else shared_client(options)
    catalogued: dict[str, CatalogEntry] = {}
    layouts: dict[int, ZipIndex] = {}  # catalogued archives of one layout share a table
    if catalog is not None:
        plan = plan_opens(prefix_url, catalog, suffix=suffix, client=shared)
        catalogued = plan.catalogued
        listed = sorted((parse_s3_url(url)[1], plan.sizes[url]) for url in plan.order)
    else:
        # A missing bucket or a denied listing fails the whole scan (the error names the URL).
        listed = sorted(list_archives(shared, bucket, prefix, suffix=suffix))
    if on_listed is not None:
        on_listed(len(listed))
    # A scan reads directories, not data: no spare connections (``preconnect``).
    read_options = ReadOptions(
        tail_size=tail_size, head_size=head_size, max_workers=1, timeout=timeout, preconnect=0
    )
    # The listing gives each size: an archive the tail holds whole needs no head GET.
    whole = replace(read_options, head_size=0)

    def one(name: str, size: int) -> ScanRow:
        entry = catalogued.get(f"s3://{bucket}/{name}")
        pinned = (entry.etag, entry.version_id) if entry is not None else None
        source = S3Source(bucket, name, options=options, client=shared, pinned=pinned)
        started = time.perf_counter()
        value: Any = None
        error: str | None = None
        try:
            chosen = whole if size <= tail_size else read_options
            archive = ZipArchive(source, chosen)
            if entry is not None:
                archive.adopt(index_of(entry, layouts), entry.size, entry.pieces)
            try:
                value = _read_key(archive.open(), key)
            finally:
                archive.close()
        except Exception as exc:  # reported in the row, never fatal
            error = str(exc) or type(exc).__name__
        requests, nbytes = source.stats.snapshot()
        return ScanRow(
            url=f"s3://{bucket}/{name}",
            size=size,
            value=value,
            error=error,
            requests=requests,
            bytes_read=nbytes,
            seconds=time.perf_counter() - started,
        )

    sizes = {f"s3://{bucket}/{name}": size for name, size in listed}

    def done(url: str, row: ScanRow | Exception) -> None:
        if on_row is not None and isinstance(row, ScanRow):
            on_row(row)

    outcomes = run_many(
        list(sizes),
        lambda url: one(parse_s3_url(url)[1], sizes[url]),
        max_workers=concurrency,
        on_done=done,
        lead=1,  # the first archive sizes the others' first GET (cohort hints)
    )
    rows: list[ScanRow] = []
    for url, outcome in outcomes.items():
        if isinstance(outcome, Exception):  # one() reports its errors; this is a last resort
            error = str(outcome) or type(outcome).__name__
            outcome = ScanRow(url=url, size=sizes[url], error=error)
        rows.append(outcome)
    return rows


def _read_key(archive: ZipArchive, key: str | None) -> Any:
    """The key's bytes (below the detected root), JSON-decoded for zarr metadata keys;
    ``{}`` for an absent ``.zattrs`` (as zarr reads it). ``None``: the root attributes."""
    root = resolve_root(archive, None)
    prefix = f"{root}/" if root else ""
    if key is None:
        if archive.index.get(prefix + ZATTRS) is None and archive.index.get(
            prefix + ZARR_V3_METADATA
        ):
            document = _read_key(archive, ZARR_V3_METADATA)
            attributes = document.get("attributes", {}) if isinstance(document, dict) else {}
            return attributes if isinstance(attributes, dict) else {}
        key = ZATTRS
    entry = archive.index.get(prefix + key)
    if entry is None:
        if key == ".zattrs":
            return {}
        raise KeyNotFoundError("does not exist", archive=archive.url, key=key)
    data = archive.read_entry(entry)
    if key.rsplit("/", 1)[-1] in METADATA_FILES or key.endswith(".json"):
        try:
            return json.loads(data)
        except ValueError as exc:
            raise ValueError(f"{describe(archive.url, key)} is not valid JSON: {exc}") from exc
    return data
