"""Issue 19 (a new user's defects) under zarr 3: the demo, opening modes, counting,
near-miss keywords, writing into a missing bucket, pytest's configuration."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("zarr", minversion="3.1")

from remote_zip_store.errors import ArchiveNotFoundError
from remote_zip_store.testing.sample import write_sample_archive
from remote_zip_store.testing.servers import S3Server
from remote_zip_store.zarr3._store import RemoteZipStore

from .. import messages_shared as shared


def test_endpoint_typo_says_endpoint_url(moto: S3Server) -> None:
    kwargs = {k: v for k, v in moto.store_kwargs().items() if k != "endpoint_url"}
    with pytest.raises(TypeError, match=r"endpoint \(did you mean endpoint_url\?\)"):
        RemoteZipStore(f"s3://{moto.bucket}/x.zip", endpoint=moto.endpoint_url, **kwargs)
    with pytest.raises(TypeError, match=r"did you mean endpoint_url"):
        RemoteZipStore(f"s3://{moto.bucket}/x.zip", mode="w", endpoint=moto.endpoint_url)


@pytest.mark.parametrize("mode", ["w", "w-"])
def test_writing_into_a_missing_bucket_fails_at_open(s3: S3Server, mode: str) -> None:
    url = "s3://no-such-bucket-rzs19/a.zip"
    with pytest.raises(ArchiveNotFoundError, match="bucket 'no-such-bucket-rzs19' does not exist"):
        RemoteZipStore(url, mode=mode, **s3.store_kwargs())


def test_the_opening_table_of_usage_md(tmp_path: Path) -> None:
    shared.check_opening_table(tmp_path / "rec.zip")


def test_stats_and_measure(s3: S3Server, tmp_path: Path) -> None:
    shared.check_stats_and_measure(s3, tmp_path)


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_the_sample_archive_in_either_format(tmp_path: Path, zarr_format: int) -> None:
    import zarr

    path = write_sample_archive(tmp_path / "rec.zip", channels=2, zarr_format=zarr_format)
    with RemoteZipStore(path) as store:
        root = zarr.open_group(store, mode="r")
        assert root.metadata.zarr_format == zarr_format
        assert root.attrs["channels"] == 2
        array = root["signals/ch01"]
        assert array.shape == (76800,) and array.chunks == (7680,)
        assert array.attrs["unit"] == "uV"
        if zarr_format == 3:
            assert array.metadata.dimension_names == ("time",)
        else:
            assert array.attrs["_ARRAY_DIMENSIONS"] == ["time"]


def test_demo_hint_keeps_zarr_3() -> None:
    from remote_zip_store.cli._demo import install_hint

    assert "pip install '.[demo-zarr3]'" in install_hint()


def test_demo_runs_under_zarr_3() -> None:
    shared.check_demo_output(shared.run_demo(), zarr_format=3)


def test_pytest_prints_no_configuration_warning() -> None:
    shared.check_no_pytest_config_warnings()
