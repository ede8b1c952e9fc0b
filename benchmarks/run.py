"""Run the benchmark suite: ``python -m benchmarks.run`` (``--quick`` for a CI-sized run).

Starts SeaweedFS on 127.0.0.1 (:mod:`remote_zip_store.testing.servers`), uploads the
generated archives, and puts every contender through the same
:mod:`remote_zip_store.testing.netsim` proxy in the same run, condition by condition. Each
cell (condition x scenario x contender) is run ``--reps`` times cold (new clients, fsspec
caches dropped) within a time budget; the report gives the median wall time, the requests
and bytes the proxy saw, and the ratios to the FSMap chain and to the physical limit.

The parts: :mod:`benchmarks.scenarios` (what a cell reads), :mod:`benchmarks.limits`
(the physical limit), :mod:`benchmarks.contenders` (who reads), :mod:`benchmarks.runner`
(configuration and running), :mod:`benchmarks.report` (targets, markdown, chart, JSON);
this module is the command line.

Outputs (in ``--out``, default ``benchmarks/out/``): ``results.json``, ``results.md``
and ``benchmarks.png``; a full run also copies the chart to ``docs/img/``. ``--cohorts
also`` (or ``only``) adds the cohort benchmarks, ``cohort_open.json`` and
``cohort_reads.json`` in the same folder.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # ``python benchmarks/run.py``: make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import archives, contenders, report, runner
from benchmarks.contenders import Target
from benchmarks.limits import physical_limit
from benchmarks.report import write_outputs
from benchmarks.runner import Config, quick_config, run_suite
from benchmarks.scenarios import SCENARIO_NAMES, SCENARIOS, Context
from remote_zip_store.testing.netsim import Condition

__all__ = ["SCENARIOS", "Config", "main", "quick_config", "run_suite", "write_outputs"]


def rerender(path: Path, *, docs: bool) -> dict[str, Any]:
    """Recompute limits and targets of a saved ``results.json`` and rewrite the outputs.

    The limit and the targets are pure functions of the archives, the conditions and
    the measured cells, so a report can be redrawn without measuring again.
    """
    result: dict[str, Any] = json.loads(path.read_text())
    saved = result["config"]
    config = Config(quick=saved["quick"], n_archives=saved["n_archives"], out=path.parent)
    config.archive = result["archives"]["main"].get("kind", "eeg")
    eeg, small = runner.generate(config)
    dummy = Target("http://unused", "unused", "unused", "", "")
    ctx = Context(dummy, eeg, (dummy,) * config.n_archives, small)
    conditions = {c["name"]: Condition(**c) for c in saved["conditions"]}
    by_name = {s.name: s for s in SCENARIOS}
    cells = report.cells_from_json(result["cells"])
    for cell in cells:
        cell.limit_s, cell.limit_rounds, cell.limit_bytes = physical_limit(
            by_name[cell.scenario].needs(ctx), conditions[cell.condition]
        )
    result["cells"] = cells
    result["targets"] = report.check_targets(cells, ctx, result.get("parse") or {})
    report.write_outputs(result, path.parent, docs=docs)
    return result


def build_config(args: argparse.Namespace) -> Config:
    out = Path(args.out) if args.out else (archives.OUT / "quick" if args.quick else archives.OUT)
    config = runner.quick_config(out) if args.quick else Config(out=out, skip=runner.full_skips())
    runner.apply_arguments(config, args)
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
    runner.add_arguments(parser, str(list(SCENARIO_NAMES)), str(list(contenders.BY_NAME)))
    parser.add_argument("--out", help="output folder (default benchmarks/out/)")
    parser.add_argument("--archives", type=int, help="archives for the 'archives' scenario")
    parser.add_argument(
        "--archive", choices=("eeg", "eeg-deflate", "grid", "many"), help="the main archive"
    )
    parser.add_argument("--no-parse", action="store_true", help="skip the 1M-entry parse test")
    parser.add_argument("--no-docs", action="store_true", help="do not copy the chart to docs/img/")
    parser.add_argument(
        "--rerender", metavar="RESULTS_JSON", help="redraw a saved run's report, measure nothing"
    )
    parser.add_argument(
        "--cohorts",
        choices=("also", "only"),
        help="also (or only) run the cohort benchmarks (cohort_open, cohort_reads; issue 12)",
    )
    args = parser.parse_args(argv)
    if args.rerender:
        result = rerender(Path(args.rerender), docs=not args.no_docs)
        print(report.targets_markdown(result))
        return 0
    config = build_config(args)
    if args.cohorts == "only":
        return run_cohorts(config, args.server)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    # aiobotocore clients closed after fsspec's instance cache is dropped log a harmless
    # "attached to a different loop" on garbage collection.
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    started = time.perf_counter()
    with runner.server(args.server) as server:
        print(f"server: {server.name} at {server.endpoint_url}", flush=True)
        result = runner.run_suite(config, server, log=lambda line: print(line, flush=True))
    result["wall_s"] = round(time.perf_counter() - started, 1)
    result["command"] = "python -m benchmarks.run " + " ".join(
        argv if argv is not None else sys.argv[1:]
    )
    written = report.write_outputs(result, config.out, docs=not (config.quick or args.no_docs))
    print(report.targets_markdown(result))
    print(f"done in {result['wall_s']} s; wrote " + ", ".join(str(p) for p in written))
    return run_cohorts(config, args.server) if args.cohorts == "also" else 0


def run_cohorts(config: Config, server: str) -> int:
    """The cohort benchmarks (each starts its own server), results beside the suite's.

    ``--quick`` runs them small (10 archives); otherwise with their own defaults (the
    figures in docs/benchmarks.md, "Cohorts").
    """
    from benchmarks import cohort_open, cohort_reads

    config.out.mkdir(parents=True, exist_ok=True)
    opened = ["--server", server, "--json", str(config.out / "cohort_open.json")]
    reads = ["--out", str(config.out / "cohort_reads.json")]
    if config.quick:
        opened += ["--loop", "10", "--many", "10"]
        reads += ["--archives", "10", "--reps", "1", "--contenders", "threads"]
    print("== cohort_open " + " ".join(opened), flush=True)
    status = cohort_open.main(opened)
    print("== cohort_reads " + " ".join(reads), flush=True)
    return status or cohort_reads.main(reads)


if __name__ == "__main__":
    sys.exit(main())
