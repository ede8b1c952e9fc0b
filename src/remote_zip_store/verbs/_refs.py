"""Export an archive's zarr hierarchy as references into the zip: kerchunk JSON, Icechunk.

A stored chunk is one contiguous byte range of the zip, so a reference reader
(fsspec's ``ReferenceFileSystem``, Icechunk's virtual chunks) can read it with
the zip never unpacked: ``key -> [archive URL, data offset, length]``. The
central directory gives every entry's size; the data offset also needs the
local header's length, so the headers are read, coalesced by the planner
(:meth:`ZipArchive.data_starts`). Metadata keys are inlined. Compressed
entries are no byte range of their contents: they are refused, or inlined
decoded when ``inline_threshold`` allows.

This module imports neither zarr, fsspec nor icechunk at import time;
:func:`to_icechunk` imports icechunk (the ``icechunk`` extra) and zarr 3 when called.
"""

from __future__ import annotations

import base64
import datetime
import logging
import os
import posixpath
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any

import numpy as np

from ..archive._reader import ZipArchive
from ..errors import ArchiveNotFoundError, CorruptEntryError, UnsupportedArchiveError, context
from ..hierarchy._frontend import open_archive, split_options
from ..hierarchy._names import ZARR_V3_METADATA, is_metadata
from ..hierarchy._roots import resolve_root
from ..transport._local import LocalSource
from ..zipfmt._decode import METHOD_NAMES, STORED, check_supported
from ..zipfmt._parse import FLAG_ENCRYPTED, Entry
from ._engine import archive_urls, run_many

logger = logging.getLogger("remote_zip_store")

#: Entries named in the "cannot be a reference" error before "and N more".
MAX_LISTED = 10
#: Icechunk's ``min_num_chunks`` for compressing virtual chunk locations: its largest value
#: (a manifest of fewer chunks is written without; see :func:`to_icechunk`).
NO_LOCATION_COMPRESSION = 65535
#: Manifests an Icechunk commit writes at once (Icechunk's default: 1; its authors found
#: no gain past 16: earth-mover/icechunk#2273).
MANIFEST_CONCURRENCY = 16


@dataclass
class ArchiveRefs:
    """One archive's hierarchy as references: what every export format is written from."""

    url: str
    """The archive as reference readers name it (``s3://b/k``, ``https://...``, a path)."""
    etag: str | None
    """The version the offsets were read from (S3/HTTP ETag), None when unknown."""
    modified: datetime.datetime | None = None
    """A local file's modification time when read (what Icechunk checks for files)."""
    metadata: dict[str, bytes] = field(default_factory=dict)
    """Metadata keys (relative to the root) and their contents."""
    chunks: dict[str, tuple[int, int]] = field(default_factory=dict)
    """Other keys: ``(offset, length)`` of their stored bytes in the archive."""
    inline: dict[str, bytes] = field(default_factory=dict)
    """Other keys whose contents are inlined (small, or compressed in the zip)."""

    @property
    def zarr_format(self) -> int:
        """3 when the hierarchy's metadata is ``zarr.json``, else 2."""
        names = {key.rpartition("/")[2] for key in self.metadata}
        return 3 if ZARR_V3_METADATA in names else 2


