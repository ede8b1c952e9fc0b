"""Command line: ``remote-zip-store demo`` (and more subcommands as they land)."""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from .errors import RemoteZipError


def _demo(args: argparse.Namespace) -> int:
    """Serve a sample archive from an in-process S3 server and read it back."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        print(
            "the demo needs moto's S3 server: pip install 'remote-zip-store[demo]'",
            file=sys.stderr,
        )
        return 2
    import boto3
    import zarr

    from .sample import write_sample_archive
    from .store import RemoteZipStore

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        key_id, secret = "demo", "demo-secret"
        s3 = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id=key_id,
            aws_secret_access_key=secret,
        )
        s3.create_bucket(Bucket="demo")
        with tempfile.TemporaryDirectory() as tmp:
            path = write_sample_archive(Path(tmp) / "recording.zarr.zip", channels=args.channels)
            size = Path(path).stat().st_size
            s3.upload_file(path, "demo", "recording.zarr.zip")
        url = "s3://demo/recording.zarr.zip"
        print(f"in-process S3 at {endpoint}; uploaded {url} ({size:,} bytes)")
        with RemoteZipStore(
            url,
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id=key_id,
            aws_secret_access_key=secret,
        ) as store:
            stats = store.archive.source.stats
            root = zarr.open_group(store, mode="r")
            opened = stats.snapshot()
            print(root.tree())
            print("root attributes:", dict(root.attrs))
            channel = root["signals/ch00"]
            window = channel[7680:7690]
            print(f"signals/ch00[7680:7690] = {window}")
            total = stats.snapshot()
            print(
                f"requests: {opened[0]} to open ({opened[1]:,} bytes), "
                f"{total[0]} in all ({total[1]:,} bytes of a {size:,}-byte archive)"
            )
    finally:
        server.stop()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="remote-zip-store",
        description="Read zarr v2 hierarchies packed in zip archives in S3-compatible storage.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="read a sample archive from an in-process S3 server")
    demo.add_argument("--channels", type=int, default=4, help="channels in the sample archive")
    demo.set_defaults(run=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.run(args)
    except RemoteZipError as exc:
        print(f"remote-zip-store: {exc}", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
