"""The zarr-3 peers benchmark (``benchmarks/zarr3_peers.py``) runs end to end in
``--quick`` mode against moto: every contender, every scenario, the report and targets.

No timing is asserted (moto has no latency; the figures come from SeaweedFS behind
netsim). Skips unless zarr >= 3.1 and the peers (the ``bench-zarr3`` extra) import.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("zarr", minversion="3.1")
for _peer in ("obstore", "zarrista", "s3fs"):
    pytest.importorskip(_peer)

from benchmarks import zarr3_peers  # noqa: E402

pytestmark = pytest.mark.s3fs


def test_quick_run_measures_every_cell_and_writes_the_report(tmp_path: Path) -> None:
    out, raw = tmp_path / "peers.md", tmp_path / "peers.json"
    argv = ["--quick", "--server", "moto", "--archives", str(tmp_path / "archives")]
    assert zarr3_peers.main([*argv, "--out", str(out), "--json", str(raw)]) == 0

    result = json.loads(raw.read_text())
    cells = result["cells"]
    config = zarr3_peers.quick_config()
    assert len(cells) == (
        len(config.conditions) * len(zarr3_peers.SCENARIOS) * len(zarr3_peers.CONTENDERS)
    )
    errors = [(c["condition"], c["scenario"], c["contender"], c["error"]) for c in cells]
    assert [e for e in errors if e[3]] == []
    assert all(len(c["times"]) == 1 and c["requests"][0] > 0 for c in cells)
    assert result["archives"]["sharded"]["zarr_format"] == 3

    # Ours reads one inner chunk, not its shard: the read moves less than one shard entry
    # (what the sharded archive and the scenario are there to show).
    channel_bytes = result["archives"]["sharded"]["bytes"] // config.channels
    inner = [c for c in cells if (c["scenario"], c["contender"]) == ("inner", "remote-zip-store")]
    assert inner and all(c["phase_bytes"][0] < channel_bytes // 2 for c in inner)
    # The limit is computed on the timed condition and every target has a figure.
    timed = [c for c in cells if c["condition"] == result["targets_condition"]]
    assert all(c["limit_s"] > 0 for c in timed)
    assert result["targets"] and all(t["met"] is not None for t in result["targets"])

    text = out.read_text()
    assert "| one inner chunk of a sharded array | remote-zip-store |" in text
    assert "*physical limit*" in text and "| target | met | figure |" in text
