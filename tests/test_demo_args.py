"""``demo --channels`` rejects counts the sample archive cannot hold, with a usage error."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SRC = str(Path(__file__).resolve().parents[1] / "src")


@pytest.mark.parametrize("value", ["0", "-3", "two"])
def test_demo_rejects_bad_channel_count(value: str) -> None:
    env = {**os.environ, "PYTHONPATH": SRC}
    proc = subprocess.run(
        [sys.executable, "-m", "remote_zip_store", "demo", f"--channels={value}"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "--channels" in proc.stderr
    assert proc.stdout == ""
