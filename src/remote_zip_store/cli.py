"""Command line ``remote-zip-store``: ls, tree, info, cat, bench, demo, scan, pack, refs.

Exit codes for shell use: 0 success, 1 a failure at run time (one line on
stderr naming the archive and key), 2 bad usage (a malformed URL, a wrong
option value; argparse's own errors too). Connection options mirror
:class:`~remote_zip_store.RemoteZipStore`; anything left out comes from
boto3's usual chain (``AWS_*`` variables, profiles). Progress bars go to
stderr and only when it is a terminal.

Cold start matters for a command run in a shell loop: ``ls``, ``info`` and
``cat`` read through :func:`~remote_zip_store.frontend.open_archive` and
import neither zarr nor boto3 (boto3 only for an ``s3://`` URL); zarr and the
benchmark/demo modules load only for the commands that use them.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from . import __version__
from .decode import METHOD_NAMES
from .errors import ArchiveAccessError, InvalidURLError, KeyNotFoundError, RemoteZipError
from .frontend import CONSOLIDATED, open_archive, resolve_root
from .index import ZipIndex
from .progress import Progress
from .zipformat import Entry

if TYPE_CHECKING:
    from .archive import ZipArchive
    from .scan import ScanRow
    from .store import RemoteZipStore

PROG = "remote-zip-store"

#: Environment variables read as defaults of the failure options.
ENV_CONNECT_TIMEOUT = "RZS_CONNECT_TIMEOUT"
ENV_READ_TIMEOUT = "RZS_READ_TIMEOUT"
ENV_MAX_ATTEMPTS = "RZS_MAX_ATTEMPTS"

#: What to do without credentials, in command-line terms.
CREDENTIALS_HINT = (
    "no AWS credentials found; pass --anon for a public bucket or --profile NAME, "
    "or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
)


class UsageError(Exception):
    """Bad usage found after parsing (exit code 2, like argparse's own errors)."""


# -- option types ------------------------------------------------------------------------
def positive_int(text: str) -> int:
    """An integer >= 1 (argparse type: anything else is a usage error)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def positive_float(text: str) -> float:
    """Seconds > 0 (argparse type)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, not {text}")
    return value


#: ``(flag, environment variable, type, metavar, help)`` of the failure options.
FAILURE_OPTIONS: tuple[tuple[str, str, Callable[[str], Any], str, str], ...] = (
    (
        "--connect-timeout",
        ENV_CONNECT_TIMEOUT,
        positive_float,
        "SECONDS",
        "to establish a connection (default 10",
    ),
    (
        "--read-timeout",
        ENV_READ_TIMEOUT,
        positive_float,
        "SECONDS",
        "waiting for the server to answer (default 60",
    ),
    (
        "--max-attempts",
        ENV_MAX_ATTEMPTS,
        positive_int,
        "N",
        "attempts per request, the first included (default 5",
    ),
)


def _env_default(name: str, convert: Callable[[str], Any]) -> Any:
    """``convert(os.environ[name])``, None when unset; a bad value is a usage error."""
    text = os.environ.get(name)
    if text is None or text == "":
        return None
    try:
        return convert(text)
    except argparse.ArgumentTypeError as exc:
        raise UsageError(f"{name}: {exc}") from None


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
    failures = parser.add_argument_group(
        "failures (an endpoint that never answers costs at most about "
        "max-attempts x (connect + read timeout))"
    )
    for flag, env, convert, metavar, help in FAILURE_OPTIONS:
        failures.add_argument(
            flag,
            type=convert,
            default=_env_default(env, convert),
            metavar=metavar,
            help=f"{help}; env {env})",
        )


def _verify(value: str | None) -> bool | str | None:
    if value is None:
        return None
    return False if value.lower() in ("false", "0", "no", "off") else value


def connection_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The ``RemoteZipStore``/``S3Options`` keyword arguments the options describe.

    Options left out are left out here too, so each layer's defaults apply.
    """
    given = {
        "endpoint_url": args.endpoint_url,
        "region_name": args.region,
        "profile_name": args.profile,
        "anon": args.anon or None,
        "verify": _verify(args.verify),
        "aws_access_key_id": args.aws_access_key_id,
        "aws_secret_access_key": args.aws_secret_access_key,
        "aws_session_token": args.aws_session_token,
        "connect_timeout": args.connect_timeout,
        "read_timeout": args.read_timeout,
        "max_attempts": args.max_attempts,
    }
    return {name: value for name, value in given.items() if value is not None}


def _location(url: str) -> str:
    """``~`` expanded in a local path (a shell does it only at the start of a word)."""
    return url if "://" in url else os.path.expanduser(url)


def _open_archive(args: argparse.Namespace) -> ZipArchive:
    return open_archive(_location(args.url), **connection_kwargs(args))


def _open(args: argparse.Namespace) -> RemoteZipStore:
    from . import RemoteZipStore  # the front end for the installed zarr (2 or 3)

    return RemoteZipStore(_location(args.url), root=args.root, **connection_kwargs(args))


def _out(line: str = "") -> None:
    sys.stdout.write(line + "\n")


# -- archive commands --------------------------------------------------------------------
def _ls(args: argparse.Namespace) -> int:
    """Entries of the archive: method, compressed size, size, name."""
    archive = _open_archive(args)
    try:
        for entry in _entries(archive.index):
            method = METHOD_NAMES.get(entry.method, f"method-{entry.method}")
            sizes = f"{entry.compressed_size:>12} {entry.uncompressed_size:>12}"
            _out(f"{method:<8} {sizes}  {entry.name}")
    finally:
        archive.close()
    return 0


def _entries(index: ZipIndex) -> Iterator[Entry]:
    """Every distinct file entry, in directory order."""
    for name in index.names():
        entry = index.get(name)
        if entry is not None:
            yield entry


def _open_hierarchy(store: RemoteZipStore) -> Any:
    import zarr

    if not hasattr(store, "__contains__"):  # zarr 3 finds consolidated metadata itself
        return zarr.open(store, mode="r")
    if CONSOLIDATED in store:
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

        if hasattr(node, "visititems"):
            node.visititems(visit)
        else:  # zarr 3: members() walks the hierarchy, sorted here as visititems does
            for path, item in sorted(node.members(max_depth=None)):
                visit(path, item)
        for line in lines:
            _out(line)
    return 0


def _describe_array(name: str, array: Any) -> str:
    compressors = getattr(array, "compressors", None)  # zarr 3 (a tuple); zarr 2: compressor
    if compressors is not None:
        names = [str(getattr(c, "codec_id", None) or type(c).__name__) for c in compressors]
        compressor = ",".join(names) or "none"
    else:
        compressor = array.compressor.codec_id if array.compressor is not None else "none"
    return (
        f"{name}  shape={tuple(array.shape)} dtype={array.dtype} chunks={tuple(array.chunks)} "
        f"compressor={compressor}"
    )


def _info(args: argparse.Namespace) -> int:
    """Directory facts and what opening cost, as ``name: value`` lines."""
    archive = _open_archive(args)
    try:
        root = resolve_root(archive, args.root)
        requests, nbytes = archive.source.stats.snapshot()
        index = archive.index
        location = index.location
        methods: Counter[str] = Counter()
        compressed = uncompressed = 0
        for entry in _entries(index):
            methods[METHOD_NAMES.get(entry.method, f"method-{entry.method}")] += 1
            compressed += entry.compressed_size
            uncompressed += entry.uncompressed_size
        consolidated = f"{root}/{CONSOLIDATED}" if root else CONSOLIDATED
        rows = [
            ("archive", archive.url),
            ("size", _size_text(archive.size)),
            ("entries", str(len(index))),
            ("directory", f"{location.cd_size:,} bytes at offset {location.cd_start:,}"),
            ("zip64", "yes" if location.zip64 else "no"),
            ("prefix", f"{location.prefix:,} bytes"),
            ("methods", ", ".join(f"{name} {n}" for name, n in methods.most_common())),
            ("data", f"{compressed:,} bytes compressed, {uncompressed:,} uncompressed"),
            ("root", repr(root)),
            ("consolidated", "yes" if consolidated in index else "no"),
            ("opened with", f"{requests} request(s), {nbytes:,} bytes"),
        ]
    finally:
        archive.close()
    for name, value in rows:
        _out(f"{name + ':':<14}{value}")
    return 0


def _size_text(size: int | None) -> str:
    return "unknown" if size is None else f"{size:,} bytes"


def _cat(args: argparse.Namespace) -> int:
    """Raw bytes of a key (relative to the zarr root) or of an archive entry name."""
    archive = _open_archive(args)
    try:
        root = resolve_root(archive, args.root)
        index = archive.index
        entry = index.get(f"{root}/{args.key}" if root else args.key)
        if entry is None:
            entry = index.get(args.key)  # an archive entry name, root or not
        if entry is None:
            raise KeyNotFoundError("does not exist", archive=archive.url, key=args.key)
        data = archive.read_entry(entry)
    finally:
        archive.close()
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()
    return 0


# -- bench and demo ----------------------------------------------------------------------
def _bench(args: argparse.Namespace) -> int:
    """This archive through the store and through the s3fs chain: requests, bytes, time."""
    if not args.url.startswith("s3://"):
        raise UsageError("bench compares against s3fs and needs an s3:// URL")
    from .compare import (
        INSTALL_HINT,
        MissingChainError,
        format_table,
        measure_chain,
        measure_store,
    )
    from .sources.s3 import S3Options

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
    from .compare import array_paths

    return array_paths(node) if not hasattr(node, "shape") else [""]


def _demo(args: argparse.Namespace) -> int:
    """Serve a sample archive from an in-process S3 server and read it back."""
    from .demo import run_demo

    return run_demo(args.channels)


# -- scan ---------------------------------------------------------------------------------
def _scan(args: argparse.Namespace) -> int:
    """One row per archive under the prefix; exit 1 when any archive failed."""
    import time

    from .scan import scan

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


def _pack(args: argparse.Namespace) -> int:
    """Repack SRC into DST (metadata last, duplicates dropped); print the open cost before/after."""
    from .pack import is_remote, open_cost, pack
    from .writecore import write_options

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
    archive_command("bench", _bench, "this archive: the store vs the s3fs+ZipFileSystem chain")

    demo = commands.add_parser(
        "demo",
        help="read a sample archive from an in-process S3 server",
        description="Write a sample archive, serve it from an in-process S3 server on "
        "127.0.0.1 and read it back with the store.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
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
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    scan_parser.add_argument("prefix", metavar="s3://BUCKET/PREFIX/")
    scan_parser.add_argument("--key", default=".zattrs", help="key to read")
    scan_parser.add_argument(
        "--concurrency", type=positive_int, default=32, help="archives read at a time"
    )
    scan_parser.add_argument("--suffix", default=".zip", help="object names to scan")
    scan_parser.add_argument("--json", action="store_true", help="one JSON object per line")
    _add_connection(scan_parser)
    scan_parser.set_defaults(run=_scan)

    pack_parser = commands.add_parser(
        "pack",
        help="repack a hierarchy into a zip laid out for remote reading",
        description="Copy SRC (a zarr directory, or a zip: local, s3:// or http(s)://) into "
        "a new zip at DST (a local path or s3://): chunks first, every metadata key last "
        "beside the central directory, duplicate entries dropped. Prints what opening "
        "and reading all metadata costs before and after (requests, bytes).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    pack_parser.add_argument("src", metavar="SRC")
    pack_parser.add_argument("dst", metavar="DST")
    pack_parser.add_argument(
        "--part-size", type=positive_int, default=8, help="multipart part size in MiB (>= 5)"
    )
    pack_parser.add_argument("--deflate", action="store_true", help="deflate every entry")
    pack_parser.add_argument(
        "--no-overwrite", action="store_true", help="fail if DST exists (mode w-)"
    )
    _add_connection(pack_parser)
    pack_parser.set_defaults(run=_pack)

    from .refscli import add_command as add_refs_command

    add_refs_command(commands, _add_connection)
    return parser


# -- messages -------------------------------------------------------------------------------
class _OneLine(logging.Formatter):
    """``remote-zip-store: warning: ...`` on one line (a retry, a fallback)."""

    def format(self, record: logging.LogRecord) -> str:
        text = " ".join(record.getMessage().split())
        return f"{PROG}: {record.levelname.lower()}: {text}"


def _log_to_stderr(stream: TextIO) -> logging.Handler:
    """Print the library's WARNING records (each retry, with attempt and reason) to stderr."""
    handler = logging.StreamHandler(stream)
    handler.setLevel(logging.WARNING)
    handler.setFormatter(_OneLine())
    logger = logging.getLogger("remote_zip_store")
    logger.addHandler(handler)
    if logger.getEffectiveLevel() > logging.WARNING:
        logger.setLevel(logging.WARNING)
    return handler


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    """``warnings.showwarning`` for a command: one clean line, no source file and line."""
    text = " ".join(str(message).split())
    print(f"{PROG}: warning: {text}", file=sys.stderr)


def _cli_terms(exc: RemoteZipError) -> str:
    """The message, with Python-argument advice replaced by the options a shell user has."""
    if isinstance(exc, ArchiveAccessError) and _caused_by(exc, _CREDENTIAL_ERRORS):
        where = f"archive {exc.archive}: " if exc.archive else ""
        return f"{where}{CREDENTIALS_HINT}"
    return str(exc)


#: botocore's exception names for "no credentials" (named, so the CLI need not import it).
_CREDENTIAL_ERRORS = frozenset({"NoCredentialsError", "PartialCredentialsError"})


def _caused_by(exc: BaseException, names: frozenset[str]) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if type(seen).__name__ in names:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def main(argv: Sequence[str] | None = None) -> int:
    try:
        parser = build_parser()
    except UsageError as exc:  # a bad RZS_* value
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    args = parser.parse_args(argv)
    handler = _log_to_stderr(sys.stderr)
    shown = warnings.showwarning
    warnings.showwarning = _show_warning
    try:
        code: int = args.run(args)
    except (UsageError, InvalidURLError) as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    except RemoteZipError as exc:
        print(f"{PROG}: {_cli_terms(exc)}", file=sys.stderr)
        return 1
    except ValueError as exc:  # zarr's "not a hierarchy" and the like: no traceback
        print(f"{PROG}: {exc}", file=sys.stderr)
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
