"""Dataset scan: many small archives on a real S3 server, some of them broken."""

from __future__ import annotations

import json
import uuid

import pytest

from remote_zip_store import ArchiveNotFoundError
from remote_zip_store.testing.servers import S3Server
from remote_zip_store.verbs._scan import parse_prefix, scan

from .archives import make_zip


def good_archive(i: int) -> bytes:
    attrs = json.dumps({"subject": f"S{i:03d}", "index": i}).encode()
    return make_zip(
        {
            "rec.zarr/.zgroup": b'{"zarr_format": 2}',
            "rec.zarr/.zattrs": attrs,
            "rec.zarr/x/.zarray": b"{}",
            "rec.zarr/x/0": bytes(range(256)) * 8,
        }
    )


BROKEN = {
    "empty": b"",
    "not-a-zip": b"hello, this is not a zip archive" * 10,
    "truncated": good_archive(999)[:-30],
}


@pytest.fixture(scope="module")
def dataset(moto: S3Server) -> tuple[str, int]:
    """120 good archives, 3 broken ones, one without attributes and a non-zip object."""
    prefix = f"scan-{uuid.uuid4().hex[:8]}/"
    client = moto.client()
    for i in range(120):
        client.put_object(Bucket=moto.bucket, Key=f"{prefix}a{i:03d}.zip", Body=good_archive(i))
    for name, data in BROKEN.items():
        client.put_object(Bucket=moto.bucket, Key=f"{prefix}{name}.zip", Body=data)
    bare = make_zip({".zgroup": b'{"zarr_format": 2}'})
    client.put_object(Bucket=moto.bucket, Key=f"{prefix}sub/bare.zip", Body=bare)
    client.put_object(Bucket=moto.bucket, Key=f"{prefix}README.txt", Body=b"not scanned")
    return f"s3://{moto.bucket}/{prefix}", 124


def connection(s3: S3Server) -> dict[str, str]:
    return {
        "endpoint_url": s3.endpoint_url,
        "aws_access_key_id": s3.access_key,
        "aws_secret_access_key": s3.secret_key,
        "region_name": s3.region,
    }


def test_scan_reads_root_attributes_and_reports_failures(
    moto: S3Server, dataset: tuple[str, int]
) -> None:
    prefix, count = dataset
    listed: list[int] = []
    seen: list[str] = []
    rows = scan(
        prefix,
        concurrency=8,
        on_listed=listed.append,
        on_row=lambda row: seen.append(row.url),
        **connection(moto),
    )
    assert listed == [count] and len(rows) == count and sorted(seen) == [r.url for r in rows]
    assert [r.url for r in rows] == sorted(r.url for r in rows)
    by_name = {r.url.rsplit("/", 1)[-1]: r for r in rows}
    for i in range(120):
        row = by_name[f"a{i:03d}.zip"]
        assert row.ok and row.value == {"subject": f"S{i:03d}", "index": i}
        # A small archive is one suffix GET: directory and attributes come with it.
        assert row.requests == 1
    assert by_name["bare.zip"].ok and by_name["bare.zip"].value == {}
    for name in BROKEN:
        row = by_name[f"{name}.zip"]
        assert not row.ok and row.value is None
        assert f"{name}.zip" in (row.error or "")  # the message names the archive
    assert all(not r.url.endswith(".txt") for r in rows)


def test_scan_a_named_key_missing_in_some(moto: S3Server, dataset: tuple[str, int]) -> None:
    prefix, _ = dataset
    rows = scan(prefix, key="x/.zarray", concurrency=4, **connection(moto))
    by_name = {r.url.rsplit("/", 1)[-1]: r for r in rows}
    assert by_name["a007.zip"].value == {}
    assert not by_name["bare.zip"].ok
    assert "key 'x/.zarray'" in (by_name["bare.zip"].error or "")
    raw = scan(prefix + "a00", key="x/0", **connection(moto))
    assert len(raw) == 10 and all(r.value == bytes(range(256)) * 8 for r in raw)


