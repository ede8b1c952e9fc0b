"""``ZipWriteStore``: a write-only zarr v2 store that streams a zip into S3 (or a file).

``RemoteZipStore(url, mode="w")`` returns one. Chunk keys go to the
:class:`~remote_zip_store.archive.ZipWriter` at once (multipart parts, so
memory stays bounded whatever the hierarchy's size); metadata keys
(``.zgroup``, ``.zarray``, ``.zattrs``, ``.zmetadata``, ``zarr.json``) are held
in memory and written last, just before the central directory, so that the
reader's one suffix GET at open also brings every metadata entry.

A streamed chunk cannot be replaced (its bytes are already uploaded): writing
the same chunk key twice is an error, never a silent duplicate; with
``WriteOptions(duplicates="warn")`` a second entry is appended with a warning,
like ``ZipStore`` (readers use the last) (docs/writing.md).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from zarr.storage import Store
from zarr.util import normalize_storage_path

from ..archive._writer import WriteOptions
from ..errors import ChunkNotReadableError, KeyNotFoundError, LayoutError
from ..hierarchy._session import (
    WRITE_MODES,
    WriteFrontEnd,
    as_buffer,
    check_key,
    resolve_layout,
    write_options,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
else:
    S3Client = Any

# The rules live in writecore (shared with the zarr-3 store); re-exported here.
__all__ = [
    "WRITE_MODES",
    "ChunkNotReadableError",
    "ZipWriteStore",
    "as_buffer",
    "check_key",
    "write_options",
]


class ZipWriteStore(WriteFrontEnd, Store):  # type: ignore[misc]
    """A zarr v2 store that writes one new zip archive; ``close()`` completes it.

    ``url`` is ``s3://bucket/key`` or a local path. ``mode="w"`` replaces an
    existing object when (and only when) the new one completes; ``mode="w-"``
    fails if one exists. ``write=WriteOptions(...)`` or its field names as
    keywords (``part_size``, ``max_workers``, ``compress``, ``duplicates``...)
    set how it is written; every other keyword is a connection argument
    (``endpoint_url``, ``region_name``, the AWS keys...), or pass ``client=``.

    An exception inside ``with`` aborts: nothing appears under the key. Reads
    serve what zarr needs while writing: held metadata (from memory),
    ``in``/listing of every key written; a chunk already streamed raises
    :class:`ChunkNotReadableError`. One process only: it does not pickle.

    ``layout="ozx"`` (or a name ending in ``.ozx``) is refused with
    :class:`~remote_zip_store.errors.LayoutError`: an ``.ozx`` (OME-Zarr RFC-9)
    holds zarr v3 metadata, which zarr-python 2 does not write; ``layout="zip"``
    writes a plain zip under any name.
    """

    _readable = True
    _writeable = True
    _erasable = True  # rmdir() of what is still held (zarr's overwrite=True calls it)
    _listable = True

    def __init__(
        self,
        url: str | os.PathLike[str],
        *,
        mode: str = "w",
        write: WriteOptions | None = None,
        client: S3Client | None = None,
        layout: str | None = None,
        **options: Any,
    ):
        if resolve_layout(url, layout) == "ozx":
            raise LayoutError(
                "an .ozx (OME-Zarr RFC-9) is zarr v3 only and zarr-python 2 writes zarr v2: "
                "write it under zarr-python 3, pack a v3 hierarchy (remote-zip-store pack "
                "--ozx), or pass layout='zip' for a plain zip",
                archive=os.fspath(url),
            )
        self._start_session(url, mode, write, client, options, layout)

    # -- writing -----------------------------------------------------------------------
    def __setitem__(self, key: str, value: Any) -> None:
        self._session.put(key, value)

    def __delitem__(self, key: str) -> None:
        self._session.delete(key)

    def rmdir(self, path: str = "") -> None:
        """Drop the held metadata under ``path``; an error if a chunk under it was written."""
        self._session.rmdir(normalize_storage_path(path))

    def clear(self) -> None:
        self.rmdir("")

    # -- reading back (what zarr needs while it writes) --------------------------------
    def __getitem__(self, key: str) -> bytes:
        held = self._session.held(key)
        if held is not None:
            return held
        shown = key if isinstance(key, str) else repr(key)
        raise KeyNotFoundError("does not exist", archive=self.url, key=shown)

    def __contains__(self, key: object) -> bool:
        return key in self._session

    def keys(self) -> Iterator[str]:
        return iter(self._session.names())

    def __iter__(self) -> Iterator[str]:
        return self.keys()

    def __len__(self) -> int:
        return len(self._session.names())

    def listdir(self, path: str | None = None) -> list[str]:
        return self._session.children(normalize_storage_path(path))

    def getsize(self, path: str | None = None) -> int:
        """Sizes of held metadata only (streamed chunks are not tracked): a lower bound."""
        path = normalize_storage_path(path)
        session = self._session
        with session.lock:
            if path in session.metadata:
                return len(session.metadata[path])
            prefix = path + "/" if path else ""
            return sum(
                len(v)
                for k, v in session.metadata.items()
                if k.startswith(prefix) and "/" not in k[len(prefix) :]
            )

    # -- lifecycle (closed, aborted, bytes_written, abort: WriteFrontEnd) -------------------
    def close(self) -> None:
        """Write the held metadata, the central directory and complete the object."""
        self._session.close()
