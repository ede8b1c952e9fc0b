"""What every front end shares: an archive from a URL, the zarr root, zarr's file names.

The zarr-2 store (:mod:`remote_zip_store.zarr2._store`), the zarr-3 store, the CLI and
:func:`~remote_zip_store.verbs.scan` all open archives and find the hierarchy's
root the same way, so it is written once, here. This module imports no zarr:
``remote-zip-store ls`` and ``info`` run without it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import logging
import os
import weakref
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from ..archive._readahead import Region
from ..archive._reader import ReadOptions, ZipArchive
from ..errors import StoreClosedError, scrub
from ..transport import CONNECTION_ARGUMENTS, Source, open_source
from ..transport._urls import check_names
from ..zipfmt._index import ZipIndex
from ..zipfmt._listing import Listing
from ._names import OPEN_PROFILE, ZARR_V3_METADATA, is_metadata, key_order
from ._prefetch import MetadataCache, Policy
from ._roots import resolve_root

if TYPE_CHECKING:
    from typing_extensions import Self

    from ..archive._catalog import Catalog

logger = logging.getLogger("remote_zip_store")

#: Keyword arguments that configure :class:`ReadOptions` (the rest go to the source).
READ_OPTION_NAMES = frozenset(field.name for field in dataclasses.fields(ReadOptions))


def read_options(read: ReadOptions | None = None, **overrides: Any) -> ReadOptions:
    """``read`` (or the defaults) with the ``overrides`` that are not None."""
    given = {name: value for name, value in overrides.items() if value is not None}
    base = read if read is not None else ReadOptions()
    return dataclasses.replace(base, **given) if given else base


def split_options(
    options: Mapping[str, Any], function: str = "open_archive()"
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(read option overrides, connection arguments)``; any other name is a ``TypeError``
    that says what a near miss meant (``endpoint`` -> ``endpoint_url``)."""
    check_names(options, READ_OPTION_NAMES | CONNECTION_ARGUMENTS, function)
    read = {name: value for name, value in options.items() if name in READ_OPTION_NAMES}
    connection = {name: value for name, value in options.items() if name in CONNECTION_ARGUMENTS}
    return read, connection


def resolve_options(
    read: ReadOptions | None, options: Mapping[str, Any], function: str = "open_archive()"
) -> tuple[ReadOptions, dict[str, Any]]:
    """``(read options, connection arguments)`` of a store's keyword ``options`` (names
    checked as :func:`split_options` does), the connection pool given at least
    ``max(10, max_workers)`` connections so that ``read_many`` never waits for one."""
    overrides, connection = split_options(options, function)
    chosen = read_options(read, **overrides)
    if connection.get("max_pool_connections") is None:
        connection["max_pool_connections"] = max(10, chosen.max_workers)
    return chosen, connection


def open_archive(
    url: str | os.PathLike[str],
    *,
    read: ReadOptions | None = None,
    client: Any = None,
    **options: Any,
) -> ZipArchive:
    """The archive at ``url`` with its directory read; the one place a URL becomes an archive.

    ``options`` takes the :class:`ReadOptions` field names (they override
    ``read``) and the connection arguments of
    :func:`~remote_zip_store.transport.open_source`. The connection pool gets at
    least ``max(10, max_workers)`` connections, so ``read_many`` never waits
    for one. A failed open closes what it opened (descriptor, client).
    """
    chosen, connection = resolve_options(read, options)
    archive = ZipArchive(open_source(url, client=client, **connection), chosen, OPEN_PROFILE)
    try:
        return archive.open()
    except BaseException:
        archive.close()
        raise


