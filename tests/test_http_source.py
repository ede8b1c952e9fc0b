"""HTTP(S) sources: presigned and public S3 URLs on real servers, faults on a real file server."""

from __future__ import annotations

import functools
import http.server
import pickle
import subprocess
import sys
import threading
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest

from remote_zip_store import (
    ArchiveAccessError,
    ArchiveChangedError,
    ArchiveNotFoundError,
    HTTPSource,
    SourceError,
)
from remote_zip_store.testing.sample import write_sample_archive
from remote_zip_store.testing.servers import S3Server
from remote_zip_store.transport import HTTPOptions

from .archives import make_zip
from .httpserver import FileServer, file_server, self_signed_cert
from .worlds import RemoteZipStore, open_zarr, zip_store


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, bytes]:
    path = write_sample_archive(
        tmp_path_factory.mktemp("http") / "rec.zip", channels=2, seconds=120
    )
    return path, Path(path).read_bytes()


def presign(s3: S3Server, url: str, expires: int = 600) -> str:
    bucket, key = url[5:].split("/", 1)
    return str(
        s3.client().generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=expires
        )
    )


def assert_same_as_local(store: RemoteZipStore, path: str) -> None:
    expected = open_zarr(zip_store(path))
    root = open_zarr(store)
    assert dict(root.attrs) == dict(expected.attrs)
    for name in ("signals/ch00", "signals/ch01"):
        np.testing.assert_array_equal(root[name][:], expected[name][:])


def test_presigned_url_reads_like_a_local_file(s3: S3Server, sample: tuple[str, bytes]) -> None:
    path, data = sample
    url = presign(s3, s3.put(data))
    with RemoteZipStore(url, tail_size=1024) as store:
        source = store.archive.source
        assert isinstance(source, HTTPSource)
        assert source.etag is not None
        assert_same_as_local(store, path)
        # The signature is a credential: never in the URL shown, repr or messages.
        assert "?" not in store.url and "Signature" not in repr(store)
        with pytest.raises(KeyError) as info:
            store["nope/.zarray"]
        assert "Signature" not in str(info.value) and "X-Amz" not in str(info.value)


def test_presigned_get_honours_range_and_if_match(s3: S3Server) -> None:
    """The two headers the source relies on, against the real servers."""
    data = make_zip({f"k{i}": bytes([i]) * 5000 for i in range(20)})
    url = s3.put(data)
    source = HTTPSource(presign(s3, url))
    tail = source.read_ends(1024)
    assert tail.size == len(data) and tail.tail == data[-1024:]
    assert source.read_range(100, 200) == data[100:200]
    assert source.stats.snapshot() == (2, 1124)
    s3.put(data + b"changed", url.split("/", 3)[3])  # same key, new ETag
    with pytest.raises(ArchiveChangedError, match="changed since the store opened it"):
        source.read_range(100, 200)


def test_public_object_url_without_signature(moto: S3Server, sample: tuple[str, bytes]) -> None:
    path, data = sample
    key = "public/rec.zip"
    moto.client().put_object(Bucket=moto.bucket, Key=key, Body=data, ACL="public-read")
    with RemoteZipStore(f"{moto.endpoint_url}/{moto.bucket}/{key}") as store:
        assert_same_as_local(store, path)


def test_missing_object_is_archive_not_found(s3: S3Server) -> None:
    url = presign(s3, f"s3://{s3.bucket}/no/such.zip")
    with pytest.raises(ArchiveNotFoundError, match=r"no/such\.zip: object not found") as info:
        RemoteZipStore(url)
    assert isinstance(info.value, FileNotFoundError)
    assert "Signature" not in str(info.value)


def test_bad_signature_is_access_denied(seaweedfs: S3Server, sample: tuple[str, bytes]) -> None:
    url = presign(seaweedfs, seaweedfs.put(sample[1]))
    forged = url.replace("X-Amz-Signature=", "X-Amz-Signature=0").replace(
        "Signature=", "Signature=0"
    )
    with pytest.raises(ArchiveAccessError, match="access denied") as info:
        RemoteZipStore(forged)
    assert isinstance(info.value, PermissionError)


