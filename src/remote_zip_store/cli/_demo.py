"""``remote-zip-store demo``: no server needed, the README's first command.

Starts a small S3-compatible endpoint in-process on 127.0.0.1
(:mod:`remote_zip_store.testing.minis3`: the standard library only, so the demo extra
installs nothing beyond the store's own dependencies), uploads the sample EEG-like
archive, reads it with :class:`RemoteZipStore` and prints the tree, a slice
and the requests/bytes that took, next to the s3fs+ZipFileSystem+FSMap chain
on the same archive when s3fs is installed.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any


def install_hint() -> str:
    """The install command for the demo's extras that keeps the installed zarr.

    ``[demo]`` pins zarr 2.18 (the README's stack): suggested under zarr 3 it would
    downgrade zarr, so there ``[demo-zarr3]`` (the same, without the zarr pin).
    """
    try:
        import zarr

        major = int(zarr.__version__.split(".", 1)[0])
    except ImportError:
        major = 2
    extra = "demo" if major < 3 else "demo-zarr3"
    return f"in a checkout of remote-zip-store, pip install '.[{extra}]'"


def run_demo(channels: int = 4) -> int:
    import zarr

    from ..testing.minis3 import MiniS3Server
    from ..testing.netsim import Condition, NetSim
    from ..testing.sample import write_sample_archive, zarr_major
    from ..transport._s3 import S3Options
    from ..verbs._compare import (
        INSTALL_HINT,
        MissingChainError,
        describe_rows,
        format_table,
        measure_chain,
        measure_store,
    )
    from ..verbs._frontends import store_class
    from ._read import tree_lines

    condition = Condition.of("20ms-400Mbit", 20, 400)
    # Under zarr 3 the sample is zarr format 3 (zarr.json); under zarr 2, format 2.
    zarr_format = 3 if zarr_major() >= 3 else 2

    # The simulated link cancels its relay tasks on close; that is not an error to show.
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    server = MiniS3Server().start()
    link: NetSim | None = None
    try:
        host, port = server.get_host_and_port()
        connection = S3Options(
            endpoint_url=f"http://{host}:{port}",
            region_name="us-east-1",
            aws_access_key_id="demo",
            aws_secret_access_key="demo-secret",
        )
        s3 = connection.make_client()
        s3.create_bucket(Bucket="demo")
        with tempfile.TemporaryDirectory() as tmp:
            path = write_sample_archive(
                Path(tmp) / "recording.zarr.zip", channels=channels, zarr_format=zarr_format
            )
            body = Path(path).read_bytes()
            size = len(body)
            s3.put_object(Bucket="demo", Key="recording.zarr.zip", Body=body)
        url = "s3://demo/recording.zarr.zip"
        print(
            f"in-process S3 at {connection.endpoint_url}; uploaded {url} ({size:,} bytes, "
            f"zarr format {zarr_format}, written by zarr-python {zarr.__version__})"
        )
        # moto answers in-process with no latency: read through a simulated link instead,
        # so the request count (what a real network charges for) shows in the timings too.
        link = NetSim(host, int(port), condition).start()
        print(f"reading through a simulated link: {condition.describe()}")
        connection = replace(connection, endpoint_url=link.endpoint)
        kwargs: dict[str, Any] = {
            "endpoint_url": connection.endpoint_url,
            "region_name": connection.region_name,
            "aws_access_key_id": connection.aws_access_key_id,
            "aws_secret_access_key": connection.aws_secret_access_key,
        }
        with store_class()(url, **kwargs) as store:
            root = zarr.open_group(store, mode="r")
            opened = store.stats()
            for line in tree_lines(root):
                print(line)
            print("root attributes:", dict(root.attrs))
            window = root["signals/ch00"][7680:7690]
            print(f"signals/ch00[7680:7690] = {window}")
            total = store.stats()
            store_root = store.root
        print(
            f"remote-zip-store: {opened.requests} request(s) to open ({opened.bytes:,} bytes), "
            f"{total.requests} in all ({total.bytes:,} bytes of a {size:,}-byte archive)"
        )
        print(
            f"\nopen + read every array over {condition.describe()}, this store next to the s3fs "
            "chain (compare requests and bytes; the seconds follow from them on this link):"
        )
        results = [measure_store(url, kwargs)]
        try:
            results.append(measure_chain(url, connection, store_root))
        except MissingChainError:
            print(f"(s3fs+ZipFileSystem+FSMap not measured: to compare, {INSTALL_HINT})")
        for line in format_table(results, note_loopback=False):
            print(line)
        for line in describe_rows(results, size):
            print(line)
    finally:
        if link is not None:
            link.close()
        server.stop()
    return 0
