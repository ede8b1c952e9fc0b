"""The ``remote-zip-store`` command, run as a real process against the real S3 servers."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import pty
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from remote_zip_store.testing.sample import write_sample_archive
from remote_zip_store.testing.servers import S3Server

from .archives import make_zip
from .worlds import as_mapping, zip_store


def command() -> list[str]:
    """The installed console script next to this interpreter, else ``python -m``."""
    script = os.path.join(os.path.dirname(sys.executable), "remote-zip-store")
    if os.path.exists(script):
        return [script]
    found = shutil.which("remote-zip-store")
    return [found] if found else [sys.executable, "-m", "remote_zip_store.cli"]


def env_for(s3: S3Server, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID=s3.access_key,
        AWS_SECRET_ACCESS_KEY=s3.secret_key,
        AWS_DEFAULT_REGION=s3.region,
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
    )
    env.update(extra)
    return env


def run_on_a_terminal(argv: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    """Run ``argv`` with stderr on a pty: ``(exit code, what the terminal showed, stdout)``."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=slave, env=env)
    os.close(slave)
    chunks: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                data = os.read(master, 4096)
            except OSError:  # EIO: the process closed its end
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain)
    reader.start()
    stdout, _ = proc.communicate(timeout=300)
    reader.join(timeout=30)
    os.close(master)
    return proc.returncode, b"".join(chunks).decode(), stdout.decode()


def run(s3: S3Server, *args: str, env: dict[str, str] | None = None, endpoint: bool = True):
    argv = [*command(), *args]
    if endpoint and len(args) > 1 and args[0] not in ("demo",):
        argv += ["--endpoint-url", s3.endpoint_url]
    return subprocess.run(argv, capture_output=True, env=env or env_for(s3), timeout=300)


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> str:
    return write_sample_archive(tmp_path_factory.mktemp("cli") / "rec.zip", channels=2, seconds=60)


@pytest.fixture
def url(s3: S3Server, sample: str) -> str:
    return s3.put_file(sample)


def test_ls_lists_entries_with_methods_and_sizes(s3: S3Server, url: str, sample: str) -> None:
    result = run(s3, "ls", url)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.decode().splitlines()
    names = [line.split()[-1] for line in lines]
    assert set(names) == set(as_mapping(zip_store(sample)).keys())
    chunk = next(line for line in lines if line.endswith("signals/ch00/0")).split()
    assert chunk[0] == "stored" and chunk[1] == chunk[2] == str(7680 * 4)


def test_tree_shows_shapes_dtypes_and_chunks(s3: S3Server, url: str) -> None:
    result = run(s3, "tree", url)
    assert result.returncode == 0, result.stderr
    out = result.stdout.decode()
    assert "  signals/\n" in out
    assert (
        "    ch01  shape=(15360,) dtype=float32 chunks=(7680,) compressor=none" in out.splitlines()
    )


def test_info_reports_directory_and_open_cost(s3: S3Server, url: str, sample: str) -> None:
    result = run(s3, "info", url)
    assert result.returncode == 0, result.stderr
    fields = dict(line.split(":", 1) for line in result.stdout.decode().splitlines() if ":" in line)
    assert fields["entries"].strip() == str(len(set(as_mapping(zip_store(sample)).keys())))
    assert fields["zip64"].strip() == "no"
    assert fields["consolidated"].strip() == "yes"
    assert fields["size"].strip() == f"{Path(sample).stat().st_size:,} bytes"
    assert fields["methods"].strip().startswith("stored ")
    assert fields["opened with"].strip().startswith("2 request(s), ")  # tail and head GETs


def test_cat_writes_raw_bytes(s3: S3Server, url: str, sample: str) -> None:
    expected = as_mapping(zip_store(sample))["signals/ch00/1"]
    result = run(s3, "cat", url, "signals/ch00/1")
    assert result.returncode == 0 and result.stdout == expected


