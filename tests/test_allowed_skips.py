"""``RZS_ALLOWED_SKIPS``: in CI a skip not on the reviewed list fails the run (conftest.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import pytest

def test_runs():
    pass

def test_needs_a_tool():
    pytest.skip("frobnicator is not installed")
"""


def _run(tmp_path: Path, allowed: str | None) -> subprocess.CompletedProcess[str]:
    probe = tmp_path / "test_probe.py"
    probe.write_text(PROBE)
    env = {k: v for k, v in os.environ.items() if k != "RZS_ALLOWED_SKIPS"}
    if allowed is not None:
        listed = tmp_path / "allowed.txt"
        listed.write_text(allowed)
        env["RZS_ALLOWED_SKIPS"] = str(listed)
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "tests.conftest", str(probe)]
    argv += ["--rootdir", str(tmp_path), "-p", "no:cacheprovider"]
    return subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)


def test_an_unlisted_skip_fails_the_run(tmp_path: Path) -> None:
    result = _run(tmp_path, "# why: the tool is optional\nsomething else\n")
    assert result.returncode == 1, result.stdout
    assert "test_probe.py::test_needs_a_tool: frobnicator is not installed" in result.stdout


@pytest.mark.parametrize("allowed", [None, "# why: CI has no frobnicator\nfrobnicator\n"])
def test_a_listed_skip_or_no_list_passes(tmp_path: Path, allowed: str | None) -> None:
    result = _run(tmp_path, allowed)
    assert result.returncode == 0, result.stdout
    assert "1 passed, 1 skipped" in result.stdout


def test_a_pattern_without_a_reason_is_refused(tmp_path: Path) -> None:
    result = _run(tmp_path, "frobnicator\n")
    assert result.returncode == 4, result.stdout + result.stderr  # a usage error
    assert "needs a '# why' line" in result.stdout + result.stderr


CI_LISTS = sorted(path.stem for path in (ROOT / "tests" / "allowed-skips").glob("*.txt"))


def test_every_environment_of_ci_has_a_list() -> None:
    assert set(CI_LISTS) >= {"zarr2", "bench", "zarr3", "zarr31", "peers", "botocore", "obstore"}


@pytest.mark.parametrize("env", CI_LISTS)
def test_every_ci_list_parses(env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from .conftest import _allowed_skips

    class Config:
        rootpath = ROOT

    monkeypatch.setenv("RZS_ALLOWED_SKIPS", f"tests/allowed-skips/{env}.txt")
    patterns = _allowed_skips(Config())  # type: ignore[arg-type]
    assert patterns is not None and (env == "peers" or patterns)