def test_pickles_without_connections_and_reads_after(s3: S3Server, sample: tuple[str, bytes]):
    path, data = sample
    url = presign(s3, s3.put(data))
    store = RemoteZipStore(url)
    copy = pickle.loads(pickle.dumps(store))
    assert copy.archive.source.stats.snapshot() == (0, 0)  # unpickling made no request
    assert copy.archive.source.etag == store.archive.source.etag
    # Deterministic: a store built independently, here and in another process, pickles to
    # the same bytes (dask tokenizes tasks by them).
    assert pickle.dumps(RemoteZipStore(url)) == pickle.dumps(store)
    code = (
        "import pickle, sys\n"
        "from remote_zip_store import RemoteZipStore\n"
        "sys.stdout.buffer.write(pickle.dumps(RemoteZipStore(sys.argv[1])))\n"
    )
    other = subprocess.run([sys.executable, "-c", code, url], capture_output=True, timeout=120)
    assert other.returncode == 0, other.stderr
    assert other.stdout == pickle.dumps(getattr(store, "store", store))  # the store itself
    assert_same_as_local(copy, path)


# -- faults, on a plain file server ------------------------------------------------------


@pytest.fixture
def files() -> FileServer:
    with file_server() as server:
        yield server


def test_retries_5xx_429_resets_and_short_bodies(files: FileServer) -> None:
    data = make_zip({f"k{i}": bytes([i]) * 3000 for i in range(10)})
    url = files.put("/a.zip", data)
    source = HTTPSource(url, retry_backoff=0.001)
    files.faults += ["503", "429", "reset"]
    assert source.read_ends(2048).tail == data[-2048:]
    files.faults += ["short", "500"]
    assert source.read_range(10, 2010) == data[10:2010]
    assert len(files.requests) == 7


def test_shifted_range_answers_are_never_returned(files: FileServer) -> None:
    data = make_zip({f"k{i}": bytes([i]) * 3000 for i in range(10)})
    url = files.put("/a.zip", data)
    source = HTTPSource(url, max_attempts=2, retry_backoff=0.001)
    source.read_ends(1024)
    files.faults.append("shifted")
    assert source.read_range(100, 200) == data[100:200]  # retried, then right
    files.faults += ["shifted", "shifted"]
    with pytest.raises(SourceError, match=r"Content-Range 'bytes 101-200/\d+' does not answer"):
        source.read_range(100, 200)


def test_gives_up_after_max_attempts_naming_the_key(files: FileServer) -> None:
    url = files.put("/a.zip", make_zip({"k": b"x" * 5000}))
    source = HTTPSource(url, max_attempts=3, retry_backoff=0.001)
    source.read_ends(1024)
    files.faults += ["503"] * 3
    with pytest.raises(SourceError, match=r"failed after 3 attempts \(HTTP 503\)"):
        source.read_range(0, 100)


def test_if_match_sent_after_the_first_read(files: FileServer) -> None:
    url = files.put("/a.zip", make_zip({"k": b"x" * 5000}))
    source = HTTPSource(url)
    source.read_ends(1024)
    source.read_range(0, 10)
    assert "If-Match" not in files.requests[0]
    assert files.requests[1]["If-Match"] == source.etag
    files.put("/a.zip", make_zip({"k": b"y" * 5000}))
    with pytest.raises(ArchiveChangedError):
        source.read_range(0, 10)


def test_a_server_without_ranges(files: FileServer) -> None:
    data = make_zip({"k": b"x" * 100})
    url = files.put("/a.zip", data)
    source = HTTPSource(url)
    files.faults.append("ignore-range")
    assert source.read_ends(1024).tail == data  # small object: the whole body is the tail
    assert source.read_range(0, 10) == data[:10]  # served from the kept body
    assert len(files.requests) == 1


class _Counting(http.server.SimpleHTTPRequestHandler):
    """The stdlib file server (it ignores ``Range``), counting the requests it answers."""

    count = 0

    def do_GET(self) -> None:
        type(self).count += 1
        super().do_GET()

    def log_message(self, format: str, *args: object) -> None:
        pass


