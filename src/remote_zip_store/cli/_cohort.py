"""Many archives: ``scan``, ``index`` (a cohort catalog)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from ..verbs._progress import Progress

if TYPE_CHECKING:
    from ..verbs._scan import ScanRow


from ._common import (
    PROG,
    UsageError,
    _out,
    connection_kwargs,
)


def _scan(args: argparse.Namespace) -> int:
    """One row per archive under the prefix; exit 1 when any archive failed."""
    import time

    from ..verbs._scan import scan

    if not args.prefix.startswith("s3://"):
        raise UsageError(f"scan needs an s3://BUCKET/PREFIX/ URL, not {args.prefix!r}")
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
            catalog=args.catalog,
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


def _index(args: argparse.Namespace) -> int:
    """Write (or ``--update``) the catalog of every archive under the prefix."""
    import time

    from ..verbs._catalog import build_catalog

    if not args.prefix.startswith("s3://"):
        raise UsageError(f"index needs an s3://BUCKET/PREFIX/ URL, not {args.prefix!r}")
    bar: Progress | None = None

    def listed(n: int) -> None:
        nonlocal bar
        bar = Progress(n, "index")

    def done(*_: Any) -> None:
        if bar is not None:
            bar.advance()

    started = time.perf_counter()
    try:
        report = build_catalog(
            args.prefix,
            args.output,
            update=args.update,
            suffix=args.suffix,
            concurrency=args.concurrency,
            on_listed=listed,
            on_done=done,
            **connection_kwargs(args),
        )
    finally:
        if bar is not None:
            bar.close()
    elapsed = time.perf_counter() - started
    ratio = report.catalog_bytes / report.directory_bytes if report.directory_bytes else 0.0
    _out(
        f"{report.output}: {report.archives} archive(s), {report.entries} entries, "
        f"{report.catalog_bytes} bytes ({report.bytes_per_entry:.1f} per entry, "
        f"{ratio:.2f}x the {report.directory_bytes} bytes of their directories)"
    )
    print(
        f"{PROG}: indexed in {elapsed:.2f}s: {report.opened} opened, {report.reused} reused, "
        f"{report.dropped} dropped, {len(report.failed)} failed",
        file=sys.stderr,
    )
    for url, error in report.failed.items():
        print(f"{PROG}: {url}: {error}", file=sys.stderr)
    return 1 if report.failed else 0


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
