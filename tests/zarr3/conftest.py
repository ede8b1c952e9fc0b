"""zarr-3 tests: async tests run with pytest-asyncio in auto mode (as zarr's own suite).

Under zarr 2.18 this directory is not collected (tests/conftest.py); under zarr 3 the
whole suite runs, these modules and the world-neutral ones in ``tests/``.
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
