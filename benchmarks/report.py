"""The suite's results: cells, the targets checked on them, markdown, the chart, JSON.

:class:`Cell` is the one record of a measured cell; :func:`to_json` and
:func:`cells_from_json` are the only conversions. :func:`markdown_table` is reusable
by any benchmark that prints a table.
"""

from __future__ import annotations

import json
import shutil
import statistics
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.limits import index_of
from benchmarks.scenarios import Context, middle_chunk
from remote_zip_store.testing.netsim import LOOPBACK

REPO = Path(__file__).resolve().parent.parent
DOCS_IMG = REPO / "docs" / "img"


@dataclass
class Cell:
    """One condition x scenario x contender: every run's figures (kept once; JSON at the edge).

    ``variant`` names a setting a benchmark varies besides the link (zarr3_peers: the
    zarr format and zarr's concurrency); the suite leaves it empty.
    """

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
    cpu: list[float] = field(default_factory=list)
    """Client CPU seconds per run (the process's, less the in-process proxy's)."""
    limit_s: float = 0.0
    limit_rounds: int = 0
    limit_bytes: int = 0
    variant: str = ""
    note: str = ""
    error: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.times) if self.times else float("nan")

    def median_of(self, values: list[int]) -> int:
        return int(statistics.median_low(values)) if values else 0


def _find(cells: Sequence[Cell], condition: str, scenario: str, contender: str) -> Cell | None:
    """The measured cell (None when it was skipped or not run)."""
    cell = _find_any(cells, condition, scenario, contender)
    return cell if cell and cell.times else None


class Targets:
    """The one way a benchmark states its targets: ``add`` a target with its figure
    (``met`` None when it was not measured); ``rows`` is what ``result["targets"]`` holds
    and :func:`targets_markdown` prints."""

    def __init__(self, cells: Sequence[Cell], prefix: str = ""):
        self.cells = cells
        self.prefix = prefix
        self.rows: list[dict[str, Any]] = []

    def add(self, target: str, met: bool | None, figure: str) -> None:
        self.rows.append({"target": self.prefix + target, "met": met, "figure": figure})

    def get(self, condition: str, scenario: str, contender: str, variant: str = "") -> Cell | None:
        """The measured cell (None when it was skipped, failed or not run)."""
        for cell in self.cells:
            key = (cell.condition, cell.scenario, cell.contender, cell.variant)
            if key == (condition, scenario, contender, variant):
                return cell if cell.times else None
        return None

    def within_limit(self, label: str, cell: Cell | None, factor: float, ms: bool = False) -> None:
        """``label within {factor}x of the physical limit``, from ``cell``'s median."""
        target = f"{label} within {factor:g}x of the physical limit"
        if cell is None or not cell.limit_s:
            self.add(target, None, "not measured")
            return
        x = cell.median / cell.limit_s
        self.add(
            target,
            x <= factor,
            f"{x:.2f}x ({_time(cell.median, ms)} vs limit {_time(cell.limit_s, ms)})",
        )


def _time(seconds: float, ms: bool) -> str:
    return f"{seconds * 1000:.0f} ms" if ms else f"{seconds:.3f} s"


def check_targets(
    cells: list[Cell], ctx: Context, parse_result: dict[str, Any]
) -> list[dict[str, Any]]:
    """Each target of issue 3 with its measured figure (``met`` is None when not measured)."""
    cond = "20ms-400Mbit"
    targets = Targets(cells)
    add = targets.add

    def get(scenario: str, contender: str, condition: str = cond) -> Cell | None:
        return targets.get(condition, scenario, contender)

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
        entry = index_of(ctx.archive).get(middle_chunk(ctx.archive))
        size = entry.compressed_size if entry else 0
        req, moved = chunk.median_of(chunk.phase_requests), chunk.median_of(chunk.phase_bytes)
        add(
            "one chunk = 1 request moving <= entry size + 1 KiB",
            req == 1 and moved <= size + 1024,
            f"{req} request(s), {moved:,} B on the wire incl. HTTP headers (entry {size:,} B)",
        )
    channel = get("channel", "remote-zip-store")
    if channel:
        targets.within_limit("one channel", channel, 1.3)
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
    return targets.rows


def _ratio(value: float, base: float) -> str:
    if not base or value != value or base != base:
        return "–"
    return f"{value / base:.2f}"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]], align: str = "") -> str:
    """A markdown table; ``align`` has one letter per column, ``r`` right-aligns it.

    A value is written ``| value |``; None writes a bare ``| |`` (the physical-limit
    rows' blanks have always been written so: keeps ``results.md`` byte for byte).
    """
    marks = ["---:" if align[i : i + 1] == "r" else "---" for i in range(len(header))]
    lines = [_table_row(header), "|" + "|".join(marks) + "|"]
    lines += [_table_row(row) for row in rows]
    return "\n".join(lines)


def _table_row(values: Sequence[object]) -> str:
    return "|" + "|".join(" " if value is None else f" {value} " for value in values) + "|"


def _find_any(cells: Sequence[Cell], condition: str, scenario: str, contender: str) -> Cell | None:
    for cell in cells:
        if (cell.condition, cell.scenario, cell.contender) == (condition, scenario, contender):
            return cell
    return None


