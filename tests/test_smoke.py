"""End-to-end smoke test: a zarr hierarchy read back from both real S3 servers."""

from __future__ import annotations

import numpy as np

from remote_zip_store.testing.sample import write_sample_archive
from remote_zip_store.testing.servers import S3Server

from .worlds import RemoteZipStore, open_zarr, zip_store


def test_sample_archive_reads_back_from_s3(s3: S3Server, tmp_path) -> None:
    path = write_sample_archive(tmp_path / "rec.zip", channels=2, seconds=60)
    url = s3.put_file(path)
    expected = open_zarr(zip_store(path))
    with RemoteZipStore(url, **s3.store_kwargs()) as store:
        root = open_zarr(store)
        assert dict(root.attrs) == dict(expected.attrs)
        for name in ("signals/ch00", "signals/ch01"):
            np.testing.assert_array_equal(root[name][:], expected[name][:])
