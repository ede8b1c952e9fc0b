"""Check an archive against the conventions for zarr in a zip: a validator's report.

Two documents (their rules and sources are listed in docs/zip-format.md):

* the zarr zip store draft (zarr-specs PR #311, as restructured on 2026-07-31):
  entry name = key, archive root = store root, the central directory is
  authoritative, the last of duplicate names wins, readers must support stored
  and deflate, no multi-volume, no encryption; guidance: chunks and shards
  stored (range-readable), ZIP64;
* OME-Zarr RFC-9 (``.ozx``), applied when the name ends in ``.ozx`` or the
  comment declares it: zarr v3 only, the root ``zarr.json`` at the archive
  root; SHOULD: ZIP64, no zip-level compression, the sharding codec, every
  ``zarr.json`` first (root first, then breadth-first) in the file and in the
  central directory, the JSON comment, the ``.ozx`` extension.

Each rule gives one :class:`Finding` (pass, info, warn or fail) with the entries
involved (at most :data:`MAX_LISTED` named, and how many in all). Everything
here reads JSON only: it imports no zarr, so it checks zarr 2 and 3 archives
from either environment. Without ``deep`` it reads the directory, every metadata
entry and what the open buffered (their local headers are checked too); with
``deep`` it reads every entry once, checking each local header and CRC-32.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import struct
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from ..archive._reader import ZipArchive
from ..errors import BadArchiveError, RemoteZipError, UnsupportedArchiveError
from ..hierarchy._frontend import ArchiveFrontEnd, open_archive
from ..hierarchy._names import ZARR_V3_METADATA, is_metadata
from ..hierarchy._roots import detect_root, normalize_path
from ..zipfmt import _planner as planner
from ..zipfmt._conventions import OzxInfo, is_ozx_name
from ..zipfmt._decode import AES, DEFLATED, STORED, check_supported, decompress, method_name
from ..zipfmt._parse import (
    CENTRAL_SIZE,
    FLAG_DATA_DESCRIPTOR,
    FLAG_ENCRYPTED,
    LOCAL_SIZE,
    ZIP64_EXTRA_ID,
    DirectoryLocation,
    Entry,
    decode_name,
    parse_central_directory,
    span,
)
from ._progress import Progress

Status = Literal["pass", "info", "warn", "fail"]

#: Entry names listed per finding; the rest are counted.
MAX_LISTED = 10
#: Missing chunks are looked for in grids up to this many chunks (beyond: counted only).
MAX_GRID_SCAN = 1_000_000

DRAFT = "zarr zip store draft (zarr-specs PR #311)"
RFC9 = "OME-Zarr RFC-9 (.ozx)"

_LOCAL = struct.Struct("<4s5H3L2H")
_U32 = 0xFFFFFFFF


@dataclass(frozen=True)
class Finding:
    """One rule's outcome."""

    rule: str
    status: Status
    message: str
    source: str
    """Which document and how binding: ``"zarr zip store draft: MUST"``, ``"... SHOULD"``."""
    entries: tuple[str, ...] = ()
    """Entry names involved, at most :data:`MAX_LISTED`."""
    count: int = 0
    """How many entries are involved in all."""


@dataclass(frozen=True)
class Report:
    """Every finding about one archive; ``ok`` when no rule failed (warnings allowed)."""

    url: str
    ozx: bool
    """Whether RFC-9's rules were applied (``.ozx`` name or an RFC-9 comment)."""
    deep: bool
    findings: tuple[Finding, ...]
    ome: OzxInfo | None = None
    facts: dict[str, Any] = field(default_factory=dict)
    """Measured figures (open cost, metadata placement) for the JSON report."""

    @property
    def failed(self) -> list[Finding]:
        return [f for f in self.findings if f.status == "fail"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.status == "warn"]

    @property
    def ok(self) -> bool:
        return not self.failed

    def finding(self, rule: str) -> Finding:
        """The finding of ``rule`` (``KeyError`` when the rule did not run)."""
        for found in self.findings:
            if found.rule == rule:
                return found
        raise KeyError(rule)

    def to_json(self) -> dict[str, Any]:
        """The report as plain data (``remote-zip-store check --json``)."""
        return {
            "url": self.url,
            "ok": self.ok,
            "deep": self.deep,
            "conventions": [DRAFT, RFC9] if self.ozx else [DRAFT],
            "ome": None if self.ome is None else asdict(self.ome),
            "summary": dict(Counter(f.status for f in self.findings)),
            "findings": [{**asdict(f), "entries": list(f.entries)} for f in self.findings],
            "facts": self.facts,
        }

    def lines(self) -> list[str]:
        """The report as text: one line per rule, then a summary."""
        out = [
            f"archive: {self.url}",
            "checked against: " + (f"{DRAFT}, {RFC9}" if self.ozx else DRAFT),
        ]
        for f in self.findings:
            shown = ""
            if f.entries:
                more = f.count - len(f.entries)
                shown = ": " + ", ".join(f.entries) + (f" (and {more} more)" if more > 0 else "")
            out.append(f"{f.status.upper():<5} {f.rule:<20} {f.message}{shown}")
        counts = Counter(f.status for f in self.findings)
        out.append(
            f"result: {'FAILED' if counts['fail'] else 'ok'} "
            f"({counts['fail']} failed, {counts['warn']} warnings, {counts['pass']} passed)"
        )
        return out


