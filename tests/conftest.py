"""Session fixtures: one moto server and one SeaweedFS server for the whole run."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator

import pytest
from hypothesis import settings

from remote_zip_store.testing.servers import S3Server, moto_server, seaweedfs_server

# Tests must never pick up a developer's real AWS configuration.
for _var in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
    os.environ.pop(_var, None)
os.environ.setdefault("AWS_CONFIG_FILE", os.devnull)
os.environ.setdefault("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")

# -- two zarr worlds -----------------------------------------------------------------------
# Every module runs under both zarr majors unless it is about one of them: those are listed
# here, reviewed, and not collected in the other world (not skipped: a skip in CI must mean
# something is missing, see RZS_ALLOWED_SKIPS). tests/zarr3 is the zarr-3 front end's own.
import zarr as _zarr  # noqa: E402

ZARR3 = int(_zarr.__version__.split(".", 1)[0]) >= 3
#: Modules about the zarr-2 front end (zarr 2's store API, its ZipStore, its write store).
ZARR2_ONLY = [
    "store_suite.py",
    # docs/api.md is generated in the zarr-2 world (its RemoteZipStore signature and docs)
    "test_api_docs.py",
    "test_store_conformance.py",
    "test_writestore.py",
    "test_zarr_roundtrip.py",
]
collect_ignore = ZARR2_ONLY if ZARR3 else ["zarr3"]

# CI is reproducible (a fixed example sequence); local runs explore new examples each time.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


def pytest_configure(config: pytest.Config) -> None:
    # .ci/run's second environment has the bench extra: there a skip would hide a failure.
    if os.environ.get("RZS_REQUIRE_S3FS") and importlib.util.find_spec("s3fs") is None:
        raise pytest.UsageError("RZS_REQUIRE_S3FS is set but s3fs (the bench extra) is missing")


@pytest.fixture(scope="session")
def moto() -> Iterator[S3Server]:
    with moto_server() as server:
        yield server


@pytest.fixture(scope="session")
def seaweedfs() -> Iterator[S3Server]:
    with seaweedfs_server() as server:
        yield server


@pytest.fixture(params=["moto", "seaweedfs"])
def s3(request: pytest.FixtureRequest) -> S3Server:
    """The core suite runs against both real servers."""
    server: S3Server = request.getfixturevalue(request.param)
    return server


@pytest.fixture(autouse=True)
def _no_cohort_hints() -> Iterator[None]:
    """Every test opens its archives as a fresh process would: test archives share one
    prefix (``t/``), so a hint learned by one test would size another's first GET."""
    from remote_zip_store.archive import cohort

    cohort.clear()
    yield
    cohort.clear()