def test_errors_are_one_line_naming_archive_and_key(s3: S3Server, url: str) -> None:
    result = run(s3, "cat", url, "signals/nope/0")
    assert result.returncode == 1 and result.stdout == b""
    message = result.stderr.decode()
    assert message.count("\n") == 1 and "'signals/nope/0'" in message and url in message
    missing = f"s3://{s3.bucket}/no/such/{uuid.uuid4().hex}.zip"
    result = run(s3, "info", missing)
    assert result.returncode == 1
    assert result.stderr.decode().count("\n") == 1 and "object not found" in result.stderr.decode()
    assert missing in result.stderr.decode()


def test_usage_errors_exit_2(moto: S3Server) -> None:
    assert run(moto, "frobnicate", endpoint=False).returncode == 2
    assert run(moto, "cat", "s3://b/k.zip", endpoint=False).returncode == 2  # KEY missing
    as_module = subprocess.run(
        [sys.executable, "-m", "remote_zip_store", "--help"], capture_output=True, timeout=60
    )
    assert as_module.returncode == 0 and b"scan" in as_module.stdout


def test_bad_credentials_exit_1(seaweedfs: S3Server, sample: str) -> None:
    url = seaweedfs.put_file(sample)
    env = env_for(seaweedfs, AWS_SECRET_ACCESS_KEY="wrong-secret")
    result = run(seaweedfs, "ls", url, env=env)
    assert result.returncode == 1 and "access denied" in result.stderr.decode()


def test_endpoint_from_the_environment(moto: S3Server, sample: str) -> None:
    url = moto.put_file(sample)
    env = env_for(moto, AWS_ENDPOINT_URL_S3=moto.endpoint_url)
    result = run(moto, "cat", url, ".zattrs", env=env, endpoint=False)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["subject"] == "S001"


def test_http_url_and_presigned(s3: S3Server, url: str) -> None:
    bucket, key = url[5:].split("/", 1)
    presigned = s3.client().generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=600
    )
    result = run(s3, "info", presigned, endpoint=False)
    assert result.returncode == 0, result.stderr
    assert "Signature" not in result.stdout.decode()  # the credential is never printed


@pytest.mark.s3fs
def test_bench_compares_with_the_s3fs_chain(s3: S3Server, url: str) -> None:
    pytest.importorskip("s3fs")
    result = run(s3, "bench", url)
    assert result.returncode == 0, result.stderr
    out = result.stdout.decode()
    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:] if line[:5] != "note:"}
    assert set(rows) == {"remote-zip-store", "s3fs+ZipFileSystem+FSMap"}
    assert int(rows["remote-zip-store"][1]) >= 1 and int(rows["s3fs+ZipFileSystem+FSMap"][1]) >= 1
    assert result.stderr == b""  # piped: no progress bar


def test_bench_without_s3fs_says_how_to_install(moto: S3Server, sample: str) -> None:
    url = moto.put_file(sample)
    code = (
        "import sys; sys.modules['s3fs'] = None\n"
        "from remote_zip_store.cli import main\n"
        f"sys.exit(main(['bench', {url!r}, '--endpoint-url', {moto.endpoint_url!r}]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, env=env_for(moto), timeout=300
    )
    assert result.returncode == 1
    assert "pip install 'remote-zip-store[bench]'" in result.stderr.decode()
    assert "remote-zip-store" in result.stdout.decode()  # the store's own row still printed


@pytest.mark.s3fs  # runs either way; with the bench extra it also checks the chain's row
def test_demo_runs_without_a_server(moto: S3Server) -> None:
    result = run(moto, "demo", "--channels", "2", endpoint=False)
    assert result.returncode == 0, result.stderr
    out = result.stdout.decode()
    assert "signals/ch00[7680:7690] = [" in out
    assert "remote-zip-store: " in out and "request(s) to open" in out
    if importlib.util.find_spec("s3fs") is not None:
        assert "\ns3fs+ZipFileSystem+FSMap " in out  # the chain's measured row
    else:
        assert "pip install 'remote-zip-store[bench]'" in out


