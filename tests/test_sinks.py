"""The S3 sink against real servers (moto; SeaweedFS for one round trip): multipart parts,
atomic appearance, the abort paths (an exception, a failed part through the fault proxy),
``w-``, and the memory bound (tracemalloc, with the S3 server in another process)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import tracemalloc
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from remote_zip_store.archive._writer import WriteOptions, ZipWriter
from remote_zip_store.errors import (
    ArchiveExistsError,
    ArchiveNotFoundError,
    RemoteZipError,
    SourceError,
    StoreClosedError,
)
from remote_zip_store.hierarchy._frontend import open_archive
from remote_zip_store.testing.servers import S3Server, free_port
from remote_zip_store.transport._sinks import S3MultipartSink, open_sink

from .faultproxy import Fault, fault_proxy
from .test_zipwrite import validate_zip

MIB = 2**20
SMALL_PARTS = WriteOptions(part_size=5 * MIB, max_workers=2)


def fresh_key() -> str:
    return f"w/{uuid.uuid4().hex}.zip"


def entries_of(total: int, size: int = MIB) -> dict[str, bytes]:
    return {f"arr/{i}": os.urandom(size) for i in range(total // size)}


def write(sink: Any, entries: dict[str, bytes], options: WriteOptions = SMALL_PARTS) -> ZipWriter:
    with ZipWriter(sink, options) as writer:
        for name, data in entries.items():
            writer.write(name, data)
    return writer


def keys_and_uploads(server: S3Server, key: str) -> tuple[list[str], list[str]]:
    client = server.client()
    listed = client.list_objects_v2(Bucket=server.bucket, Prefix=key)
    uploads = client.list_multipart_uploads(Bucket=server.bucket, Prefix=key)
    return (
        [item["Key"] for item in listed.get("Contents", [])],
        [upload["UploadId"] for upload in uploads.get("Uploads", [])],
    )


def download(server: S3Server, key: str, tmp_path: Path) -> Path:
    path = tmp_path / key.replace("/", "_")
    body = server.client().get_object(Bucket=server.bucket, Key=key)["Body"].read()
    path.write_bytes(body)
    return path


def check_round_trip(server: S3Server, key: str, entries: dict[str, bytes], tmp: Path) -> None:
    validate_zip(download(server, key, tmp), entries)
    archive = open_archive(f"s3://{server.bucket}/{key}", **server.store_kwargs())
    try:
        assert archive.read_many([archive.index.get(name) for name in entries]) == entries
    finally:
        archive.close()


# -- round trips -----------------------------------------------------------------------


def test_multipart_round_trip(moto: S3Server, tmp_path: Path) -> None:
    key = fresh_key()
    entries = entries_of(17 * MIB)
    sink = open_sink(f"s3://{moto.bucket}/{key}", options=SMALL_PARTS, client=moto.client())
    assert isinstance(sink, S3MultipartSink)
    writer = write(sink, entries)
    # 17 MiB of entries + headers + directory: three full 5 MiB parts and a short last one.
    assert sink.requests == {"head_bucket": 1, "create_multipart_upload": 1, "upload_part": 4,
                             "complete_multipart_upload": 1}  # fmt: skip
    size = moto.client().head_object(Bucket=moto.bucket, Key=key)["ContentLength"]
    assert size == writer.bytes_written
    check_round_trip(moto, key, entries, tmp_path)
    assert keys_and_uploads(moto, key) == ([key], [])


def test_connection_arguments_build_the_client(moto: S3Server, tmp_path: Path) -> None:
    """open_sink takes open_source's connection arguments (S3Options.make_client)."""
    key = fresh_key()
    entries = {"a/.zarray": b"{}", "a/0": os.urandom(1000)}
    write(open_sink(f"s3://{moto.bucket}/{key}", **moto.store_kwargs()), entries)
    check_round_trip(moto, key, entries, tmp_path)


def test_a_small_archive_is_one_put(moto: S3Server, tmp_path: Path) -> None:
    key = fresh_key()
    entries = {"a": b"1", "b": os.urandom(100_000)}
    sink = open_sink(f"s3://{moto.bucket}/{key}", client=moto.client())
    write(sink, entries, WriteOptions())
    assert sink.requests == {"head_bucket": 1, "put_object": 1}  # type: ignore[attr-defined]
    check_round_trip(moto, key, entries, tmp_path)
    sink = open_sink(f"s3://{moto.bucket}/{fresh_key()}", client=moto.client(), mode="w-")
    write(sink, entries, WriteOptions())
    expected = {"head_bucket": 1, "head_object": 1, "put_object": 1}
    assert sink.requests == expected  # type: ignore[attr-defined]


@pytest.mark.seaweedfs
def test_seaweedfs_round_trip_and_fail_if_exists(seaweedfs: S3Server, tmp_path: Path) -> None:
    key = fresh_key()
    entries = entries_of(12 * MIB)
    entries["ü/.zattrs"] = b'{"x": 1}'
    sink = open_sink(f"s3://{seaweedfs.bucket}/{key}", options=SMALL_PARTS, mode="w-",
                     **seaweedfs.store_kwargs())  # fmt: skip
    write(sink, entries)
    assert sink.requests["upload_part"] == 3  # type: ignore[attr-defined]
    check_round_trip(seaweedfs, key, entries, tmp_path)
    with pytest.raises(ArchiveExistsError):
        open_sink(f"s3://{seaweedfs.bucket}/{key}", mode="w-", **seaweedfs.store_kwargs())
    assert keys_and_uploads(seaweedfs, key) == ([key], [])


