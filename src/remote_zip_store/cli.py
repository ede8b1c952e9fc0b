"""Command line ``remote-zip-store``: ls, tree, info, cat, bench, demo, scan.

Exit codes for shell use: 0 success, 1 an error (one line on stderr naming the
archive and key), 2 bad usage (argparse). Connection options mirror
:class:`~remote_zip_store.RemoteZipStore`; anything left out comes from
boto3's usual chain (``AWS_*`` variables, profiles). Progress bars go to
stderr and only when it is a terminal.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any

import zarr

from .compare import (
    INSTALL_HINT,
    MissingChainError,
    array_paths,
    format_table,
    measure_chain,
    measure_store,
)
from .decode import METHOD_NAMES
from .demo import channels_arg
from .errors import KeyNotFoundError, RemoteZipError, describe
from .index import ZipIndex
from .progress import Progress
from .scan import ScanRow, scan
from .sources.s3 import S3Options
from .store import RemoteZipStore
from .zipformat import Entry

PROG = "remote-zip-store"


# -- connection options ----------------------------------------------------------------
def _add_connection(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("connection (defaults: boto3's chain, AWS_* variables)")
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    group.add_argument("--endpoint-url", default=endpoint, help="S3 endpoint, e.g. MinIO's URL")
    group.add_argument("--region", default=None, help="region name")
    group.add_argument("--profile", default=None, help="AWS profile from ~/.aws/config")
    group.add_argument("--anon", action="store_true", help="unsigned requests (public buckets)")
    group.add_argument(
        "--verify",
        default=None,
        metavar="CA_BUNDLE|false",
        help="CA bundle for a private CA, or 'false' to skip TLS verification",
    )
    group.add_argument("--aws-access-key-id", default=None, help="prefer AWS_ACCESS_KEY_ID")
    group.add_argument("--aws-secret-access-key", default=None, help="prefer the environment")
    group.add_argument("--aws-session-token", default=None, help="prefer AWS_SESSION_TOKEN")


def _verify(value: str | None) -> bool | str | None:
    if value is None:
        return None
    return False if value.lower() in ("false", "0", "no", "off") else value


def connection_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The ``RemoteZipStore``/``S3Options`` keyword arguments the options describe."""
    return {
        "endpoint_url": args.endpoint_url,
        "region_name": args.region,
        "profile_name": args.profile,
        "anon": args.anon,
        "verify": _verify(args.verify),
        "aws_access_key_id": args.aws_access_key_id,
        "aws_secret_access_key": args.aws_secret_access_key,
        "aws_session_token": args.aws_session_token,
    }


def _open(args: argparse.Namespace) -> RemoteZipStore:
    return RemoteZipStore(args.url, root=args.root, **connection_kwargs(args))


def _out(line: str = "") -> None:
    sys.stdout.write(line + "\n")


# -- archive commands --------------------------------------------------------------------
def _ls(args: argparse.Namespace) -> int:
    """Entries of the archive: method, compressed size, size, name."""
    with _open(args) as store:
        index = store.archive.index
        for entry in _entries(index):
            method = METHOD_NAMES.get(entry.method, f"method-{entry.method}")
            sizes = f"{entry.compressed_size:>12} {entry.uncompressed_size:>12}"
            _out(f"{method:<8} {sizes}  {entry.name}")
    return 0


def _entries(index: ZipIndex) -> Iterator[Entry]:
    """Every distinct file entry, in directory order."""
    for name in index.names():
        entry = index.get(name)
        if entry is not None:
            yield entry


def _open_hierarchy(store: RemoteZipStore) -> Any:
    if ".zmetadata" in store:
        return zarr.open_consolidated(store, mode="r")
    return zarr.open(store, mode="r")


