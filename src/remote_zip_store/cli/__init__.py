"""Command line ``remote-zip-store``: ls, tree, info, cat, bench, demo, scan, index, pack, check,
refs.

Exit codes for shell use: 0 success, 1 a failure at run time (one line on
stderr naming the archive and key), 2 bad usage (a malformed URL, a wrong
option value; argparse's own errors too). Connection options mirror
:class:`~remote_zip_store.RemoteZipStore`; anything left out comes from
boto3's usual chain (``AWS_*`` variables, profiles). Progress bars go to
stderr and only when it is a terminal.

Cold start matters for a command run in a shell loop: ``ls``, ``info`` and
``cat`` read through :func:`~remote_zip_store.hierarchy._frontend.open_archive` and
import neither zarr nor boto3 (boto3 only for an ``s3://`` URL); zarr and the
benchmark/demo modules load only for the commands that use them.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from collections.abc import Sequence
from typing import Any

from .. import __version__
from ..errors import InvalidURLError, PartialCredentialsError, RemoteZipError, scrub
from ._cohort import _index, _scan
from ._common import (
    PROG,
    DefaultsFormatter,
    UsageError,
    _add_connection,
    part_size_mib,
    positive_int,
)
from ._output import _cli_terms, _log_to_stderr, _show_warning
from ._read import _cat, _info, _ls, _tree
from ._tools import _bench, _check, _demo
from ._write import _pack

__all__ = ["PROG", "UsageError", "build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Read and write zarr hierarchies (formats 2 and 3) packed in zip archives "
        "in S3-compatible storage, over HTTP(S) or on disk.",
        epilog="URL: s3://bucket/key.zip, https://... (public or presigned), or a local path. "
        "Exit codes: 0 ok, 1 failure at run time, 2 bad usage.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
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
    check = archive_command(
        "check", _check, "check the archive against the zarr zip store draft and RFC-9 (.ozx)"
    )
    check.add_argument("--deep", action="store_true", help="read every entry: CRC-32, headers")
    check.add_argument("--json", action="store_true", help="a machine-readable report")
    archive_command("bench", _bench, "this archive: the store vs the s3fs+ZipFileSystem chain")

    demo = commands.add_parser(
        "demo",
        help="read a sample archive from an in-process S3 server",
        description="Write a sample archive, serve it from an in-process S3 server on "
        "127.0.0.1 and read it back with the store.",
        formatter_class=DefaultsFormatter,
    )
    demo.add_argument(
        "--channels", type=positive_int, default=4, help="channels in the sample archive"
    )
    demo.set_defaults(run=_demo)

    scan_parser = commands.add_parser(
        "scan",
        help="read root attributes (or a key) of every archive under an S3 prefix",
        description="List the objects under an S3 prefix and read one key (relative to "
        "each archive's zarr root; JSON keys decoded) from every archive, many at a "
        "time: one row per archive, failures reported in their row. Exit code 1 when "
        "any archive failed.",
        formatter_class=DefaultsFormatter,
    )
    scan_parser.add_argument("prefix", metavar="s3://BUCKET/PREFIX/")
    scan_parser.add_argument(
        "--key",
        default=None,
        help="key to read (default: the root attributes, from .zattrs or zarr.json)",
    )
    scan_parser.add_argument(
        "--concurrency", type=positive_int, default=32, help="archives read at a time"
    )
    scan_parser.add_argument("--suffix", default=".zip", help="object names to scan")
    scan_parser.add_argument("--json", action="store_true", help="one JSON object per line")
    scan_parser.add_argument(
        "--catalog",
        metavar="URL",
        help="a catalog written by `index` (s3:// key or path): archives it holds open "
        "from it, with no request",
    )
    _add_connection(scan_parser)
    scan_parser.set_defaults(run=_scan)

    index_parser = commands.add_parser(
        "index",
        help="write one catalog object of every archive under an S3 prefix",
        description="Open every archive under an S3 prefix and write ONE object (an S3 "
        "key or a local path) holding each one's parsed directory, size, ETag/VersionId "
        "and zarr metadata bytes, compressed. open_many(..., catalog=URL) and scan "
        "--catalog then open the whole cohort with one GET. Exit code 1 when an "
        "archive could not be opened (it is left out and opens the normal way).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    index_parser.add_argument("prefix", metavar="s3://BUCKET/PREFIX/")
    index_parser.add_argument(
        "-o", "--output", required=True, metavar="URL", help="where the catalog goes"
    )
    index_parser.add_argument(
        "--update",
        action="store_true",
        help="re-open only archives whose ETag changed (or are new); drop the ones gone",
    )
    index_parser.add_argument(
        "--concurrency", type=positive_int, default=32, help="archives opened at a time"
    )
    index_parser.add_argument("--suffix", default=".zip", help="object names to index")
    _add_connection(index_parser)
    index_parser.set_defaults(run=_index)

    pack_parser = commands.add_parser(
        "pack",
        help="repack a hierarchy into a zip laid out for remote reading",
        description="Copy SRC (a zarr directory, or a zip: local, s3:// or http(s)://) into "
        "a new zip at DST (a local path or s3://): chunks first, every metadata key last "
        "beside the central directory (for an .ozx: every zarr.json first), duplicate "
        "entries dropped. Prints what opening "
        "and reading all metadata costs before and after (requests, bytes).",
        formatter_class=DefaultsFormatter,
    )
    pack_parser.add_argument(
        "src", metavar="SRC", help="a zarr directory or a zip (a path, s3:// or http(s)://)"
    )
    pack_parser.add_argument("dst", metavar="DST", help="the new zip (a path or s3://)")
    pack_parser.add_argument(
        "--part-size", type=part_size_mib, default=8, help="multipart part size in MiB (>= 5)"
    )
    pack_parser.add_argument("--deflate", action="store_true", help="deflate every entry")
    pack_parser.add_argument(
        "--ozx",
        action="store_true",
        help="write a single-file OME-Zarr (RFC-9; the default for a DST ending in .ozx): "
        "zarr v3 only, zarr.json first, stored, ZIP64, the RFC-9 comment",
    )
    pack_parser.add_argument(
        "--no-overwrite", action="store_true", help="fail if DST exists (mode w-)"
    )
    _add_connection(pack_parser)
    pack_parser.set_defaults(run=_pack)

    from ._refs import add_command as add_refs_command

    add_refs_command(commands, _add_connection)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        parser = build_parser()
    except UsageError as exc:  # a bad RZS_* value
        print(f"{PROG}: {scrub(str(exc))}", file=sys.stderr)
        return 2
    args = parser.parse_args(argv)
    handler = _log_to_stderr(sys.stderr)
    shown = warnings.showwarning
    warnings.showwarning = _show_warning
    try:
        code: int = args.run(args)
    except (UsageError, InvalidURLError, PartialCredentialsError) as exc:
        print(f"{PROG}: {scrub(str(exc))}", file=sys.stderr)
        return 2
    except RemoteZipError as exc:
        print(f"{PROG}: {_cli_terms(exc)}", file=sys.stderr)
        return 1
    except ValueError as exc:  # zarr's "not a hierarchy" and the like: no traceback
        print(f"{PROG}: {scrub(str(exc))}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `... | head`: the reader left; not an error
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        return 130
    finally:
        warnings.showwarning = shown
        logging.getLogger("remote_zip_store").removeHandler(handler)
    return code


if __name__ == "__main__":
    sys.exit(main())
