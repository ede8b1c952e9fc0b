"""``RemoteZipStore``: a read-only zarr v2 store over a zip archive in S3 (or on disk).

It follows what zarr 2.18 asks of a store (shared/notes/zarr-2.18-store-calls.md):
``KeyError`` for a missing key, ``getitems`` that omits missing keys and reads
all chunks of a selection concurrently, listings answered from the parsed
directory without any request, and ``zarr.errors.ReadOnlyError`` for writes.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import zarr.errors
from zarr.storage import Store
from zarr.util import normalize_storage_path

from ..archive._reader import ReadOptions, ZipArchive
from ..errors import KeyNotFoundError, ZarrFormatWarning
from ..errors import ReadOnlyStoreError as _ReadOnlyStoreError
from ..hierarchy._frontend import ArchiveFrontEnd
from ..hierarchy._names import ZARR_V2_MARKERS
from ..hierarchy._prefetch import Policy
from ..hierarchy._roots import FORMAT_3_UNDER_ZARR_2, stored_format
from ._write import ZipWriteStore

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from ..archive._catalog import Catalog
else:
    S3Client = Any


class ReadOnlyStoreError(_ReadOnlyStoreError, zarr.errors.ReadOnlyError):  # type: ignore[misc]
    """:class:`remote_zip_store.errors.ReadOnlyStoreError` that is also zarr 2's own
    ``ReadOnlyError``, which code written for zarr 2 catches.

    The one exception class outside ``errors.py``: its zarr-2 base cannot be
    named there without importing zarr.
    """

    def __init__(self, detail: str, *, archive: str | None = None, key: str | None = None):
        # zarr's ReadOnlyError.__init__ takes no message: skip it in the MRO.
        PermissionError.__init__(self, detail)
        self.detail = detail
        self.archive = archive
        self.key = key


class RemoteZipStore(ArchiveFrontEnd, Store):  # type: ignore[misc]
    """A read-only zarr v2 store over one zip archive.

    ``url`` is ``s3://bucket/key``, an ``http(s)://`` URL (a public object or a
    presigned S3 URL; only ``verify`` and the timeouts apply) or a local path.
    For S3, pass a ready boto3
    ``client=``, or the usual connection arguments (``endpoint_url``,
    ``region_name``, ``verify`` (CA bundle path or ``False``), ``anon``, the
    AWS keys, ``profile_name``); without credentials boto3's default chain
    applies (``AWS_*`` variables, ``AWS_ENDPOINT_URL_S3``, profiles).

    Failures: ``max_attempts`` (botocore "standard" retries: 5xx, throttling,
    connection errors), ``connect_timeout``/``read_timeout`` (seconds), and
    ``body_retries``/``retry_backoff`` for bodies that break or come back short
    while streaming. ``max_directory_size`` and ``max_entry_size`` bound what a
    hostile archive can make the store allocate (docs/reliability.md).

    ``read=ReadOptions(...)`` sets how the archive is read; its field names
    (``verify_crc``, ``max_workers``, ``coalesce_gap``, ``coalesce_max``,
    ``readahead``, ``tail_size``, ``head_size``, ``max_directory_size``,
    ``max_entry_size``)
    are also accepted as keyword arguments and override it. Every other
    keyword is a connection argument of
    :func:`~remote_zip_store.transport.open_source`; an unknown name is a
    ``TypeError``. Defaults: ``connect_timeout=10``, ``read_timeout=60``,
    ``max_attempts=5``, ``body_retries=3``, ``retry_backoff=0.1``, and
    ``max_pool_connections=max(10, max_workers)``.

    ``mode="w"`` (replace) or ``"w-"`` (fail if it exists) returns a
    :class:`~remote_zip_store.zarr2.ZipWriteStore` that writes a new
    archive instead (docs/writing.md).

    ``catalog``: a cohort catalog written by ``remote-zip-store index`` (its
    ``s3://`` key or path: one GET; or a loaded one,
    :func:`~remote_zip_store.verbs.catalog.load_catalog`: none) that holds ``url``:
    the store opens from it with no request of its own (the directory and the
    zarr metadata come from the catalog), every GET pinned to the catalogued ETag;
    an archive replaced since is re-opened at its first read (or
    ``ArchiveChangedError`` when what was served differs: never two versions
    mixed). A catalog that cannot be read or does not hold ``url``: a WARNING
    and the normal open.

    ``root`` selects a folder inside the zip as the hierarchy's root; by
    default a single top-level folder that holds ``.zgroup``/``.zarray``/
    ``.zmetadata`` (or ``zarr.json``) is detected (``zip -r x.zip data.zarr``). ``root=""``
    turns detection off.

    The store pickles as configuration (explicit keys included, a presigned
    URL included) plus the pinned ETag: no client, no index. An unpickled
    copy makes no request until it is read; then it reads the directory (once
    per process and object version: later copies reuse it) and builds its own
    client in its own process (dask workers).
    """

    _readable = True
    _writeable = False
    _erasable = False
    _listable = True

    @classmethod
    def _write_store(cls) -> Any:
        return ZipWriteStore

    def __init__(
        self,
        url: str | os.PathLike[str],
        *,
        mode: str = "r",
        root: str | None = None,
        metadata_prefetch: Policy = "auto",
        read: ReadOptions | None = None,
        client: S3Client | None = None,
        catalog: str | os.PathLike[str] | Catalog | None = None,
        **options: Any,
    ):
        self._open_url(url, root, metadata_prefetch, read, client, options, catalog)

    def _setup(self, archive: ZipArchive, root: str | None, metadata_prefetch: Policy) -> None:
        super()._setup(archive, root, metadata_prefetch)
        # zarr 2 would say "nothing found at path ''": say why, once, at open.
        if self._format_3():
            warnings.warn(
                f"archive {archive.url}: {FORMAT_3_UNDER_ZARR_2}", ZarrFormatWarning, stacklevel=4
            )

    def _format_3(self) -> bool:
        return stored_format(self.archive.index, self.root) == 3

    # -- reading -----------------------------------------------------------------------
    def __getitem__(self, key: str) -> bytes:
        self._check_open()  # like ZipStore: after close(), every read is an error
        name = self._name(key)
        entry = self.archive.index.get(name) if name is not None else None
        if entry is None:
            shown = key if isinstance(key, str) else repr(key)  # None must not read "archive"
            detail = "does not exist"
            if key in ZARR_V2_MARKERS and self._format_3():
                detail += f" ({FORMAT_3_UNDER_ZARR_2})"
            raise KeyNotFoundError(detail, archive=self.url, key=shown)
        cached = self._metadata.get(entry.name)
        if cached is not None:
            return cached
        value = self.archive.read_entry(entry)
        self._metadata.remember(entry.name, value)
        return value

    def getitems(
        self, keys: Sequence[str], *, contexts: Mapping[str, Any] | None = None
    ) -> dict[str, bytes]:
        """Present keys' contents, fetched concurrently and coalesced; missing keys omitted."""
        self._check_open()
        index = self.archive.index
        found: dict[str, str] = {}
        entries = []
        for key in keys:
            name = self._name(key)
            entry = index.get(name) if name is not None else None
            if entry is not None and entry.name not in found:
                found[entry.name] = key
                entries.append(entry)
        data = self.archive.read_many(entries)
        return {found[name]: value for name, value in data.items()}

    def __contains__(self, key: object) -> bool:
        name = self._name(key)
        return name is not None and name in self.archive.index

    def keylist(self) -> list[str]:
        """Sorted keys (directory entries excluded)."""
        return list(self.keys())

    def keys(self) -> Iterator[str]:
        return self.listing().keys(self._prefix)

    def __iter__(self) -> Iterator[str]:
        return self.keys()

    def __len__(self) -> int:
        return self.listing().count(self._prefix)

    def listdir(self, path: str | None = None) -> list[str]:
        """Children of ``path``: two bisections per child, never a scan of every key."""
        path = normalize_storage_path(path)
        return self.listing().children(self._prefix + (path + "/" if path else ""))

    def getsize(self, path: str | None = None) -> int:
        """Like ``ZipStore.getsize``: compressed sizes of a path's direct children."""
        path = normalize_storage_path(path)
        children = self.listdir(path)
        index = self.archive.index
        if children:
            total = 0
            for child in children:
                entry = index.get(self._prefix + (f"{path}/{child}" if path else child))
                if entry is not None:
                    total += entry.compressed_size
            return total
        if path:
            entry = index.get(self._prefix + path)
            return entry.compressed_size if entry is not None else 0
        return 0

    def _name(self, key: object) -> str | None:
        if not isinstance(key, str):
            return None
        return self._prefix + key

    # -- read-only -----------------------------------------------------------------------
    def _read_only(self, what: str, key: str | None = None) -> ReadOnlyStoreError:
        return ReadOnlyStoreError(
            f"the store is read-only: {what} is not supported",
            archive=self.url,
            key=key,
        )

    def __setitem__(self, key: str, value: Any) -> None:
        raise self._read_only("writing", key)

    def __delitem__(self, key: str) -> None:
        raise self._read_only("deleting", key)

    def clear(self) -> None:
        raise self._read_only("clear()")

    def rmdir(self, path: str = "") -> None:
        raise self._read_only("rmdir()", path or None)

    def rename(self, src_path: str, dst_path: str) -> None:
        raise self._read_only("rename()", src_path)

    # -- lifecycle -----------------------------------------------------------------------
    def close(self) -> None:
        self.archive.close()


# RemoteZipStore(url, mode="w") returns a ZipWriteStore: isinstance holds for it.
RemoteZipStore.register(ZipWriteStore)
