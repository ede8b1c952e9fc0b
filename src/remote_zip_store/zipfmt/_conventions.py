"""Conventions an archive declares about itself, read from its zip comment (pure, no I/O).

OME-Zarr RFC-9 (single-file OME-Zarr, ``.ozx``) asks writers for a UTF-8 JSON
archive comment such as
``{"ome": {"version": "0.5", "zipFile": {"centralDirectory": {"jsonFirst": true}}}}``.
``jsonFirst`` (ome/ngff PR #364, under ``zipFile.centralDirectory``) promises
that every ``zarr.json`` comes first in the central directory (the root's first,
the others breadth-first). RFC-9 also asks for them first in the file (a
SHOULD of its own); writers that can do so (ngff-zarr, ``pack``) put them there. Any other
comment (none, plain text, other JSON) is simply not this convention: ``None``,
never an error. The writer's side is here too: :func:`ozx_comment` builds the
comment, :func:`json_first_key` orders entries as RFC-9 asks. Pure: no I/O, no zarr.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

#: The zarr v3 metadata document's name (``hierarchy._names`` is a layer above).
ZARR_JSON = "zarr.json"
#: ``ome.version`` written when the root ``zarr.json`` declares none.
DEFAULT_OME_VERSION = "0.5"


@dataclass(frozen=True)
class OzxInfo:
    """What an RFC-9 (``.ozx``) archive comment declares."""

    version: str | None
    """``ome.version`` (``"0.5"``), None when absent or not a string."""
    json_first: bool
    """``ome.zipFile.centralDirectory.jsonFirst``: zarr.json entries first (directory and file)."""
    raw: str
    """The comment as decoded text (the whole JSON document)."""


def parse_ozx_comment(comment: bytes) -> OzxInfo | None:
    """The RFC-9 declaration in an archive ``comment``; None when it is not one.

    Tolerant by design: a comment that is not UTF-8, not JSON, not an object or
    has no ``"ome"`` object is another producer's comment, not a broken ``.ozx``.
    Fields of the wrong type read as absent (version None, jsonFirst False).
    """
    if not comment.strip().startswith(b"{"):
        return None
    try:
        text = comment.decode("utf-8")
        document = json.loads(text)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    ome = document.get("ome") if isinstance(document, dict) else None
    if not isinstance(ome, dict):
        return None
    version = ome.get("version")
    directory = _path(ome, "zipFile", "centralDirectory")
    json_first = isinstance(directory, dict) and directory.get("jsonFirst") is True
    return OzxInfo(
        version=version if isinstance(version, str) else None,
        json_first=json_first,
        raw=text,
    )


def is_ozx_name(url: str) -> bool:
    """Whether a URL's path or a file name ends in ``.ozx`` (RFC-9's extension)."""
    path = urlsplit(url).path if "://" in url else url
    return path.lower().endswith(".ozx")


def ozx_comment(version: str = DEFAULT_OME_VERSION) -> bytes:
    """The RFC-9 archive comment, declaring ``jsonFirst`` (as ngff-zarr writes it)."""
    document = {"ome": {"version": version, "zipFile": {"centralDirectory": {"jsonFirst": True}}}}
    return json.dumps(document).encode("utf-8")


def ome_version(root_metadata: bytes | None) -> str:
    """``attributes.ome.version`` of a root ``zarr.json`` when it is a string, else the default."""
    try:
        document = json.loads(root_metadata) if root_metadata is not None else None
    except (UnicodeDecodeError, ValueError, RecursionError):
        document = None
    version = _path(document, "attributes", "ome", "version")
    return version if isinstance(version, str) and version else DEFAULT_OME_VERSION


def json_first_key(name: str) -> tuple[int, int, tuple[str, ...]]:
    """Sort key of RFC-9's order: root ``zarr.json``, the other ``zarr.json``, then the rest.

    The other ``zarr.json`` come breadth-first: by depth, then by path compared
    segment by segment (so ``a/x`` precedes ``a-b/y``, as a breadth-first walk
    visiting children in name order gives). Every other entry gets one key, so a
    stable sort keeps them in the order they were written.
    """
    parts = name.split("/")
    if parts[-1] != ZARR_JSON:
        return (2, 0, ())
    if len(parts) == 1:
        return (0, 0, ())
    return (1, len(parts), tuple(parts))


def _path(document: Any, *names: str) -> Any:
    value: Any = document
    for name in names:
        if not isinstance(value, dict):
            return None
        value = value.get(name)
    return value
