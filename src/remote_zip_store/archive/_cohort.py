"""Cohort hints: archives under one prefix are alike, so one open sizes the next ones' first GET.

A cohort (one recording per archive, hundreds under one prefix) has archives
of one layout: directories of about one size, the root metadata in the first
few KiB. The default first GET (a 512 KiB tail and a 64 KiB head) is sized for
an archive nothing is known about; at 400 Mbit/s its 576 KiB cost 12 ms per
archive, more than half a round trip. After an open, :func:`learn` records,
per ``(kind, endpoint, folder)`` of the object's URL, how many bytes at the end
held the end records, the central directory (and a consolidated ``.zmetadata``
right before it), and how many at the start held the leading run of metadata
entries (``.zgroup``, ``.zattrs``, the first ``.zarray``...), each with a
margin; :func:`suggest` lets the next *sibling* ask for only that (never more
than configured). Archives of at most ``WHOLE_MAX`` bytes teach one suffix GET of the
whole object instead (no head GET), and so does a consolidated ``.zmetadata`` next to
the directory (every metadata read is then served from it): one request per open.
A sibling of an end record without a comment gets a tail of just what it needs
(no 64 KiB comment window). A sibling that needs more still opens correctly: the archive
reader fetches the rest of a larger directory (one more GET), a metadata entry
outside the head is read by its own GET. Hints only grow, so such a sibling
raises them for the next.

The object that taught a hint is opened as configured again (repeated opens of
one archive keep the configured buffers). Local files get no hints (reads cost
no round trip). The table is per process, bounded, and a forked child starts
empty.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..transport import Source
from ..transport._forksafe import ForkSafeLock, PerProcess
from ..zipfmt._index import ZipIndex
from ..zipfmt._parse import (
    EOCD_SIZE,
    LOCAL_SIGNATURE,
    LOCAL_SIZE,
    MAX_COMMENT,
    MAX_END_RECORDS,
    VECTORIZE_FROM,
    DirectoryLocation,
    Entry,
    Layout,
    layout_of,
)

#: The smallest tail the directory locator accepts without asking for more (end record
#: plus the largest possible comment), and the ZIP64 records beyond it.
MIN_TAIL = max(EOCD_SIZE + MAX_COMMENT, MAX_END_RECORDS)
#: Prefixes remembered per process (then all forgotten: bounded memory).
MAX_HINTS = 4096
#: Leading entries looked at when measuring the head (metadata comes first or not at all).
MAX_LEADING = 256
_ROUND = 4096
#: Siblings of an archive at most this big (with a margin) are fetched whole by one GET.
WHOLE_MAX = 256 * 1024


@dataclass(frozen=True, slots=True)
class OpenProfile:
    """Which entries a first GET is worth sizing for, as plain file names.

    The archive layer knows no format of what it stores; the layer above says which
    base names are small documents read at open (``head_names``: worth having in the
    first bytes) and which one, written right before the directory, answers every such
    read by itself (``tail_names``). The zarr names are in ``hierarchy._names``.
    """

    head_names: tuple[str, ...] = ()
    tail_names: tuple[str, ...] = ()
    """Tuples, not sets: the profile pickles with the store, and a pickle must not
    depend on the process's string hash seed (dask tokenizes stores by pickle)."""


#: Nothing known about the content: hints size the tail only.
NO_PROFILE = OpenProfile()


@dataclass(frozen=True, slots=True)
class Hint:
    """First-GET sizes for a prefix, and the object that taught them."""

    tail: int
    head: int | None
    """None: nothing learned about the head (it was not fetched)."""
    teacher: str


_HINTS: PerProcess[dict[tuple[str, str | None, str], Hint]] = PerProcess(dict)
_LOCK = ForkSafeLock()


def _key(source: Source) -> tuple[str, str | None, str] | None:
    identity = source.identity
    if identity.kind == "local":
        return None
    return identity.kind, identity.endpoint, identity.url.rpartition("/")[0]


