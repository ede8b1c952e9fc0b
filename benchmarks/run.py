"""Run the benchmark suite: ``python -m benchmarks.run`` (``--quick`` for a CI-sized run).

Starts SeaweedFS on 127.0.0.1 (``tests/servers.py``), uploads the generated archives,
and puts every contender through the same :mod:`remote_zip_store.testing.netsim` proxy in the same
run, condition by condition. Each cell (condition x scenario x contender) is run
``--reps`` times cold (new clients, fsspec caches dropped) within a time budget; the
report gives the median wall time, the requests and bytes the proxy saw, and the
ratios to the FSMap chain and to the physical limit (see :func:`physical_limit`).

Outputs (in ``--out``, default ``benchmarks/out/``): ``results.json``, ``results.md``
and ``benchmarks.png``; a full run also copies the chart to ``docs/img/``.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import logging
import os
import platform
import shutil
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # ``python benchmarks/run.py``: make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import archives, contenders, parse
from benchmarks.archives import Archive
from benchmarks.contenders import Contender, Target
from remote_zip_store import LocalSource, ZipArchive
from remote_zip_store.testing.netsim import CONDITIONS, LOOPBACK, Condition, Counts, NetSim
from remote_zip_store.testing.servers import S3Server, moto_server, seaweedfs_server
from remote_zip_store.zipformat import span

REPO = Path(__file__).resolve().parent.parent
DOCS_IMG = REPO / "docs" / "img"

# -- scenarios ------------------------------------------------------------------------------------


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


def _single(action: Callable[[Any, Archive, Callable[[], None]], None]) -> Callable[..., None]:
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
    coords = [int(i) for i in _middle_chunk(archive).rsplit("/", 1)[1].split(".")]
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
    return _chunk_names(ctx.archive, array)


def _chunk_names(archive: Archive, array: str) -> list[str]:
    prefix = array + "/"
    return [
        n
        for n in _index(archive).names()
        if n.startswith(prefix)
        and "/" not in n[len(prefix) :]
        and not n[len(prefix) :].startswith(".")
    ]


@functools.cache
def _middle_chunk(archive: Archive) -> str:
    """The first array's chunk in the middle of its data: in neither the head nor the tail
    buffer of the open (the first chunk lies in the head), so it costs a GET. Cached: it
    is called inside the timed scenario (the untimed warm-up fills the cache)."""
    index = _index(archive)
    names = _chunk_names(archive, archive.arrays[0])
    names.sort(key=lambda n: index.get(n).header_offset)
    return names[len(names) // 2]


def _all_metadata(ctx: Context) -> list[str]:
    names = _index(ctx.archive).names()
    return [n for n in names if n.rsplit("/", 1)[-1] in (".zgroup", ".zarray")]


def _epoch_index(ctx: Context) -> int:
    return _epoch_slice(ctx.archive).start // ctx.archive.chunk_len


SCENARIOS = (
    Scenario(
        "open",
        "open group",
        _single(_nothing),
        lambda c: [(c.archive, [".zgroup"])],
    ),
    Scenario(
        "tree",
        "tree()",
        _single(_tree),
        lambda c: [(c.archive, _all_metadata(c))],
    ),
    Scenario(
        "chunk",
        "one chunk",
        _single(_chunk),
        lambda c: [
            (c.archive, [*_meta(c.archive, c.archive.arrays[:1]), _middle_chunk(c.archive)])
        ],
    ),
    Scenario(
        "channel",
        "one channel",
        _single(_channel),
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
        _single(_epoch),
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
        _single(_whole),
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

# -- the physical limit ---------------------------------------------------------------------------

_INDEXES: dict[Path, Any] = {}


def _index(archive: Archive) -> Any:
    if archive.path not in _INDEXES:
        with contextlib.closing(ZipArchive(LocalSource(archive.path))) as zip_archive:
            _INDEXES[archive.path] = zip_archive.open().index
    return _INDEXES[archive.path]


def physical_limit(
    scenario: Scenario, ctx: Context, condition: Condition
) -> tuple[float, int, int]:
    """``(seconds, round trips, bytes)``: a lower bound no client can beat on this link.

    2 round trips (connection setup; one round of GETs) plus the fewest bytes that hold
    what the scenario needs, all archives at once (concurrently), over the bandwidth: the
    fewer of *targeted* (each archive's central directory and end records plus exactly the
    local headers and data of the needed entries) and *whole object* (the archives' sizes).
    A client cannot know where entries lie before it has the directory, so it usually
    needs a third round trip; a lucky guess (the store's head GET) can save it, so the
    bound does not charge it.

    It ignores the order the scenario's code reads in (zarr reads arrays one after the
    other), HTTP headers and CPU time. Loopback has no RTT or bandwidth: the limit is 0.
    """
    targeted = whole = 0
    for archive, names in scenario.needs(ctx):
        index = _index(archive)
        cd_start = index.location.cd_start
        targeted += archive.size - cd_start
        for name in names:
            entry = index.get(name)
            if entry is not None:
                begin, end = span(entry)
                targeted += min(end, cd_start) - begin
        whole += archive.size

    nbytes = min(targeted, whole)
    seconds = 2 * condition.rtt + (nbytes / condition.bandwidth if condition.bandwidth else 0)
    return seconds, 2, nbytes


# -- running --------------------------------------------------------------------------------------


@dataclass
class Cell:
    condition: str
    scenario: str
    contender: str
    times: list[float] = field(default_factory=list)
    requests: list[int] = field(default_factory=list)
    bytes_down: list[int] = field(default_factory=list)
    open_requests: list[int] = field(default_factory=list)
    open_bytes: list[int] = field(default_factory=list)
    phase_requests: list[int] = field(default_factory=list)
    phase_bytes: list[int] = field(default_factory=list)
    connections: list[int] = field(default_factory=list)
    limit_s: float = 0.0
    limit_rounds: int = 0
    limit_bytes: int = 0
    note: str = ""
    error: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.times) if self.times else float("nan")

    def median_of(self, values: list[int]) -> int:
        return int(statistics.median_low(values)) if values else 0


@dataclass
class Config:
    quick: bool = False
    reps: int = 3
    cell_budget: float = 20.0
    """Stop repeating a cell once its runs have taken this many seconds (one run minimum)."""
    conditions: tuple[Condition, ...] = CONDITIONS
    scenarios: tuple[str, ...] = SCENARIO_NAMES
    contenders: tuple[str, ...] = (
        "fsmap-chain",
        "fsmap-tuned",
        "fsstore-zip",
        "download",
        "remote-zip-store",
    )
    n_archives: int = 100
    out: Path = archives.OUT
    skip: dict[tuple[str, str, str], str] = field(default_factory=dict)
    """(condition, scenario, contender) -> why it is not run (time-boxing)."""
    parse_entries: int = 1_000_000
    """Entries of the parse benchmark's archive (0: skip it)."""
    archive: str = "eeg"
    """The main archive: eeg, eeg-deflate, grid or many."""


def full_skips() -> dict[tuple[str, str, str], str]:
    """Cells left out of the full run to fit ~25 min on 2 cores, and why."""
    slow = "time-boxed: the default chain moves several times the archive per run here"
    skips: dict[tuple[str, str, str], str] = {}
    for condition in ("20ms-400Mbit", "80ms-100Mbit"):
        skips[(condition, "whole", "fsmap-chain")] = slow
        skips[(condition, "whole", "fsstore-zip")] = slow
    skips[("80ms-100Mbit", "whole", "fsmap-tuned")] = (
        "time-boxed: ~450 sequential 256 KiB reads at 80 ms (> 40 s a run)"
    )
    for scenario in ("tree", "chunk", "channel", "epoch"):
        skips[("80ms-100Mbit", scenario, "download")] = (
            "time-boxed: same download as 'open group' (the whole object, ~9.5 s here)"
        )
    return skips


def quick_config(out: Path) -> Config:
    return Config(
        quick=True,
        reps=1,
        cell_budget=5.0,
        conditions=(LOOPBACK, Condition.of("5ms-400Mbit", 5, 400)),
        n_archives=3,
        out=out,
        parse_entries=20_000,
    )


def _generate(config: Config) -> tuple[Archive, Archive]:
    if config.quick:
        return archives.eeg(channels=2, seconds=300), archives.small(channels=1, seconds=60)
    main = {
        "eeg": archives.eeg,
        "eeg-deflate": lambda: archives.eeg(deflate=True),
        "grid": archives.grid,
        "many": archives.many,
    }[config.archive]()
    return main, archives.small()


def _upload(server: S3Server, archive: Archive, key: str) -> None:
    server.put_file(archive.path, key)


def run_cell(
    sim: NetSim, contender: Contender, scenario: Scenario, ctx: Context, config: Config, cell: Cell
) -> None:
    started = time.perf_counter()
    while len(cell.times) < config.reps:
        contenders.forget_fsspec_instances()
        opened_at: list[Counts] = []

        def mark(marks: list[Counts] = opened_at) -> None:
            marks.append(sim.counts())

        sim.reset()
        t0 = time.perf_counter()
        scenario.run(contender, ctx, mark)
        elapsed = time.perf_counter() - t0
        counts = sim.counts()
        cell.times.append(elapsed)
        cell.requests.append(counts.requests)
        cell.bytes_down.append(counts.bytes_down)
        cell.connections.append(counts.connections)
        if opened_at:
            cell.open_requests.append(opened_at[0].requests)
            cell.open_bytes.append(opened_at[0].bytes_down)
            phase = counts - opened_at[-1]
            cell.phase_requests.append(phase.requests)
            cell.phase_bytes.append(phase.bytes_down)
        if time.perf_counter() - started > config.cell_budget:
            break
    if len(cell.times) < config.reps:
        cell.note = (
            f"{len(cell.times)} of {config.reps} runs (cell time budget {config.cell_budget:g} s)"
        )


def run_suite(
    config: Config, server: S3Server, log: Callable[[str], None] = print
) -> dict[str, Any]:
    """Everything but starting the server: generate, upload, run the matrix, parse test."""
    config.out.mkdir(parents=True, exist_ok=True)
    eeg, small = _generate(config)
    log(f"archives: {eeg.path.name} ({eeg.size:,} B), {small.path.name} ({small.size:,} B)")
    _upload(server, eeg, "bench/eeg.zip")
    if "archives" not in config.scenarios:
        config.n_archives = 1
    for i in range(config.n_archives):
        _upload(server, small, f"bench/small/{i:03d}.zip")
    host, port = server.endpoint_url.removeprefix("http://").split(":")
    chosen = [contenders.BY_NAME[name] for name in config.contenders]
    scenarios = [s for s in SCENARIOS if s.name in config.scenarios]
    cells: list[Cell] = []
    with NetSim(host, int(port)) as sim:
        base = Target(
            sim.endpoint, server.bucket, "bench/eeg.zip", server.access_key, server.secret_key
        )
        ctx = Context(
            base,
            eeg,
            tuple(base.with_key(f"bench/small/{i:03d}.zip") for i in range(config.n_archives)),
            small,
        )
        # Warm-up (untimed): imports, botocore's service model, s3fs's event loop thread.
        for contender in chosen:
            contenders.forget_fsspec_instances()
            contender.open(ctx.small_targets[0]).close()
        for condition in config.conditions:
            sim.set_condition(condition)
            log(f"== {condition.name}: {condition.describe()}")
            for scenario in scenarios:
                for contender in chosen:
                    cell = Cell(condition.name, scenario.name, contender.name)
                    cell.limit_s, cell.limit_rounds, cell.limit_bytes = physical_limit(
                        scenario, ctx, condition
                    )
                    why = config.skip.get((condition.name, scenario.name, contender.name))
                    if why:
                        cell.note = why
                    else:
                        try:
                            run_cell(sim, contender, scenario, ctx, config, cell)
                        except Exception as exc:  # reported in the table, the run goes on
                            cell.error = f"{type(exc).__name__}: {exc}"[:300]
                    cells.append(cell)
                    log(_cell_line(cell))
        parse_result = (
            parse.run(config.parse_entries, server, sim, log=log) if config.parse_entries else {}
        )
    result = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "setup": _setup(server),
        "config": {
            "quick": config.quick,
            "reps": config.reps,
            "cell_budget_s": config.cell_budget,
            "conditions": [asdict(c) for c in config.conditions],
            "n_archives": config.n_archives,
            "skipped": {"/".join(k): v for k, v in config.skip.items()},
        },
        "archives": {
            "main": {
                "kind": config.archive,
                "name": eeg.path.name,
                "bytes": eeg.size,
                "entries": len(_index(eeg)),
            },
            "small": {"name": small.path.name, "bytes": small.size, "entries": len(_index(small))},
        },
        "contenders": {c.name: c.label for c in chosen},
        "scenarios": {s.name: s.label for s in scenarios},
        "cells": [dict(asdict(c), median=c.median) for c in cells],
        "parse": parse_result,
    }
    result["targets"] = check_targets(cells, ctx, parse_result)
    return result