def open_catalogued_archive(
    url: str | os.PathLike[str],
    catalog: str | os.PathLike[str] | Catalog,
    *,
    read: ReadOptions | None = None,
    client: Any = None,
    **options: Any,
) -> ZipArchive | None:
    """The archive at ``url`` opened from ``catalog`` (a catalog's ``s3://`` key or path:
    one GET of it; or a loaded :class:`~remote_zip_store.archive.catalog.Catalog`: none),
    with no request of its own, every GET pinned to the catalogued ETag (an archive
    replaced since is re-opened at its first read, see
    :meth:`~remote_zip_store.archive.reader.ZipArchive.adopt`).

    None, after a WARNING, when the catalog cannot be read or does not hold ``url``:
    the caller opens the archive the normal way (as ``open_many`` does).
    """
    from ..archive._catalog import Catalog, adopt_entry, load, s3_options

    chosen, connection = resolve_options(read, options)
    text = os.fspath(url)
    where = catalog.source if isinstance(catalog, Catalog) else os.fspath(catalog)
    try:
        loaded = load(catalog, client=client, **connection)[0]
    except Exception as exc:  # never fatal: the archive opens the normal way
        logger.warning("catalog %s unusable, opening %s the normal way: %s", where, text, exc)
        return None
    entry = loaded.get(text)
    if entry is None:
        logger.warning(
            "catalog %s does not hold %s (opened the normal way); run "
            "`remote-zip-store index --update`",
            where,
            text,
        )
        return None
    given = {k: v for k, v in connection.items() if v is not None}
    return adopt_entry(
        entry,
        read=chosen,
        profile=OPEN_PROFILE,
        client=client,
        s3=None if client is not None else s3_options(given),
        body_retries=given.get("body_retries"),
        retry_backoff=given.get("retry_backoff"),
    )


@dataclasses.dataclass(frozen=True)
class Traffic:
    """Requests made and body bytes received: a reading that does not change afterwards.

    ``after - before`` is what happened in between (another :class:`Traffic`).
    """

    requests: int
    bytes: int

    def __sub__(self, other: Traffic) -> Traffic:
        return Traffic(self.requests - other.requests, self.bytes - other.bytes)


class Measured:
    """What the reads in a ``with store.measure() as m:`` block moved.

    Inside the block ``m.requests``/``m.bytes`` count up as reads happen; on leaving
    it they stop, so reading them later gives the block's figures. Every read of the
    store counts, from any thread (dask threads included), not only this block's.
    """

    def __init__(self, read: Any) -> None:
        self._read = read
        self._start: Traffic = read()
        self._final: Traffic | None = None

    def _stop(self) -> None:
        self._final = self.traffic

    @property
    def traffic(self) -> Traffic:
        """The block's requests and bytes (so far, inside it)."""
        return self._final if self._final is not None else self._read() - self._start

    @property
    def requests(self) -> int:
        return self.traffic.requests

    @property
    def bytes(self) -> int:
        return self.traffic.bytes

    def __repr__(self) -> str:
        return f"Measured(requests={self.requests}, bytes={self.bytes})"