def collect(
    archive: ZipArchive,
    *,
    root: str | None = None,
    inline_threshold: int = 0,
    url: str | None = None,
) -> ArchiveRefs:
    """Every key under the hierarchy's root as a reference, inlined metadata or contents.

    Requests: the metadata entries (one coalesced round, none for those inside
    the open's buffers), the chunks' local headers (coalesced), and the entries
    inlined. ``url`` names the archive in the references (default: where it was
    read from; HTTP URLs lose their query there, so a presigned URL must be given).
    """
    if inline_threshold < 0:
        raise ValueError("inline_threshold must be >= 0")
    prefix = resolve_root(archive, root)
    prefix = prefix + "/" if prefix else ""
    index = archive.index
    # On the directory's columns, not an Entry per name: an export of 100 archives of
    # 1,000 chunks spent most of its CPU building and checking entries one by one.
    names = index.names()
    rows = index.rows()
    columns = index.columns(rows)
    count = len(names)
    under = np.fromiter(map(str.startswith, names, repeat(prefix)), dtype=bool, count=count)
    meta = np.fromiter(map(is_metadata, names), dtype=bool, count=count) & under
    size, usize = columns["compressed_size"], columns["uncompressed_size"]
    other = under & ~meta
    small = other & ((usize == 0) | (usize <= inline_threshold))
    stored = other & ~small & (columns["method"] == STORED)
    refused = other & ~small & ~stored
    suspect = stored & (((columns["flags"] & FLAG_ENCRYPTED) != 0) | (size != usize))
    for i in np.flatnonzero(suspect).tolist():
        entry = index.entry_at(int(rows[i]))
        with context(archive.url, entry.name):
            check_supported(entry)  # an encrypted stored entry: the reader's error
        raise CorruptEntryError(
            f"corrupt: stored entry of {entry.compressed_size} bytes declares "
            f"{entry.uncompressed_size} bytes uncompressed",
            archive=archive.url,
            key=entry.name,
        )
    if refused.any():
        raise _not_referable(archive.url, [index.entry_at(row) for row in rows[refused].tolist()])
    metadata = [index.entry_at(row) for row in rows[meta].tolist()]
    inlined = [index.entry_at(row) for row in rows[small].tolist()]
    contents = archive.read_many([*metadata, *inlined])
    ranged = np.flatnonzero(stored)
    starts = archive.data_starts_at(rows[ranged])
    source = archive.source
    etag = getattr(source, "etag", None)
    if not isinstance(etag, str) or etag.startswith("W/"):
        etag = None  # a weak ETag does not identify bytes
    refs = ArchiveRefs(url or archive.url, etag)
    if isinstance(source, LocalSource) and isinstance(source.version, tuple):
        # Icechunk keeps whole seconds: round up, or the file reads as modified since.
        seconds = -(-source.version[1] // 1_000_000_000)
        refs.modified = datetime.datetime.fromtimestamp(seconds, datetime.UTC)
    cut = len(prefix)
    for entry in metadata:
        refs.metadata[entry.name[cut:]] = contents[entry.name]
    for entry in inlined:
        refs.inline[entry.name[cut:]] = contents[entry.name]
    keys = [names[i] for i in ranged.tolist()]
    if cut:
        keys = [key[cut:] for key in keys]
    refs.chunks = dict(
        zip(keys, zip(starts.tolist(), size[ranged].tolist(), strict=True), strict=True)
    )
    return refs


def _not_referable(url: str, entries: list[Entry]) -> UnsupportedArchiveError:
    listed = ", ".join(
        f"{entry.name!r} ({METHOD_NAMES.get(entry.method, entry.method)})"
        for entry in entries[:MAX_LISTED]
    )
    more = f" and {len(entries) - MAX_LISTED} more" if len(entries) > MAX_LISTED else ""
    largest = max(entry.uncompressed_size for entry in entries)
    return UnsupportedArchiveError(
        f"{len(entries)} compressed entries cannot be byte-range references: {listed}{more}; "
        f"repack the archive stored (remote-zip-store pack) or pass "
        f"inline_threshold={largest} to inline them decoded",
        archive=url,
    )


def kerchunk_json(refs: ArchiveRefs) -> dict[str, Any]:
    """``{"version": 1, "refs": {...}}``: metadata as strings, contents as kerchunk inlines them."""
    out: dict[str, Any] = {}
    for key, data in refs.metadata.items():
        out[key] = _inline_value(data)
    for key, data in refs.inline.items():
        out[key] = _inline_value(data)
    for key, (offset, length) in refs.chunks.items():
        out[key] = [refs.url, offset, length]
    return {"version": 1, "refs": dict(sorted(out.items()))}


def _inline_value(data: bytes) -> str:
    """Text when the bytes are UTF-8 (exact round trip), else ``base64:...`` (kerchunk's form)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return "base64:" + base64.b64encode(data).decode("ascii")


def kerchunk_refs(
    url_or_archive: str | os.PathLike[str] | ZipArchive,
    *,
    inline_threshold: int = 0,
    root: str | None = None,
    url: str | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Kerchunk references (version 1) of the hierarchy in one archive.

    Each chunk key maps to ``[archive URL, data offset, length]`` of its stored
    bytes; metadata keys are inlined as strings. Keys are relative to the
    hierarchy's root (detected as the stores do, or ``root``). A compressed
    entry raises :class:`UnsupportedArchiveError` naming the entries, unless
    it is at most ``inline_threshold`` bytes (then inlined decoded, as are all
    entries that small). ``options`` are :func:`~remote_zip_store.frontend.open_archive`'s
    (connection, ``coalesce_gap``...); an archive given open is used as is and left open.
    """
    if isinstance(url_or_archive, ZipArchive):
        return kerchunk_json(
            collect(url_or_archive, root=root, inline_threshold=inline_threshold, url=url)
        )
    archive = open_archive(url_or_archive, **options)
    try:
        return kerchunk_json(
            collect(archive, root=root, inline_threshold=inline_threshold, url=url)
        )
    finally:
        archive.close()


# -- Icechunk -------------------------------------------------------------------------------
#: A group's metadata document, for the repository root and folders above an archive's group.
GROUP_V3 = b'{"zarr_format": 3, "node_type": "group", "attributes": {}}'


def group_names(urls: Iterable[str], prefix: str | None = None) -> dict[str, str]:
    """``{url: group path}``: each archive's key below ``prefix`` (its basename without
    ``prefix``) without ``.zip``; two archives landing on one group is a ``ValueError``."""
    names: dict[str, str] = {}
    taken: dict[str, str] = {}
    for url in urls:
        rest = url[len(prefix) :] if prefix and url.startswith(prefix) else posixpath.basename(url)
        name = rest[: -len(".zip")] if rest.endswith(".zip") else rest
        name = name.strip("/")
        if not name or name in taken:
            other = taken.get(name, "")
            raise ValueError(f"archives {other!r} and {url!r} would share group {name!r}")
        taken[name] = url
        names[url] = name
    return names


@dataclass(frozen=True)
class IcechunkResult:
    """What :func:`to_icechunk` wrote."""

    snapshot: str
    groups: dict[str, str]
    """``{archive URL: group path}`` ("" when one archive was written at the root)."""
    chunks: int
    """Virtual chunk references written."""
    inlined: int
    """Keys written as native chunks (small or compressed entries inlined)."""
    skipped: int = 0
    """Entries that are neither metadata nor a chunk of an array (left out, logged)."""


def to_icechunk(
    urls_or_prefix: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    repo: Any,
    *,
    root: str | None = None,
    inline_threshold: int = 0,
    message: str | None = None,
    branch: str = "main",
    suffix: str = ".zip",
    max_workers: int = 32,
    **options: Any,
) -> IcechunkResult:
    """Write an Icechunk repository whose chunks are virtual references into the archives.

    ``urls_or_prefix``: one archive (written at the repository's root), a list,
    or an ``s3://bucket/prefix/`` (one group per archive, named by its key below
    the prefix without ``.zip``). ``repo``: a local directory (created if new)
    or an ``icechunk.Storage``. Each reference carries its archive's ETag as the
    checksum, so Icechunk refuses to read an archive replaced since the export
    instead of returning bytes of another object (a local file: its mtime, in
    whole seconds, so a replacement within the same second goes unseen). The
    repository is created, or an existing one gets these keys written over
    (keys of an earlier export that are gone now stay). S3 archives get a virtual
    chunk container per bucket (``endpoint_url`` etc. from ``options``) and,
    when keys are given, its credentials; readers authorize it the same way
    (:func:`icechunk_credentials`). Icechunk holds zarr format 3 and parses only
    the default chunk key encoding: a format-2 archive's metadata is converted
    (zarr's migration; ``_ARRAY_DIMENSIONS`` becomes ``dimension_names``) and
    chunk keys are rewritten (``0.1`` -> ``c/0/1``), the bytes referenced unchanged.

    Cost: archives are opened ``max_workers`` at a time (an open, their metadata,
    and local headers only where the directory does not place the data:
    :meth:`~remote_zip_store.archive.reader.ZipArchive.data_starts`), their references
    collected on the directory's columns and prepared for Icechunk on those threads; the
    references go in with one call per array and one commit. The repository's configuration
    turns off Icechunk's compression of virtual chunk locations (10-20x the commit's
    CPU for 0.5 % smaller manifests) and lets the commit write 16 manifests at once.
    """
    import icechunk
    from zarr.core.buffer import default_buffer_prototype
    from zarr.core.sync import sync

    prefix = os.fspath(urls_or_prefix) if isinstance(urls_or_prefix, str | os.PathLike) else None
    open_options, connection = split_options(options, "to_icechunk()")
    if connection.get("max_pool_connections") is None:  # the opens share one pool
        connection["max_pool_connections"] = max(10, 2 * max_workers)
    urls = archive_urls(urls_or_prefix, suffix=suffix, **connection)
    if not urls:
        raise ArchiveNotFoundError(f"no archives ending in {suffix!r}", archive=prefix)
    single = prefix is not None and not (prefix.startswith("s3://") and prefix.endswith("/"))
    groups = {urls[0]: ""} if single else group_names(urls, prefix)

    spec = icechunk.VirtualChunkSpec

    def export(url: str) -> tuple[ArchiveRefs, list[str], dict[str, list[Any]]]:
        archive = open_archive(url, **open_options, **connection)
        try:
            refs = collect(
                archive, root=root, inline_threshold=inline_threshold, url=_location(archive)
            )
        finally:
            archive.close()
        # the rest on this thread too, while other archives' requests are in flight
        with context(url):
            if refs.zarr_format != 3:
                refs.metadata = _metadata_v3(refs.metadata)
            left_out, listed = _default_chunk_keys(refs)
        checksum: dict[str, Any] = {}
        if refs.etag is not None:
            checksum["etag_checksum"] = refs.etag
        elif refs.modified is not None:
            checksum["last_updated_at_checksum"] = refs.modified
        location = refs.url
        specs = {
            array: [
                spec(index, location, offset, length, **checksum)
                for index, offset, length in chunks
            ]
            for array, chunks in listed.items()
        }
        return refs, left_out, specs

    outcomes = run_many(urls, export, max_workers=max_workers)
    exported: dict[str, ArchiveRefs] = {}
    by_array: dict[str, dict[str, list[Any]]] = {}
    skipped = 0
    for url in urls:
        outcome = outcomes[url]
        if isinstance(outcome, Exception):
            raise outcome
        refs, left_out, by_array[url] = outcome
        if left_out:
            skipped += len(left_out)
            logger.warning(
                "archive %s: %d entries are no metadata and no chunk of an array, left out "
                "of the Icechunk repository: %s",
                url,
                len(left_out),
                ", ".join(repr(key) for key in left_out[:MAX_LISTED]),
            )
        exported[url] = refs

    storage = repo
    if isinstance(repo, str | os.PathLike):
        storage = icechunk.local_filesystem_storage(os.fspath(repo))
    config = icechunk.RepositoryConfig.default()
    # The commit writes a manifest per array (4 per archive of 4 channels), one at a time
    # by default: over a 20 ms link 400 of them took 11 s. Zstd dictionaries for the
    # virtual chunks' locations cost the commit 10-20x its CPU (2.4-5 s for 100 archives x
    # 1,000 chunks) for manifests 0.5 % smaller (zstd compresses them whole anyway): off up
    # to the largest count the setting takes. docs/benchmarks.md has the figures.
    config.manifest = icechunk.ManifestConfig(
        virtual_chunk_location_compression=icechunk.ManifestVirtualChunkLocationCompressionConfig(
            min_num_chunks=NO_LOCATION_COMPRESSION
        ),
        max_concurrent_manifest_fetches_during_commit=MANIFEST_CONCURRENCY,
    )
    for container_prefix, store in _containers(icechunk, exported.values(), connection).items():
        config.set_virtual_chunk_container(icechunk.VirtualChunkContainer(container_prefix, store))
    credentials = icechunk_credentials(exported.values(), **connection)
    if icechunk.Repository.exists(storage):
        repository = icechunk.Repository.open(
            storage, config=config, authorize_virtual_chunk_access=credentials
        )
        repository.save_config()
    else:
        repository = icechunk.Repository.create(
            storage, config=config, authorize_virtual_chunk_access=credentials
        )
    session = repository.writable_session(branch)
    store = session.store
    buffer = default_buffer_prototype().buffer

    async def write_native(items: dict[str, bytes]) -> None:
        for key, data in items.items():
            await store.set(key, buffer.from_bytes(data))

    native: dict[str, bytes] = {}
    if not single:
        native[ZARR_V3_METADATA] = GROUP_V3
        for name in groups.values():
            parent = posixpath.dirname(name)
            while parent:
                native[f"{parent}/{ZARR_V3_METADATA}"] = GROUP_V3
                parent = posixpath.dirname(parent)
    chunks = inlined = 0
    for url, refs in exported.items():
        base = groups[url] + "/" if groups[url] else ""
        for key, data in refs.metadata.items():
            native[base + key] = data
        for key, data in refs.inline.items():
            native[base + key] = data
        inlined += len(refs.inline)
    sync(write_native(native))
    for url, refs in exported.items():
        base = groups[url] + "/" if groups[url] else ""
        for array, specs in by_array[url].items():
            # one call per array (a call per chunk cost 2-5 s per 100,000 chunks)
            failed = store.set_virtual_refs((base + array).rstrip("/") or "/", specs)
            if failed:
                raise UnsupportedArchiveError(
                    f"Icechunk refused {len(failed)} virtual chunk(s) of array {array!r}: no "
                    f"virtual chunk container holds {refs.url}",
                    archive=url,
                )
            chunks += len(specs)
    snapshot = session.commit(message or f"remote-zip-store: {len(urls)} archive(s)")
    return IcechunkResult(str(snapshot), groups, chunks, inlined, skipped)


def _metadata_v3(metadata: Mapping[str, bytes]) -> dict[str, bytes]:
    """Format-2 metadata as format-3 ``zarr.json`` documents that read the same chunk keys.

    zarr's own migration (``v2`` chunk key encoding, codecs from the compressor and
    filters, ``F`` order as a transpose); ``_ARRAY_DIMENSIONS`` becomes
    ``dimension_names`` (what xarray reads from format 3). No request: the
    documents are already here.
    """
    import json

    import zarr
    from zarr.core.buffer import default_buffer_prototype
    from zarr.core.sync import sync
    from zarr.metadata.migrate_v3 import migrate_to_v3
    from zarr.storage import MemoryStore, StorePath

    buffer = default_buffer_prototype().buffer
    source = MemoryStore({key: buffer.from_bytes(data) for key, data in metadata.items()})
    try:
        node = zarr.open(source, mode="r", zarr_format=2, use_consolidated=False)
        written: dict[str, Any] = {}
        migrate_to_v3(node, sync(StorePath.open(MemoryStore(written), path="", mode="w")))
    except (TypeError, ValueError, NotImplementedError) as exc:
        raise UnsupportedArchiveError(
            f"zarr format 2 metadata cannot be converted to format 3 for Icechunk: {exc}"
        ) from exc
    converted: dict[str, bytes] = {}
    for key, value in written.items():
        document = json.loads(value.to_bytes())
        names = document.get("attributes", {}).get("_ARRAY_DIMENSIONS")
        if (
            document.get("node_type") == "array"
            and isinstance(names, list)
            and len(names) == len(document.get("shape", ()))
        ):
            document["dimension_names"] = names
            del document["attributes"]["_ARRAY_DIMENSIONS"]
        converted[key] = json.dumps(document, indent=2).encode()
    return converted


def _default_chunk_keys(
    refs: ArchiveRefs,
) -> tuple[list[str], dict[str, list[tuple[list[int], int, int]]]]:
    """Rewrite chunk keys to format 3's default encoding (``c/0/1``), the one Icechunk parses.

    Arrays with another encoding (``v2``, or ``.`` separators) get their metadata
    changed to match; the bytes referenced stay the same. Returns the keys that
    belong to no array (dropped from ``refs``), and the referenced chunks by array
    path: ``(chunk index, offset, length)``; inlined keys are renamed in ``refs``.
    """
    import json

    arrays: dict[str, tuple[str, str, int]] = {}
    for key, data in list(refs.metadata.items()):
        if key.rpartition("/")[2] != ZARR_V3_METADATA:
            continue
        document = json.loads(data)
        if document.get("node_type") != "array":
            continue
        encoding = document.get("chunk_key_encoding", {"name": "default"})
        name = encoding.get("name", "default")
        separator = encoding.get("configuration", {}).get("separator", "/")
        if name not in ("default", "v2"):
            raise UnsupportedArchiveError(f"chunk key encoding {name!r} is not supported", key=key)
        arrays[key.rpartition("/")[0]] = (name, separator, len(document.get("shape", ())))
        if (name, separator) != ("default", "/"):
            document["chunk_key_encoding"] = {
                "name": "default",
                "configuration": {"separator": "/"},
            }
            refs.metadata[key] = json.dumps(document, indent=2).encode()
    left_out: list[str] = []
    by_array: dict[str, list[tuple[list[int], int, int]]] = {}
    folders: dict[str, str | None] = {}  # a key's folder -> the array above it (walked once)
    # A folder of an array with ``c/``-style keys (``a/c`` or ``a/c/4``): its chunks' list
    # and the indices its path gives, so each key costs a split and an int (100,000 keys).
    fast: dict[str, tuple[list[tuple[list[int], int, int]], list[int]] | None] = {}
    for key, (offset, length) in refs.chunks.items():
        folder, _, last = key.rpartition("/")
        if folder not in fast:
            fast[folder] = _fast_folder(folder, arrays, folders, by_array)
        known = fast[folder]
        if known is not None and last.isascii() and last.isdigit():
            known[0].append(([*known[1], int(last)], offset, length))
            continue
        found = _chunk_index(key, arrays, folders)
        if found is None:
            left_out.append(key)
        else:
            by_array.setdefault(found[0], []).append((found[1], offset, length))
    for key in left_out:
        del refs.chunks[key]
    inline: dict[str, bytes] = {}
    for key, value in refs.inline.items():
        found = _chunk_index(key, arrays, folders)
        if found is None:
            left_out.append(key)
        else:
            inline[_default_key(*found)] = value
    refs.inline = inline
    return sorted(left_out), by_array


def _fast_folder(
    folder: str,
    arrays: Mapping[str, tuple[str, str, int]],
    folders: dict[str, str | None],
    by_array: dict[str, list[tuple[list[int], int, int]]],
) -> tuple[list[tuple[list[int], int, int]], list[int]] | None:
    """For keys ``folder/<digits>`` of an array whose keys are ``c/i/j`` (the default
    encoding, ``/``): its list in ``by_array`` and the indices before the last; else None
    (the key is parsed whole by :func:`_chunk_index`)."""
    found = _chunk_index(folder + "/0", arrays, folders)
    if found is None:
        return None
    path, index = found
    name, separator, _ = arrays[path]
    if (name, separator) != ("default", "/"):
        return None
    return by_array.setdefault(path, []), index[:-1]


def _default_key(path: str, index: list[int]) -> str:
    return "/".join([path, "c", *map(str, index)] if path else ["c", *map(str, index)])


def _chunk_index(
    key: str, arrays: Mapping[str, tuple[str, str, int]], folders: dict[str, str | None]
) -> tuple[str, list[int]] | None:
    """``(array path, chunk index)`` of ``key``, None when it is no chunk of an array.

    ``folders`` caches the array found above each folder (a 1,000-chunk array's keys
    share one or a few folders), so each key costs a split, not a walk up the tree."""
    folder = key.rpartition("/")[0]
    if folder in folders:
        path = folders[folder]
    else:
        path = folder
        while path not in arrays:
            if not path:
                path = None
                break
            path = path.rpartition("/")[0]
        folders[folder] = path
    if path is None:
        return None
    name, separator, ndim = arrays[path]
    rest = key[len(path) + 1 :] if path else key
    if name == "default":
        if rest == "c" and ndim == 0:
            indices: list[str] = []
        elif rest.startswith("c" + separator):
            indices = rest[2:].split(separator)
        else:
            return None
    else:
        indices = [] if rest == "0" and ndim == 0 else rest.split(separator)
    if len(indices) != ndim or not all(part.isascii() and part.isdigit() for part in indices):
        return None
    return path, list(map(int, indices))


def _location(archive: ZipArchive) -> str:
    """The archive as an Icechunk location: ``s3://...``, ``http(s)://...``, ``file:///...``."""
    url = archive.url
    if "://" in url:
        return url
    return "file://" + os.path.abspath(url)


def _container_prefix(location: str) -> str:
    """The virtual chunk container a location falls in: its bucket, host or directory."""
    if location.startswith("s3://"):
        return "s3://" + location[len("s3://") :].split("/", 1)[0] + "/"
    if location.startswith("file://"):
        return posixpath.dirname(location) + "/"
    scheme, _, rest = location.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}/"