def _cell_line(cell: Cell) -> str:
    if cell.error:
        return f"  {cell.scenario:9} {cell.contender:18} ERROR {cell.error}"
    if not cell.times:
        return f"  {cell.scenario:9} {cell.contender:18} skipped ({cell.note})"
    return (
        f"  {cell.scenario:9} {cell.contender:18} {cell.median:8.3f} s  "
        f"{cell.median_of(cell.requests):6d} req  {cell.median_of(cell.bytes_down) / 1e6:9.2f} MB"
        f"  (n={len(cell.times)}, limit {cell.limit_s:.3f} s)"
    )


def _setup(server: S3Server) -> dict[str, Any]:
    import boto3
    import zarr

    from remote_zip_store.testing.servers import weed_binary

    versions = {
        "python": platform.python_version(),
        "zarr": zarr.__version__,
        "boto3": boto3.__version__,
    }
    for module in ("s3fs", "fsspec", "aiobotocore"):
        with contextlib.suppress(ImportError):
            versions[module] = __import__(module).__version__
    weed = weed_binary()
    if server.name == "seaweedfs" and weed:
        import subprocess

        out = subprocess.run([weed, "version"], capture_output=True, text=True, timeout=30)
        versions["seaweedfs"] = next(
            (line for line in out.stdout.splitlines() if line.startswith("version")), "?"
        )
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {
        "server": server.name,
        "cpus": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "load_average_at_end": [round(x, 2) for x in load],
        "versions": versions,
    }


