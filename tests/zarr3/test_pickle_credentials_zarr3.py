"""``pickle_credentials=False`` with the zarr-3 store: the zarr-agnostic tests of
``tests/test_pickle_credentials.py``, collected here so the zarr-3 environment runs them."""

from __future__ import annotations

import pytest

pytest.importorskip("zarr", minversion="3.1")

from ..test_pickle_credentials import (
    test_dask_worker_process_resolves_its_own_credentials,
    test_pickle_without_credentials_holds_no_keys,
    worker_env_client,
)

__all__ = [
    "test_dask_worker_process_resolves_its_own_credentials",
    "test_pickle_without_credentials_holds_no_keys",
    "worker_env_client",
]
