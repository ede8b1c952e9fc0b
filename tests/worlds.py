"""What lets one test run in both zarr worlds (zarr-python 2.18 and zarr 3).

Tests about the archive, the transports, faults and errors read through a store; under
zarr 2 that is the zarr-2 ``RemoteZipStore`` itself (a mapping), under zarr 3 it is the
zarr-3 store seen through :class:`MappingView`, which answers the same mapping calls by
running the store's own async API (``get``, ``exists``, ``list``, ``getsize``) on zarr's
event loop. So the same assertions exercise whichever front end is installed.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import zarr

from remote_zip_store.errors import KeyNotFoundError
from remote_zip_store.testing.contract import Zarr3FrontEnd
from remote_zip_store.verbs._frontends import front_end, store_class

#: True under zarr-python 3 (the zarr-3 front end), False under zarr 2.18.
ZARR3 = front_end() == "zarr3"
#: The zarr-3 store's async API run synchronously (the front-end contract's adapter).
ZARR3_API = Zarr3FrontEnd()


def zip_store(path: str | os.PathLike[str], mode: str = "r", **kwargs: Any) -> Any:
    """zarr's own ``ZipStore`` of the installed zarr (the reference reader and writer)."""
    if ZARR3:
        store = zarr.storage.ZipStore(os.fspath(path), mode=mode, **kwargs)
        # opened now: zarr 3.1's ZipStore lists (MappingView) only once open
        store._sync_open()
        return store
    return zarr.ZipStore(os.fspath(path), mode=mode, **kwargs)


def one_write_at_a_time() -> contextlib.AbstractContextManager[Any]:
    """zarr 3 with one store call at a time (chunks stored in order); zarr 2 does that."""
    if ZARR3:
        return zarr.config.set({"async.concurrency": 1})
    return contextlib.nullcontext()


def group(store: Any) -> Any:
    """A new group in ``store``, zarr format 2 (readable by both front ends and zarr 2)."""
    if ZARR3:
        return zarr.open_group(store=store, mode="w", zarr_format=2)
    return zarr.group(store=store)


def _zarr3_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """zarr 2's ``create_dataset`` keywords as zarr 3's ``create_array`` ones (format 2)."""
    compressor = kwargs.pop("compressor", "default")
    if compressor != "default":
        kwargs["compressors"] = None if compressor is None else [compressor]
    separator = kwargs.pop("dimension_separator", None)
    if separator is not None:
        kwargs["chunk_key_encoding"] = {"name": "v2", "separator": separator}
    if kwargs.pop("object_codec", None) is not None:
        # zarr 3 cannot write an ``object`` dtype; ``str`` is the same format-2 array on
        # disk (dtype "|O", a VLenUTF8 filter), read back by zarr 2 as objects.
        kwargs["dtype"] = str
    return kwargs


def create(parent: Any, name: str, **kwargs: Any) -> Any:
    """``parent.create_dataset(name, shape=..., dtype=..., ...)`` in either zarr."""
    if ZARR3:
        kwargs = _zarr3_kwargs(kwargs)
        data = kwargs.pop("data", None)
        if data is not None:
            data = np.asarray(data)
            kwargs.setdefault("shape", data.shape)
            kwargs.setdefault("dtype", data.dtype)
        created = parent.create_array(name, **kwargs)
        if data is not None:
            created[...] = data
        return created
    return parent.create_dataset(name, **kwargs)


def array(parent: Any, name: str, data: Any, **kwargs: Any) -> Any:
    """``parent[name] = data`` as a zarr array with ``kwargs`` (chunks, compressor...)."""
    if ZARR3:
        return create(parent, name, data=data, **kwargs)
    return parent.create_dataset(name, data=data, **kwargs)


def zarr_store(store: Any) -> Any:
    """What zarr opens: the front end's own store (a :class:`MappingView` unwrapped)."""
    return store.store if isinstance(store, MappingView) else store


def open_zarr(store: Any, mode: str = "r", **kwargs: Any) -> Any:
    """``zarr.open(store, mode=mode)`` for a store of either world."""
    return zarr.open(zarr_store(store), mode=mode, **kwargs)


def open_group(store: Any, mode: str = "r", **kwargs: Any) -> Any:
    """``zarr.open_group(store, mode=mode)`` for a store of either world."""
    return zarr.open_group(zarr_store(store), mode=mode, **kwargs)


def open_array(store: Any, mode: str = "r", **kwargs: Any) -> Any:
    """``zarr.open_array(store, mode=mode)`` for a store of either world."""
    return zarr.open_array(zarr_store(store), mode=mode, **kwargs)


def open_consolidated(store: Any, mode: str = "r", **kwargs: Any) -> Any:
    """``zarr.open_consolidated(store, mode=mode)`` for a store of either world."""
    return zarr.open_consolidated(zarr_store(store), mode=mode, **kwargs)