# -- targets --------------------------------------------------------------------------------------


def _find(cells: list[Cell], condition: str, scenario: str, contender: str) -> Cell | None:
    for cell in cells:
        if (cell.condition, cell.scenario, cell.contender) == (condition, scenario, contender):
            return cell if cell.times else None
    return None


def check_targets(
    cells: list[Cell], ctx: Context, parse_result: dict[str, Any]
) -> list[dict[str, Any]]:
    """Each target of issue 3 with its measured figure (``met`` is None when not measured)."""
    cond = "20ms-400Mbit"
    out: list[dict[str, Any]] = []

    def add(target: str, met: bool | None, figure: str) -> None:
        out.append({"target": target, "met": met, "figure": figure})

    def get(scenario: str, contender: str, condition: str = cond) -> Cell | None:
        return _find(cells, condition, scenario, contender)

    store = get("open", "remote-zip-store")
    if store:
        n = store.median_of(store.open_requests)
        add("open group <= 2 requests", n <= 2, f"{n} requests")
    for base, factor in (("fsmap-chain", 40), ("fsmap-tuned", 6)):
        other = get("open", base)
        if store and other:
            x = other.median / store.median
            add(
                f"open group >= {factor}x faster than {base}",
                x >= factor,
                f"{x:.1f}x ({other.median:.3f} s vs {store.median:.3f} s)",
            )
    chunk = get("chunk", "remote-zip-store")
    if chunk and chunk.phase_requests:
        entry = _index(ctx.archive).get(_middle_chunk(ctx.archive))
        size = entry.compressed_size if entry else 0
        req, moved = chunk.median_of(chunk.phase_requests), chunk.median_of(chunk.phase_bytes)
        add(
            "one chunk = 1 request moving <= entry size + 1 KiB",
            req == 1 and moved <= size + 1024,
            f"{req} request(s), {moved:,} B on the wire incl. HTTP headers (entry {size:,} B)",
        )
    channel = get("channel", "remote-zip-store")
    if channel:
        x = channel.median / channel.limit_s
        add(
            "one channel within 1.3x of the physical limit",
            x <= 1.3,
            f"{x:.2f}x ({channel.median:.3f} s vs limit {channel.limit_s:.3f} s)",
        )
        tuned = get("channel", "fsmap-tuned")
        if tuned:
            y = tuned.median / channel.median
            add(
                "one channel >= 10x faster than the tuned chain",
                y >= 10,
                f"{y:.1f}x ({tuned.median:.3f} s vs {channel.median:.3f} s)",
            )
    epoch = get("epoch", "remote-zip-store")
    if epoch and epoch.phase_requests:
        req = epoch.median_of(epoch.phase_requests)
        add("16 channels x one epoch <= 16 requests", req <= 16, f"{req} requests")
    whole = get("whole", "remote-zip-store", LOOPBACK.name)
    download = get("whole", "download", LOOPBACK.name)
    if whole and download:
        x = download.median / whole.median
        add(
            "loopback whole archive >= 0.8x the speed of boto3 download + ZipStore",
            x >= 0.8,
            f"{x:.2f}x ({whole.median:.3f} s vs {download.median:.3f} s)",
        )
    if parse_result:
        t = parse_result["open_local_s"]
        add(
            f"{parse_result['entries']:,}-entry ZIP64 directory parsed in <= 1 s",
            t <= 1.0,
            f"{t:.3f} s (local file, median)",
        )
        b = parse_result["retained_bytes_per_entry"]
        add(
            "<= 200 bytes of memory per entry",
            b <= 200,
            f"{b:.0f} B/entry retained (peak {parse_result['peak_bytes_per_entry']:.0f})",
        )
    return out


