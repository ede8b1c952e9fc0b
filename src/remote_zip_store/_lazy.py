"""Names a package resolves on first use (PEP 562): importing the package stays cheap.

A package lists ``name -> module`` and takes the pair this returns as its module-level
``__getattr__`` and ``__dir__``; each name is imported from ``package.<module>`` the first
time it is asked for and then kept in the package's namespace.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_names(
    package: str,
    names: Mapping[str, str],
    namespace: dict[str, Any],
    where: Callable[[str], str] = str,
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package`` (its ``__name__`` and ``globals()``);
    ``where`` maps a listed module to the one to import (the installed zarr's front end)."""

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f".{where(module)}", package), name)
        namespace[name] = value  # resolved once
        return value

    def __dir__() -> list[str]:
        return sorted([*namespace, *names])

    return __getattr__, __dir__
