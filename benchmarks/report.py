"""The suite's results: cells, the targets checked on them, markdown, the chart, JSON.

:class:`Cell` is the one record of a measured cell; :func:`to_json` and
:func:`cells_from_json` are the only conversions. :func:`markdown_table` is reusable
by any benchmark that prints a table.
"""

from __future__ import annotations

import json
import shutil
import statistics
from collections.abc import Sequence
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
    """One condition x scenario x contender: every run's figures (kept once; JSON at the edge)."""

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


def _find(cells: Sequence[Cell], condition: str, scenario: str, contender: str) -> Cell | None:
    """The measured cell (None when it was skipped or not run)."""
    cell = _find_any(cells, condition, scenario, contender)
    return cell if cell and cell.times else None


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


def markdown(result: dict[str, Any]) -> str:
    """One table per condition: scenario x contender, with ratios to the chain and the limit."""
    cells: list[Cell] = result["cells"]
    header: tuple[str, ...] = ("scenario", "contender", "median s", "runs", "requests")
    header += ("MB moved", "× FSMap chain", "× limit", "note")
    blocks: list[str] = []
    for condition in result["config"]["conditions"]:
        name = condition["name"]
        rows: list[tuple[object, ...]] = []
        for scenario, label in result["scenarios"].items():
            row_cells = [c for c in cells if c.condition == name and c.scenario == scenario]
            chain = _find_any(row_cells, name, scenario, "fsmap-chain")
            for c in row_cells:
                if c.times:
                    vs_chain = _ratio(c.median, chain.median) if chain and chain.times else "–"
                    values: tuple[object, ...] = (
                        f"{c.median:.3f}",
                        len(c.times),
                        c.median_of(c.requests),
                        f"{c.median_of(c.bytes_down) / 1e6:.2f}",
                        vs_chain,
                        _ratio(c.median, c.limit_s),
                    )
                else:
                    values = ("–", 0, "–", "–", "–", "–")
                rows.append((label, c.contender, *values, c.error or c.note))
            first = row_cells[0] if row_cells else None
            if first and first.limit_s:
                rows.append(
                    (
                        label,
                        "*physical limit*",
                        f"{first.limit_s:.3f}",
                        None,
                        f"{first.limit_rounds} RTT",
                        f"{first.limit_bytes / 1e6:.2f}",
                        None,
                        "1.00",
                        None,
                    )
                )
        table = markdown_table(header, rows, align="llrrrrrrl")
        blocks.append(f"#### {name}\n\n{table}\n")
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
