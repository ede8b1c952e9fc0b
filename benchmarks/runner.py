"""Running the suite: the configuration, one cell's repeated runs, the whole matrix.

:func:`run_suite` returns the result as a dict whose ``"cells"`` are :class:`Cell`
objects; :func:`benchmarks.report.to_json` is the one place they become JSON.
"""

from __future__ import annotations

import contextlib
import os
import platform
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import archives, contenders, parse
from benchmarks.archives import Archive
from benchmarks.contenders import Contender, Target
from benchmarks.limits import index_of, physical_limit
from benchmarks.report import Cell, check_targets
from benchmarks.scenarios import SCENARIO_NAMES, SCENARIOS, Context, Scenario
from remote_zip_store.testing.netsim import CONDITIONS, LOOPBACK, Condition, Counts, NetSim
from remote_zip_store.testing.servers import S3Server, moto_server, seaweedfs_server


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


def generate(config: Config) -> tuple[Archive, Archive]:
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
    eeg, small = generate(config)
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
                        scenario.needs(ctx), condition
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
                    log(cell_line(cell))
        parse_result = (
            parse.run(config.parse_entries, server, sim, log=log) if config.parse_entries else {}
        )
    result = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "setup": machine_facts(server),
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
                "entries": len(index_of(eeg)),
            },
            "small": {
                "name": small.path.name,
                "bytes": small.size,
                "entries": len(index_of(small)),
            },
        },
        "contenders": {c.name: c.label for c in chosen},
        "scenarios": {s.name: s.label for s in scenarios},
        "cells": cells,
        "parse": parse_result,
    }
    result["targets"] = check_targets(cells, ctx, parse_result)
    return result


def cell_line(cell: Cell) -> str:
    if cell.error:
        return f"  {cell.scenario:9} {cell.contender:18} ERROR {cell.error}"
    if not cell.times:
        return f"  {cell.scenario:9} {cell.contender:18} skipped ({cell.note})"
    return (
        f"  {cell.scenario:9} {cell.contender:18} {cell.median:8.3f} s  "
        f"{cell.median_of(cell.requests):6d} req  {cell.median_of(cell.bytes_down) / 1e6:9.2f} MB"
        f"  (n={len(cell.times)}, limit {cell.limit_s:.3f} s)"
    )


def machine_facts(server: S3Server) -> dict[str, Any]:
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


@contextlib.contextmanager
def server(kind: str) -> Iterator[S3Server]:
    with seaweedfs_server() if kind == "seaweedfs" else moto_server() as server:
        yield server