def check(
    url_or_archive: str | os.PathLike[str] | ZipArchive | ArchiveFrontEnd,
    deep: bool = False,
    *,
    root: str | None = None,
    progress: bool = False,
    client: Any = None,
    **options: Any,
) -> Report:
    """Check an archive (a URL or local path, a :class:`ZipArchive`, or a store) and report.

    ``options``: read options and connection arguments, as for the stores.
    ``root``: the folder holding the hierarchy (default: detected, as the stores
    do; anything but the archive root fails the draft's rule all the same).
    ``progress``: a progress bar on stderr while ``deep`` reads every entry.
    An archive that cannot be opened as a zip (corrupt, multi-volume) is a report
    with a failed rule, not an exception; a missing object or denied access raises.
    Given an archive (or a store's ``.archive``), its own counters so far are
    reported as the open's cost, and it is left open.
    """
    if isinstance(url_or_archive, ArchiveFrontEnd):
        url_or_archive = url_or_archive.archive
    if isinstance(url_or_archive, ZipArchive):
        return _Checker(url_or_archive, deep, root, progress).run()
    url = os.fspath(url_or_archive)
    try:
        opened = open_archive(url, client=client, **options)
    except (BadArchiveError, UnsupportedArchiveError) as exc:
        return _unopenable(url, exc)
    try:
        return _Checker(opened, deep, root, progress).run()
    finally:
        opened.close()


def _unopenable(url: str, exc: RemoteZipError) -> Report:
    detail = exc.detail if hasattr(exc, "detail") else str(exc)
    if "multi-disk" in str(exc):
        finding = Finding("multi-volume", "fail", str(detail), f"{DRAFT}: MUST")
    else:
        finding = Finding("zip-structure", "fail", f"not a readable zip: {detail}", "APPNOTE")
    return Report(url=url, ozx=is_ozx_name(url), deep=False, findings=(finding,))


@dataclass
class _Array:
    path: str
    """Folder of the array (archive names), ``""`` at the archive root."""
    shape: tuple[int, ...]
    grid: tuple[int, ...]
    separator: str
    prefix_c: bool
    """v3 default encoding: keys are ``c/0/1``; v2 (and v3's ``v2`` encoding): ``0.1``."""
    sharded: bool = False
    present: set[tuple[int, ...]] = field(default_factory=set)