def _tree(args: argparse.Namespace) -> int:
    """The zarr hierarchy: groups, and arrays with shape, dtype, chunks and compressor."""
    with _open(args) as store:
        node = _open_hierarchy(store)
        if hasattr(node, "shape"):
            _out(_describe_array("/", node))
            return 0
        _out("/")
        lines: list[str] = []

        def visit(path: str, item: Any) -> None:
            depth = path.count("/")
            name = path.rsplit("/", 1)[-1]
            indent = "  " * (depth + 1)
            if hasattr(item, "shape"):
                lines.append(indent + _describe_array(name, item))
            else:
                lines.append(f"{indent}{name}/")

        node.visititems(visit)
        for line in lines:
            _out(line)
    return 0


def _describe_array(name: str, array: Any) -> str:
    compressor = array.compressor.codec_id if array.compressor is not None else "none"
    return (
        f"{name}  shape={tuple(array.shape)} dtype={array.dtype} chunks={tuple(array.chunks)} "
        f"compressor={compressor}"
    )


def _info(args: argparse.Namespace) -> int:
    """Directory facts and what opening cost, as ``name: value`` lines."""
    with _open(args) as store:
        requests, nbytes = store.archive.source.stats.snapshot()
        index = store.archive.index
        location = index.location
        methods: Counter[str] = Counter()
        compressed = uncompressed = 0
        for entry in _entries(index):
            methods[METHOD_NAMES.get(entry.method, f"method-{entry.method}")] += 1
            compressed += entry.compressed_size
            uncompressed += entry.uncompressed_size
        rows = [
            ("archive", store.url),
            ("size", _size_text(store.archive.size)),
            ("entries", str(len(index))),
            ("directory", f"{location.cd_size:,} bytes at offset {location.cd_start:,}"),
            ("zip64", "yes" if location.zip64 else "no"),
            ("prefix", f"{location.prefix:,} bytes"),
            ("methods", ", ".join(f"{name} {n}" for name, n in methods.most_common())),
            ("data", f"{compressed:,} bytes compressed, {uncompressed:,} uncompressed"),
            ("root", repr(store.root)),
            ("consolidated", "yes" if ".zmetadata" in store else "no"),
            ("opened with", f"{requests} request(s), {nbytes:,} bytes"),
        ]
    for name, value in rows:
        _out(f"{name + ':':<14}{value}")
    return 0


def _size_text(size: int | None) -> str:
    return "unknown" if size is None else f"{size:,} bytes"


def _cat(args: argparse.Namespace) -> int:
    """Raw bytes of a key (relative to the zarr root) or of an archive entry name."""
    with _open(args) as store:
        try:
            data = store[args.key]
        except KeyError:
            entry = store.archive.entry(args.key)
            if entry is None:
                raise KeyNotFoundError(
                    f"{describe(store.url, args.key)} does not exist",
                    archive=store.url,
                    key=args.key,
                ) from None
            data = store.archive.read_entry(entry)
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()
    return 0


# -- bench and demo ----------------------------------------------------------------------
def _bench(args: argparse.Namespace) -> int:
    """This archive through the store and through the s3fs chain: requests, bytes, time."""
    if not args.url.startswith("s3://"):
        print(f"{PROG}: bench compares against s3fs and needs an s3:// URL", file=sys.stderr)
        return 2
    kwargs = connection_kwargs(args)
    with _open(args) as probe:
        arrays = len(_array_paths(_open_hierarchy(probe)))
    results = []
    with Progress(arrays * 2, "bench") as bar:
        results.append(measure_store(args.url, {**kwargs, "root": args.root}, bar.advance))
        try:
            results.append(
                measure_chain(args.url, S3Options(**kwargs), results[0].root, bar.advance)
            )
        except MissingChainError:
            missing = True
        else:
            missing = False
    for line in format_table(results):
        _out(line)
    if missing:
        print(f"{PROG}: s3fs chain not measured: {INSTALL_HINT}", file=sys.stderr)
        return 1
    if results[0].checksum != results[1].checksum:
        print(f"{PROG}: archive {args.url}: the two readers disagree on the data", file=sys.stderr)
        return 1
    return 0


def _array_paths(node: Any) -> list[str]:
    return array_paths(node) if not hasattr(node, "shape") else [""]


