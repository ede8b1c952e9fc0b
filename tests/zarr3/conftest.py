"""zarr-3 tests: async tests run with pytest-asyncio in auto mode (as zarr's own suite).

Every module here starts with ``pytest.importorskip("zarr", minversion="3.1")``, so
under zarr 2.18 the directory collects as skipped. The zarr-3 environment runs
``python -m pytest tests/zarr3``: the modules in ``tests/`` use zarr 2's API.
"""

from __future__ import annotations

import os

import pytest


def pytest_configure(config: pytest.Config) -> None:
    if config.pluginmanager.hasplugin("asyncio"):
        config.option.asyncio_mode = "auto"


def pytest_sessionstart(session: pytest.Session) -> None:
    # .ci/run's zarr-3 environment: there a skip would hide a failure.
    if os.environ.get("RZS_REQUIRE_ZARR3"):
        import zarr

        if int(zarr.__version__.split(".", 1)[0]) < 3:
            raise pytest.UsageError(f"RZS_REQUIRE_ZARR3 is set but zarr is {zarr.__version__}")
