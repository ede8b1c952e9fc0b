"""Conventions an archive declares about itself, read from its zip comment (pure, no I/O).

OME-Zarr RFC-9 (single-file OME-Zarr, ``.ozx``) asks writers for a UTF-8 JSON
archive comment such as
``{"ome": {"version": "0.5", "zipFile": {"centralDirectory": {"jsonFirst": true}}}}``.
``jsonFirst`` promises that every ``zarr.json`` comes first in the central
directory (the root's first, the others breadth-first) and at the start of the
file, so a reader may rely on the metadata lying in the archive's head. Any other
comment (none, plain text, other JSON) is simply not this convention: ``None``,
never an error. This module knows the comment's shape only; it imports no zarr.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


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


def _path(document: dict[str, Any], *names: str) -> Any:
    value: Any = document
    for name in names:
        if not isinstance(value, dict):
            return None
        value = value.get(name)
    return value