def suggest(source: Source, tail: int, head: int) -> tuple[int, int]:
    """``(tail, head)`` for the first GET of ``source``: the configured sizes, or less when
    a sibling under the same prefix showed that less holds the directory and metadata."""
    key = _key(source)
    if key is None:
        return tail, head
    hint = _HINTS.get().get(key)
    if hint is None or hint.teacher == source.url:
        return tail, head
    return min(tail, hint.tail), head if hint.head is None else min(head, hint.head)


def _round_up(n: int) -> int:
    return -(-n // _ROUND) * _ROUND


def leading_metadata_end(index: ZipIndex, head: bytes, profile: OpenProfile) -> int:
    """Where the run of ``profile.head_names`` entries at the archive's start ends, within
    ``head`` (0 when none of them is live). Walks local headers, checked against the
    directory; stops at the first entry that is not one or does not fit. A superseded copy
    (a rewritten entry: zarr 3's ``ZipStore`` writes ``.zgroup``/``.zattrs`` twice) is
    stepped over by its local sizes, so the live copies after it still count."""
    offset = end = 0
    for _ in range(MAX_LEADING):
        if head[offset : offset + 4] != LOCAL_SIGNATURE or offset + LOCAL_SIZE > len(head):
            break
        length = int.from_bytes(head[offset + 26 : offset + 28], "little")
        name = head[offset + LOCAL_SIZE : offset + LOCAL_SIZE + length].decode("utf-8", "replace")
        if name.rpartition("/")[2] not in profile.head_names:
            break
        entry = index.get(name)
        if entry is not None and entry.header_offset == offset:
            if entry.span_end > len(head) or entry.span_end <= offset:
                break
            offset = end = entry.span_end
            continue
        # superseded: skip it by its local header (no data descriptor: sizes are there)
        flags = int.from_bytes(head[offset + 6 : offset + 8], "little")
        size = int.from_bytes(head[offset + 18 : offset + 22], "little")
        extra = int.from_bytes(head[offset + 28 : offset + 30], "little")
        following = offset + LOCAL_SIZE + length + extra + size
        if flags & 0x0008 or size == 0xFFFFFFFF or following > len(head):
            break
        offset = following
    return end


def _single_top(index: ZipIndex) -> str:
    """The one top-level folder every name is under, else ``""``."""
    bounds = index.name_bounds()
    if bounds is None:
        return ""
    top, sep, _ = os.path.commonprefix(list(bounds)).partition("/")  # noqa: RUF071
    return top if sep else ""


def _tail_document(index: ZipIndex, profile: OpenProfile) -> Entry | None:
    """The entry of ``profile.tail_names`` at the top or under the single top folder."""
    top = None
    for name in profile.tail_names:
        entry = index.get(name)
        if entry is None:
            top = _single_top(index) if top is None else top
            entry = index.get(f"{top}/{name}") if top else None
        if entry is not None:
            return entry
    return None


def _measure(
    index: ZipIndex, size: int, head: bytes, profile: OpenProfile
) -> tuple[int, int | None, int, bool]:
    """``(tail, head, floor, whole_tail)`` an open of this archive needed, without margins.

    ``tail``: bytes at the end holding the end records, the directory and a consolidated
    document written right before it (``whole_tail``: one was); ``head``: the leading
    run of metadata entries within ``head`` (0 when the tail's document serves every
    metadata read; None when no head was fetched); ``floor``: the least tail the
    directory locator takes without asking for more (the comment window, if any).
    """
    start = index.location.cd_start
    consolidated = _tail_document(index, profile)
    in_tail = consolidated is not None and consolidated.span_end == start
    if consolidated is not None and in_tail:
        start = consolidated.header_offset  # written last: keep it in the tail
    # An end record without a comment is located in any tail that holds it (zipformat);
    # with a comment the locator needs the whole comment window.
    floor = MIN_TAIL if index.location.comment else 0
    lead: int | None = None
    if in_tail:
        # Every metadata read is then served from the consolidated document in the
        # tail (prefetch.MetadataCache), so the leading .zgroup/.zattrs are not needed.
        lead = 0
    elif head:
        lead = leading_metadata_end(index, head, profile)
    return size - start, lead, floor, in_tail


def exact_ends(
    index: ZipIndex, size: int, head: bytes, profile: OpenProfile = NO_PROFILE
) -> tuple[int, int | None]:
    """``(tail, head)`` that open this same object again with nothing but what its open
    needed (a pinned copy: the version cannot have moved); ``head`` None: not measured."""
    need, lead, floor, _ = _measure(index, size, head, profile)
    return min(size, max(need, floor)), lead


def learn(
    source: Source, index: ZipIndex, size: int, head: bytes, profile: OpenProfile = NO_PROFILE
) -> tuple[int, int | None]:
    """Record what the open of ``source`` needed (``head``: the first bytes it received);
    returns :func:`exact_ends` of the same (one measure for both)."""
    need, lead, floor, _ = _measure(index, size, head, profile)
    exact = min(size, max(need, floor)), lead
    key = _key(source)
    if key is None:
        return exact
    tail = max(floor, _round_up(need + max(need // 4, _ROUND)))
    learned_head: int | None = None
    if lead is not None:
        learned_head = _round_up(lead + max(lead // 2, 2048)) if lead else 0
    whole = _round_up(size + max(size // 4, _ROUND))
    if whole <= max(tail + (learned_head or 0), WHOLE_MAX):
        # A small archive: one suffix GET of the whole object (with a margin for bigger
        # siblings) costs no more bytes than tail and head would, and one request less.
        tail, learned_head = whole, 0
    with _LOCK:
        hints = _HINTS.get()
        old = hints.get(key)
        if old is not None:
            tail = max(tail, old.tail)
            if old.head is not None:
                learned_head = old.head if learned_head is None else max(learned_head, old.head)
            teacher = old.teacher
        else:
            teacher = source.url
            if len(hints) >= MAX_HINTS:
                hints.clear()
        hints[key] = Hint(tail, learned_head, teacher)
    return exact


#: Prefixes whose directory layout is remembered (then all forgotten), and the largest
#: directory remembered: the small archives of a cohort, whose parse is per-record work.
MAX_LAYOUTS = 64
MAX_LAYOUT_DIRECTORY = VECTORIZE_FROM

_LAYOUTS: PerProcess[dict[tuple[str, str | None, str], tuple[Layout, ZipIndex]]] = PerProcess(dict)


def sibling_layout(source: Source) -> tuple[Layout, ZipIndex] | None:
    """The directory layout a sibling under the same prefix had, with its index (whose
    lookup an index over the same names shares), or None."""
    key = _key(source)
    return None if key is None else _LAYOUTS.get().get(key)


def learn_layout(
    source: Source, directory: bytes | memoryview, location: DirectoryLocation, index: ZipIndex
) -> None:
    """Remember the layout of the directory ``index`` was parsed from, if the prefix has
    none yet: its siblings then parse theirs by gathering (``zipfmt.parse_like``). The
    first archive teaches; one laid out differently parses the usual way, teaching nothing."""
    key = _key(source)
    if key is None or location.cd_size > MAX_LAYOUT_DIRECTORY or key in _LAYOUTS.get():
        return
    layout = layout_of(directory, location, index.records.names)
    if layout is None:
        return
    with _LOCK:
        layouts = _LAYOUTS.get()
        if len(layouts) >= MAX_LAYOUTS:
            layouts.clear()
        layouts.setdefault(key, (layout, index))


def clear() -> None:
    """Forget every hint (the next open of each prefix uses the configured sizes) and
    every directory layout."""
    with _LOCK:
        hints = _HINTS.peek()
        if hints:
            hints.clear()
        layouts = _LAYOUTS.peek()
        if layouts:
            layouts.clear()