def _demo(args: argparse.Namespace) -> int:
    """Serve a sample archive from an in-process S3 server and read it back."""
    from .demo import run_demo

    return run_demo(args.channels)


# -- scan ---------------------------------------------------------------------------------
def _scan(args: argparse.Namespace) -> int:
    """One row per archive under the prefix; exit 1 when any archive failed."""
    import time

    bar: Progress | None = None

    def listed(n: int) -> None:
        nonlocal bar
        bar = Progress(n, "scan")

    def done(_: ScanRow) -> None:
        if bar is not None:
            bar.advance()

    started = time.perf_counter()
    try:
        rows = scan(
            args.prefix,
            key=args.key,
            concurrency=args.concurrency,
            suffix=args.suffix,
            on_listed=listed,
            on_row=done,
            **connection_kwargs(args),
        )
    finally:
        if bar is not None:
            bar.close()
    elapsed = time.perf_counter() - started
    for row in rows:
        if args.json:
            _out(json.dumps(_row_json(row), default=repr))
        else:
            status = "ok" if row.ok else "FAILED"
            shown = _value_text(row.value) if row.ok else row.error
            _out(f"{status}\t{row.url}\t{row.requests}\t{shown}")
    failed = sum(not row.ok for row in rows)
    rate = len(rows) / elapsed if elapsed > 0 else 0.0
    print(
        f"{PROG}: scanned {len(rows)} archive(s) in {elapsed:.2f}s ({rate:.1f}/s), {failed} failed",
        file=sys.stderr,
    )
    return 1 if failed else 0


def _row_json(row: ScanRow) -> dict[str, Any]:
    value = row.value
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return {
        "url": row.url,
        "ok": row.ok,
        "size": row.size,
        "value": value,
        "error": row.error,
        "requests": row.requests,
        "bytes": row.bytes_read,
    }


def _value_text(value: Any) -> str:
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


# -- parser ---------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Read zarr v2 hierarchies packed in zip archives in S3-compatible storage.",
        epilog="URL: s3://bucket/key.zip, https://... (public or presigned), or a local path. "
        "Exit codes: 0 ok, 1 error, 2 usage.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def archive_command(name: str, run: Any, help: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=help)
        sub.add_argument("url", metavar="URL", help="the archive")
        sub.add_argument("--root", default=None, help="folder inside the zip holding the hierarchy")
        _add_connection(sub)
        sub.set_defaults(run=run)
        return sub

    archive_command("ls", _ls, "list entries: method, compressed size, size, name")
    archive_command("tree", _tree, "print the zarr hierarchy with shapes, dtypes and chunks")
    archive_command("info", _info, "directory facts and the requests/bytes it took to open")
    cat = archive_command("cat", _cat, "write one key's raw bytes to stdout")
    cat.add_argument("key", metavar="KEY", help="zarr key (e.g. .zattrs) or archive entry name")
    archive_command("bench", _bench, "this archive: the store vs the s3fs+ZipFileSystem chain")

    demo = commands.add_parser("demo", help="read a sample archive from an in-process S3 server")
    demo.add_argument(
        "--channels", type=channels_arg, default=4, help="channels in the sample archive"
    )
    demo.set_defaults(run=_demo)

    scan_parser = commands.add_parser(
        "scan", help="read root attributes (or a key) of every archive under an S3 prefix"
    )
    scan_parser.add_argument("prefix", metavar="s3://BUCKET/PREFIX/")
    scan_parser.add_argument("--key", default=".zattrs", help="key to read (default .zattrs)")
    scan_parser.add_argument("--concurrency", type=int, default=32, help="archives at a time")
    scan_parser.add_argument("--suffix", default=".zip", help="object names to scan")
    scan_parser.add_argument("--json", action="store_true", help="one JSON object per line")
    _add_connection(scan_parser)
    scan_parser.set_defaults(run=_scan)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.run(args)
    except RemoteZipError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:  # bad URL and the like: the user's input, not a crash
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `... | head`: the reader left; not an error
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