def test_scan_large_directory_costs_two_round_trips(moto: S3Server) -> None:
    """Past ``tail_size``, the directory's rest is one more GET, whatever the archive size."""
    prefix = f"scan-big-{uuid.uuid4().hex[:8]}/"
    entries = {".zattrs": b'{"big": true}'}
    entries.update({f"d/{i:05d}": bytes([i % 256]) * 2000 for i in range(400)})
    moto.client().put_object(Bucket=moto.bucket, Key=prefix + "big.zip", Body=make_zip(entries))
    (row,) = scan(f"s3://{moto.bucket}/{prefix}", tail_size=4096, **connection(moto))
    assert row.ok and row.value == {"big": True}
    # tail and head side by side, then the rest of the directory; .zattrs is in the head
    assert row.requests == 3
    assert row.bytes_read < row.size // 10


def test_scan_of_a_missing_bucket_fails_as_a_whole(moto: S3Server) -> None:
    with pytest.raises(ArchiveNotFoundError, match="s3://no-such-bucket-rzs/x/"):
        scan("s3://no-such-bucket-rzs/x/", **connection(moto))


def test_empty_prefix_and_bad_urls(moto: S3Server) -> None:
    assert scan(f"s3://{moto.bucket}/nothing-here-{uuid.uuid4().hex}/", **connection(moto)) == []
    assert parse_prefix("s3://b") == ("b", "")
    with pytest.raises(ValueError, match="s3://bucket/prefix/"):
        parse_prefix("https://example.invalid/x/")
    with pytest.raises(ValueError, match="concurrency"):
        scan(f"s3://{moto.bucket}/", concurrency=0)


def test_scan_of_a_larger_archive_costs_one_round_trip(moto: S3Server) -> None:
    """The default tail covers the end-record window and the directory; the head GET beside
    it holds the root .zattrs."""
    prefix = f"scan-mid-{uuid.uuid4().hex[:8]}/"
    body = make_zip({".zattrs": b'{"mid": 1}', "x/0": b"\x01" * 300_000})
    moto.client().put_object(Bucket=moto.bucket, Key=prefix + "mid.zip", Body=body)
    (row,) = scan(f"s3://{moto.bucket}/{prefix}", **connection(moto))
    assert row.ok and row.value == {"mid": 1}
    assert row.requests == 2 and row.bytes_read == 128 * 1024 + 16 * 1024
    (row,) = scan(f"s3://{moto.bucket}/{prefix}", head_size=0, **connection(moto))
    assert row.requests == 2 and row.bytes_read < 140_000  # without it: the tail, then the key


def test_scan_reads_root_attributes_of_both_zarr_formats_under_one_prefix(moto: S3Server) -> None:
    """Format 2 keeps root attributes in ``.zattrs``, format 3 in the root ``zarr.json``:
    the default scan reads whichever the archive has (an explicit ``key`` reads that key)."""
    prefix = f"mixed-{uuid.uuid4().hex[:8]}/"
    client = moto.client()
    v3 = {"zarr_format": 3, "node_type": "group", "attributes": {"subject": "S3", "v": 3}}
    archives = {
        "a-v2.zip": good_archive(2),
        "b-v3.zip": make_zip({"zarr.json": json.dumps(v3).encode(), "x/zarr.json": b"{}"}),
        "c-v3-no-attrs.zip": make_zip({"r/zarr.json": b'{"zarr_format": 3, "node_type": "group"}'}),
    }
    for name, data in archives.items():
        client.put_object(Bucket=moto.bucket, Key=prefix + name, Body=data)
    url = f"s3://{moto.bucket}/{prefix}"
    rows = {row.url.rsplit("/", 1)[1]: row for row in scan(url, **connection(moto))}
    assert all(row.ok for row in rows.values()), rows
    assert rows["a-v2.zip"].value == {"subject": "S002", "index": 2}
    assert rows["b-v3.zip"].value == {"subject": "S3", "v": 3}
    assert rows["c-v3-no-attrs.zip"].value == {}
    explicit = {
        row.url.rsplit("/", 1)[1]: row for row in scan(url, key="zarr.json", **connection(moto))
    }
    assert explicit["b-v3.zip"].value == v3
    assert not explicit["a-v2.zip"].ok and "zarr.json" in (explicit["a-v2.zip"].error or "")
