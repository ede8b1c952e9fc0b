"""What tests/test_messages.py (zarr 2.18) and tests/zarr3/test_messages.py (zarr 3) share:
issue 19's checks that hold in both worlds, each run by both environments."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from remote_zip_store.testing.sample import write_sample_archive
from remote_zip_store.testing.servers import S3Server

ROOT = Path(__file__).resolve().parents[1]
SRC = str(ROOT / "src")


def zarr_major() -> int:
    import zarr

    return int(zarr.__version__.split(".", 1)[0])


def opening_table() -> list[tuple[str, str, str]]:
    """``(call, zarr 2.18 outcome, zarr 3 outcome)`` rows of docs/usage.md's opening table."""
    text = (ROOT / "docs" / "usage.md").read_text()
    start = text.index("<!-- opening-table")
    rows = []
    for line in text[start:].splitlines()[3:]:
        if not line.startswith("| `"):
            break
        call, two, three = (cell.strip() for cell in line.strip("|").split("|"))
        rows.append((call.strip("`"), two, three))
    return rows


def check_opening_table(path: Path) -> None:
    """Each documented call does what the table says for the installed zarr."""
    import zarr

    from remote_zip_store import RemoteZipStore

    write_sample_archive(path, channels=8)
    rows = opening_table()
    assert len(rows) >= 7
    column = 1 if zarr_major() < 3 else 2
    for row in rows:
        call, expected = row[0], row[column]
        with RemoteZipStore(path) as store:
            names: dict[str, Any] = {"zarr": zarr, "store": store}
            if expected == "opens":
                node = eval(call, names)
                assert hasattr(node, "attrs"), call
            else:
                assert expected == "`ValueError`", row
                with pytest.raises(ValueError, match="read-only but mode is 'a'"):
                    eval(call, names)


def check_stats_and_measure(s3: S3Server, tmp_path: Path) -> None:
    """store.stats() is a frozen reading; store.measure() the block's requests and bytes."""
    import zarr

    from remote_zip_store import RemoteZipStore
    from remote_zip_store.hierarchy._frontend import Traffic

    url = s3.put_file(write_sample_archive(tmp_path / "rec.zip", channels=2, seconds=60))
    # no head buffer, a small tail: every chunk is its own range GET
    with RemoteZipStore(url, head_size=0, tail_size=70_000, **s3.store_kwargs()) as store:
        before = store.stats()
        assert isinstance(before, Traffic) and before.requests >= 1
        root = zarr.open_group(store, mode="r")
        array = root["signals/ch00"]
        frozen = store.stats()
        with store.measure() as m:
            assert (m.requests, m.bytes) == (0, 0)
            array[0:10]  # one chunk of 7680 float32
            assert m.requests == 1  # live inside the block
            chunk = m.bytes  # the chunk and its local header
        assert 7680 * 4 < chunk < 7680 * 4 + 100
        array[7680:7690]  # after the block: not counted
        assert (m.requests, m.bytes) == (1, chunk)
        assert store.stats() - frozen == Traffic(2, 2 * chunk)
        assert frozen.requests == before.requests + (store.stats() - before).requests - 2


def check_no_pytest_config_warnings() -> None:
    """pytest's own run over a small module prints no asyncio_default_fixture_loop_scope
    deprecation (zarr-3 env) and no unknown-option warning (zarr-2 env, no pytest-asyncio)."""
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "tests/test_planner.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": SRC},
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout + proc.stderr
    assert "asyncio_default_fixture_loop_scope" not in out, out
    assert not re.search(r"warning", out, re.IGNORECASE), out


def run_demo(channels: int = 2) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "remote_zip_store", "demo", "--channels", str(channels)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": SRC},
        timeout=240,
    )


def check_demo_output(proc: subprocess.CompletedProcess[str], zarr_format: int) -> None:
    import zarr

    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    out = proc.stdout
    assert f"zarr format {zarr_format}, written by zarr-python {zarr.__version__}" in out
    assert "    ch01  shape=(76800,) dtype=float32 chunks=(7680,)" in out
    assert "signals/ch00[7680:7690] = [" in out
    assert "remote-zip-store: open read the directory and metadata" in out
