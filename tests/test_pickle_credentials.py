"""``pickle_credentials=False``: a pickled store holds no keys or token; the process that
unpickles it (a dask worker) resolves its own through boto3's default chain.

zarr-agnostic (reads through the archive): runs under zarr 2 here and under zarr 3
through ``tests/zarr3/test_pickle_credentials_zarr3.py``.
"""

from __future__ import annotations

import os
import pickle
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from remote_zip_store import RemoteZipStore
from remote_zip_store.testing.servers import S3Server

from .archives import make_zip

_MARK = uuid.uuid4().hex[:12].upper()
KEY_ID = f"AKIAPARENT{_MARK}"
SECRET = f"rzs-parent-secret-{_MARK}"
TOKEN = f"rzs-parent-token-{_MARK}"
WORKER_KEY_ID = f"AKIAWORKER{_MARK}"
ENTRIES = {f"s/{i}": os.urandom(3000) for i in range(4)}


def _store(moto: S3Server, **kwargs: Any) -> Any:
    return RemoteZipStore(
        moto.put(make_zip(ENTRIES)),
        root="",
        endpoint_url=moto.endpoint_url,
        region_name=moto.region,
        aws_access_key_id=KEY_ID,
        aws_secret_access_key=SECRET,
        aws_session_token=TOKEN,
        **kwargs,
    )


def test_pickle_without_credentials_holds_no_keys(moto: S3Server) -> None:
    kept = pickle.dumps(_store(moto))
    assert SECRET.encode() in kept  # the default: explicit keys travel (documented)
    store = _store(moto, pickle_credentials=False)
    assert store.archive.read("s/1") == ENTRIES["s/1"]  # this process still uses the keys
    data = pickle.dumps(store)
    for secret in (KEY_ID, SECRET, TOKEN):
        assert secret.encode() not in data
    copy = pickle.loads(data)
    options = copy.archive.source.options
    assert options.aws_access_key_id is None and options.aws_secret_access_key is None
    assert options.aws_session_token is None and options.pickle_credentials is False
    assert options.endpoint_url == moto.endpoint_url  # the rest of the configuration travels
    assert copy.archive.source.etag == store.archive.source.etag  # and the pinned version


def _read_in_worker(store: Any, name: str) -> tuple[bytes, str]:
    """The entry and the access key id the worker's client signed with."""
    data: bytes = store.archive.read(name)
    client = store.archive.source.client()
    signer = client._request_signer._credentials.get_frozen_credentials()
    return data, str(signer.access_key)


@pytest.fixture(scope="module")
def worker_env_client(moto: S3Server) -> Iterator[Any]:
    """One dask worker *process* whose environment holds its own AWS keys."""
    distributed = pytest.importorskip("distributed")
    env = {
        "AWS_ACCESS_KEY_ID": WORKER_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": moto.secret_key,
        "AWS_DEFAULT_REGION": moto.region,
    }
    with (
        distributed.LocalCluster(
            n_workers=1,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            worker_dashboard_address=None,
            silence_logs=40,
            env=env,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


def test_dask_worker_process_resolves_its_own_credentials(
    moto: S3Server, worker_env_client: Any
) -> None:
    store = _store(moto, pickle_credentials=False)
    future = worker_env_client.submit(_read_in_worker, store, "s/2", pure=False)
    data, signed_with = future.result(timeout=120)
    assert data == ENTRIES["s/2"]
    assert signed_with == WORKER_KEY_ID  # the worker's environment, not the parent's keys
    # The default still ships the parent's keys to the worker.
    future = worker_env_client.submit(_read_in_worker, _store(moto), "s/3", pure=False)
    assert future.result(timeout=120) == (ENTRIES["s/3"], KEY_ID)