class _Checker:
    """One archive's checks; the rules are the ``_rule_*`` steps of :meth:`run`."""

    def __init__(self, archive: ZipArchive, deep: bool, root: str | None, progress: bool):
        self.archive = archive
        self.deep = deep
        self.progress = progress
        self.findings: list[Finding] = []
        self.facts: dict[str, Any] = {}
        self.index = archive.index
        self.location: DirectoryLocation = self.index.location
        self.root = detect_root(self.index) if root is None else normalize_path(root)
        self.ome = archive.ome
        self.ozx = is_ozx_name(archive.url) or self.ome is not None
        self.metadata_values: dict[str, Any] = {}
        self.bad_metadata: list[str] = []

    def add(
        self,
        rule: str,
        status: Status,
        message: str,
        source: str,
        names: Sequence[str] = (),
    ) -> None:
        self.findings.append(
            Finding(rule, status, message, source, tuple(names[:MAX_LISTED]), len(names))
        )

    def run(self) -> Report:
        self._open_cost()  # first: the archive's counters are the open's only
        self.rows = self._rows()
        self._zip_rules()
        self._read_entries()
        self._hierarchy_rules()
        if self.ozx:
            self._rfc9_rules()
        return Report(
            url=self.archive.url,
            ozx=self.ozx,
            deep=self.deep,
            findings=tuple(self.findings),
            ome=self.ome,
            facts=self.facts,
        )

    # -- the directory, every record ------------------------------------------------------
    def _rows(self) -> list[tuple[Entry, int]]:
        """Every central-directory record (duplicates and folders too) with its disk number."""
        loc = self.location
        raw = self.archive.read_raw(loc.cd_start, loc.cd_start + loc.cd_size)
        records = parse_central_directory(raw, loc)
        disks = _disk_numbers(raw)
        offsets = sorted(set(records.header_offset))
        following = dict(zip(offsets, [*offsets[1:], loc.cd_start], strict=True))
        rows = []
        for i in range(len(records)):
            entry = records.entry(i, following[records.header_offset[i]])
            rows.append((entry, disks[i] if i < len(disks) else 0))
        return rows

    # -- zip-level rules --------------------------------------------------------------------
    def _zip_rules(self) -> None:
        entries = [e for e, _ in self.rows]
        files = [e for e in entries if not e.name.endswith("/")]
        must, guide = f"{DRAFT}: MUST", f"{DRAFT}: guidance"

        on_other_disks = [e.name for e, disk in self.rows if disk != 0]
        if on_other_disks:
            self.add("multi-volume", "fail", "records on a disk other than 0", must, on_other_disks)
        else:
            self.add("multi-volume", "pass", "one volume (end records and records on disk 0)", must)

        encrypted = [e.name for e in entries if e.flags & FLAG_ENCRYPTED or e.method == AES]
        if encrypted:
            self.add("encryption", "fail", "encrypted entries", must, encrypted)
        else:
            self.add("encryption", "pass", "no encrypted entries", must)

        other = [
            f"{e.name} ({method_name(e.method)})"
            for e in files
            if e.method not in (STORED, DEFLATED) and e.name not in set(encrypted)
        ]
        if other:
            self.add(
                "methods",
                "warn",
                "methods other than stored/deflate (readers need only support those two)",
                f"{DRAFT}: MUST (readers)",
                other,
            )
        else:
            self.add("methods", "pass", "stored and deflate only", f"{DRAFT}: MUST (readers)")

        self._duplicates(files)

        bad = [f"{e.name!r} ({problem})" for e in entries if (problem := _key_problem(e.name))]
        if bad:
            self.add("entry-names", "fail", "entry names that are not zarr keys", must, bad)
        else:
            self.add("entry-names", "pass", "every entry name is a valid key", must)

        described = [e.name for e in files if e.flags & FLAG_DATA_DESCRIPTOR]
        if described:
            self.add(
                "data-descriptors",
                "info",
                "entries with data descriptors (local sizes are zero; the directory is "
                "authoritative, so readers that use it are unaffected)",
                f"{DRAFT}: MUST (directory authoritative)",
                described,
            )
        else:
            self.add("data-descriptors", "pass", "no data descriptors", "APPNOTE")

        large = [
            e.name
            for e in entries
            if max(e.compressed_size, e.uncompressed_size, e.header_offset) >= _U32
        ]
        records = "ZIP64 end records" if self.location.zip64 else "no ZIP64 end records"
        self.add(
            "zip64",
            "pass",
            f"{records}; {len(large)} entries need ZIP64 fields (read through them)",
            guide,
            large,
        )

    def _duplicates(self, files: list[Entry]) -> None:
        by_name: dict[str, list[Entry]] = {}
        for entry in files:
            by_name.setdefault(entry.name, []).append(entry)
        dups = {name: rows for name, rows in by_name.items() if len(rows) > 1}
        source = f"{DRAFT}: MUST (last duplicate wins)"
        if not dups:
            self.add("duplicates", "pass", "no duplicate names", source)
            return
        # zipfile's NameToInfo (zarr's ZipStore) and this store's index keep the last record.
        disagree = [
            name
            for name, rows in dups.items()
            if max(r.header_offset for r in rows) != rows[-1].header_offset
        ]
        message = (
            f"{len(dups)} name(s) with more than one record ({sum(map(len, dups.values()))} in "
            "all); the last record is read, by this store and by zarr's ZipStore (zipfile "
            "keeps the last)"
        )
        if disagree:
            message += (
                f"; for {len(disagree)} of them the last record is not the last written "
                "(a reader scanning local headers gets an older version)"
            )
        self.add("duplicates", "warn", message, source, sorted(dups))

    # -- local headers, metadata, CRCs ----------------------------------------------------
    def _read_entries(self) -> None:
        """Read what the rules need (all of it with ``deep``), in coalesced batches."""
        archive = self.archive
        chosen: list[Entry] = []
        for entry, _ in self.rows:
            if entry.name.endswith("/") and entry.compressed_size == 0:
                wanted = self.deep
            else:
                wanted = self.deep or is_metadata(entry.name) or _buffered(archive, entry)
            if wanted:
                chosen.append(entry)
        limit = self.location.cd_start
        ranges = []
        mismatched: list[str] = []
        for entry in list(chosen):
            start, end = span(entry)
            if start + LOCAL_SIZE > limit:
                mismatched.append(f"{entry.name} (local header past the directory's start)")
                chosen.remove(entry)
                continue
            ranges.append(planner.ByteRange(start, min(end, limit)))
        batches = planner.plan(
            ranges,
            coalesce_gap=archive.options.coalesce_gap,
            coalesce_max=archive.options.coalesce_max,
        )
        corrupt: list[str] = []
        checked_crc = 0
        newest = {  # the record a read of each name returns (the last duplicate)
            (e.name, e.header_offset)
            for e in map(self.index.get, {r.name for r, _ in self.rows})
            if e is not None
        }
        with Progress(len(chosen), "check", enabled=None if self.progress else False) as bar:
            for batch in batches:
                data = archive.read_raw(batch.start, batch.end)
                for i in batch.members:
                    entry = chosen[i]
                    view = memoryview(data)[ranges[i].start - batch.start :]
                    problem, payload = self._entry_bytes(entry, view)
                    if problem:
                        mismatched.append(f"{entry.name} ({problem})")
                    elif payload is not None:
                        try:
                            check_supported(entry)
                            value = decompress(payload, entry, verify_crc=True)
                        except UnsupportedArchiveError:
                            pass  # reported by the encryption and methods rules
                        except RemoteZipError as exc:
                            corrupt.append(f"{entry.name} ({_detail(exc)})")
                        else:
                            checked_crc += 1
                            if (entry.name, entry.header_offset) in newest and is_metadata(
                                entry.name
                            ):
                                self._parse_metadata(entry.name, value)
                    bar.advance()
        total = len(self.rows)
        scope = "all" if self.deep else "metadata and buffered"
        source = f"{DRAFT}: MUST (directory authoritative)"
        if mismatched:
            self.add(
                "local-headers",
                "fail",
                f"local headers that disagree with the central directory ({scope} "
                f"{len(chosen)} of {total} checked)",
                source,
                mismatched,
            )
        else:
            self.add(
                "local-headers",
                "pass",
                f"local headers agree with the directory ({scope}: {len(chosen)} of {total}"
                f"{'' if self.deep else '; --deep checks all'})",
                source,
            )
        if corrupt:
            self.add("crc", "fail", "entries whose data does not check out", "APPNOTE", corrupt)
        elif self.deep:
            self.add("crc", "pass", f"every entry read and checked ({checked_crc})", "APPNOTE")
        else:
            self.add(
                "crc",
                "info",
                f"{checked_crc} entries checked (metadata, buffered); --deep reads every entry",
                "APPNOTE",
            )

    def _entry_bytes(self, entry: Entry, view: memoryview) -> tuple[str, memoryview | None]:
        """``(problem with the local header, the entry's compressed bytes)``."""
        if len(view) < LOCAL_SIZE:
            return "truncated local header", None
        sig, _, flags, method, _, _, crc, csize, usize, nlen, elen = _LOCAL.unpack_from(view, 0)
        if sig != b"PK\x03\x04":
            return "no local header signature", None
        local_name = bytes(view[LOCAL_SIZE : LOCAL_SIZE + nlen])
        extra = bytes(view[LOCAL_SIZE + nlen : LOCAL_SIZE + nlen + elen])
        problems = []
        if decode_name(local_name, entry.flags) != entry.name:
            problems.append(f"local name {local_name.decode('utf-8', 'replace')!r}")
        if method != entry.method:
            problems.append(f"local method {method_name(method)}")
        if not flags & FLAG_DATA_DESCRIPTOR and not entry.flags & FLAG_DATA_DESCRIPTOR:
            usize, csize = _local_zip64_sizes(extra, usize, csize)
            if crc != entry.crc32:
                problems.append(f"local CRC {crc:08x}")
            if csize != entry.compressed_size or usize != entry.uncompressed_size:
                problems.append(f"local sizes {csize}/{usize}")
        if problems:
            return ", ".join(problems), None
        start = LOCAL_SIZE + nlen + elen
        stop = start + entry.compressed_size
        if entry.header_offset + stop > self.location.cd_start:
            return "data runs into the central directory", None
        if len(view) < stop:  # a local extra field longer than the span guessed
            view = memoryview(
                self.archive.read_raw(entry.header_offset, entry.header_offset + stop)
            )
        return "", view[start:stop]

    def _parse_metadata(self, name: str, value: bytes) -> None:
        try:
            document = json.loads(value)
        except (ValueError, RecursionError):
            self.bad_metadata.append(name)
            return
        if name.endswith(".zattrs") or isinstance(document, dict):
            self.metadata_values[name] = document
        else:
            self.bad_metadata.append(name)

    # -- the zarr hierarchy -------------------------------------------------------------------
    def _hierarchy_rules(self) -> None:
        must = f"{DRAFT}: MUST"
        prefix = self.root + "/" if self.root else ""
        names = self.index.names()
        metadata = [n for n in names if is_metadata(n)]
        if self.bad_metadata:
            self.add(
                "metadata-json",
                "fail",
                "metadata that is not a JSON object",
                must,
                self.bad_metadata,
            )
        else:
            self.add("metadata-json", "pass", f"{len(metadata)} metadata entries parse", must)

        has_root = any(
            f"{prefix}{m}" in self.index for m in (".zgroup", ".zarray", ZARR_V3_METADATA)
        )
        if not metadata:
            self.add("store-root", "fail", "no zarr metadata in the archive", must)
        elif self.root:
            self.add(
                "store-root",
                "fail",
                f"the hierarchy is under the folder {self.root!r}, not at the archive root "
                "(this store finds it; a reader following the draft needs a path)",
                must,
            )
        elif not has_root:
            self.add("store-root", "fail", "no group or array metadata at the archive root", must)
        else:
            self.add("store-root", "pass", "the archive root is the store root", must)

        nodes, arrays = self._nodes(metadata)
        orphans = [path + "/" for path in nodes if path != self.root and _parent(path) not in nodes]
        outside: list[str] = []
        out_of_grid: list[str] = []
        deflated_chunks: list[str] = []
        for name in names:
            if is_metadata(name):
                continue
            owner = _owner(name, nodes)
            array = arrays.get(owner) if owner is not None else None
            if array is None or not name.startswith(prefix):
                outside.append(name)
                continue
            where = _chunk_index(array, name[len(owner) + 1 :] if owner else name)
            if where is None:
                outside.append(name)
            elif any(i >= g for i, g in zip(where, array.grid, strict=True)):
                out_of_grid.append(name)
            else:
                array.present.add(where)
                entry = self.index.get(name)
                if entry is not None and entry.method != STORED:
                    deflated_chunks.append(f"{name} ({method_name(entry.method)})")
        stray = orphans + outside
        if stray:
            self.add(
                "hierarchy",
                "warn",
                "keys outside the hierarchy (no array or group owns them)",
                f"{DRAFT}: MUST (entry name = key)",
                stray,
            )
        else:
            self.add("hierarchy", "pass", f"{len(nodes)} nodes; every key belongs to one", must)
        if out_of_grid:
            self.add(
                "chunk-grid", "fail", "chunk keys outside their array's grid", must, out_of_grid
            )
        else:
            self.add(
                "chunk-grid", "pass", f"{len(arrays)} array(s); chunk keys inside the grid", must
            )
        missing = list(itertools.islice(_missing(arrays.values()), MAX_LISTED))
        absent = sum(math.prod(a.grid) - len(a.present) for a in arrays.values())
        if absent:
            self.findings.append(
                Finding(
                    "missing-chunks",
                    "info",
                    f"{absent} chunks absent (read as fill_value)",
                    "zarr",
                    tuple(missing),
                    absent,
                )
            )
        else:
            self.add("missing-chunks", "pass", "every chunk of every array is present", "zarr")
        if deflated_chunks:
            self.add(
                "stored-chunks",
                "warn",
                "compressed chunk entries (not range-readable: a partial read fetches and "
                "inflates the whole entry)",
                f"{DRAFT}: guidance",
                deflated_chunks,
            )
        else:
            self.add("stored-chunks", "pass", "chunks and shards are stored", f"{DRAFT}: guidance")
        self.nodes, self.arrays = nodes, arrays

    def _nodes(self, metadata: list[str]) -> tuple[dict[str, str], dict[str, _Array]]:
        """Node folders (``"group"``/``"array"``) and the arrays' grids, from the metadata."""
        nodes: dict[str, str] = {}
        arrays: dict[str, _Array] = {}
        for name in metadata:
            folder, _, base = name.rpartition("/")
            document = self.metadata_values.get(name)
            if base == ZARR_V3_METADATA and isinstance(document, dict):
                kind = document.get("node_type")
                if kind == "array":
                    nodes[folder] = "array"
                    array = _v3_array(folder, document)
                    if array is not None:
                        arrays[folder] = array
                elif kind == "group":
                    nodes.setdefault(folder, "group")
            elif base == ".zarray" and isinstance(document, dict):
                nodes[folder] = "array"
                array = _v2_array(folder, document)
                if array is not None:
                    arrays[folder] = array
            elif base == ".zgroup":
                nodes.setdefault(folder, "group")
        return nodes, arrays

    # -- open cost -------------------------------------------------------------------------
    def _open_cost(self) -> None:
        """Requests and bytes to open and to read every metadata key as the stores do."""
        from ..hierarchy._prefetch import MetadataCache

        archive = self.archive
        stats = archive.source.stats
        opened, opened_bytes = stats.snapshot()
        names = [n for n in self.index.names() if is_metadata(n)]
        cache = MetadataCache(archive, self.root + "/" if self.root else "", "auto")
        for name in names:
            try:
                if cache.get(name) is None:
                    cache.remember(name, archive.read(name))
            except RemoteZipError:
                continue  # reported by the rules that read it
        requests, nbytes = stats.snapshot()
        placement = Counter(self._placement(name) for name in names)
        self.facts.update(
            open_requests=opened,
            open_bytes=opened_bytes,
            metadata_keys=len(names),
            metadata_requests=requests - opened,
            metadata_bytes=nbytes - opened_bytes,
            metadata_in_head=placement["head"],
            metadata_in_tail=placement["tail"],
            metadata_in_middle=placement["middle"],
        )
        self.add(
            "open-cost",
            "info",
            f"open: {opened} request(s), {opened_bytes:,} bytes; then {len(names)} metadata "
            f"keys: {requests - opened} request(s), {nbytes - opened_bytes:,} bytes; metadata "
            f"in head {placement['head']}, tail {placement['tail']}, "
            f"middle {placement['middle']}",
            "this store",
        )

    def _placement(self, name: str) -> str:
        entry = self.index.get(name)
        if entry is None or not self.archive.is_buffered(entry):
            return "middle"
        return "head" if span(entry)[1] <= self.archive.options.head_size else "tail"

    # -- RFC-9 -----------------------------------------------------------------------------
    def _rfc9_rules(self) -> None:
        must, should = f"{RFC9}: MUST", f"{RFC9}: SHOULD"
        names = self.index.names()
        v2 = [n for n in names if is_metadata(n) and not n.endswith(ZARR_V3_METADATA)]
        not_v3 = [
            n
            for n in names
            if n.endswith(ZARR_V3_METADATA)
            and isinstance(self.metadata_values.get(n), dict)
            and self.metadata_values[n].get("zarr_format") != 3
        ]
        if v2 or not_v3:
            self.add("rfc9-zarr-v3", "fail", "metadata that is not zarr v3", must, v2 + not_v3)
        else:
            self.add("rfc9-zarr-v3", "pass", "zarr v3 metadata only", must)
        if ZARR_V3_METADATA in self.index:
            self.add("rfc9-root", "pass", "the root zarr.json is at the archive root", must)
        else:
            self.add("rfc9-root", "fail", "no zarr.json at the archive root", must)

        if self.location.zip64:
            self.add("rfc9-zip64", "pass", "ZIP64 end records", should)
        else:
            self.add(
                "rfc9-zip64",
                "warn",
                "no ZIP64 end records (RFC-9: ZIP64 whatever the size)",
                should,
            )

        compressed = [
            f"{e.name} ({method_name(e.method)})"
            for e, _ in self.rows
            if e.method != STORED and not e.name.endswith("/")
        ]
        if compressed:
            self.add(
                "rfc9-stored", "warn", "entries with zip-level compression", should, compressed
            )
        else:
            self.add("rfc9-stored", "pass", "no zip-level compression", should)

        unsharded = [a.path + "/" if a.path else "/" for a in self.arrays.values() if not a.sharded]
        if unsharded:
            self.add(
                "rfc9-sharding", "warn", "arrays without the sharding codec", should, unsharded
            )
        else:
            self.add("rfc9-sharding", "pass", f"{len(self.arrays)} arrays sharded", should)

        self._rfc9_order()

        if self.ome is None:
            self.add("rfc9-comment", "warn", "no RFC-9 JSON archive comment", should)
        elif self.ome.version is None:
            self.add("rfc9-comment", "warn", "the RFC-9 comment has no ome.version", should)
        else:
            first = ", jsonFirst" if self.ome.json_first else ""
            self.add(
                "rfc9-comment", "pass", f"RFC-9 comment: version {self.ome.version}{first}", should
            )

        if is_ozx_name(self.archive.url):
            self.add("rfc9-extension", "pass", "the name ends in .ozx", should)
        else:
            self.add("rfc9-extension", "warn", "the name does not end in .ozx", should)

    def _rfc9_order(self) -> None:
        """Every zarr.json first, root first then breadth-first: in the directory and the file.

        ``jsonFirst`` sits under ``zipFile.centralDirectory`` (ome/ngff PR #364): it
        declares the directory's order, so a directory that breaks it fails; a file
        order that differs (metadata written last, as a streaming writer must) breaks
        RFC-9's SHOULD only and warns.
        """
        files = [e for e, _ in self.rows if not e.name.endswith("/")]
        json_count = sum(e.name.rpartition("/")[2] == ZARR_V3_METADATA for e in files)
        problems: dict[str, list[str]] = {}
        for where, ordered in (
            ("central directory", files),
            ("file", sorted(files, key=lambda e: e.header_offset)),
        ):
            found = problems.setdefault(where, [])
            head = [e.name for e in ordered[:json_count]]
            if not head or head[0] != ZARR_V3_METADATA:
                found.append(f"{where}: first entry is {head[0] if head else None!r}")
                continue
            late = [n for n in head if n.rpartition("/")[2] != ZARR_V3_METADATA]
            if late:
                found.append(f"{where}: {late[0]!r} comes before a zarr.json")
                continue
            depths = [n.count("/") for n in head]
            if depths != sorted(depths):
                at = next(i for i in range(1, len(depths)) if depths[i] < depths[i - 1])
                found.append(f"{where}: {head[at]!r} is not in breadth-first order")
        declared = self.ome is not None and self.ome.json_first
        listed = problems["central directory"] + problems["file"]
        if not listed:
            self.add(
                "rfc9-json-first",
                "pass",
                f"{json_count} zarr.json first, breadth-first",
                f"{RFC9}: SHOULD",
            )
        elif declared and problems["central directory"]:
            self.add(
                "rfc9-json-first",
                "fail",
                "the comment declares jsonFirst but the central directory's order breaks it",
                f"{RFC9}: SHOULD (declared in the comment)",
                listed,
            )
        elif declared:
            self.add(
                "rfc9-json-first",
                "warn",
                "zarr.json entries are first in the central directory (as jsonFirst "
                "declares) but not in the file",
                f"{RFC9}: SHOULD",
                listed,
            )
        else:
            self.add(
                "rfc9-json-first",
                "warn",
                "zarr.json entries are not first",
                f"{RFC9}: SHOULD",
                listed,
            )


