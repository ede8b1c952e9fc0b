"""Names a package's face loads on first use (a module ``__getattr__``, PEP 562).

Why: ``import remote_zip_store`` (and ``.transport``, ``.verbs``) must not import zarr,
boto3 or urllib3; the module defining a name is imported when the name is first used.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_getattr(
    package: str, names: Mapping[str, str], resolve: Callable[[str], str] = str
) -> Callable[[str], Any]:
    """A ``__getattr__`` for ``package``: ``names`` maps a public name to the module (relative
    to ``package``, through ``resolve``) that defines it; each name is resolved once."""

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f".{resolve(module)}", package), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
