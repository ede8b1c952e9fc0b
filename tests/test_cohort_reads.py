"""The cohort benchmark's read paths work (moto, no timing): the thread loop returns every
archive's selection, equal to a local read, and a bad archive is reported, not skipped."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import zarr
from benchmarks import cohort_reads

from remote_zip_store import RemoteZipStore
from remote_zip_store.testing.servers import S3Server


@pytest.fixture(scope="module")
def cohort(moto: S3Server, tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], Path]:
    path = tmp_path_factory.mktemp("cohort") / "rec.zip"
    cohort_reads.write_sample_archive(
        path, channels=cohort_reads.CHANNELS, seconds=cohort_reads.SECONDS
    )
    return [moto.put_file(path) for _ in range(3)], path


@pytest.mark.parametrize("name", list(cohort_reads.SELECTIONS))
def test_thread_loop_reads_every_archive(
    moto: S3Server, cohort: tuple[list[str], Path], name: str
) -> None:
    urls, path = cohort
    selection = cohort_reads.SELECTIONS[name]
    connection = (moto.endpoint_url, moto.access_key, moto.secret_key, moto.region)
    with RemoteZipStore(path) as local:
        expected = cohort_reads._select(local, selection, zarr)
    assert expected.shape == (len(selection.channels), selection.samples)
    assert expected.nbytes == selection.nbytes
    for options in (None, cohort_reads.SMALL_TAIL):
        values, how = cohort_reads.run_threads(urls, selection, connection, options)
        assert len(values) == len(urls) and how
        for value in values:
            np.testing.assert_array_equal(value, expected)
