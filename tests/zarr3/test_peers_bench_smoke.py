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


def test_quick_unzipped_matrix_compares_the_zip_with_objects_and_icechunk(
    tmp_path: Path,
) -> None:
    """``--matrix unzipped`` (issue 20): the zip against the same hierarchy one object per
    key and in Icechunk, per zarr format and concurrency; every cell measured."""
    pytest.importorskip("icechunk")
    raw, out = tmp_path / "unzipped.json", tmp_path / "unzipped.md"
    argv = ["--quick", "--matrix", "unzipped", "--server", "moto", "--concurrency", "10,64"]
    argv += ["--archives", str(tmp_path / "archives"), "--json", str(raw), "--out", str(out)]
    assert zarr3_peers.main(argv) == 0

    result = json.loads(raw.read_text())
    cells = result["cells"]
    assert [c for c in cells if c["error"]] == []
    variants = {c["variant"] for c in cells}
    assert variants == {f"zarr format {f}, concurrency {n}" for f in (2, 3) for n in (10, 64)}
    per_variant = {
        v: {c["contender"] for c in cells if c["variant"] == v} for v in variants
    }  # Icechunk holds zarr format 3 only
    # this store on both transports (obstore on the pool and on the loop), with spare
    # connections at open, with pieces served only once whole, and opened from its catalog
    ours = {
        "remote-zip-store",
        "remote-zip-store-whole-pieces",
        "remote-zip-store-preconnect",
        "remote-zip-store-obstore",
        "remote-zip-store-obstore-loop",
        "remote-zip-store-catalog",
    }
    assert per_variant["zarr format 2, concurrency 10"] == {*ours, "obstore-objects"}
    assert per_variant["zarr format 3, concurrency 64"] == {*ours, "obstore-objects", "icechunk"}
    assert len(cells) == 2 * 5 * 7 + 2 * 5 * 8
    assert {t["target"].split(": ")[-1] for t in result["targets"]} >= {
        f"{name} on the zip <= best unzipped" for name in ours
    }
    # Opened from its catalog, open + list is the catalog's one GET (the metadata are in
    # it); cold, the archive's tail and head GETs.
    listed = {
        (c["variant"], c["contender"]): c["requests"] for c in cells if c["scenario"] == "list"
    }
    for variant in variants:
        assert listed[(variant, "remote-zip-store-catalog")] == [1]
        assert listed[(variant, "remote-zip-store")] == [2]
        assert listed[(variant, "remote-zip-store-obstore-loop")] == [2]
    assert all(len(c["times"]) == 1 and c["cpu"][0] > 0 for c in cells)

    def cell(variant: str, scenario: str, contender: str) -> dict[str, object]:
        key = (variant, scenario, contender)
        return next(c for c in cells if (c["variant"], c["scenario"], c["contender"]) == key)

    for fmt in (2, 3):
        v = f"zarr format {fmt}, concurrency 10"
        zipped, objects = cell(v, "whole", "remote-zip-store"), cell(v, "whole", "obstore-objects")
        chunks = 2 * zarr3_peers.quick_config().seconds // 30  # one object per epoch
        # Unzipped: a GET per chunk; the store reads the zip in a few large ranges.
        assert objects["requests"][0] >= chunks > 4 * zipped["requests"][0]
        # On the loop, obstore's GETs are the pool path's: the same requests and bytes.
        on_loop = cell(v, "chunk", "remote-zip-store-obstore-loop")
        on_pool = cell(v, "chunk", "remote-zip-store-obstore")
        assert (on_loop["requests"], on_loop["bytes_down"]) == (
            on_pool["requests"],
            on_pool["bytes_down"],
        )
        # The unzipped limit has no central directory or local headers to fetch.
        assert 0 < objects["limit_bytes"] < zipped["limit_bytes"]
    text = out.read_text()
    assert "| client CPU s | × best unzipped | × limit |" in text
    assert "#### 2ms-400Mbit, zarr format 3, concurrency 64" in text
    assert "| whole hierarchy | icechunk |" in text
