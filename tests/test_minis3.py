"""The demo's in-process S3 endpoint (testing.minis3): what the demo and the store use of
S3, answered as S3 answers it (boto3 against it; the store read through both paths)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import boto3
import botocore.config
import pytest
from botocore.exceptions import ClientError

from remote_zip_store.errors import ArchiveChangedError
from remote_zip_store.testing.minis3 import MiniS3Server, mini_s3
from remote_zip_store.testing.sample import write_sample_archive

from .worlds import RemoteZipStore, open_group


@pytest.fixture(scope="module")
def server() -> Iterator[MiniS3Server]:
    with mini_s3() as running:
        yield running


def _client(server: MiniS3Server) -> object:
    return boto3.client(
        "s3",
        endpoint_url=server.endpoint_url,
        aws_access_key_id="k",
        aws_secret_access_key="s",
        region_name="us-east-1",
        config=botocore.config.Config(s3={"addressing_style": "path"}),
    )


def test_objects_ranges_and_errors(server: MiniS3Server, tmp_path: Path) -> None:
    s3: object = _client(server)
    s3.create_bucket(Bucket="b")  # type: ignore[attr-defined]
    body = bytes(range(256)) * 40
    put = s3.put_object(Bucket="b", Key="k.bin", Body=body)  # type: ignore[attr-defined]
    file = tmp_path / "f.bin"
    file.write_bytes(body[::-1])
    s3.upload_file(str(file), "b", "dir/f.bin")  # type: ignore[attr-defined]  # aws-chunked

    def get(key: str = "k.bin", **kwargs: str) -> dict[str, object]:
        return s3.get_object(Bucket="b", Key=key, **kwargs)  # type: ignore[attr-defined, no-any-return]

    assert get()["Body"].read() == body  # type: ignore[attr-defined]
    assert get("dir/f.bin")["Body"].read() == body[::-1]  # type: ignore[attr-defined]
    part = get(Range="bytes=10-19")
    assert part["Body"].read() == body[10:20]  # type: ignore[attr-defined]
    assert part["ContentRange"] == f"bytes 10-19/{len(body)}"
    assert get(Range="bytes=-5")["Body"].read() == body[-5:]  # type: ignore[attr-defined]
    assert get(Range="bytes=10000-")["Body"].read() == body[10000:]  # type: ignore[attr-defined]
    assert get(Range="bytes=-99999")["Body"].read() == body  # type: ignore[attr-defined]
    assert get(IfMatch=put["ETag"])["ETag"] == put["ETag"]
    head = s3.head_object(Bucket="b", Key="k.bin")  # type: ignore[attr-defined]
    assert head["ContentLength"] == len(body) and head["ETag"] == put["ETag"]
    listed = s3.list_objects_v2(Bucket="b", Prefix="dir/")  # type: ignore[attr-defined]
    assert [o["Key"] for o in listed["Contents"]] == ["dir/f.bin"]
    for call, code in (
        (lambda: get(IfMatch='"0000"'), "PreconditionFailed"),
        (lambda: get(Range=f"bytes={len(body)}-"), "InvalidRange"),
        (lambda: get("nope"), "NoSuchKey"),
        (lambda: s3.get_object(Bucket="nobucket", Key="k"), "NoSuchBucket"),  # type: ignore[attr-defined]
    ):
        with pytest.raises(ClientError) as info:
            call()
        assert info.value.response["Error"]["Code"] == code


@pytest.mark.parametrize("transport", ["lean", "botocore"])
def test_the_store_reads_an_archive_from_it(
    server: MiniS3Server, tmp_path: Path, transport: str
) -> None:
    """The demo's job: a zarr-in-zip read from this endpoint, with the open's two GETs,
    an archive replaced meanwhile refused (If-Match), every byte as on disk."""
    path = write_sample_archive(tmp_path / "rec.zip", channels=2, seconds=300)
    server.put("demo", f"{transport}.zip", Path(path).read_bytes())
    kwargs = {
        "endpoint_url": server.endpoint_url,
        "aws_access_key_id": "k",
        "aws_secret_access_key": "s",
        "region_name": "us-east-1",
    }
    with RemoteZipStore(f"s3://demo/{transport}.zip", transport=transport, **kwargs) as store:
        assert store.stats().requests == 2  # the tail and the head, side by side
        with RemoteZipStore(path) as local:
            expected = open_group(local)["signals/ch01"][:]
        got = open_group(store)["signals/ch01"][:]
        assert (got == expected).all()
        server.put("demo", f"{transport}.zip", Path(path).read_bytes() + b"!")  # replaced
        with pytest.raises(ArchiveChangedError):
            open_group(store)["signals/ch00"][:]
