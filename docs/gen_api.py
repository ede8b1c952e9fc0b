"""Write docs/api.md from the package's docstrings and signatures (inspect only).

    python docs/gen_api.py          # rewrite docs/api.md
    python docs/gen_api.py --check  # exit 1 if docs/api.md is out of date

tests/test_api_docs.py runs the check, so a changed docstring without a
regenerated page fails the suite.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from pathlib import Path
from typing import Any

OUTPUT = Path(__file__).with_name("api.md")

#: (public module, the private module whose docstring heads the section ("" = the public
#: one), names) in the order the page presents them. Names are documented where users
#: import them: the layer packages' faces, never their private modules.
SECTIONS: list[tuple[str, str, list[str]]] = [
    ("remote_zip_store.zarr2", "_store", ["RemoteZipStore", "ReadOnlyStoreError"]),
    ("remote_zip_store.archive", "_reader", ["ReadOptions", "ZipArchive"]),
    (
        "remote_zip_store.transport",
        "",
        [
            "open_source",
            "S3Options",
            "S3Source",
            "HTTPOptions",
            "HTTPSource",
            "LocalSource",
            "Source",
            "Stats",
            "list_objects",
        ],
    ),
    ("remote_zip_store.zarr2", "_write", ["ZipWriteStore"]),
    ("remote_zip_store.archive", "_writer", ["WriteOptions", "ZipWriter"]),
    (
        "remote_zip_store.transport",
        "_sinks",
        ["open_sink", "S3MultipartSink", "LocalSink", "Sink"],
    ),
    ("remote_zip_store.verbs", "_pack", ["pack", "open_cost", "PackResult", "OpenCost"]),
    ("remote_zip_store.verbs", "_many", ["open_many"]),
    ("remote_zip_store.verbs", "_catalog", ["build_catalog", "load_catalog", "IndexReport"]),
    ("remote_zip_store.verbs", "_scan", ["scan", "ScanRow", "parse_prefix"]),
    ("remote_zip_store.verbs", "_check", ["check", "Report", "Finding"]),
    (
        "remote_zip_store.zipfmt",
        "_conventions",
        ["OzxInfo", "parse_ozx_comment", "ozx_comment", "json_first_key"],
    ),
    (
        "remote_zip_store.verbs",
        "_refs",
        ["kerchunk_refs", "to_icechunk", "icechunk_credentials", "IcechunkResult"],
    ),
    (
        "remote_zip_store.errors",
        "",
        [
            "RemoteZipError",
            "SourceError",
            "ArchiveNotFoundError",
            "ArchiveAccessError",
            "ArchiveChangedError",
            "BadArchiveError",
            "CorruptEntryError",
            "UnsupportedArchiveError",
            "KeyNotFoundError",
            "StoreClosedError",
            "ArchiveExistsError",
            "InvalidKeyError",
            "InvalidValueError",
            "DuplicateEntryError",
            "LayoutError",
            "WriterClosedError",
            "ChunkNotReadableError",
            "MissingKeyError",
            "ReadOnlyStoreError",
        ],
    ),
]

#: Methods worth a line even without their own docstring (zarr's store protocol).
_ALWAYS = {"__getitem__", "__contains__", "getitems", "close"}


def _doc(obj: Any) -> str:
    return inspect.cleandoc(obj.__doc__) if obj.__doc__ else ""


def _signature(obj: Any) -> str:
    try:
        return str(inspect.signature(obj))
    except (TypeError, ValueError):
        return "(...)"


def _members(cls: type) -> list[tuple[str, Any]]:
    """Public methods and properties defined on ``cls`` itself, in source order."""
    found = []
    for name, value in vars(cls).items():
        if name.startswith("_") and name not in _ALWAYS and name != "__init__":
            continue
        if isinstance(value, property) or inspect.isfunction(value):
            found.append((name, value))
        elif isinstance(value, classmethod):
            found.append((name, value.__func__))
    return found


def _render_class(module: str, name: str, cls: type) -> list[str]:
    bases = [b.__name__ for b in cls.__bases__ if b is not object]
    init = vars(cls).get("__init__")
    signature = _signature(init).replace("(self, ", "(").replace("(self)", "()") if init else ""
    if not init and not issubclass(cls, BaseException):
        signature = _signature(cls)
    lines = [f"## `{name}`", ""]
    lines.append(
        f"`{module}.{name}{signature}`" + (f" — bases: {', '.join(bases)}" if bases else "")
    )
    lines += ["", _doc(cls), ""]
    if issubclass(cls, BaseException):
        return lines
    for member, value in _members(cls):
        if member == "__init__":
            continue
        if isinstance(value, property):
            doc = _doc(value.fget) if value.fget else ""
            lines.append(f"- `{member}` (property){': ' + doc.splitlines()[0] if doc else ''}")
            continue
        doc = _doc(value)
        if not doc and member not in _ALWAYS:
            continue
        sig = _signature(value).replace("(self, ", "(").replace("(self)", "()")
        sig = sig.replace("(cls, ", "(")
        lines.append(f"- `{member}{sig}`{': ' + doc.splitlines()[0] if doc else ''}")
    lines.append("")
    return lines


def _render_function(module: str, name: str, func: Any) -> list[str]:
    return [f"## `{name}`", "", f"`{module}.{name}{_signature(func)}`", "", _doc(func), ""]


def render() -> str:
    lines = [
        "# API reference",
        "",
        "Generated from the docstrings by `python docs/gen_api.py`; do not edit by hand.",
        "Guides: [index](index.md), [usage](usage.md), [recipes](recipes.md), [CLI](cli.md),",
        "[design](design.md).",
        "",
    ]
    for module_name, private, names in SECTIONS:
        module = importlib.import_module(module_name)
        about = importlib.import_module(f"{module_name}.{private}") if private else module
        lines += [f"# `{module_name}`", "", _doc(about).split("\n\n")[0], ""]
        for name in names:
            obj = getattr(module, name)
            if inspect.isclass(obj):
                lines += _render_class(module_name, name, obj)
            else:
                lines += _render_function(module_name, name, obj)
    text = "\n".join(lines)
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text.rstrip() + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        current = OUTPUT.read_text() if OUTPUT.exists() else ""
        if current != text:
            print(f"{OUTPUT} is out of date: run python docs/gen_api.py", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