@pytest.fixture(scope="module")
def scan_prefix(moto: S3Server) -> str:
    prefix = f"cli-scan-{uuid.uuid4().hex[:8]}/"
    client = moto.client()
    for i in range(60):
        body = make_zip({".zgroup": b'{"zarr_format": 2}', ".zattrs": b'{"i": %d}' % i})
        client.put_object(Bucket=moto.bucket, Key=f"{prefix}{i:02d}.zip", Body=body)
    client.put_object(Bucket=moto.bucket, Key=f"{prefix}zz-broken.zip", Body=b"junk" * 100)
    return f"s3://{moto.bucket}/{prefix}"


def test_scan_table_and_exit_code(moto: S3Server, scan_prefix: str) -> None:
    result = run(moto, "scan", scan_prefix, "--concurrency", "8")
    assert result.returncode == 1  # one archive failed; the others are all listed
    lines = result.stdout.decode().splitlines()
    assert len(lines) == 61
    assert lines[0].split("\t")[0] == "ok" and lines[0].endswith('{"i":0}')
    assert lines[-1].startswith("FAILED\t") and "zz-broken.zip" in lines[-1]
    summary = result.stderr.decode()
    assert "scanned 61 archive(s)" in summary and "1 failed" in summary
    assert "\r" not in summary  # piped: no progress bar


def test_scan_json_lines(moto: S3Server, scan_prefix: str) -> None:
    result = run(moto, "scan", scan_prefix, "--json")
    rows = [json.loads(line) for line in result.stdout.decode().splitlines()]
    assert [r["value"] for r in rows[:3]] == [{"i": 0}, {"i": 1}, {"i": 2}]
    assert rows[-1]["ok"] is False and "zz-broken.zip" in rows[-1]["error"]


def test_scan_progress_bar_on_a_terminal(moto: S3Server, scan_prefix: str) -> None:
    """stderr on a pty: the bar is drawn; stdout stays a clean pipe."""
    argv = [*command(), "scan", scan_prefix, "--endpoint-url", moto.endpoint_url]
    _, terminal, stdout = run_on_a_terminal(argv, env_for(moto, TERM="xterm"))
    assert "\rscan [" in terminal and "] 61/61 " in terminal
    assert "\r" not in stdout and len(stdout.splitlines()) == 61


# -- issue 11: exit codes, --version, failure options, messages in CLI terms ---------------
def run_plain(*args: str, env: dict[str, str] | None = None, timeout: float = 120):
    """The command with no S3 server involved (bad usage, local files, a dead endpoint)."""
    return subprocess.run([*command(), *args], capture_output=True, env=env, timeout=timeout)


def no_credentials_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RZS_"))}
    env.update(
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
        AWS_DEFAULT_REGION="us-east-1",
    )
    env.update(extra)
    return env


def test_bad_usage_exits_2_and_run_time_failures_exit_1(tmp_path: Path) -> None:
    local = tmp_path / "x.zip"
    local.write_bytes(make_zip({".zgroup": b'{"zarr_format": 2}'}))
    for args in (
        ("info", "s3://lab"),  # no key
        ("info", "gs://x/y.zip"),  # unsupported scheme
        ("scan", f"{tmp_path}/"),  # a scan needs an S3 prefix
        ("scan", "--concurrency", "0", "s3://b/p/"),
        ("bench", str(local)),  # bench needs s3://
    ):
        result = run_plain(*args)
        assert result.returncode == 2, (args, result.stderr)
        last = result.stderr.decode().splitlines()[-1]
        assert b"Traceback" not in result.stderr and last.startswith("remote-zip-store"), last
    missing = run_plain("ls", str(tmp_path / "missing.zip"))
    assert missing.returncode == 1 and missing.stderr.decode().count("\n") == 1
    not_zip = tmp_path / "junk.zip"
    not_zip.write_bytes(b"junk" * 100)
    assert run_plain("info", str(not_zip)).returncode == 1


