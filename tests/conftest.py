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
