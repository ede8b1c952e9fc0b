"""The store next to the s3fs + ZipFileSystem + FSMap chain, on one archive (CLI ``bench``).

The chain is what users write without this library::

    fs = s3fs.S3FileSystem(...); f = fs.open("bucket/key.zip")
    zarr.open(ZipFileSystem(fo=f).get_mapper(root))

s3fs is optional (the ``bench`` extra); without it :func:`measure_chain`
raises :class:`MissingChainError` with the install command. Requests and
bytes of the chain are counted with a botocore ``after-call`` hook on s3fs's
own client (body bytes from ``Content-Length``), the store's from its source.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import zarr

from ..transport._s3 import S3Options, parse_s3_url
from ._frontends import store_class

INSTALL_HINT = "pip install 'remote-zip-store[bench]' (s3fs)"


class MissingChainError(ImportError):
    """s3fs is not installed, so the chain cannot be measured."""


@dataclass(frozen=True)
class Cost:
    """Requests, body bytes and wall time of one step."""

    requests: int
    bytes: int
    seconds: float


@dataclass(frozen=True)
class Measurement:
    """Opening the hierarchy (and reading root attributes), then reading every array."""

    name: str
    root: str
    open: Cost
    read_all: Cost
    checksum: float
    endpoint_url: str | None = None


LOOPBACK_NOTE = (
    "note: the endpoint is loopback, with no network latency: the seconds here mean nothing; "
    "compare requests and bytes"
)


def is_loopback(endpoint_url: str | None) -> bool:
    """True for an endpoint on this machine, where timings measure no network at all."""
    from urllib.parse import urlparse

    host = urlparse(endpoint_url).hostname if endpoint_url else None
    return host in ("127.0.0.1", "localhost", "::1")


def array_paths(group: Any) -> list[str]:
    """Every array under ``group``, as paths, in sorted order (zarr 2 and 3)."""
    paths: list[str] = []
    if not hasattr(group, "visititems"):  # zarr 3
        return sorted(
            path for path, item in group.members(max_depth=None) if hasattr(item, "shape")
        )
    group.visititems(lambda path, item: paths.append(path) if hasattr(item, "shape") else None)
    return sorted(paths)


def _open_root(mapping: Any) -> Any:
    """The hierarchy, from consolidated metadata when there is some (zarr 3 looks itself)."""
    if int(zarr.__version__.split(".", 1)[0]) >= 3:
        return zarr.open_group(mapping, mode="r")
    if ".zmetadata" in mapping:
        return zarr.open_consolidated(mapping, mode="r")
    return zarr.open(mapping, mode="r")


def _workload(
    mapping: Any,
    counter: Callable[[], tuple[int, int]],
    on_array: Callable[[], None] | None,
    started: float,
) -> tuple[Cost, Cost, float]:
    """Open (from ``started``, so the directory read counts) and read every array."""
    root = _open_root(mapping)
    dict(root.attrs)
    opened = counter()
    open_cost = Cost(opened[0], opened[1], time.perf_counter() - started)
    checksum = 0.0
    for path in array_paths(root):
        data = root[path][...]
        if data.dtype.kind in "fiub":
            checksum += float(data.sum(dtype="f8"))
        if on_array is not None:
            on_array()
    total = counter()
    read_seconds = time.perf_counter() - started - open_cost.seconds
    read_cost = Cost(total[0] - opened[0], total[1] - opened[1], read_seconds)
    return open_cost, read_cost, checksum


def _pair(traffic: Any) -> tuple[int, int]:
    return traffic.requests, traffic.bytes


def measure_store(
    url: str, store_kwargs: dict[str, Any], on_array: Callable[[], None] | None = None
) -> Measurement:
    started = time.perf_counter()
    with store_class()(url, **store_kwargs) as store:
        costs = _workload(store, lambda: _pair(store.stats()), on_array, started)
        endpoint = store_kwargs.get("endpoint_url")
        return Measurement("remote-zip-store", store.root, *costs, endpoint_url=endpoint)


def measure_chain(
    url: str,
    options: S3Options,
    root: str,
    on_array: Callable[[], None] | None = None,
) -> Measurement:
    """The s3fs + ZipFileSystem + FSMap chain on ``url`` with the same connection options.

    ``root`` is the folder holding the hierarchy (the store's detected ``root``).
    """
    try:
        import s3fs
        from fsspec.implementations.zip import ZipFileSystem
    except ImportError as exc:
        raise MissingChainError(f"the s3fs chain needs s3fs: {INSTALL_HINT}") from exc
    bucket, key = parse_s3_url(url)
    client_kwargs: dict[str, Any] = {}
    if options.region_name:
        client_kwargs["region_name"] = options.region_name
    if options.verify is not None:
        client_kwargs["verify"] = options.verify
    fs = s3fs.S3FileSystem(
        anon=options.anon,
        key=options.aws_access_key_id,
        secret=options.aws_secret_access_key,
        token=options.aws_session_token,
        profile=options.profile_name,
        endpoint_url=options.endpoint_url,
        client_kwargs=client_kwargs,
        skip_instance_cache=True,
        use_listings_cache=False,
    )
    counts = [0, 0]

    def count(http_response: Any = None, **_: Any) -> None:
        counts[0] += 1
        if http_response is not None:
            length = http_response.headers.get("content-length")
            counts[1] += int(length) if length and length.isdigit() else 0

    started = time.perf_counter()
    fs.connect()
    fs.s3.meta.events.register("after-call.s3", count)
    with fs.open(f"{bucket}/{key}", "rb") as f:
        mapper = ZipFileSystem(fo=f).get_mapper(root)
        costs = _workload(mapper, lambda: (counts[0], counts[1]), on_array, started)
    return Measurement("s3fs+ZipFileSystem+FSMap", root, *costs)


def format_table(results: list[Measurement], *, note_loopback: bool = True) -> list[str]:
    """Aligned lines: one header, one row per measurement, then the loopback note if due.

    ``note_loopback=False`` when the caller already put a simulated link in front.
    """
    lines = [
        f"{'':<26}{'open: requests':>15}{'bytes':>13}{'s':>8}   "
        f"{'read all: requests':>19}{'bytes':>13}{'s':>8}"
    ]
    for m in results:
        o, r = m.open, m.read_all
        lines.append(
            f"{m.name:<26}{o.requests:>15}{o.bytes:>13,}{o.seconds:>8.3f}   "
            f"{r.requests:>19}{r.bytes:>13,}{r.seconds:>8.3f}"
        )
    if note_loopback and any(is_loopback(m.endpoint_url) for m in results):
        lines.append(LOOPBACK_NOTE)
    return lines


def describe_rows(results: list[Measurement], size: int) -> list[str]:
    """What each row moved, in words: a chain that fetched the whole object while opening
    shows a quick "read all" because nothing was left to fetch, not because reading is cheap.
    """
    lines = []
    for m in results:
        o, r = m.open, m.read_all
        if m.name == "remote-zip-store":
            text = (
                f"{m.name}: open read the directory and metadata ({o.requests} request(s), "
                f"{o.bytes:,} bytes); read all fetched the chunks, {r.requests} range GET(s) "
                f"for {r.bytes:,} bytes"
            )
        else:
            text = f"{m.name}: open moved {o.bytes:,} bytes in {o.requests} request(s)"
            if size and o.bytes >= size:
                text += f", the whole {size:,}-byte object (s3fs read it all while opening)"
            text += f"; read all then moved {r.bytes:,} bytes in {r.requests} request(s)"
            if size and o.bytes >= size:
                text += " (from what open had already fetched)"
        total = o.bytes + r.bytes
        lines.append(f"{text}: {total:,} bytes in all of a {size:,}-byte archive")
    return lines
