"""The module paths of the release before the layered package, kept for one release.

Stores pickled by that release (dask workers on mixed versions) name classes such as
``remote_zip_store.zarr2.store.RemoteZipStore`` or ``remote_zip_store.transport.s3.S3Options``,
and user code imports ``remote_zip_store.hierarchy.frontend``. A finder on ``sys.meta_path``
answers each old name with the module that now holds its code (the same module object,
so classes compare identical) and warns once per name (``DeprecationWarning``).
Installed by the package's ``__init__``; no module file is left at the old paths.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import warnings
from types import ModuleType

_PACKAGE = __name__.rpartition(".")[0]

#: Old module (relative to the package) -> the module that holds its code now.
MOVED = {
    "zipformat": "zipfmt.parse",
    "index": "zipfmt.index",
    "listing": "zipfmt.listing",
    "planner": "zipfmt.planner",
    "decode": "zipfmt.decode",
    "sources": "transport",
    "sources.base": "transport.base",
    "sources.status": "transport.status",
    "sources.retry": "transport.retry",
    "sources.s3": "transport.s3",
    "sources.http": "transport.http",
    "sources.local": "transport.local",
    "sinks": "transport.sinks",
    "forksafe": "transport.forksafe",
    "readahead": "archive.readahead",
    "indexcache": "archive.indexcache",
    "cohort": "archive.cohort",
    "zipwrite": "archive.writer",
    "frontend": "hierarchy.frontend",
    "prefetch": "hierarchy.prefetch",
    "writecore": "hierarchy.session",
    "store": "zarr2.store",
    "writestore": "zarr2.write",
    "zarr3write": "zarr3.write",
    "many": "verbs.many",
    "scan": "verbs.scan",
    "pack": "verbs.pack",
    "compare": "verbs.compare",
    "progress": "verbs.progress",
    "demo": "cli.demo",
    "sample": "testing.sample",
}


class _Alias(importlib.abc.Loader):
    def __init__(self, target: str) -> None:
        self.target = target

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        warnings.warn(
            f"{spec.name} moved to {self.target} (the old path goes in the next release)",
            DeprecationWarning,
            stacklevel=2,
        )
        module = importlib.import_module(self.target)
        self._spec = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        """The target module ran when it was imported; give it back its own ``__spec__``,
        which the import system has just replaced by the old name's (relative imports
        in the module would otherwise resolve against the old name)."""
        module.__spec__ = self._spec


class LegacyFinder(importlib.abc.MetaPathFinder):
    """Finds each old module name and loads the module now at its new path."""

    def find_spec(
        self, fullname: str, path: object = None, target: object = None
    ) -> importlib.machinery.ModuleSpec | None:
        prefix = _PACKAGE + "."
        if not fullname.startswith(prefix):
            return None
        old = fullname[len(prefix) :]
        moved = MOVED.get(old)
        if moved is None:
            # A module under a moved package (``sources.s3config``) moved with it.
            package, _, rest = old.partition(".")
            if not rest or package not in MOVED:
                return None
            moved = f"{MOVED[package]}.{rest}"
        return importlib.machinery.ModuleSpec(fullname, _Alias(f"{prefix}{moved}"))


def install() -> None:
    """Put the finder first on ``sys.meta_path``, once.

    First: an old module under an old package (``sources.s3``) would otherwise be found
    by the path finder through the aliased package's ``__path__`` and loaded a second
    time, under the old name, with classes of its own.
    """
    if not any(isinstance(finder, LegacyFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, LegacyFinder())
