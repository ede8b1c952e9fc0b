"""The benchmark suite runs end to end (``--quick`` path) against the real moto server.

No timing is asserted: this proves that every contender, scenario and report step works.
The suite test skips cleanly without the ``bench`` extra (s3fs, fsspec, matplotlib);
.ci/run runs it in its second environment, which has the extra. The report's table
format is checked everywhere (pure).
"""

from __future__ import annotations

import importlib.util
import json

import pytest
from benchmarks import archives, report, run

from remote_zip_store.testing.servers import S3Server


def test_markdown_keeps_the_table_format_of_results_md():
    """The tables docs/benchmarks.md quotes: measured, skipped and physical-limit rows."""
    measured = report.Cell("c", "open", "remote-zip-store", times=[0.5], requests=[2])
    measured.bytes_down, measured.limit_s, measured.limit_rounds = [1_500_000], 0.25, 2
    measured.limit_bytes = 240_000
    skipped = report.Cell("c", "open", "download", note="time-boxed", limit_s=0.25)
    result = {
        "config": {"conditions": [{"name": "c"}]},
        "scenarios": {"open": "open group"},
        "cells": [measured, skipped],
    }
    assert report.markdown(result).splitlines() == [
        "#### c",
        "",
        "| scenario | contender | median s | runs | requests | MB moved "
        "| × FSMap chain | × limit | note |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
        "| open group | remote-zip-store | 0.500 | 1 | 2 | 1.50 | – | 2.00 |  |",
        "| open group | download | – | 0 | – | – | – | – | time-boxed |",
        "| open group | *physical limit* | 0.250 | | 2 RTT | 0.24 | | 1.00 | |",
    ]


@pytest.mark.s3fs
@pytest.mark.skipif(
    any(importlib.util.find_spec(name) is None for name in ("s3fs", "fsspec", "matplotlib")),
    reason="needs the bench extra (s3fs, fsspec, matplotlib)",
)
def test_quick_suite_runs_every_cell_and_writes_the_report(moto: S3Server, tmp_path, monkeypatch):
    monkeypatch.setattr(archives, "ARCHIVES", tmp_path / "archives")
    config = run.quick_config(tmp_path / "out")
    config.n_archives = 2
    config.parse_entries = 2_000
    result = run.run_suite(config, moto, log=lambda line: None)
    written = run.write_outputs(result, config.out, docs=False)

    cells = result["cells"]
    assert len(cells) == len(config.conditions) * len(run.SCENARIOS) * len(config.contenders)
    errors = [(c.condition, c.scenario, c.contender, c.error) for c in cells if c.error]
    assert errors == []
    assert all(len(c.times) == 1 and c.requests[0] > 0 for c in cells)
    # The proxy saw the store open the archive (it reads at least the directory).
    store_open = next(c for c in cells if (c.scenario, c.contender) == ("open", "remote-zip-store"))
    assert store_open.bytes_down[0] >= result["archives"]["main"]["bytes"] // 100
    assert result["parse"]["entries"] == 2_000
    assert result["parse"]["s3_keys"] == 2_000
    assert {t["target"] for t in result["targets"]}
    assert all(path.exists() and path.stat().st_size > 0 for path in written)
    saved = json.loads((config.out / "results.json").read_text())["cells"]
    assert report.cells_from_json(saved) == cells  # JSON is the only other form of a cell
    assert "| one chunk | remote-zip-store |" in (config.out / "results.md").read_text()