@dataclass(frozen=True)
class Reference:
    """The "× ..." column: each row's median over the reference cell's of its scenario."""

    header: str
    pick: Callable[[Sequence[Cell]], Cell | None]


def baseline(contender: str, header: str) -> Reference:
    """The reference is one contender (the suite: the default FSMap chain)."""
    return Reference(
        header,
        lambda row: _find_any(row, row[0].condition, row[0].scenario, contender) if row else None,
    )


def best_of(contenders: Sequence[str], header: str) -> Reference:
    """The reference is the fastest measured of ``contenders`` in the row."""

    def pick(row: Sequence[Cell]) -> Cell | None:
        measured = [c for c in row if c.contender in contenders and c.times]
        return min(measured, key=lambda c: c.median) if measured else None

    return Reference(header, pick)


CHAIN = baseline("fsmap-chain", "× FSMap chain")


@dataclass(frozen=True)
class Table:
    """What :func:`markdown` prints: the time unit and the optional columns."""

    ms: bool = False
    phase: bool = False
    """A "read-phase req" column: requests after the arrays were opened."""
    cpu: bool = False
    """A "client CPU s" column."""
    reference: Reference | None = CHAIN


def _tables(cells: Sequence[Cell], conditions: Sequence[str]) -> list[tuple[str, list[Cell]]]:
    """``(heading, cells)`` per condition, and per variant within it (in run order)."""
    out: list[tuple[str, list[Cell]]] = []
    for name in conditions:
        variants = list(dict.fromkeys(c.variant for c in cells if c.condition == name)) or [""]
        for variant in variants:
            heading = f"{name}, {variant}" if variant else name
            out.append((heading, [c for c in cells if (c.condition, c.variant) == (name, variant)]))
    return out


def markdown(result: dict[str, Any], table: Table = Table()) -> str:
    """One table per condition (and variant): scenario x contender, the ratios to the
    reference and to the physical limit, and a physical-limit row per scenario."""
    unit = (lambda s: f"{s * 1000:,.0f}") if table.ms else (lambda s: f"{s:.3f}")
    header: tuple[str, ...] = ("scenario", "contender", "median ms" if table.ms else "median s")
    header += ("runs", "requests", "MB moved")
    header += ("read-phase req",) * table.phase + ("client CPU s",) * table.cpu
    header += (table.reference.header,) if table.reference else ()
    header += ("× limit", "note")
    blocks: list[str] = []
    conditions = [c["name"] for c in result["config"]["conditions"]]
    for heading, group in _tables(result["cells"], conditions):
        rows: list[tuple[object, ...]] = []
        for scenario, label in result["scenarios"].items():
            row_cells = [c for c in group if c.scenario == scenario]
            ref = table.reference.pick(row_cells) if table.reference else None
            for c in row_cells:
                values: tuple[object, ...]
                if c.times:
                    values = (unit(c.median), len(c.times), c.median_of(c.requests))
                    values += (f"{c.median_of(c.bytes_down) / 1e6:.2f}",)
                    if table.phase:
                        values += (str(c.median_of(c.phase_requests)) if c.phase_requests else "",)
                    if table.cpu:
                        values += (f"{statistics.median(c.cpu):.2f}" if c.cpu else "–",)
                    if table.reference:
                        values += (_ratio(c.median, ref.median) if ref and ref.times else "–",)
                    values += (_ratio(c.median, c.limit_s),)
                else:
                    values = ("–", 0) + ("–",) * (len(header) - 5)
                rows.append((label, c.contender, *values, c.error or c.note))
            limits = [c for c in row_cells if c.limit_s]
            if limits:
                best = min(limits, key=lambda c: c.limit_s)
                blanks = (None,) * (table.phase + table.cpu + bool(table.reference))
                rows.append(
                    (
                        label,
                        "*physical limit*",
                        unit(best.limit_s),
                        None,
                        f"{best.limit_rounds} RTT",
                        f"{best.limit_bytes / 1e6:.2f}",
                        *blanks,
                        "1.00",
                        None,
                    )
                )
        table_text = markdown_table(header, rows, align="llrrrr" + "r" * (len(header) - 7) + "l")
        blocks.append(f"#### {heading}\n\n{table_text}\n")
    return "\n".join(blocks)


def targets_markdown(result: dict[str, Any]) -> str:
    rows = [
        (t["target"], {True: "met", False: "**missed**", None: "n/a"}[t["met"]], t["figure"])
        for t in result["targets"]
    ]
    return markdown_table(("target", "met", "figure"), rows)


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
                cell = _find_any(result["cells"], condition, scenario, contender)
                heights.append(cell.median if cell and cell.times else 0.0)
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
    (out / "results.json").write_text(json.dumps(to_json(result), indent=1))
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


def to_json(result: dict[str, Any]) -> dict[str, Any]:
    """``result`` as JSON-ready data: the cells become dicts (with their median)."""
    return {**result, "cells": [dict(asdict(c), median=c.median) for c in result["cells"]]}


def cells_from_json(raw: Sequence[dict[str, Any]]) -> list[Cell]:
    """The cells of a saved ``results.json`` (its derived ``median`` dropped)."""
    names = set(Cell.__dataclass_fields__)
    return [Cell(**{k: v for k, v in cell.items() if k in names}) for cell in raw]