def _stdlib_server(root: Path) -> http.server.ThreadingHTTPServer:
    handler = functools.partial(_Counting, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_stdlib_http_server_is_read_with_one_request(tmp_path: Path) -> None:
    """Issue 11 item 2: a whole body within max_full_body is kept; every read comes from it."""
    path = tmp_path / "s.zip"
    write_sample_archive(path)
    server = _stdlib_server(tmp_path)
    _Counting.count = 0
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/s.zip"
        store = RemoteZipStore(url, root="")
        # The open sends the tail GET and, beside it, a head GET whose 200 is dropped unread
        # (connection closed): the whole object is downloaded once.
        assert _Counting.count <= 2
        opened = _Counting.count
        with zipfile.ZipFile(path) as z:
            for name in z.namelist():
                if not name.endswith("/"):
                    assert store[name] == z.read(name)
        assert _Counting.count == opened  # every read served from the kept body
        assert store.archive.source.stats.bytes == path.stat().st_size  # one body in all
        # Without the speculative head GET: open + .zgroup + a chunk = 1 request.
        _Counting.count = 0
        alone = RemoteZipStore(url, root="", head_size=0)
        assert alone[".zgroup"] and alone["signals/ch00/0"]
        assert _Counting.count == 1
    finally:
        server.shutdown()
        server.server_close()


def test_stdlib_http_server_over_the_bound_fails_at_open(tmp_path: Path) -> None:
    (tmp_path / "s.zip").write_bytes(make_zip({"k": b"x" * 5000}))
    server = _stdlib_server(tmp_path)
    _Counting.count = 0
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/s.zip"
        source = HTTPSource(url, HTTPOptions(max_full_body=1000))
        with pytest.raises(SourceError, match="ignores range requests"):
            source.read_ends(1024)
        assert _Counting.count == 1
    finally:
        server.shutdown()
        server.server_close()


def test_head_is_read_beside_the_tail(files: FileServer) -> None:
    data = make_zip({f"k{i}": bytes([i]) * 3000 for i in range(10)})
    url = files.put("/a.zip", data)
    tail = HTTPSource(url).read_ends(1024, head=4096)
    assert (tail.tail, tail.head, tail.size) == (data[-1024:], data[:4096], len(data))
    assert sorted(r["Range"] for r in files.requests) == ["bytes=-1024", "bytes=0-4095"]
    whole = HTTPSource(url).read_ends(1024, head=10 * len(data))  # larger than the object
    assert whole.head == data


def test_a_failed_head_is_dropped_and_the_tail_retried(files: FileServer) -> None:
    data = make_zip({f"k{i}": bytes([i]) * 3000 for i in range(10)})
    url = files.put("/a.zip", data)
    files.faults += ["503", "503"]  # the first two GETs to arrive (tail and head side by side)
    tail = HTTPSource(url, retry_backoff=0.001).read_ends(1024, head=4096)
    heads = [r for r in files.requests if r.get("Range") == "bytes=0-4095"]
    assert len(heads) == 1  # the head is never retried
    # Usually the head got a 503 and is dropped; on a loaded machine the tail's retry may
    # arrive before the head and take the second 503: then the head is whole. Never wrong.
    assert tail.tail == data[-1024:] and tail.head in (b"", data[:4096])
    assert len(files.requests) == (3 if tail.head == b"" else 4)
    files.faults += ["ignore-range", "ignore-range"]  # a 200 with everything: not a head
    tail = HTTPSource(url).read_ends(1024, head=4096)
    assert (tail.tail, tail.head) == (data[-1024:], b"")


def test_empty_object_is_a_bad_archive(files: FileServer) -> None:
    url = files.put("/empty.zip", b"")
    with pytest.raises(ValueError, match=r"empty\.zip"):
        RemoteZipStore(url)


def test_https_verify_with_private_ca(tmp_path: Path) -> None:
    cert, key = self_signed_cert(str(tmp_path))
    data = make_zip({".zgroup": b'{"zarr_format": 2}'})
    with file_server(tls=(cert, key)) as server:
        url = server.put("/a.zip", data)
        with pytest.raises(SourceError, match=r"TLS failure.*verify="):
            RemoteZipStore(url, max_attempts=1)
        with RemoteZipStore(url, verify=cert) as store:
            assert store[".zgroup"] == b'{"zarr_format": 2}'
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with RemoteZipStore(url, verify=False) as store:
                assert ".zgroup" in store
        assert sum("verification is off" in str(w.message) for w in caught) == 1  # once


def test_rejects_client_and_bad_urls() -> None:
    with pytest.raises(ValueError, match="client="):
        RemoteZipStore("https://example.invalid/a.zip", client=object())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="with a host"):
        HTTPSource("https:///a.zip")