def test_version() -> None:
    from remote_zip_store import __version__

    result = run_plain("--version")
    assert result.returncode == 0
    assert result.stdout.decode().strip() == f"remote-zip-store {__version__}"


class SilentEndpoint:
    """A TCP server on 127.0.0.1 that accepts connections and never answers, and records
    how long each connection was held before the client gave up on it."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.held: list[list[float]] = []  # [accepted, given up] (0.0: still open)
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._accept, daemon=True)]
        self.threads[0].start()

    def _accept(self) -> None:
        self.listener.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn = self.listener.accept()[0]
            except OSError:
                continue
            record = [time.monotonic(), 0.0]
            self.held.append(record)
            thread = threading.Thread(target=self._hold, args=(conn, record), daemon=True)
            self.threads.append(thread)
            thread.start()

    def _hold(self, conn: socket.socket, record: list[float]) -> None:
        conn.settimeout(0.2)
        with conn:
            while not self.stop.is_set():
                try:
                    if not conn.recv(65536):  # the client closed it: it gave up
                        record[1] = time.monotonic()
                        return
                except TimeoutError:
                    continue
                except OSError:
                    record[1] = time.monotonic()
                    return

    def given_up(self, since: int = 0) -> list[float]:
        """Seconds each connection from the ``since``-th on was held before the client gave
        up on it (its read timeout, plus load); waits a little for the last to be seen."""
        deadline = time.monotonic() + 10
        while any(not closed for _, closed in self.held[since:]) and time.monotonic() < deadline:
            time.sleep(0.05)
        return [closed - accepted if closed else math.inf for accepted, closed in self.held[since:]]

    def close(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(5)
        self.listener.close()


@pytest.fixture
def silent_endpoint() -> Iterator[SilentEndpoint]:
    server = SilentEndpoint()
    try:
        yield server
    finally:
        server.close()


#: How each S3 transport names a read timeout (botocore's exception; the wire client's wait;
#: reqwest's word), as the command prints it.
TIMED_OUT = {"botocore": "ReadTimeoutError", "lean": "read timed out after", "obstore": "timeout"}[
    os.environ.get("RZS_S3_TRANSPORT") or "lean"
]


def test_an_endpoint_that_never_answers_fails_within_the_given_timeouts(
    silent_endpoint: SilentEndpoint,
) -> None:
    """The mechanism, not the command's wall time (one run took up to 30 s with six busy
    loops beside it, mostly interpreter start-up): the server measures how long the
    client held each connection before giving up (the 1 s read timeout: under 20 s,
    where the default holds it 60 s), as many attempts as asked, each retry logged. The
    defaults (5 attempts x 60 s) would also overrun the subprocess timeout."""
    env = no_credentials_env(AWS_ACCESS_KEY_ID="k", AWS_SECRET_ACCESS_KEY="s")
    argv = ["ls", "s3://b/k.zip", "--endpoint-url", silent_endpoint.url]
    result = run_plain(*argv, "--read-timeout", "1", "--max-attempts", "2", env=env, timeout=280)
    assert result.returncode == 1, result.stderr
    lines = result.stderr.decode().splitlines()
    assert lines and all(line.startswith("remote-zip-store: ") for line in lines), lines
    assert "s3://b/k.zip" in lines[-1] and TIMED_OUT in lines[-1], lines
    retries = [line for line in lines if "warning" in line]
    # The tail GET and the head GET beside it: one retry each, both out of 2 attempts.
    assert retries and all("attempt 1 of 2" in line for line in retries), lines
    assert all(TIMED_OUT in line for line in retries), lines
    held = silent_endpoint.given_up()
    assert 2 <= len(held) <= 4 and all(seconds < 20 for seconds in held), held
    # The same from the environment: one attempt, so no retry line at all.
    env.update(RZS_READ_TIMEOUT="1", RZS_MAX_ATTEMPTS="1")
    before = len(silent_endpoint.held)
    result = run_plain(*argv, env=env, timeout=280)
    lines = result.stderr.decode().splitlines()
    assert result.returncode == 1 and len(lines) == 1 and TIMED_OUT in lines[0], lines
    held = silent_endpoint.given_up(before)
    assert 1 <= len(held) <= 2 and all(seconds < 20 for seconds in held), held
    bad = run_plain(*argv, env={**env, "RZS_READ_TIMEOUT": "soon"})
    assert bad.returncode == 2 and b"RZS_READ_TIMEOUT" in bad.stderr
    assert run_plain(*argv, "--max-attempts", "0", env=env).returncode == 2


def test_library_warnings_are_one_clean_line_on_stderr() -> None:
    """WARNING records of logger "remote_zip_store" (retries) reach a CLI user, one line each."""
    code = (
        "import logging, sys\n"
        "from remote_zip_store import cli\n"
        "cli._log_to_stderr(sys.stderr)\n"
        "log = logging.getLogger('remote_zip_store')\n"
        "log.warning('archive %s: attempt %d of %d failed (%s); retrying', 's3://b/k', 1, 3,\n"
        "            'read timeout\\non endpoint')\n"
        "log.info('not shown')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert result.stderr.decode() == (
        "remote-zip-store: warning: archive s3://b/k: attempt 1 of 3 failed "
        "(read timeout on endpoint); retrying\n"
    )


def test_no_credentials_names_the_command_line_options(s3: S3Server, url: str) -> None:
    result = run(s3, "ls", url, env=no_credentials_env())
    assert result.returncode == 1
    message = result.stderr.decode()
    assert message.count("\n") == 1 and url in message
    for wanted in ("--anon", "--profile", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        assert wanted in message, message
    assert "anon=True" not in message and "aws_access_key_id" not in message


def test_verify_false_prints_one_clean_warning(s3: S3Server, url: str) -> None:
    result = run(s3, "ls", url, "--verify", "false")
    assert result.returncode == 0, result.stderr
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("remote-zip-store: warning: TLS certificate verification is off")
    assert "UserWarning" not in lines[0] and ".py:" not in lines[0]


def test_scan_help_describes_the_command_and_shows_defaults() -> None:
    result = run_plain("scan", "--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.decode().split())
    assert "one row per archive" in text
    assert "(default: 32)" in text and "(default: .zip)" in text
    assert "default: the root attributes, from .zattrs or zarr.json" in text


def test_tilde_is_expanded_in_local_paths(tmp_path: Path) -> None:
    (tmp_path / "x.zip").write_bytes(make_zip({".zgroup": b'{"zarr_format": 2}'}))
    env = {**os.environ, "HOME": str(tmp_path)}
    result = run_plain("ls", "~/x.zip", env=env)  # no shell: the command sees the "~"
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode().split()[-1] == ".zgroup"


def test_demo_rejects_a_channel_count_below_1() -> None:
    for value in ("0", "-3"):
        result = run_plain("demo", "--channels", value)
        assert result.returncode == 2 and b"Traceback" not in result.stderr


def test_local_ls_imports_neither_zarr_nor_boto3(tmp_path: Path) -> None:
    """Cold start: `ls`/`info`/`cat` on a local zip load no zarr and no boto3 (deterministic)."""
    local = tmp_path / "x.zip"
    local.write_bytes(make_zip({".zgroup": b'{"zarr_format": 2}', ".zattrs": b"{}"}))
    code = (
        "import sys\n"
        "from remote_zip_store.cli import main\n"
        "path = sys.argv[1]\n"
        "for argv in (['ls', path], ['info', path], ['cat', path, '.zattrs']):\n"
        "    assert main(argv) == 0\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'zarr', 'boto3', 'botocore',\n"
        "               'numcodecs', 'urllib3', 's3fs', 'moto'})\n"
        "print('HEAVY', heavy, file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(local)], capture_output=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.decode().strip().splitlines()[-1] == "HEAVY []"
