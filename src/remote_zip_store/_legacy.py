"""The module paths of the release before the layered package, kept for one release.

Stores pickled by that release (dask workers on mixed versions) name classes such as
``remote_zip_store.store.RemoteZipStore`` or ``remote_zip_store.sources.s3.S3Options``,
and user code imports ``remote_zip_store.frontend``. A finder on ``sys.meta_path``
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
    "zipformat": "zipfmt._parse",
    "index": "zipfmt._index",
    "listing": "zipfmt._listing",
    "planner": "zipfmt._planner",
    "decode": "zipfmt._decode",
    "sources": "transport",
    "sources.base": "transport._base",
    "sources.status": "transport._status",
    "sources.retry": "transport._retry",
    "sources.s3": "transport._s3",
    "sources.http": "transport._http",
    "sources.local": "transport._local",
    "sinks": "transport._sinks",
    "forksafe": "transport._forksafe",
    "readahead": "archive._readahead",
    "indexcache": "archive._indexcache",
    "cohort": "archive._cohort",
    "zipwrite": "archive._writer",
    "frontend": "hierarchy._frontend",
    "prefetch": "hierarchy._prefetch",
    "writecore": "hierarchy._session",
    "store": "zarr2._store",
    "writestore": "zarr2._write",
    "zarr3write": "zarr3._write",
    "many": "verbs._many",
    "scan": "verbs._scan",
    "pack": "verbs._pack",
    "compare": "verbs._compare",
    "progress": "verbs._progress",
    "demo": "cli._demo",
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
            moved = f"{MOVED[package]}._{rest}"  # a package: its modules are private now
        return importlib.machinery.ModuleSpec(fullname, _Alias(f"{prefix}{moved}"))


def install() -> None:
    """Put the finder first on ``sys.meta_path``, once.

    First: an old module under an old package (``sources.s3``) would otherwise be found
    by the path finder through the aliased package's ``__path__`` and loaded a second
    time, under the old name, with classes of its own.
    """
    if not any(isinstance(finder, LegacyFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, LegacyFinder())
