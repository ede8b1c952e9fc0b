"""The zarr-2 store's own API (tests/store_suite.py) on a local file and on moto.

What both front ends share (reading, listing, errors, pinning, pickling, requests) is the
front-end contract, run on a local file, moto and SeaweedFS by tests/test_frontend_contract.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from remote_zip_store import RemoteZipStore

from .backends import OnS3
from .store_suite import StoreSuite


class TestLocalFile(StoreSuite):
    pass


class TestMoto(OnS3, StoreSuite):
    server_name = "moto"


def test_read_options_come_as_one_value_and_names_override_it(tmp_path: Any) -> None:
    """``read=ReadOptions(...)`` is the base; read options given by name replace its fields."""
    from remote_zip_store import ReadOptions

    from .archives import make_zip

    path = tmp_path / "a.zip"
    path.write_bytes(make_zip({".zgroup": b'{"zarr_format": 2}'}))
    base = ReadOptions(max_workers=3, verify_crc=False, tail_size=4096)
    with RemoteZipStore(path, read=base, max_workers=5, coalesce_gap=None) as store:
        # None means "not given" (the documented defaults of the old signature).
        assert store.archive.options == ReadOptions(max_workers=5, verify_crc=False, tail_size=4096)
    with RemoteZipStore(path, read=base) as store:
        assert store.archive.options is base
    with RemoteZipStore(path, max_workers=7) as store:
        assert store.archive.options == ReadOptions(max_workers=7)


def test_an_unknown_keyword_is_a_type_error_naming_it(tmp_path: Any) -> None:
    from .archives import make_zip

    path = tmp_path / "a.zip"
    path.write_bytes(make_zip({".zgroup": b'{"zarr_format": 2}'}))
    with pytest.raises(TypeError, match="max_worker"):
        RemoteZipStore(path, max_worker=4)  # a typo must not pass silently