# -- failure ---------------------------------------------------------------------------


def test_exception_in_with_leaves_no_object_and_no_upload(moto: S3Server) -> None:
    key = fresh_key()
    sink = open_sink(f"s3://{moto.bucket}/{key}", options=SMALL_PARTS, client=moto.client())
    with pytest.raises(RuntimeError, match="stop"), ZipWriter(sink, SMALL_PARTS) as writer:
        for name, data in entries_of(12 * MIB).items():
            writer.write(name, data)
        assert sink.upload_id is not None  # type: ignore[attr-defined]  # parts went out
        raise RuntimeError("stop")
    assert writer.aborted
    assert sink.requests["abort_multipart_upload"] == 1  # type: ignore[attr-defined]
    assert keys_and_uploads(moto, key) == ([], [])
    with pytest.raises(StoreClosedError):
        sink.write(b"more")


@pytest.mark.parametrize("through_writer", [True, False])
def test_a_failed_part_aborts_the_upload(moto: S3Server, through_writer: bool) -> None:
    """Every part PUT answers 500 through the fault proxy: after botocore's retries the
    write fails with an error naming the archive, and the upload is aborted, by the sink
    itself too (``through_writer=False``: nobody calls abort())."""
    key = fresh_key()
    url = f"s3://{moto.bucket}/{key}"
    with fault_proxy(moto.endpoint_url, lifetime=120) as proxy:
        proxy.arm(Fault("status", count=1000, method="PUT", status=500, code="InternalError"))
        kwargs = dict(moto.store_kwargs(), endpoint_url=proxy.endpoint_url, max_attempts=2)
        sink = open_sink(url, options=SMALL_PARTS, **kwargs)
        writer = ZipWriter(sink, SMALL_PARTS)
        with pytest.raises(SourceError) as info:
            for name, data in entries_of(20 * MIB).items():
                if through_writer:
                    writer.write(name, data)
                else:
                    sink.write(data)
            writer.close() if through_writer else sink.complete()
        assert isinstance(info.value, RemoteZipError) and info.value.archive == url
        assert "upload_part failed" in str(info.value) and "500" in str(info.value)
        assert writer.aborted == through_writer
        # The two parts in flight (max_workers), 2 attempts each; no part after the failure.
        assert [r.fault for r in proxy.requests("PUT")] == ["status"] * 4
        assert len(proxy.requests("DELETE")) == 1  # abort_multipart_upload
        with pytest.raises(StoreClosedError):
            sink.write(b"more")
    assert keys_and_uploads(moto, key) == ([], [])


def test_a_failed_completion_aborts(moto: S3Server) -> None:
    key = fresh_key()
    with fault_proxy(moto.endpoint_url, lifetime=120) as proxy:
        kwargs = dict(moto.store_kwargs(), endpoint_url=proxy.endpoint_url, max_attempts=1)
        sink = open_sink(f"s3://{moto.bucket}/{key}", options=SMALL_PARTS, **kwargs)
        writer = ZipWriter(sink, SMALL_PARTS)
        for name, data in entries_of(8 * MIB).items():
            writer.write(name, data)
        proxy.arm(Fault("status", count=1, method="POST", status=403, code="AccessDenied"))
        with pytest.raises(PermissionError, match="complete_multipart_upload failed"):
            writer.close()
        assert len(proxy.requests("DELETE")) == 1
    assert keys_and_uploads(moto, key) == ([], [])


def test_fail_if_exists(moto: S3Server) -> None:
    client = moto.client()
    key = fresh_key()
    client.put_object(Bucket=moto.bucket, Key=key, Body=b"old")
    with pytest.raises(ArchiveExistsError) as info:
        open_sink(f"s3://{moto.bucket}/{key}", mode="w-", client=client)
    assert isinstance(info.value, FileExistsError) and key in str(info.value)
    # Created after the open: If-None-Match on the completing request refuses it.
    for size in (1000, 12 * MIB):  # put_object, then complete_multipart_upload
        key = fresh_key()
        sink = open_sink(f"s3://{moto.bucket}/{key}", mode="w-", options=SMALL_PARTS,
                         client=client)  # fmt: skip
        client.put_object(Bucket=moto.bucket, Key=key, Body=b"newcomer")
        with pytest.raises(ArchiveExistsError):
            write(sink, {"a": os.urandom(size)})
        body = client.get_object(Bucket=moto.bucket, Key=key)["Body"].read()
        assert body == b"newcomer"
        assert keys_and_uploads(moto, key) == ([key], [])


