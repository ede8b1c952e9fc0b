"""Running the suite: the configuration, one cell's repeated runs, the whole matrix.

:func:`run_suite` returns the result as a dict whose ``"cells"`` are :class:`Cell`
objects; :func:`benchmarks.report.to_json` is the one place they become JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from benchmarks import archives, contenders, parse, simproc
from benchmarks.archives import Archive
from benchmarks.contenders import Contender, Target
from benchmarks.limits import index_of, physical_limit
from benchmarks.report import Cell, check_targets
from benchmarks.scenarios import SCENARIO_NAMES, SCENARIOS, Context, Scenario
from benchmarks.simproc import Link
from remote_zip_store.testing.netsim import CONDITIONS, LOOPBACK, Condition, Counts
from remote_zip_store.testing.servers import S3Server, moto_server, seaweedfs_server


@dataclass
class Config:
    """One benchmark run's settings: shared by the suite (``benchmarks.run``) and the
    zarr-3 peers (``benchmarks.zarr3_peers``); the defaults are the suite's."""

    quick: bool = False
    reps: int = 3
    cell_budget: float = 20.0
    #: Run the link simulator in this process (before 2026-12-07's wire client, every run
    #: did): it then shares the GIL with Python clients (benchmarks/simproc.py).
    sim_in_process: bool = False
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
    channels: int = 16
    seconds: int = 7200
    """The EEG recording's shape (channels x seconds at 256 Hz)."""
    archives: Path = archives.ARCHIVES
    """Where zarr3_peers caches its generated archives (the suite: ``archives.ARCHIVES``)."""


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
        channels=2,
        seconds=300,
    )


def generate(config: Config) -> tuple[Archive, Archive]:
    if config.quick:
        eeg = archives.eeg(channels=config.channels, seconds=config.seconds)
        return eeg, archives.small(channels=1, seconds=60)
    main = {
        "eeg": archives.eeg,
        "eeg-deflate": lambda: archives.eeg(deflate=True),
        "grid": archives.grid,
        "many": archives.many,
    }[config.archive]()
    return main, archives.small()


def _upload(server: S3Server, archive: Archive, key: str) -> None:
    server.put_file(archive.path, key)


class Runnable(Protocol):
    """A scenario as the run loop sees it: ``run(contender, ctx, mark)`` calls ``mark()``
    once the hierarchy is open, and again right before the measured read when it opens
    arrays first (the "phase")."""

    name: str

    def run(self, contender: Any, ctx: Any, mark: Callable[[], None], /) -> object: ...


class Named(Protocol):
    name: str


def run_cell(
    sim: Link, contender: Named, scenario: Runnable, ctx: Any, config: Config, cell: Cell
) -> None:
    """Runs one cell cold (process state forgotten) ``config.reps`` times within its budget."""
    started = time.perf_counter()
    while len(cell.times) < config.reps:
        contenders.forget_fsspec_instances()
        marks: list[Counts] = []

        def mark(marks: list[Counts] = marks) -> None:
            marks.append(sim.counts())

        sim.reset()
        cpu0, proxy0 = time.process_time(), sim.cpu_time()
        t0 = time.perf_counter()
        scenario.run(contender, ctx, mark)
        elapsed = time.perf_counter() - t0
        cpu = time.process_time() - cpu0 - (sim.cpu_time() - proxy0)
        counts = sim.counts()
        cell.times.append(elapsed)
        cell.cpu.append(round(max(cpu, 0.0), 4))
        cell.requests.append(counts.requests)
        cell.bytes_down.append(counts.bytes_down)
        cell.connections.append(counts.connections)
        if marks:
            cell.open_requests.append(marks[0].requests)
            cell.open_bytes.append(marks[0].bytes_down)
        if len(marks) > 1:
            phase = counts - marks[-1]
            cell.phase_requests.append(phase.requests)
            cell.phase_bytes.append(phase.bytes_down)
        if time.perf_counter() - started > config.cell_budget:
            break
    if len(cell.times) < config.reps:
        cell.note = (
            f"{len(cell.times)} of {config.reps} runs (cell time budget {config.cell_budget:g} s)"
        )


def warm_up(
    chosen: Sequence[Named], check: Callable[[Any], object], log: Callable[[str], None]
) -> dict[str, str]:
    """Untimed ``check(contender)`` for each (imports, service models, a read checked
    against the local file); returns ``{contender: why it is unusable}``."""
    broken: dict[str, str] = {}
    for contender in chosen:
        contenders.forget_fsspec_instances()
        try:
            check(contender)
        except Exception as exc:  # reported in every cell of that contender
            broken[contender.name] = f"{type(exc).__name__}: {exc}"[:300]
            log(f"  {contender.name}: unusable ({broken[contender.name]})")
    return broken


Limit = Callable[[Any, Any, Condition], tuple[float, int, int]]
"""``(scenario, contender, condition) -> (seconds, round trips, bytes)``: a cell's limit."""


