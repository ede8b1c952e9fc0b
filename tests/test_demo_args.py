"""``demo --channels`` rejects counts the sample archive cannot hold, with a usage error."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from remote_zip_store.testing.sample import write_sample_archive
from remote_zip_store.testing.servers import S3Server
from remote_zip_store.verbs._compare import LOOPBACK_NOTE

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


def _row(out: str, name: str) -> list[str]:
    """The table row for ``name``: open requests, open bytes, ... as printed."""
    for line in out.splitlines():
        if line.startswith(name + " "):
            return line[len(name) :].split()
    raise AssertionError(f"no row for {name} in:\n{out}")


@pytest.mark.s3fs  # runs either way; with s3fs it also compares against the chain's row
def test_demo_reads_through_the_simulated_link() -> None:
    """moto has no latency: the demo states the link it simulates and leads with counts."""
    env = {**os.environ, "PYTHONPATH": SRC}
    proc = subprocess.run(
        [sys.executable, "-m", "remote_zip_store", "demo", "--channels", "2"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "reading through a simulated link: 20 ms RTT / 400 Mbit/s" in out
    assert "compare requests and bytes" in out
    assert "Traceback" not in proc.stderr
    store = _row(out, "remote-zip-store")
    store_requests, store_bytes = int(store[0]), int(store[1].replace(",", ""))
    assert 1 <= store_requests <= 3
    if importlib.util.find_spec("s3fs") is not None:
        chain = _row(out, "s3fs+ZipFileSystem+FSMap")
        assert store_requests < int(chain[0])
        assert store_bytes <= int(chain[1].replace(",", ""))


def test_bench_on_loopback_says_timings_mean_nothing(moto: S3Server, tmp_path: Path) -> None:
    """``bench`` against 127.0.0.1 (moto here) tells the reader to compare counts, not seconds."""
    url = moto.put_file(write_sample_archive(tmp_path / "rec.zip", channels=2, seconds=60))
    env = {
        **os.environ,
        "PYTHONPATH": SRC,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "remote_zip_store",
            "bench",
            url,
            "--endpoint-url",
            moto.endpoint_url,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert "remote-zip-store " in proc.stdout, proc.stderr
    assert LOOPBACK_NOTE in proc.stdout
