"""docs/api.md is generated from the docstrings; it must match the code."""

from __future__ import annotations

import importlib.util
from pathlib import Path

GEN = Path(__file__).resolve().parents[1] / "docs" / "gen_api.py"


def test_committed_api_reference_is_up_to_date() -> None:
    spec = importlib.util.spec_from_file_location("gen_api", GEN)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    committed = (GEN.parent / "api.md").read_text()
    assert committed == module.render(), "docs/api.md is stale: run python docs/gen_api.py"
    assert "## `RemoteZipStore`" in committed and "## `scan`" in committed
