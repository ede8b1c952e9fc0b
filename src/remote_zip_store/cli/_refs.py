"""``remote-zip-store refs``: kerchunk JSON of one archive, or an Icechunk repository of many.

Registered by :func:`remote_zip_store.cli.build_parser`; the work is in :mod:`.refs`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

HELP = "export references into the zip: kerchunk JSON, or an Icechunk repository"

DESCRIPTION = (
    "Write kerchunk references (JSON version 1) of the zarr hierarchy in URL: every "
    "chunk as [archive URL, offset, length] of its stored bytes, metadata inlined; to "
    "stdout, or FILE with -o. With --icechunk REPO, write an Icechunk repository (a local "
    "directory) of virtual references instead, each checked against the archive's ETag; "
    "URL may then be an s3://BUCKET/PREFIX/ (one group per archive). Compressed entries "
    "cannot be references: they fail the export unless --inline-threshold covers them."
)


def non_negative_int(text: str) -> int:
    """An integer >= 0 (argparse type)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be at least 0, not {value}")
    return value


def add_command(commands: Any, add_connection: Any) -> argparse.ArgumentParser:
    """Add ``refs`` to the CLI's subparsers (``add_connection`` adds the S3 options)."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "refs", help=HELP, description=DESCRIPTION
    )
    parser.add_argument(
        "url", metavar="URL", help="the archive (or s3://BUCKET/PREFIX/ with --icechunk)"
    )
    parser.add_argument("--root", default=None, help="folder inside the zip holding the hierarchy")
    parser.add_argument("-o", "--output", metavar="FILE", default=None, help="write JSON here")
    parser.add_argument(
        "--inline-threshold",
        type=non_negative_int,
        default=0,
        metavar="N",
        help="inline entries of at most N bytes (decoded), compressed ones included (default 0)",
    )
    parser.add_argument(
        "--icechunk", metavar="REPO", default=None, help="write an Icechunk repository here"
    )
    add_connection(parser)
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from ._common import UsageError, _location, _out, connection_kwargs

    url = _location(args.url)
    connection = connection_kwargs(args)
    if args.icechunk is not None:
        if args.output is not None:
            raise UsageError("-o and --icechunk exclude each other")
        from ..verbs._refs import to_icechunk

        result = to_icechunk(
            url,
            os.path.expanduser(args.icechunk),
            root=args.root,
            inline_threshold=args.inline_threshold,
            **connection,
        )
        _out(
            f"icechunk: {len(result.groups)} archive(s), {result.chunks} virtual chunks, "
            f"{result.inlined} inlined -> {args.icechunk} (snapshot {result.snapshot})"
        )
        return 0
    if url.endswith("/"):
        raise UsageError("kerchunk references are one archive's; a prefix needs --icechunk")
    from ..verbs._refs import kerchunk_refs

    refs = kerchunk_refs(url, root=args.root, inline_threshold=args.inline_threshold, **connection)
    text = json.dumps(refs, separators=(",", ":"))
    if args.output is None:
        sys.stdout.write(text + "\n")
    else:
        with open(os.path.expanduser(args.output), "w", encoding="utf-8") as f:
            f.write(text + "\n")
    return 0
