"""Layer 6, the verbs: many archives at once (``open_many``, ``scan``), rewriting
(``pack``), checking (``check``), references (``kerchunk_refs``, ``to_icechunk``), the
cohort catalog (``build_catalog``); over the installed zarr's front end or no zarr at all.

The names below are the verbs' API; the modules that define them are private. They
load on first use (module ``__getattr__``), so importing this package loads no verb.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_names

if TYPE_CHECKING:
    from ._catalog import IndexReport, build_catalog, load_catalog, read_catalog, write_catalog
    from ._check import Finding, Report, check
    from ._engine import archive_urls
    from ._many import open_many
    from ._pack import OpenCost, PackResult, open_cost, pack
    from ._refs import IcechunkResult, icechunk_credentials, kerchunk_refs, to_icechunk
    from ._scan import ScanRow, list_archives, parse_prefix, scan

#: Public name -> the private module that defines it.
_LAZY = {
    "IndexReport": "_catalog",
    "build_catalog": "_catalog",
    "load_catalog": "_catalog",
    "read_catalog": "_catalog",
    "write_catalog": "_catalog",
    "Finding": "_check",
    "Report": "_check",
    "check": "_check",
    "archive_urls": "_engine",
    "open_many": "_many",
    "OpenCost": "_pack",
    "PackResult": "_pack",
    "open_cost": "_pack",
    "pack": "_pack",
    "IcechunkResult": "_refs",
    "icechunk_credentials": "_refs",
    "kerchunk_refs": "_refs",
    "to_icechunk": "_refs",
    "ScanRow": "_scan",
    "list_archives": "_scan",
    "parse_prefix": "_scan",
    "scan": "_scan",
}


__getattr__, __dir__ = lazy_names(__name__, _LAZY, globals())


__all__ = [
    "Finding",
    "IcechunkResult",
    "IndexReport",
    "OpenCost",
    "PackResult",
    "Report",
    "ScanRow",
    "archive_urls",
    "build_catalog",
    "check",
    "icechunk_credentials",
    "kerchunk_refs",
    "list_archives",
    "load_catalog",
    "open_cost",
    "open_many",
    "pack",
    "parse_prefix",
    "read_catalog",
    "scan",
    "to_icechunk",
    "write_catalog",
]