class ArchiveFrontEnd:
    """What the zarr-2 and zarr-3 stores share over an opened archive; imports no zarr.

    Opening (the archive closed again when the root is wrong), the root prefix,
    the sorted listing, the metadata cache, identity (``url``, ``repr``, ``==``,
    ``hash``) and pickling as configuration (the archive pickles its source and
    pinned version only). A front end adds the zarr API and may extend
    :meth:`_attach` with per-process state of its own.
    """

    archive: ZipArchive
    root: str
    _prefix: str
    _listing: Listing | None
    _metadata: MetadataCache

    def __new__(cls, *args: Any, mode: str = "r", **kwargs: Any) -> Any:
        """``mode="w"``/``"w-"`` builds the front end's write store instead.

        The write store is fully built by its own ``__init__`` here, and is a
        registered virtual subclass of the read store (``isinstance`` holds), not a
        real one, so this class's ``__init__`` does not run on it again. Unpickling
        calls ``__new__(cls)`` bare (mode ``"r"``).
        """
        if mode in ("w", "w-"):
            return cls._write_store()(*args, mode=mode, **kwargs)
        if mode != "r":
            raise ValueError(f"mode must be 'r', 'w' or 'w-', not {mode!r}")
        return super().__new__(cls)

    @classmethod
    def _write_store(cls) -> Any:
        """The write store ``mode="w"`` builds: each front end names its own."""
        raise ValueError(f"{cls.__name__} cannot write; use mode='r'")

    def _open_url(
        self,
        url: str | os.PathLike[str],
        root: str | None,
        metadata_prefetch: Policy,
        read: ReadOptions | None,
        client: Any,
        options: Mapping[str, Any],
        catalog: str | os.PathLike[str] | Catalog | None = None,
    ) -> None:
        split_options(options, f"{type(self).__name__}()")  # the error names the class
        archive = None
        if catalog is not None:
            archive = open_catalogued_archive(url, catalog, read=read, client=client, **options)
        if archive is None:
            archive = open_archive(url, read=read, client=client, **options)
        try:
            self._setup(archive, root, metadata_prefetch)
        except BaseException:
            archive.close()  # a failed open must not leak the descriptor or the client
            raise

    @classmethod
    def from_source(
        cls,
        source: Source,
        *,
        root: str | None = None,
        options: ReadOptions | None = None,
        metadata_prefetch: Policy = "auto",
    ) -> Self:
        """A store over any :class:`~remote_zip_store.transport.Source`."""
        store: Self = cls.__new__(cls)
        store._setup(ZipArchive(source, options, OPEN_PROFILE).open(), root, metadata_prefetch)
        return store

    @classmethod
    def from_archive(
        cls, archive: ZipArchive, *, root: str | None = None, metadata_prefetch: Policy = "auto"
    ) -> Self:
        """A store over an archive opened already (a catalog's :meth:`ZipArchive.adopt`)."""
        store: Self = cls.__new__(cls)
        store._setup(archive, root, metadata_prefetch)
        return store

    def _setup(self, archive: ZipArchive, root: str | None, metadata_prefetch: Policy) -> None:
        self._attach(archive, resolve_root(archive, root), metadata_prefetch)

    def _attach(self, archive: ZipArchive, root: str, metadata_prefetch: Policy) -> None:
        """Per-process state over ``archive`` (also what unpickling runs)."""
        self.archive = archive
        self.root = root
        self._prefix = root + "/" if root else ""
        self._listing = None
        self._listing_of: object = None
        self._metadata = MetadataCache(archive, self._prefix, metadata_prefetch)
        # by chunk folder, and by array + "/": one Region per array read
        self._regions: dict[str, Region | None] = {}

    # -- identity ----------------------------------------------------------------------
    @property
    def url(self) -> str:
        return self.archive.url

    def __repr__(self) -> str:
        root = f", root={self.root!r}" if self.root else ""
        endpoint = self.archive.source.identity.endpoint
        shown = f", endpoint_url={scrub(endpoint)!r}" if endpoint else ""  # no password
        return f"{type(self).__name__}({self.url!r}{shown}{root})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ArchiveFrontEnd):
            return NotImplemented
        return (self.archive.source.identity, self.root) == (
            other.archive.source.identity,
            other.root,
        )

    def __hash__(self) -> int:
        return hash((self.archive.source.identity, self.root))

    # -- what was moved ----------------------------------------------------------------
    def stats(self) -> Traffic:
        """Requests made and bytes received since the store opened (the directory read
        included), as a frozen :class:`Traffic`: take two and subtract them."""
        return Traffic(*self.archive.source.stats.snapshot())

    @contextlib.contextmanager
    def measure(self) -> Iterator[Measured]:
        """``with store.measure() as m: ...``, then ``m.requests``, ``m.bytes``: what the
        block's reads moved (every read of this store meanwhile, from any thread)."""
        measurement = Measured(self.stats)
        try:
            yield measurement
        finally:
            measurement._stop()

    # -- listing and lifecycle ------------------------------------------------------------
    def listing(self) -> Listing:
        """The sorted names, built on first use (no request; 8 bytes per entry), served as
        a listing (an archive opened from a catalog re-opens only to the same names)."""
        self.archive.index.names()  # marks the names listed
        return self._sorted()

    def _sorted(self) -> Listing:
        """The sorted names of the archive's current index, for this store's own use (where
        an array lies): not a listing served. Rebuilt, with the regions, when the index
        changed (an archive re-opened from a catalog)."""
        index = self._current_index()
        listing = self._listing
        if listing is None:
            listing = self._listing = Listing(index.names(listed=False))
        return listing

    def _current_index(self) -> ZipIndex:
        """The archive's index; what was derived from an earlier one (the sorted names, the
        regions) forgotten when it changed (a re-open)."""
        index = self.archive.index
        if self._listing_of is not index:
            self._listing, self._regions, self._listing_of = None, {}, index
        return index

    def region(self, name: str) -> Region | None:
        """Where the array holding chunk ``name`` lies in the archive, or None.

        The array is the nearest folder above ``name`` with a ``.zarray``, or a
        ``zarr.json`` that is an array's (its ``node_type``, when the metadata
        cache holds it: zarr reads it before the chunks; chunks live in arrays
        only, so an unknown one is taken for the array). A group, a metadata
        name or no marker at all: None. Computed once per folder, from the
        array's own entries (a bisection of the sorted listing): no request,
        and never a walk over every entry of the archive. A read-ahead of small
        reads stays inside it, so reading one array never fetches another's bytes.
        """
        if is_metadata(name):
            return None
        self._current_index()  # after a re-open: the regions forgotten
        folder = name.rpartition("/")[0]
        if folder in self._regions:
            return self._regions[folder]
        region = None
        array = self._array_above(folder)
        if array is not None:
            # one object per array (its chunk folders share it: a read is of one array)
            region = self._regions.get(array + "/")
            if region is None:
                # built at the read-ahead's first question (the array's second read); the
                # store is reached weakly: a region kept by the read-ahead makes no cycle
                region = self._regions[array + "/"] = Region(
                    functools.partial(_spans_of, weakref.ref(self), self.archive.index, array)
                )
        self._regions[folder] = region
        return region

    def _array_spans(self, index: ZipIndex, array: str) -> list[tuple[int, int, int, int | None]]:
        """Each of ``array``'s entries: ``(start, end, next_header, rank)``, the rank its
        place in the order zarr reads the chunks in (a window follows the archive only
        while the archive follows it)."""
        prefix = array + "/" if array else ""
        names = list(self._sorted().keys(prefix))  # not a listing served
        chunks = sorted((rest for rest in names if not is_metadata(rest)), key=key_order)
        rank = {rest: i for i, rest in enumerate(chunks)}
        present = [rest for rest in names if prefix + rest in index]
        spans = index.spans(prefix + rest for rest in present)
        return [(*row, rank.get(rest)) for rest, row in zip(present, spans, strict=True)]

    def _array_above(self, folder: str) -> str | None:
        """The nearest folder at or above ``folder`` that is an array; None past a group."""
        index = self.archive.index
        current: str | None = folder
        while current is not None:
            prefix = current + "/" if current else ""
            if prefix + ".zarray" in index:
                return current
            if prefix + ".zgroup" in index:
                return None
            if prefix + ZARR_V3_METADATA in index:
                return current if self._node_type(prefix + ZARR_V3_METADATA) != "group" else None
            current = current.rpartition("/")[0] if current else None
        return None

    def _node_type(self, name: str) -> str | None:
        """``node_type`` of the ``zarr.json`` at ``name`` if known without a request."""
        value = self._metadata.peek(name)
        if value is None:
            entry = self.archive.index.get(name)
            if entry is None:
                return None
            value = self.archive.read_buffered(entry)  # no request, not served
            if value is None:
                return None
        try:
            node = json.loads(value)
        except ValueError:
            return None
        kind = node.get("node_type") if isinstance(node, dict) else None
        return kind if isinstance(kind, str) else None

    def _check_open(self) -> None:
        if self.archive.closed:
            raise StoreClosedError(
                "the store is closed; open a new store to read it", archive=self.url
            )

    @property
    def closed(self) -> bool:
        return self.archive.closed

    def __getstate__(self) -> dict[str, Any]:
        # Configuration and the pinned version only: cheap, deterministic, no client.
        return {
            "archive": self.archive,
            "root": self.root,
            "metadata_prefetch": self._metadata.policy,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._attach(state["archive"], state["root"], state.get("metadata_prefetch", "auto"))


def _spans_of(front: weakref.ref[Any], index: ZipIndex, array: str) -> list[Any]:
    """A region's spans, if its store is still there (else none: nothing to read ahead)."""
    owner = front()
    return owner._array_spans(index, array) if owner is not None else []
