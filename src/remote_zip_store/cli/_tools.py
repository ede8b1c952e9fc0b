"""``bench`` (vs the s3fs chain), ``demo`` and ``check``."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from ..verbs._progress import Progress

if TYPE_CHECKING:
    pass

from ._common import (
    PROG,
    UsageError,
    _location,
    _open,
    _out,
    connection_kwargs,
)
from ._read import _open_hierarchy


def _bench(args: argparse.Namespace) -> int:
    """This archive through the store and through the s3fs chain: requests, bytes, time."""
    if not args.url.startswith("s3://"):
        raise UsageError("bench compares against s3fs and needs an s3:// URL")
    from ..transport._s3 import S3Options
    from ..verbs._compare import (
        INSTALL_HINT,
        MissingChainError,
        format_table,
        measure_chain,
        measure_store,
    )

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
    from ..verbs._compare import array_paths

    return array_paths(node) if not hasattr(node, "shape") else [""]


def _demo(args: argparse.Namespace) -> int:
    """Serve a sample archive from an in-process S3 server and read it back."""
    from ._demo import run_demo

    return run_demo(args.channels)


def _check(args: argparse.Namespace) -> int:
    """The archive against the zarr zip store draft and RFC-9 (code in check.py)."""
    from ..verbs._check import run_command

    return run_command(
        _location(args.url),
        deep=args.deep,
        as_json=args.json,
        root=args.root,
        out=_out,
        **connection_kwargs(args),
    )