def tree(group: Any) -> str:
    """Every node of ``group`` read and drawn: zarr 2's ``tree()``; under zarr 3 (whose
    ``tree()`` needs ``rich``) a line per member found by ``members(max_depth=None)``."""
    if not ZARR3:
        return str(group.tree())
    lines = [group.name]
    for path, node in sorted(group.members(max_depth=None), key=lambda m: m[0]):
        kind = f"{node.shape} {node.dtype}" if is_array(node) else "group"
        lines.append(f"{path} {kind}")
    return "\n".join(lines)


def is_array(node: Any) -> bool:
    return isinstance(node, zarr.Array)


def members(group: Any) -> list[tuple[str, Any]]:
    """A group's direct children as ``(name, node)``, sorted by name, in either zarr."""
    if ZARR3:
        return sorted(group.members(), key=lambda m: m[0])
    return sorted(group.items(), key=lambda m: m[0])


def compressors(arr: Any) -> tuple[Any, ...]:
    """An array's compressors: zarr 2's one ``compressor`` (or none) as a tuple."""
    if ZARR3:
        return tuple(arr.compressors)
    return () if arr.compressor is None else (arr.compressor,)


def filters(arr: Any) -> tuple[Any, ...]:
    return tuple(arr.filters or ())


def directory_store(path: str | os.PathLike[str], mode: str = "r") -> Any:
    """zarr's own store over a directory (zarr 2 ``DirectoryStore``, zarr 3 ``LocalStore``)."""
    if ZARR3:
        return zarr.storage.LocalStore(os.fspath(path), read_only=mode == "r")
    return zarr.DirectoryStore(os.fspath(path))


def open_store(url: str | os.PathLike[str], **kwargs: Any) -> Any:
    """The installed front end's store over ``url``, seen as a mapping."""
    store = store_class()(url, **kwargs)
    return MappingView(store) if ZARR3 else store


def as_mapping(store: Any) -> Any:
    """``store`` (of either front end) seen as a mapping."""
    return MappingView(store) if ZARR3 and not isinstance(store, MappingView) else store


class MappingView:
    """The zarr-2 store's mapping calls, answered by a zarr-3 store's async API."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def __reduce__(self) -> tuple[Any, ...]:
        return (MappingView, (self.store,))

    def __repr__(self) -> str:
        return repr(self.store)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, MappingView):
            other = other.store
        return bool(self.store == other)

    def __hash__(self) -> int:
        return hash(self.store)

    def __enter__(self) -> MappingView:
        return self

    def __exit__(self, *exc: object) -> None:
        self.store.close()

    def __getitem__(self, key: str) -> bytes:
        value = ZARR3_API.get(self.store, key)
        if value is None:
            raise KeyNotFoundError("no such key", archive=self.store.url, key=key)
        return value

    def get(self, key: str, default: Any = None) -> Any:
        value = ZARR3_API.get(self.store, key)
        return default if value is None else value

    def getitems(self, keys: Sequence[str], *, contexts: Any = None) -> dict[str, bytes]:
        """All keys at once, as zarr 3 reads a selection: concurrent ``get`` calls."""
        return ZARR3_API.get_many(self.store, keys)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and ZARR3_API.contains(self.store, key)

    def keys(self) -> Iterator[str]:
        return iter(ZARR3_API.list(self.store))

    def keylist(self) -> list[str]:
        return sorted(ZARR3_API.list(self.store))

    def __iter__(self) -> Iterator[str]:
        return self.keys()

    def __len__(self) -> int:
        return len(ZARR3_API.list(self.store))

    def items(self) -> Iterator[tuple[str, bytes]]:
        keys = self.keylist()
        values = self.getitems(keys)
        return iter([(k, values[k]) for k in keys if k in values])

    def listdir(self, path: str | None = None) -> list[str]:
        return sorted(ZARR3_API.list_dir(self.store, (path or "").strip("/")))

    def getsize(self, path: str | None = None) -> int:
        key = (path or "").strip("/")
        if key and key in self:
            return int(ZARR3_API.sync(self.store.getsize(key)))
        return int(ZARR3_API.sync(self.store.getsize_prefix(key)))

    def close(self) -> None:
        self.store.close()


class _Stores:
    """``RemoteZipStore`` for world-neutral tests: the installed front end's store, built
    with the same arguments, seen as a mapping (:func:`open_store`)."""

    def __call__(self, url: str | os.PathLike[str], **kwargs: Any) -> Any:
        return open_store(url, **kwargs)

    def from_source(self, source: Any, **kwargs: Any) -> Any:
        return as_mapping(store_class().from_source(source, **kwargs))

    def __instancecheck__(self, instance: object) -> bool:
        return isinstance(getattr(instance, "store", instance), store_class())


#: Use in place of ``remote_zip_store.RemoteZipStore`` in a test that runs in both worlds.
RemoteZipStore = _Stores()
