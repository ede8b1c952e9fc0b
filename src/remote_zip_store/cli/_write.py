"""Writing: ``pack``."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

from ..verbs._progress import Progress

if TYPE_CHECKING:
    pass


from ._common import (
    _location,
    _out,
    connection_kwargs,
)


def _pack(args: argparse.Namespace) -> int:
    """Repack SRC into DST (metadata last, or .ozx); print the open cost before/after."""
    from ..hierarchy._session import write_options
    from ..verbs._pack import is_remote, open_cost, pack

    src, dst = _location(args.src), _location(args.dst)
    connection = connection_kwargs(args)
    options = write_options(part_size=args.part_size * 1024 * 1024, compress=args.deflate)
    before = None
    if is_remote(src) or not os.path.isdir(src):
        before = open_cost(src, **connection)
    bar: list[Progress] = []
    try:
        result = pack(
            src,
            dst,
            mode="w-" if args.no_overwrite else "w",
            write=options,
            layout="ozx" if args.ozx else None,
            on_total=lambda n: bar.append(Progress(n, "pack")),
            on_entry=lambda _: bar[0].advance() if bar else None,
            **connection,
        )
    finally:
        for b in bar:
            b.close()
    after = open_cost(dst, **connection)
    _out(f"packed: {result.entries} entries, {result.bytes_written} bytes -> {result.dst}")
    if result.records_dropped:
        _out(f"dropped: {result.records_dropped} records (shadowed duplicates, directories)")
    for label, cost in (("before", before), ("after", after)):
        if cost is not None:
            _out(
                f"{label}: open + {cost.metadata_keys} metadata keys = "
                f"{cost.requests} requests, {cost.bytes} bytes"
            )
    return 0