def _containers(
    icechunk: Any, exported: Iterable[ArchiveRefs], connection: Mapping[str, Any]
) -> dict[str, Any]:
    """``{url prefix: object store config}`` covering every exported archive."""
    found: dict[str, Any] = {}
    for refs in exported:
        prefix = _container_prefix(refs.url)
        if prefix in found:
            continue
        if prefix.startswith("s3://"):
            endpoint = connection.get("endpoint_url")
            found[prefix] = icechunk.s3_store(
                region=connection.get("region_name"),
                endpoint_url=endpoint,
                allow_http=bool(endpoint and endpoint.startswith("http://")),
                s3_compatible=endpoint is not None,
                force_path_style=endpoint is not None,
            )
        elif prefix.startswith("file://"):
            found[prefix] = icechunk.local_filesystem_store(prefix[len("file://") :])
        else:
            found[prefix] = icechunk.http_store()
    return found


def icechunk_credentials(
    exported: Iterable[ArchiveRefs | str],
    *,
    aws_access_key_id: str | None = None,
    aws_secret_access_key: str | None = None,
    aws_session_token: str | None = None,
    anon: bool | None = None,
    **_: Any,
) -> dict[str, Any]:
    """What ``authorize_virtual_chunk_access`` needs to read these archives (or URLs) back.

    S3 buckets get the given keys, anonymous access, or the environment's
    credentials; local directories and HTTP hosts need none.
    """
    import icechunk

    found: dict[str, Any] = {}
    for item in exported:
        location = item.url if isinstance(item, ArchiveRefs) else item
        if "://" not in location:
            location = "file://" + os.path.abspath(location)
        prefix = _container_prefix(location)
        if prefix.startswith("file://"):
            found[prefix] = icechunk.Credentials.LocalFileSystemAccess()
        elif not prefix.startswith("s3://"):
            found[prefix] = icechunk.Credentials.HttpAccess()
        elif anon:
            found[prefix] = icechunk.s3_credentials(anonymous=True)
        elif aws_access_key_id is not None:
            found[prefix] = icechunk.s3_credentials(
                access_key_id=aws_access_key_id,
                secret_access_key=aws_secret_access_key,
                session_token=aws_session_token,
            )
        else:
            found[prefix] = icechunk.s3_credentials(from_env=True)
    return dict(icechunk.containers_credentials(found))