# -- report ---------------------------------------------------------------------------------------


def _ratio(value: float, base: float) -> str:
    if not base or value != value or base != base:
        return "–"
    return f"{value / base:.2f}"


def markdown(result: dict[str, Any]) -> str:
    """One table per condition: scenario x contender, with ratios to the chain and the limit."""
    cells = result["cells"]
    lines: list[str] = []
    for condition in result["config"]["conditions"]:
        name = condition["name"]
        lines += [
            f"#### {name}",
            "",
            "| scenario | contender | median s | runs | requests | MB moved "
            "| × FSMap chain | × limit | note |",
            "|---|---|---:|---:|---:|---:|---:|---:|---|",
        ]
        for scenario in result["scenarios"]:
            row_cells = [c for c in cells if c["condition"] == name and c["scenario"] == scenario]
            chain = next((c for c in row_cells if c["contender"] == "fsmap-chain"), None)
            for c in row_cells:
                if c["times"]:
                    median = c["median"]
                    req = statistics.median_low(c["requests"])
                    moved = statistics.median_low(c["bytes_down"]) / 1e6
                    vs_chain = _ratio(median, chain["median"]) if chain and chain["times"] else "–"
                    vs_limit = _ratio(median, c["limit_s"])
                    values = (
                        f"{median:.3f} | {len(c['times'])} | {req} | {moved:.2f} "
                        f"| {vs_chain} | {vs_limit}"
                    )
                else:
                    values = "– | 0 | – | – | – | –"
                note = c["error"] or c["note"]
                label = result["scenarios"][scenario]
                lines.append(f"| {label} | {c['contender']} | {values} | {note} |")
            limit = row_cells[0] if row_cells else None
            if limit and limit["limit_s"]:
                lines.append(
                    f"| {result['scenarios'][scenario]} | *physical limit* "
                    f"| {limit['limit_s']:.3f} | | "
                    f"{limit['limit_rounds']} RTT | {limit['limit_bytes'] / 1e6:.2f} | | 1.00 | |"
                )
        lines.append("")
    return "\n".join(lines)