# -- helpers ---------------------------------------------------------------------------------
def _detail(exc: RemoteZipError) -> str:
    detail = getattr(exc, "detail", None)
    return str(detail) if detail else str(exc)


def _buffered(archive: ZipArchive, entry: Entry) -> bool:
    try:
        return archive.is_buffered(entry)
    except RemoteZipError:
        return True  # a corrupt record: read it, so the local-header rule names it


def _disk_numbers(directory: bytes) -> list[int]:
    """Each record's "disk number start" field (the parser has no use for it)."""
    disks = []
    pos = 0
    while pos + CENTRAL_SIZE <= len(directory):
        nlen, elen, clen, disk = struct.unpack_from("<4H", directory, pos + 28)
        disks.append(disk)
        pos += CENTRAL_SIZE + nlen + elen + clen
    return disks


def _local_zip64_sizes(extra: bytes, usize: int, csize: int) -> tuple[int, int]:
    """The local header's sizes, from its ZIP64 extra field where they overflowed."""
    if usize != _U32 and csize != _U32:
        return usize, csize
    pos = 0
    while pos + 4 <= len(extra):
        tag, size = struct.unpack_from("<2H", extra, pos)
        if tag == ZIP64_EXTRA_ID:
            values = list(struct.unpack_from(f"<{size // 8}Q", extra, pos + 4))
            if usize == _U32 and values:
                usize = values.pop(0)
            if csize == _U32 and values:
                csize = values.pop(0)
            break
        pos += 4 + size
    return usize, csize


