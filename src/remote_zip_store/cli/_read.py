"""One archive's contents: ``ls``, ``tree``, ``info``, ``cat``."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ..errors import KeyNotFoundError, UnsupportedArchiveError
from ..hierarchy._names import CONSOLIDATED
from ..hierarchy._roots import FORMAT_3_UNDER_ZARR_2, resolve_root, stored_format
from ..zipfmt._decode import METHOD_NAMES
from ..zipfmt._index import ZipIndex
from ..zipfmt._parse import Entry

if TYPE_CHECKING:
    from ..zarr2._store import RemoteZipStore


from ._common import (
    _open,
    _open_archive,
    _out,
)


def _ls(args: argparse.Namespace) -> int:
    """Entries of the archive: method, compressed size, size, name."""
    archive = _open_archive(args)
    try:
        for entry in _entries(archive.index):
            method = METHOD_NAMES.get(entry.method, f"method-{entry.method}")
            sizes = f"{entry.compressed_size:>12} {entry.uncompressed_size:>12}"
            _out(f"{method:<8} {sizes}  {entry.name}")
    finally:
        archive.close()
    return 0


def _entries(index: ZipIndex) -> Iterator[Entry]:
    """Every distinct file entry, in directory order."""
    for name in index.names():
        entry = index.get(name)
        if entry is not None:
            yield entry


def _open_hierarchy(store: RemoteZipStore) -> Any:
    import zarr

    if not hasattr(store, "__contains__"):  # zarr 3 finds consolidated metadata itself
        return zarr.open(store, mode="r")
    if stored_format(store.archive.index, store.root) == 3:  # zarr 2: "nothing found"
        raise UnsupportedArchiveError(FORMAT_3_UNDER_ZARR_2, archive=store.url)
    if CONSOLIDATED in store:
        return zarr.open_consolidated(store, mode="r")
    return zarr.open(store, mode="r")


def _tree(args: argparse.Namespace) -> int:
    """The zarr hierarchy: groups, and arrays with shape, dtype, chunks and compressor."""
    with _open(args) as store:
        for line in tree_lines(_open_hierarchy(store)):
            _out(line)
    return 0


def tree_lines(node: Any) -> list[str]:
    """The hierarchy under ``node`` as indented lines, in zarr 2 and 3 alike (zarr 3's own
    ``tree()`` needs ``rich``)."""
    if hasattr(node, "shape"):
        return [_describe_array("/", node)]
    lines = ["/"]

    def visit(path: str, item: Any) -> None:
        depth = path.count("/")
        name = path.rsplit("/", 1)[-1]
        indent = "  " * (depth + 1)
        if hasattr(item, "shape"):
            lines.append(indent + _describe_array(name, item))
        else:
            lines.append(f"{indent}{name}/")

    if hasattr(node, "visititems"):
        node.visititems(visit)
    else:  # zarr 3: members() walks the hierarchy, sorted here as visititems does
        for path, item in sorted(node.members(max_depth=None)):
            visit(path, item)
    return lines


def _describe_array(name: str, array: Any) -> str:
    compressors = getattr(array, "compressors", None)  # zarr 3 (a tuple); zarr 2: compressor
    if compressors is not None:
        names = [str(getattr(c, "codec_id", None) or type(c).__name__) for c in compressors]
        compressor = ",".join(names) or "none"
    else:
        compressor = array.compressor.codec_id if array.compressor is not None else "none"
    return (
        f"{name}  shape={tuple(array.shape)} dtype={array.dtype} chunks={tuple(array.chunks)} "
        f"compressor={compressor}"
    )


def _info(args: argparse.Namespace) -> int:
    """Directory facts and what opening cost, as ``name: value`` lines."""
    archive = _open_archive(args)
    try:
        root = resolve_root(archive, args.root)
        requests, nbytes = archive.source.stats.snapshot()
        index = archive.index
        location = index.location
        methods: Counter[str] = Counter()
        compressed = uncompressed = 0
        for entry in _entries(index):
            methods[METHOD_NAMES.get(entry.method, f"method-{entry.method}")] += 1
            compressed += entry.compressed_size
            uncompressed += entry.uncompressed_size
        consolidated = f"{root}/{CONSOLIDATED}" if root else CONSOLIDATED
        rows = [
            ("archive", archive.url),
            ("size", _size_text(archive.size)),
            ("entries", str(len(index))),
            ("directory", f"{location.cd_size:,} bytes at offset {location.cd_start:,}"),
            ("zip64", "yes" if location.zip64 else "no"),
            ("prefix", f"{location.prefix:,} bytes"),
            ("methods", ", ".join(f"{name} {n}" for name, n in methods.most_common())),
            ("data", f"{compressed:,} bytes compressed, {uncompressed:,} uncompressed"),
            ("root", repr(root)),
            ("consolidated", "yes" if consolidated in index else "no"),
            ("opened with", f"{requests} request(s), {nbytes:,} bytes"),
        ]
        ome = archive.ome  # an RFC-9 (.ozx) comment; any other comment shown as it is
        if ome is not None:
            first = ", jsonFirst" if ome.json_first else ""
            rows.insert(-1, ("ome", f"RFC-9 comment, version {ome.version}{first}"))
        elif archive.comment:
            rows.insert(-1, ("comment", repr(archive.comment[:200])))
    finally:
        archive.close()
    for name, value in rows:
        _out(f"{name + ':':<14}{value}")
    return 0


def _size_text(size: int | None) -> str:
    return "unknown" if size is None else f"{size:,} bytes"


def _cat(args: argparse.Namespace) -> int:
    """Raw bytes of a key (relative to the zarr root) or of an archive entry name."""
    archive = _open_archive(args)
    try:
        root = resolve_root(archive, args.root)
        index = archive.index
        entry = index.get(f"{root}/{args.key}" if root else args.key)
        if entry is None:
            entry = index.get(args.key)  # an archive entry name, root or not
        if entry is None:
            raise KeyNotFoundError("does not exist", archive=archive.url, key=args.key)
        data = archive.read_entry(entry)
    finally:
        archive.close()
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()
    return 0
