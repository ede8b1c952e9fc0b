"""The suite's scenarios: what each cell reads, and what an ideal client would need for it.

Each :class:`Scenario` runs a contender (``run``) and names the entries a perfect client
must fetch (``needs``), from which :func:`benchmarks.limits.physical_limit` computes the
bound for the cell.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from benchmarks.archives import Archive
from benchmarks.contenders import Contender, Target
from benchmarks.limits import index_of


@dataclass(frozen=True)
class Context:
    """What a scenario reads: the main archive and the ones behind "open N archives"."""

    target: Target
    archive: Archive
    small_targets: tuple[Target, ...]
    small: Archive


@dataclass(frozen=True)
class Scenario:
    name: str
    label: str
    run: Callable[[Contender, Context, Callable[[], None]], None]
    """Runs the scenario; calls ``mark()`` once the (first) archive is open, and again
    right before the measured read when the arrays are opened first (the "phase")."""
    needs: Callable[[Context], list[tuple[Archive, list[str]]]]
    """Entries an ideal client must read, per opened archive (for the physical limit)."""


Action = Callable[[Any, Archive, Callable[[], None]], None]


def _main_archive(action: Action) -> Callable[..., None]:
    """A scenario that opens the main archive, marks the open, then runs ``action``."""

    def run(contender: Contender, ctx: Context, mark: Callable[[], None]) -> None:
        opened = contender.open(ctx.target)
        try:
            mark()
            action(opened.root, ctx.archive, mark)
        finally:
            opened.close()

    return run


def _nothing(root: Any, archive: Archive, mark: Callable[[], None]) -> None:
    pass


def _tree(root: Any, archive: Archive, mark: Callable[[], None]) -> None:
    str(root.tree())


def _chunk(root: Any, archive: Archive, mark: Callable[[], None]) -> None:
    array = root[archive.arrays[0]]
    mark()
    coords = [int(i) for i in middle_chunk(archive).rsplit("/", 1)[1].split(".")]
    array[tuple(slice(i * n, (i + 1) * n) for i, n in zip(coords, array.chunks, strict=True))]


def _channel(root: Any, archive: Archive, mark: Callable[[], None]) -> None:
    array = root[archive.arrays[0]]
    mark()
    array[:]


def _epoch_slice(archive: Archive) -> slice:
    epoch = 100  # an epoch in the middle of the night
    return slice(epoch * archive.chunk_len, (epoch + 1) * archive.chunk_len)


def _epoch(root: Any, archive: Archive, mark: Callable[[], None]) -> None:
    where = _epoch_slice(archive)
    arrays = [root[name] for name in archive.arrays]
    mark()
    for array in arrays:
        array[where]


def _whole(root: Any, archive: Archive, mark: Callable[[], None]) -> None:
    for name in archive.arrays:
        root[name][:]


def _open_many(contender: Contender, ctx: Context, mark: Callable[[], None]) -> None:
    for i, target in enumerate(ctx.small_targets):
        opened = contender.open(target)
        try:
            if i == 0:
                mark()
            dict(opened.root.attrs)
        finally:
            opened.close()


def _meta(archive: Archive, arrays: Sequence[str]) -> list[str]:
    return [".zgroup", *(f"{a}/.zarray" for a in arrays)]


def _array_chunks(ctx: Context, array: str) -> list[str]:
    """The chunk entries of ``array`` in the archive."""
    return chunk_names(ctx.archive, array)


def chunk_names(archive: Archive, array: str) -> list[str]:
    """The chunk entries directly under ``array`` (``a/0.0``, or format 3's ``a/c/0``)."""
    prefix = array + "/"
    names = []
    for name in index_of(archive).names():
        rest = name[len(prefix) :].removeprefix("c/") if name.startswith(prefix) else "/"
        if "/" not in rest and not rest.startswith(".") and rest != "zarr.json":
            names.append(name)
    return names


@functools.cache
def middle_chunk(archive: Archive) -> str:
    """The first array's chunk in the middle of its data: in neither the head nor the tail
    buffer of the open (the first chunk lies in the head), so it costs a GET. Cached: it
    is called inside the timed scenario (the untimed warm-up fills the cache)."""
    index = index_of(archive)
    names = chunk_names(archive, archive.arrays[0])
    offsets = {n: entry.header_offset for n in names if (entry := index.get(n)) is not None}
    names.sort(key=offsets.__getitem__)
    return names[len(names) // 2]


def _all_metadata(ctx: Context) -> list[str]:
    names = index_of(ctx.archive).names()
    return [n for n in names if n.rsplit("/", 1)[-1] in (".zgroup", ".zarray")]


def _epoch_index(ctx: Context) -> int:
    return int(_epoch_slice(ctx.archive).start) // ctx.archive.chunk_len


SCENARIOS = (
    Scenario(
        "open",
        "open group",
        _main_archive(_nothing),
        lambda c: [(c.archive, [".zgroup"])],
    ),
    Scenario(
        "tree",
        "tree()",
        _main_archive(_tree),
        lambda c: [(c.archive, _all_metadata(c))],
    ),
    Scenario(
        "chunk",
        "one chunk",
        _main_archive(_chunk),
        lambda c: [(c.archive, [*_meta(c.archive, c.archive.arrays[:1]), middle_chunk(c.archive)])],
    ),
    Scenario(
        "channel",
        "one channel",
        _main_archive(_channel),
        lambda c: [
            (
                c.archive,
                _meta(c.archive, c.archive.arrays[:1]) + _array_chunks(c, c.archive.arrays[0]),
            )
        ],
    ),
    Scenario(
        "epoch",
        "16 channels x one epoch",
        _main_archive(_epoch),
        lambda c: [
            (
                c.archive,
                _meta(c.archive, c.archive.arrays)
                + [f"{a}/{_epoch_index(c)}" for a in c.archive.arrays],
            )
        ],
    ),
    Scenario(
        "whole",
        "whole archive",
        _main_archive(_whole),
        lambda c: [
            (
                c.archive,
                _meta(c.archive, c.archive.arrays)
                + [k for a in c.archive.arrays for k in _array_chunks(c, a)],
            )
        ],
    ),
    Scenario(
        "archives",
        "open N archives, read root attrs",
        _open_many,
        lambda c: [(c.small, [".zgroup", ".zattrs"])] * len(c.small_targets),
    ),
)
SCENARIO_NAMES = tuple(s.name for s in SCENARIOS)
