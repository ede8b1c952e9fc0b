"""Every install line in the docs works as written (the project is on no package index)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
#: Where this project can be installed from: a checkout (".", "-e ."), a path or a built wheel.
LOCAL = re.compile(r"^(\.|\./|/|dist/|~|[\w.-]+\.whl)")
PIP = re.compile(r"pip\s+install\s+([^`&|;#]+)")


def install_lines() -> list[tuple[str, str]]:
    found = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8").replace("\n", " ")  # lines wrap in code spans
        for match in PIP.finditer(text):
            found.append((f"{page.relative_to(ROOT)}", match.group(1).strip()))
    return found


def test_the_docs_have_install_lines() -> None:
    assert len(install_lines()) >= 5


@pytest.mark.parametrize(("page", "args"), install_lines())
def test_this_project_is_installed_from_a_checkout_or_a_wheel(page: str, args: str) -> None:
    for word in shlex.split(args):
        if word.startswith("-"):
            continue
        if "remote-zip-store" in word or "remote_zip_store" in word:
            # A bare name would need a package index that does not have this project.
            assert LOCAL.match(word), f"{page}: 'pip install {args}' names the project on an index"


def test_readme_starts_with_the_demo_and_the_test_command() -> None:
    blocks = re.findall(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
    assert blocks[0].strip() == 'pip install ".[demo]" && remote-zip-store demo'
    assert blocks[1].strip() == 'pip install -e ".[test]" && python -m pytest'


def test_a_built_wheel_installs_and_runs(tmp_path: Path) -> None:
    """``pip wheel .`` then ``pip install dist/...whl``: the form docs give besides a checkout."""
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w", str(dist)],
        check=True,
        timeout=300,
    )
    (wheel,) = dist.glob("remote_zip_store-*.whl")
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    # The dependencies come from this environment (a .pth path: its .pth files, the
    # checkout's editable hook among them, are not run), so the wheel's copy is the one seen.
    site_dir = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout.strip()
    Path(site_dir, "parent-env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "-q",
            "--no-deps",
            "--force-reinstall",
            str(wheel),
        ],
        check=True,
        timeout=300,
    )
    clean = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # no checkout on the path
    out = subprocess.run(
        [str(python), "-c", "import remote_zip_store, sys; print(remote_zip_store.__file__)"],
        env=clean,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    assert str(env_dir) in out  # the wheel's copy, not the checkout's
    help_text = subprocess.run(
        [str(env_dir / "bin" / "remote-zip-store"), "--help"],
        env=clean,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    assert "ls" in help_text and "scan" in help_text
