"""Pickles made by the release before the layered package (commit 7e78535), for
tests/test_legacy_paths.py: an S3 store on moto at a fixed port, and the options."""

import pickle
import sys

import boto3
from moto.server import ThreadedMotoServer

out, archive, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
server.start()
endpoint = f"http://127.0.0.1:{port}"
kw = dict(
    endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s"
)
c = boto3.client("s3", **kw)
c.create_bucket(Bucket="legacy")
c.put_object(Bucket="legacy", Key="legacy.zarr.zip", Body=open(archive, "rb").read())
from remote_zip_store.sources import S3Options

from remote_zip_store import RemoteZipStore
from remote_zip_store.archive import ReadOptions

store = RemoteZipStore("s3://legacy/legacy.zarr.zip", **kw)
objs = {
    "store": store,
    "s3_options": S3Options(endpoint_url=endpoint, region_name="us-east-1"),
    "read_options": ReadOptions(coalesce_gap=1234),
}
with open(out, "wb") as f:
    pickle.dump(objs, f, protocol=4)
print("wrote", out, {k: type(v).__module__ + "." + type(v).__qualname__ for k, v in objs.items()})
server.stop()
