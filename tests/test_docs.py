"""The documentation works as written: install lines, the README's commands, the recipes.

The project is not on a package index, so every ``pip install`` of it in README.md and
docs/*.md must install from what a user has: a checkout (``.``, ``".[extra]"``, ``-e .``) or a
wheel built from it (``dist/...whl``). A wheel is built and installed into a fresh virtual
environment to prove the second form. The xarray and dask recipes run on local archives.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import numpy as np
import pytest
import zarr

from remote_zip_store import RemoteZipStore

from .worlds import ZARR3, create, group, zip_store

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
PROJECT = re.compile(r"^remote[-_]zip[-_]store(\[[^\]]*\])?$", re.IGNORECASE)
LOCAL = re.compile(r"^(\.|\./[^\s]*|dist/[^\s]+\.whl)(\[[a-z0-9,-]+\])?$", re.IGNORECASE)
#: Third-party packages the docs install from the index (optional accelerators).
THIRD_PARTY = {"isal", "zlib-ng", "deflate", "zstandard", "zarr"}
#: pip options that take a value (the value is not a requirement).
WITH_VALUE = {"-c", "-r", "-w", "--constraint", "--requirement", "--target", "-t"}


def install_lines() -> list[tuple[str, str]]:
    """Every ``pip install ...`` command in the pages: (page, command)."""
    found = []
    for page in PAGES:
        text = page.read_text()
        # inline code may wrap over a line break; a command ends at a backtick, &&, ; or #
        for match in re.finditer(r"pip install\s+[^`&;#\n]*(?:\n[^`&;#\n]*)?", text):
            command = match.group(0)
            if "`" in text[match.end() : match.end() + 1] or "\n" not in command:
                found.append((page.name, " ".join(command.split())))
            else:  # a fenced block: the command is the first line
                found.append((page.name, " ".join(command.split("\n")[0].split())))
    return found


def requirements(command: str) -> list[str]:
    args = shlex.split(command)[2:]
    out, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg in WITH_VALUE:
            skip = True
        elif arg == "-e" or arg.startswith("-"):
            continue
        else:
            out.append(arg)
    return out


def test_the_pages_have_install_lines() -> None:
    pages = {page for page, _ in install_lines()}
    assert {"README.md", "index.md", "recipes.md"} <= pages


@pytest.mark.parametrize(("page", "command"), install_lines())
def test_every_install_line_installs_from_a_checkout_or_a_wheel(page: str, command: str) -> None:
    reqs = requirements(command)
    assert reqs, f"{page}: {command!r} installs nothing"
    for req in reqs:
        assert not PROJECT.match(req), (
            f"{page}: {command!r} installs the project by name from an index, where it is not"
        )
        name = re.split(r"[<>=!~;\[ ]", req, maxsplit=1)[0].lower()  # zarr>=3.1,<3.2 -> zarr
        assert LOCAL.match(req) or name in THIRD_PARTY, f"{page}: {command!r}: {req!r}"


def bash_blocks(text: str) -> list[str]:
    return re.findall(r"```bash\n(.*?)```", text, re.DOTALL)


def test_readme_starts_with_the_demo_then_the_tests() -> None:
    blocks = bash_blocks((ROOT / "README.md").read_text())
    assert blocks[0].strip() == 'pip install ".[demo]" && remote-zip-store demo'
    assert blocks[1].strip() == 'pip install -e ".[test]" && python -m pytest'


NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7}


def test_readme_s3fs_sentence_matches_the_marked_tests() -> None:
    """A count of ``s3fs`` tests, if the README gives one, is the collected count."""
    text = " ".join((ROOT / "README.md").read_text().split())
    sentence = re.search(r"([^.;]*)tests marked `s3fs`", text)
    assert sentence is not None, "the README no longer says which tests need s3fs"
    words = sentence.group(1).split()
    stated = [NUMBERS.get(w.lower(), int(w) if w.isdigit() else None) for w in words[-2:]]
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--collect-only",
            "-q",
            "-m",
            "s3fs",
            "-p",
            "no:cacheprovider",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    collected = re.search(r"(\d+)/\d+ tests? collected", result.stdout)
    assert collected is not None and int(collected.group(1)) >= 1, result.stdout[-2000:]
    for number in stated:
        assert number is None or number == int(collected.group(1)), (sentence.group(0), collected)


def test_a_built_wheel_installs_and_runs(tmp_path: Path) -> None:
    """``pip wheel`` from a copy of the checkout, installed without deps into a new venv."""
    src = tmp_path / "checkout"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(
        ROOT / "src", src / "src", ignore=shutil.ignore_patterns("*.egg-info", "__pycache__")
    )
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "-q", "-w", str(dist)],
        cwd=src,
        check=True,
        timeout=600,
    )
    wheels = list(dist.glob("remote_zip_store-*-py3-none-any.whl"))
    assert len(wheels) == 1, wheels
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    bindir = venv / ("Scripts" if os.name == "nt" else "bin")
    python = bindir / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # the dependencies come from this environment (a path line: its .pth hooks, such as an
    # editable install of the project, are not run); the project itself only from the wheel
    Path(site, "deps-from-test-env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-deps", f"{wheels[0]}[demo]"],
        check=True,
        env=env,
        timeout=300,
    )
    where = subprocess.run(
        [str(python), "-c", "import remote_zip_store; print(remote_zip_store.__file__)"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        cwd=tmp_path,
    ).stdout.strip()
    assert Path(where).is_relative_to(venv), where
    result = subprocess.run(
        [str(bindir / "remote-zip-store"), "--help"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "demo" in result.stdout and "scan" in result.stdout


# -- xarray: what it needs, the errors without it, the documented ways around it ----------


CHUNK = 16384  # 64 KiB float32 chunks, stored: bigger than any buffer the store keeps


def plain_archive(path: Path, *, consolidated: bool) -> Path:
    """A zarr v2 archive as many writers produce it: arrays without ``_ARRAY_DIMENSIONS``."""
    with zip_store(path, mode="w", compression=zipfile.ZIP_STORED) as store:
        root = group(store)
        root.attrs["subject"] = "S001"
        signals = root.create_group("signals")
        signals.attrs["rate"] = 256
        for c in range(2):
            array = create(
                signals,
                f"ch{c:02d}",
                shape=(8 * CHUNK,),
                chunks=(CHUNK,),
                dtype="f4",
                compressor=None,
            )
            array[:] = np.arange(8 * CHUNK, dtype="f4") * (c + 1)
            array.attrs["unit"] = "uV"
        if consolidated:
            zarr.consolidate_metadata(store)
    return path


def recipe_block(containing: str) -> str:
    text = (ROOT / "docs" / "recipes.md").read_text()
    blocks = [b for b in re.findall(r"```python\n(.*?)```", text, re.DOTALL) if containing in b]
    assert len(blocks) == 1, f"expected one recipe block with {containing!r}"
    return blocks[0]


@pytest.mark.parametrize("consolidated", [True, False])
def test_xarray_errors_and_the_recipe_that_reads_anyway(tmp_path: Path, consolidated: bool) -> None:
    xr = pytest.importorskip("xarray")
    pytest.importorskip("dask.array")
    path = plain_archive(tmp_path / "plain.zip", consolidated=consolidated)
    store = RemoteZipStore(path)
    # the errors docs/recipes.md quotes
    if consolidated and ZARR3:
        # xarray on zarr 3 reads .zmetadata fine: the one error is the missing dimensions
        with pytest.raises(KeyError, match="_ARRAY_DIMENSIONS"):
            xr.open_zarr(store, group="signals")
    elif consolidated:
        with pytest.raises(
            TypeError, match="JSON object must be str, bytes or bytearray, not dict"
        ):
            xr.open_zarr(store, group="signals")
    with pytest.raises(KeyError, match="_ARRAY_DIMENSIONS"):
        xr.open_zarr(store, group="signals", consolidated=False)
    # the recipe, as written
    names: dict[str, object] = {"store": store}
    exec(recipe_block("zarr.open_array(store"), names)
    ds = names["ds"]
    expected = zarr.open(store, mode="r")["signals"]
    assert list(ds.data_vars) == ["ch00", "ch01"]  # type: ignore[attr-defined]
    for name in ("ch00", "ch01"):
        np.testing.assert_array_equal(ds[name].values, expected[name][:])  # type: ignore[index]
        assert ds[name].attrs == {"unit": "uV"}  # type: ignore[index]
    assert ds.attrs == {"rate": 256}  # type: ignore[attr-defined]
    np.testing.assert_array_equal(names["x"], expected["ch00"][7680:7690])
    assert names["ch00"].dims == ("time",)  # type: ignore[attr-defined]


# -- dask: many zarr chunks per task cost one GET per task, not one per chunk -------------


def test_dask_chunks_recipe_makes_one_request_per_task(tmp_path: Path) -> None:
    da = pytest.importorskip("dask.array")
    path = plain_archive(tmp_path / "plain.zip", consolidated=True)
    counts = {}
    for chunks in (None, (8 * CHUNK,)):
        # no head buffer and a minimal tail: every chunk is read from the source
        with RemoteZipStore(path, head_size=0, tail_size=1024) as store:
            stats = store.archive.source.stats
            array = da.from_zarr(store, component="signals/ch01", chunks=chunks)
            stats.reset()
            # zarr 3's store merges reads that arrive together from concurrent tasks (a
            # count that would depend on timing): there the tasks run one after another
            scheduler = "synchronous" if ZARR3 else "threads"
            total = float(array.sum().compute(scheduler=scheduler))
            counts[chunks is None] = (array.numblocks[0], stats.snapshot()[0], total)
    assert counts[True][2] == counts[False][2]
    assert counts[True][:2] == (8, 8)  # the default: one task and one read per zarr chunk
    assert counts[False][:2] == (1, 1)  # eight neighbouring chunks in one task: one read
