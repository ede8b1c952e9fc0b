"""The one URL dispatch for reading and writing, and the one check of keyword names."""

from __future__ import annotations

import difflib
import os
from collections.abc import Collection, Iterable
from typing import Literal

from ..errors import InvalidURLError

Scheme = Literal["s3", "http", "file"]


def classify(url: str | os.PathLike[str], *, writing: bool = False) -> tuple[Scheme, str]:
    """``(scheme, target)``: ``s3``/``http`` with the URL, or ``file`` with the local path.

    ``http(s)://`` is read-only; any other ``scheme://`` is an :class:`InvalidURLError`
    that names the URL forms that work for the operation.
    """
    text = os.fspath(url)
    forms = "s3://bucket/key or a path" if writing else "s3://bucket/key, http(s)://... or a path"
    if text.lower().startswith(("http://", "https://")):
        if writing:
            raise InvalidURLError(f"http(s):// URLs are read-only; write to {forms}", archive=text)
        return "http", text
    if text.startswith("s3://"):
        return "s3", text
    if "://" in text and not text.startswith("file://"):
        scheme = text.split("://", 1)[0]
        raise InvalidURLError(f"unsupported URL scheme {scheme!r}; use {forms}", archive=text)
    path = text[len("file://") :] if text.startswith("file://") else text
    return "file", os.path.expanduser(path)


def check_names(given: Iterable[str], allowed: Collection[str], function: str) -> None:
    """A ``TypeError`` naming each unknown keyword and, when one is close, what was meant."""
    unknown = sorted(set(given) - set(allowed))
    if not unknown:
        return
    described = []
    for name in unknown:
        close = difflib.get_close_matches(name, sorted(allowed), n=1, cutoff=0.6)
        if not close:
            close = sorted(a for a in allowed if a.startswith(name) or name.startswith(a))[:1]
        described.append(f"{name} (did you mean {close[0]}?)" if close else name)
    raise TypeError(f"{function} got unexpected keyword argument(s): {', '.join(described)}")