def _key_problem(name: str) -> str:
    """Why ``name`` is not a zarr key (``""`` when it is); a folder entry ``a/b/`` is fine."""
    path = name[:-1] if name.endswith("/") else name
    if name.startswith("/"):
        return "absolute"
    if "\\" in name:
        return "backslash"
    if path == "":
        return "empty"
    parts = path.split("/")
    if any(p in (".", "..") for p in parts):
        return "'.' or '..' segment"
    if any(p == "" for p in parts):
        return "empty segment"
    return ""


def _parent(path: str) -> str:
    return path.rpartition("/")[0]


def _owner(name: str, nodes: dict[str, str]) -> str | None:
    """The nearest folder above ``name`` that is a node, or None."""
    folder = name
    while folder:
        folder = _parent(folder)
        if folder in nodes:
            return folder
    return None


def _ints(value: Any) -> tuple[int, ...] | None:
    if isinstance(value, list) and all(isinstance(v, int) and v >= 0 for v in value):
        return tuple(value)
    return None


def _grid(shape: tuple[int, ...], chunks: tuple[int, ...]) -> tuple[int, ...] | None:
    if len(shape) != len(chunks) or any(c <= 0 for c in chunks):
        return None
    return tuple(-(-s // c) for s, c in zip(shape, chunks, strict=True))


def _v2_array(folder: str, document: dict[str, Any]) -> _Array | None:
    shape, chunks = _ints(document.get("shape")), _ints(document.get("chunks"))
    grid = _grid(shape, chunks) if shape is not None and chunks is not None else None
    if shape is None or grid is None:
        return None
    separator = document.get("dimension_separator") or "."
    return _Array(folder, shape, grid, str(separator), prefix_c=False)


def _v3_array(folder: str, document: dict[str, Any]) -> _Array | None:
    shape = _ints(document.get("shape"))
    grid_doc = document.get("chunk_grid")
    if not isinstance(grid_doc, dict) or grid_doc.get("name") != "regular":
        return None  # another grid (rectilinear): its chunks are not checked
    config = grid_doc.get("configuration")
    chunks = _ints(config.get("chunk_shape")) if isinstance(config, dict) else None
    if shape is None or chunks is None:
        return None
    grid = _grid(shape, chunks)
    if grid is None:
        return None
    encoding = document.get("chunk_key_encoding")
    name = encoding.get("name") if isinstance(encoding, dict) else "default"
    conf = encoding.get("configuration") if isinstance(encoding, dict) else None
    separator = conf.get("separator") if isinstance(conf, dict) else None
    default = name != "v2"
    codecs = document.get("codecs")
    sharded = isinstance(codecs, list) and any(
        isinstance(c, dict) and c.get("name") == "sharding_indexed" for c in codecs
    )
    return _Array(
        folder,
        shape,
        grid,
        str(separator or ("/" if default else ".")),
        prefix_c=default,
        sharded=sharded,
    )


def _chunk_index(array: _Array, key: str) -> tuple[int, ...] | None:
    """The grid position a chunk key names, or None when it is not a chunk key."""
    ndim = len(array.shape)
    if array.prefix_c:
        if ndim == 0:
            return () if key == "c" else None
        if not key.startswith("c" + array.separator):
            return None
        key = key[2:]
    elif ndim == 0:
        return () if key == "0" else None
    parts = key.split(array.separator)
    if len(parts) != ndim or not all(p.isdigit() and p.isascii() for p in parts):
        return None
    return tuple(int(p) for p in parts)


def _missing(arrays: Iterable[_Array]) -> Iterator[str]:
    """Names of absent chunks (grids up to :data:`MAX_GRID_SCAN` chunks)."""
    for array in arrays:
        if len(array.present) == math.prod(array.grid) or math.prod(array.grid) > MAX_GRID_SCAN:
            continue
        for where in itertools.product(*(range(g) for g in array.grid)):
            if where not in array.present:
                yield _chunk_name(array, where)


def _chunk_name(array: _Array, where: tuple[int, ...]) -> str:
    key = array.separator.join(map(str, where))
    if array.prefix_c:
        key = "c" + (array.separator + key if where else "")
    elif not where:
        key = "0"
    return f"{array.path}/{key}" if array.path else key


# -- command line -------------------------------------------------------------------------
def run_command(
    url: str,
    *,
    deep: bool,
    as_json: bool,
    root: str | None = None,
    out: Callable[[str], None] | None = None,
    **connection: Any,
) -> int:
    """``remote-zip-store check``: print the report; 0 clean (warnings allowed), 1 a failure."""
    write = out or (lambda line: print(line, file=sys.stdout))
    report = check(url, deep, root=root, progress=True, **connection)
    if as_json:
        write(json.dumps(report.to_json(), indent=2))
    else:
        for line in report.lines():
            write(line)
    return 0 if report.ok else 1