def run_matrix(
    sim: Link,
    config: Config,
    scenarios: Sequence[Runnable],
    chosen: Sequence[Named],
    ctx: Any,
    limit: Limit,
    *,
    broken: dict[str, str] | None = None,
    variant: str = "",
    log: Callable[[str], None] = print,
) -> list[Cell]:
    """The one run loop: conditions x scenarios x contenders through ``sim``, each cell
    with its limit, skipped (``config.skip``), failed (its error) or measured."""
    cells: list[Cell] = []
    for condition in config.conditions:
        sim.set_condition(condition)
        log(f"== {condition.name}: {condition.describe()}" + (f", {variant}" if variant else ""))
        for scenario in scenarios:
            for contender in chosen:
                cell = Cell(condition.name, scenario.name, contender.name, variant=variant)
                cell.limit_s, cell.limit_rounds, cell.limit_bytes = limit(
                    scenario, contender, condition
                )
                why = config.skip.get((condition.name, scenario.name, contender.name))
                if broken and contender.name in broken:
                    cell.error = broken[contender.name]
                elif why:
                    cell.note = why
                else:
                    try:
                        run_cell(sim, contender, scenario, ctx, config, cell)
                    except Exception as exc:  # reported in the table, the run goes on
                        cell.error = f"{type(exc).__name__}: {exc}"[:300]
                cells.append(cell)
                log(cell_line(cell))
    return cells


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
    with simproc.link(host, int(port), in_process=config.sim_in_process) as sim:
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
        broken = warm_up(chosen, lambda c: c.open(ctx.small_targets[0]).close(), log)

        def limit(scenario: Scenario, contender: Contender, condition: Condition) -> Any:
            return physical_limit(scenario.needs(ctx), condition)

        cells = run_matrix(sim, config, scenarios, chosen, ctx, limit, broken=broken, log=log)
        parse_result = (
            parse.run(config.parse_entries, server, sim, log=log) if config.parse_entries else {}
        )
    result = result_of(config, server, chosen, scenarios, cells)
    result["config"]["n_archives"] = config.n_archives
    result["archives"] = {
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
    }
    result["parse"] = parse_result
    result["targets"] = check_targets(cells, ctx, parse_result)
    return result


def result_of(
    config: Config,
    server: S3Server,
    chosen: Sequence[Any],
    scenarios: Sequence[Any],
    cells: list[Cell],
    modules: Sequence[str] = ("zarr", "boto3", "s3fs", "fsspec", "aiobotocore"),
) -> dict[str, Any]:
    """The record of a run every benchmark writes (a benchmark adds its own keys): date,
    machine and versions of ``modules``, settings, who and what ran, the cells."""
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "setup": machine_facts(server, modules),
        "config": {
            "quick": config.quick,
            "reps": config.reps,
            "cell_budget_s": config.cell_budget,
            "conditions": [asdict(c) for c in config.conditions],
            "skipped": {"/".join(k): v for k, v in config.skip.items()},
        },
        "contenders": {c.name: c.label for c in chosen},
        "scenarios": {s.name: s.label for s in scenarios},
        "cells": cells,
    }


def add_arguments(parser: argparse.ArgumentParser, scenarios: str, contenders: str) -> None:
    """The options every benchmark's command line has (``scenarios``, ``contenders``: the
    names it knows, for the help)."""
    parser.add_argument("--quick", action="store_true", help="tiny archives, 1 run, for CI")
    parser.add_argument("--server", choices=("seaweedfs", "moto"), default="seaweedfs")
    parser.add_argument("--reps", type=int, help="runs per cell (default 3; quick 1)")
    parser.add_argument(
        "--cell-budget", type=float, help="seconds after which a cell stops repeating"
    )
    parser.add_argument("--conditions", help=f"comma-separated, of {[c.name for c in CONDITIONS]}")
    parser.add_argument("--scenarios", help=f"comma-separated, of {scenarios}")
    parser.add_argument("--contenders", help=f"comma-separated, of {contenders}")
    parser.add_argument(
        "--sim-in-process",
        action="store_true",
        help="run the link simulator in this process (it then shares the GIL with the client)",
    )


def apply_arguments(config: Config, args: argparse.Namespace) -> Config:
    """``config`` with the options of :func:`add_arguments` applied."""
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
    config.sim_in_process = bool(getattr(args, "sim_in_process", False))
    return config


def cell_line(cell: Cell) -> str:
    head = f"  {cell.scenario:9} {cell.contender:24}"
    if cell.error:
        return f"{head} ERROR {cell.error}"
    if not cell.times:
        return f"{head} skipped ({cell.note})"
    return (
        f"{head} {cell.median:8.3f} s  {cell.median_of(cell.requests):6d} req  "
        f"{cell.median_of(cell.bytes_down) / 1e6:9.2f} MB  cpu {statistics.median(cell.cpu):.2f} s"
        f"  (n={len(cell.times)}, limit {cell.limit_s:.3f} s)"
    )


def machine_facts(
    server: S3Server, modules: Sequence[str] = ("zarr", "boto3", "s3fs", "fsspec", "aiobotocore")
) -> dict[str, Any]:
    """The machine, the server and the versions of ``modules`` (those importable)."""
    from remote_zip_store.testing.servers import weed_binary

    versions = {"python": platform.python_version()}
    for module in modules:
        with contextlib.suppress(ImportError, AttributeError):
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
        "platform": platform.platform(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "load_average_at_end": [round(x, 2) for x in load],
        "versions": versions,
    }


@contextlib.contextmanager
def server(kind: str) -> Iterator[S3Server]:
    with seaweedfs_server() if kind == "seaweedfs" else moto_server() as server:
        yield server
