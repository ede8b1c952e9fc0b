"""``ZipWriteStore`` for zarr-python 3: a ``zarr.abc.store.Store`` that writes one new zip.

``RemoteZipStore(url, mode="w")`` (or ``"w-"``) returns one under zarr 3. The
rules are the zarr-2 write store's (:class:`~remote_zip_store.hierarchy._session.WriteSession`):
chunks stream out as they are set, metadata (``zarr.json`` and the v2 names) is
held and written last, a chunk is written once, an exception in ``with``
aborts, ``close()`` completes. ``set`` is async; the blocking write (CRC, a
multipart part upload when a buffer fills) runs on a thread, never on the loop.
``layout="ozx"`` (the default for a name ending in ``.ozx``) writes a single-file
OME-Zarr (RFC-9): zarr v3 only, stored, ZIP64, ``zarr.json`` first in the
central directory, the RFC-9 comment (docs/writing.md).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterable
from typing import TYPE_CHECKING, Any

from zarr.abc.store import Store
from zarr.core.buffer import Buffer, BufferPrototype, default_buffer_prototype

from ..archive._writer import WriteOptions
from ..errors import ChunkNotReadableError, InvalidValueError, MissingKeyError
from ..hierarchy._session import WriteFrontEnd, check_key
from ._ranges import resolve_byte_request

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
else:
    S3Client = Any

__all__ = ["ChunkNotReadableError", "ZipWriteStore"]


class ZipWriteStore(WriteFrontEnd, Store):  # type: ignore[misc,unused-ignore]
    """A zarr-python 3 store that writes one new zip archive; ``close()`` completes it.

    Takes the zarr-2 write store's arguments (``url``, ``mode`` ``"w"``/``"w-"``,
    ``write=WriteOptions(...)`` or its field names, ``client`` and connection
    keywords; docs/writing.md). Listing, ``exists`` and ``get`` of held
    metadata cover what was written; ``get`` of a streamed chunk raises
    :class:`~remote_zip_store.hierarchy._session.ChunkNotReadableError`. One process
    only: it does not pickle. ``layout``: ``"zip"``, ``"ozx"`` (OME-Zarr RFC-9) or
    None (``"ozx"`` for a name ending in ``.ozx``, else ``"zip"``).
    """

    supports_writes = True
    supports_deletes = False  # only held metadata can be dropped: see delete()
    supports_partial_writes = False
    supports_listing = True

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
        self._start_session(url, mode, write, client, options, layout)
        Store.__init__(self, read_only=False)
        self._is_open = True

    # -- identity (url, repr, no pickling: WriteFrontEnd) -------------------------------

    def __str__(self) -> str:
        return f"zip+{self.url}"

    def __eq__(self, other: object) -> bool:
        return self is other

    def __hash__(self) -> int:
        return id(self)

    def with_read_only(self, read_only: bool = False) -> Store:
        """Not possible: what was written cannot be read until the archive is complete."""
        raise NotImplementedError(
            f"a write store has no read-only view ({self.url}); close it, then open "
            "RemoteZipStore(url) to read the archive"
        )

    # -- writing -----------------------------------------------------------------------
    async def set(self, key: str, value: Buffer) -> None:
        """Hold metadata or stream a chunk out (on a thread: a part may be uploaded)."""
        name = check_key(key, self.url)
        if not isinstance(value, Buffer):
            raise InvalidValueError(
                f"the value must be a zarr Buffer, not {type(value).__name__}",
                archive=self.url,
                key=name,
            )
        self._session.check_writable(name)
        data = value.as_numpy_array()
        await asyncio.to_thread(self._session.put, name, data)

    async def set_if_not_exists(self, key: str, value: Buffer) -> None:
        if key not in self._session:
            await self.set(key, value)

    async def delete(self, key: str) -> None:
        """Drop held metadata; nothing for a key never written; a streamed chunk is an error.

        zarr 3 deletes a chunk that became all fill value: a chunk never written
        is a no-op, one already streamed raises ``ChunkNotReadableError``.
        """
        self._session.delete(key, missing_ok=True)

    async def delete_dir(self, prefix: str) -> None:
        self._session.rmdir(prefix.strip("/"))

    async def clear(self) -> None:
        self._session.rmdir("")

    # -- reading back (what zarr needs while it writes) --------------------------------
    async def get(
        self,
        key: str,
        prototype: BufferPrototype | None = None,
        byte_range: Any = None,
    ) -> Buffer | None:
        """Held metadata (from memory), ``None`` if never written; a streamed chunk raises."""
        if prototype is None:
            prototype = default_buffer_prototype()
        held = self._session.held(key)
        if held is None:
            return None
        if byte_range is not None:
            start, end = resolve_byte_request(byte_range, len(held))
            held = held[start:end]
        return prototype.buffer.from_bytes(held)

    async def get_partial_values(
        self,
        prototype: BufferPrototype,
        key_ranges: Iterable[tuple[str, Any]],
    ) -> list[Buffer | None]:
        return [await self.get(key, prototype, byte_range) for key, byte_range in key_ranges]

    async def exists(self, key: str) -> bool:
        return key in self._session

    async def getsize(self, key: str) -> int:
        size = self._session.size(key)
        if size is None:
            raise MissingKeyError("does not exist", archive=self.url, key=key)
        return size

    async def list(self) -> AsyncIterator[str]:
        for name in self._session.names():
            yield name

    async def list_prefix(self, prefix: str) -> AsyncIterator[str]:
        for name in self._session.names():
            if name.startswith(prefix):
                yield name

    async def list_dir(self, prefix: str) -> AsyncIterator[str]:
        for child in self._session.children(prefix.strip("/")):
            yield child

    # -- lifecycle (closed, aborted, bytes_written, abort: WriteFrontEnd) -------------------
    def close(self) -> None:
        """Write the held metadata, the central directory and complete the object."""
        self._session.close()
        Store.close(self)
