"""Session fixtures: one moto server and one SeaweedFS server for the whole run."""

from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import Iterator
from pathlib import Path

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
    "test_messages.py",  # zarr 2's messages; tests/zarr3/test_messages.py has zarr 3's
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


# -- skips in CI: each one on a reviewed list, or the run fails ------------------------------
#
# With RZS_ALLOWED_SKIPS=tests/allowed-skips/<env>.txt, every skipped test (or module) must
# match one pattern of that file (a regular expression searched in "<node id>: <reason>"),
# or the run exits 1 even if everything else passed: a missing package or tool cannot turn
# a test into a silent skip. Each pattern needs a "# why" comment line above it.

_SKIPS: list[tuple[str, str]] = []


def _allowed_skips(config: pytest.Config) -> list[re.Pattern[str]] | None:
    path = os.environ.get("RZS_ALLOWED_SKIPS")
    if not path:
        return None
    file = Path(path)
    if not file.is_absolute():
        file = Path(config.rootpath) / file
    patterns: list[re.Pattern[str]] = []
    why = False
    for number, raw in enumerate(file.read_text().splitlines(), 1):
        line = raw.strip()
        if not line:
            why = False
        elif line.startswith("#"):
            why = True
        elif not why:
            raise pytest.UsageError(f"{file}:{number}: an allowed skip needs a '# why' line above")
        else:
            patterns.append(re.compile(line))
    return patterns


def _record_skip(report: pytest.CollectReport | pytest.TestReport) -> None:
    if report.skipped and not hasattr(report, "wasxfail"):
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
        _SKIPS.append((report.nodeid, reason.removeprefix("Skipped: ")))


def pytest_collectreport(report: pytest.CollectReport) -> None:
    _record_skip(report)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _record_skip(report)


def _unlisted_skips(config: pytest.Config) -> list[str]:
    patterns = config.stash.get(_PATTERNS, None)
    if patterns is None:
        return []
    shown = (f"{nodeid}: {reason}" for nodeid, reason in _SKIPS)
    return [text for text in shown if not any(p.search(text) for p in patterns)]


_PATTERNS = pytest.StashKey[list[re.Pattern[str]]]()


def pytest_sessionstart(session: pytest.Session) -> None:
    patterns = _allowed_skips(session.config)
    if patterns is not None:
        session.config.stash[_PATTERNS] = patterns


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _unlisted_skips(session.config) and exitstatus in (0, 5):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    unlisted = _unlisted_skips(terminalreporter.config)
    if unlisted:
        terminalreporter.section("skips not on the allowed list (RZS_ALLOWED_SKIPS)", red=True)
        for text in unlisted:
            terminalreporter.line(text, red=True)
        terminalreporter.line(
            f"{len(unlisted)} unlisted skip(s): the run fails; install what they need, or add "
            f"a reviewed pattern with a '# why' line to {os.environ['RZS_ALLOWED_SKIPS']}"
        )


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
    from remote_zip_store.archive import _cohort as cohort

    cohort.clear()
    yield
    cohort.clear()
