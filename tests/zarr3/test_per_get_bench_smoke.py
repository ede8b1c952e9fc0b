"""``python -m benchmarks.zarr3_per_get`` runs, on a local file and with ``--s3`` (SeaweedFS),
on a small hierarchy of the shape it reads (16 channels, 20 chunks per round)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("zarr", minversion="3.1")
pytest.importorskip("obstore")

from benchmarks import zarr3_per_get

from .helpers import write_hierarchy


def _channels(group: Any) -> None:
    signals = group.create_group("signals")
    for c in range(16):
        a = signals.create_array(
            f"ch{c:02d}", shape=(2_000,), chunks=(100,), dtype="int16", compressors=None
        )
        a[:] = np.arange(2_000, dtype="int16") + c


@pytest.mark.parametrize("s3", [False, True], ids=["local", "seaweedfs"])
def test_per_get_benchmark_reports_every_contender(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], s3: bool
) -> None:
    path = tmp_path / "eeg.zip"
    write_hierarchy(path, _channels)
    argv = ["--path", str(path), "--rounds", "1"] + (["--s3"] if s3 else [])
    assert zarr3_per_get.main(argv) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if "per get" in line]
    expected = 5 if s3 else 4
    assert len(lines) == expected, lines
    if s3:
        assert lines[0].startswith("this store, obstore, loop_reads")
        assert all("client CPU" in line for line in lines)