def targets_markdown(result: dict[str, Any]) -> str:
    lines = ["| target | met | figure |", "|---|---|---|"]
    for t in result["targets"]:
        met = {True: "met", False: "**missed**", None: "n/a"}[t["met"]]
        lines.append(f"| {t['target']} | {met} | {t['figure']} |")
    return "\n".join(lines)


def chart(result: dict[str, Any], path: Path) -> None:
    """Grouped bars (log scale): one panel per condition, scenarios x contenders."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    conditions = [c["name"] for c in result["config"]["conditions"]]
    scenarios = list(result["scenarios"])
    names = list(result["contenders"])
    fig, axes = plt.subplots(1, len(conditions), figsize=(5.2 * len(conditions), 4.2), sharey=True)
    if len(conditions) == 1:
        axes = [axes]
    width = 0.8 / len(names)
    for ax, condition in zip(axes, conditions, strict=True):
        for j, contender in enumerate(names):
            heights = []
            for scenario in scenarios:
                cell = next(
                    (
                        c
                        for c in result["cells"]
                        if (c["condition"], c["scenario"], c["contender"])
                        == (condition, scenario, contender)
                    ),
                    None,
                )
                heights.append(cell["median"] if cell and cell["times"] else 0.0)
            xs = [i + (j - (len(names) - 1) / 2) * width for i in range(len(scenarios))]
            ax.bar(xs, heights, width, label=contender)
        ax.set_yscale("log")
        ax.set_title(condition)
        ax.set_xticks(range(len(scenarios)))
        ax.set_xticklabels(scenarios, rotation=30, ha="right")
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel("median wall time, s (log)")
    axes[-1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def write_outputs(result: dict[str, Any], out: Path, *, docs: bool) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(result, indent=1))
    text = markdown(result) + "\n\n" + targets_markdown(result) + "\n"
    (out / "results.md").write_text(text)
    png = out / "benchmarks.png"
    chart(result, png)
    written = [out / "results.json", out / "results.md", png]
    if docs:
        DOCS_IMG.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(png, DOCS_IMG / "benchmarks.png")
        written.append(DOCS_IMG / "benchmarks.png")
    return written


# -- command line ---------------------------------------------------------------------------------


@contextlib.contextmanager
def _server(kind: str) -> Iterator[S3Server]:
    with seaweedfs_server() if kind == "seaweedfs" else moto_server() as server:
        yield server


def rerender(path: Path, *, docs: bool) -> dict[str, Any]:
    """Recompute limits and targets of a saved ``results.json`` and rewrite the outputs.

    The limit and the targets are pure functions of the archives, the conditions and
    the measured cells, so a report can be redrawn without measuring again.
    """
    result = json.loads(path.read_text())
    saved = result["config"]
    config = Config(quick=saved["quick"], n_archives=saved["n_archives"], out=path.parent)
    config.archive = result["archives"]["main"].get("kind", "eeg")
    eeg, small = _generate(config)
    dummy = Target("http://unused", "unused", "unused", "", "")
    ctx = Context(dummy, eeg, (dummy,) * config.n_archives, small)
    conditions = {c["name"]: Condition(**c) for c in saved["conditions"]}
    by_name = {s.name: s for s in SCENARIOS}
    fields = {f for f in Cell.__dataclass_fields__}
    cells = []
    for raw in result["cells"]:
        cell = Cell(**{k: v for k, v in raw.items() if k in fields})
        cell.limit_s, cell.limit_rounds, cell.limit_bytes = physical_limit(
            by_name[cell.scenario], ctx, conditions[cell.condition]
        )
        cells.append(cell)
    result["cells"] = [dict(asdict(c), median=c.median) for c in cells]
    result["targets"] = check_targets(cells, ctx, result.get("parse") or {})
    write_outputs(result, path.parent, docs=docs)
    return result


def build_config(args: argparse.Namespace) -> Config:
    out = Path(args.out) if args.out else (archives.OUT / "quick" if args.quick else archives.OUT)
    config = quick_config(out) if args.quick else Config(out=out, skip=full_skips())
    if args.reps:
        config.reps = args.reps
    if args.cell_budget:
        config.cell_budget = args.cell_budget
    if args.conditions:
        by_name = {c.name: c for c in (*CONDITIONS, *config.conditions)}
        config.conditions = tuple(by_name[n] for n in args.conditions.split(","))
    if args.scenarios:
        config.scenarios = tuple(args.scenarios.split(","))
    if args.contenders:
        config.contenders = tuple(args.contenders.split(","))
    if args.archives:
        config.n_archives = args.archives
    if args.archive:
        config.archive = args.archive
    if args.no_parse:
        config.parse_entries = 0
    return config


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="tiny archives, 1 run, for CI")
    parser.add_argument("--server", choices=("seaweedfs", "moto"), default="seaweedfs")
    parser.add_argument("--out", help="output folder (default benchmarks/out/)")
    parser.add_argument("--reps", type=int, help="runs per cell (default 3; quick 1)")
    parser.add_argument(
        "--cell-budget", type=float, help="seconds after which a cell stops repeating"
    )
    parser.add_argument("--conditions", help=f"comma-separated, of {[c.name for c in CONDITIONS]}")
    parser.add_argument("--scenarios", help=f"comma-separated, of {list(SCENARIO_NAMES)}")
    parser.add_argument("--contenders", help=f"comma-separated, of {list(contenders.BY_NAME)}")
    parser.add_argument("--archives", type=int, help="archives for the 'archives' scenario")
    parser.add_argument(
        "--archive", choices=("eeg", "eeg-deflate", "grid", "many"), help="the main archive"
    )
    parser.add_argument("--no-parse", action="store_true", help="skip the 1M-entry parse test")
    parser.add_argument("--no-docs", action="store_true", help="do not copy the chart to docs/img/")
    parser.add_argument(
        "--rerender", metavar="RESULTS_JSON", help="redraw a saved run's report, measure nothing"
    )
    args = parser.parse_args(argv)
    if args.rerender:
        result = rerender(Path(args.rerender), docs=not args.no_docs)
        print(targets_markdown(result))
        return 0
    config = build_config(args)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    # aiobotocore clients closed after fsspec's instance cache is dropped log a harmless
    # "attached to a different loop" on garbage collection.
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    started = time.perf_counter()
    with _server(args.server) as server:
        print(f"server: {server.name} at {server.endpoint_url}", flush=True)
        result = run_suite(config, server, log=lambda line: print(line, flush=True))
    result["wall_s"] = round(time.perf_counter() - started, 1)
    result["command"] = "python -m benchmarks.run " + " ".join(
        argv if argv is not None else sys.argv[1:]
    )
    written = write_outputs(result, config.out, docs=not (config.quick or args.no_docs))
    print(targets_markdown(result))
    print(f"done in {result['wall_s']} s; wrote " + ", ".join(str(p) for p in written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