def test_an_existing_object_is_replaced_only_on_complete(moto: S3Server, tmp_path: Path) -> None:
    client = moto.client()
    key = fresh_key()
    client.put_object(Bucket=moto.bucket, Key=key, Body=b"old")
    sink = open_sink(f"s3://{moto.bucket}/{key}", options=SMALL_PARTS, client=client)
    writer = ZipWriter(sink, SMALL_PARTS)
    entries = entries_of(12 * MIB)
    for name, data in entries.items():
        writer.write(name, data)
    assert sink.requests["upload_part"] == 2  # type: ignore[attr-defined]
    assert client.get_object(Bucket=moto.bucket, Key=key)["Body"].read() == b"old"
    writer.close()
    check_round_trip(moto, key, entries, tmp_path)


def test_aborting_without_parts_and_twice(moto: S3Server) -> None:
    key = fresh_key()
    sink = open_sink(f"s3://{moto.bucket}/{key}", client=moto.client())
    with ZipWriter(sink) as writer:
        writer.write("a", b"1")
        writer.abort()
        writer.abort()
    assert sink.requests == {"head_bucket": 1}  # type: ignore[attr-defined]  # no body sent
    assert keys_and_uploads(moto, key) == ([], [])


@pytest.mark.parametrize("mode", ["w", "w-"])
def test_missing_bucket_fails_at_open(s3: S3Server, mode: str) -> None:
    """Issue 19 item 8: at open (one head_bucket), not after the archive streamed."""
    url = "s3://no-such-bucket-here/a.zip"
    with pytest.raises(ArchiveNotFoundError) as info:
        open_sink(url, client=s3.client(), mode=mode)
    assert info.value.archive == url
    assert "bucket 'no-such-bucket-here' does not exist" in str(info.value)


def test_parts_in_flight_are_bounded(moto: S3Server) -> None:
    """With every part PUT delayed, at most max_workers are ever in flight, and they overlap."""
    key = fresh_key()
    with fault_proxy(moto.endpoint_url, lifetime=120) as proxy:
        proxy.arm(Fault("delay", count=1000, method="PUT", seconds=0.3))
        kwargs = dict(moto.store_kwargs(), endpoint_url=proxy.endpoint_url)
        sink = open_sink(f"s3://{moto.bucket}/{key}", options=SMALL_PARTS, **kwargs)
        write(sink, entries_of(30 * MIB))
        puts = proxy.requests("PUT")
    assert len(puts) == 7
    overlap = max(sum(1 for o in puts if o.started <= p.started < o.finished) for p in puts)
    assert overlap == SMALL_PARTS.max_workers


# -- memory ----------------------------------------------------------------------------


@contextlib.contextmanager
def moto_subprocess() -> Iterator[S3Server]:
    """moto in its own process, so tracemalloc sees only the writer's allocations."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = S3Server("moto-process", f"http://127.0.0.1:{port}", "rzs-mem")
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                server.client().create_bucket(Bucket=server.bucket)
                break
            except Exception:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.2)
        yield server
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_memory_stays_bounded_by_parts_in_flight() -> None:
    """40 MB written as 1 MiB entries with 5 MiB parts and 2 workers: the traced peak stays
    under (max_workers + 1) x part_size + 2 MiB of slack (headers, directory, botocore).
    An extra copy per part (bytes(buffer), measured 18.8 MiB) fails it."""
    options = SMALL_PARTS
    data = os.urandom(40 * 10**6)
    view = memoryview(data)
    with moto_subprocess() as server:
        client = server.client()
        client.head_bucket(Bucket=server.bucket)  # warm the client up before tracing
        sink = open_sink(f"s3://{server.bucket}/mem.zip", options=options, client=client)
        tracemalloc.start()
        try:
            with ZipWriter(sink, options) as writer:
                for i in range(0, len(data), MIB):
                    writer.write(f"arr/{i // MIB}", view[i : i + MIB])
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        size = client.head_object(Bucket=server.bucket, Key="mem.zip")["ContentLength"]
    assert size == writer.bytes_written > 40 * 10**6
    bound = (options.max_workers + 1) * options.part_size + 2 * MIB
    assert peak < bound, f"peak {peak / MIB:.1f} MiB >= {bound / MIB:.1f} MiB"
    print(f"peak {peak / MIB:.1f} MiB, bound {bound / MIB:.1f} MiB")


def test_the_writer_takes_the_sinks_options(moto: S3Server) -> None:
    options = WriteOptions(part_size=6 * MIB, compress=True)
    sink = open_sink(f"s3://{moto.bucket}/{fresh_key()}", options=options, client=moto.client())
    writer = ZipWriter(sink)
    assert writer.options is options
    writer.abort()


def test_zip64_by_entry_count_on_s3(moto: S3Server, tmp_path: Path) -> None:
    """70,000 entries through multipart parts: ZIP64 end records, read by every tool."""
    key = fresh_key()
    entries = {f"c/{i}": i.to_bytes(3, "little") for i in range(70_000)}
    sink = open_sink(f"s3://{moto.bucket}/{key}", options=SMALL_PARTS, client=moto.client())
    write(sink, entries)
    assert sink.requests["upload_part"] == 2  # type: ignore[attr-defined]
    check_round_trip(moto, key, entries, tmp_path)
