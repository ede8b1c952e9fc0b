"""The front-end contract: what every ``RemoteZipStore`` front end does, on every backend.

Modelled on zarr's own ``zarr.testing.store.StoreTests``: a pytest base class whose tests
state the behaviour, subclassed once per place an archive can live. The tests are written
once against a small synchronous adapter, :class:`FrontEnd`, so the same assertions run
against the zarr-2 store (its mapping API, :class:`Zarr2FrontEnd`) and the zarr-3 store
(its async ``Store`` API, :class:`Zarr3FrontEnd`); :func:`installed_front_end` picks the
one of the installed zarr. A :class:`Backend` puts an archive where the store reads it:
:class:`LocalFiles` (the default) or :class:`S3Bucket` (any S3 endpoint).

Run it against your own S3-compatible setup (docs/testing.md)::

    import pytest
    from remote_zip_store.testing import FrontEndContract, S3Bucket, S3Server

    class TestMyMinio(FrontEndContract):
        @pytest.fixture(scope="class")
        @classmethod
        def backend(cls):
            return S3Bucket(S3Server("minio", "http://127.0.0.1:9000", "my-test-bucket",
                                     access_key="...", secret_key="..."))

Every key is compared with :mod:`zipfile` on the same file, and the hierarchy with zarr's
own ``ZipStore``; request counts come from ``store.stats()`` and are exact.
"""

from __future__ import annotations

import abc
import asyncio
import builtins
import contextlib
import importlib
import os
import pickle
import shutil
import uuid
import warnings
import zipfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pytest

from ..archive import _cohort as cohort
from ..errors import (
    ArchiveChangedError,
    CorruptEntryError,
    ReadOnlyStoreError,
    RemoteZipError,
    StoreClosedError,
)
from ..verbs._frontends import front_end as installed_front_end_name
from ..verbs._frontends import zarr_major
from .sample import write_sample_archive
from .servers import S3Server

__all__ = [
    "Backend",
    "FrontEnd",
    "FrontEndContract",
    "FrontEndFixtures",
    "LocalFiles",
    "Placed",
    "S3Bucket",
    "Zarr2FrontEnd",
    "Zarr3FrontEnd",
    "installed_front_end",
    "write_contract_archive",
]

_PACKAGE = __name__.rpartition(".")[0].rpartition(".")[0]

# -- where an archive lives ------------------------------------------------------------------


@dataclass(frozen=True)
class Placed:
    """An archive where a store can read it: its URL and the connection keywords."""

    url: str
    options: dict[str, Any] = field(default_factory=dict)


class Backend(abc.ABC):
    """Puts a local zip where the store reads it (a local path, an S3 object...)."""

    @abc.abstractmethod
    def place(self, path: str) -> Placed:
        """The archive at ``path`` made readable; the same path gives the same URL."""

    @abc.abstractmethod
    def replace(self, placed: Placed, data: bytes) -> None:
        """Overwrite the archive at ``placed`` with ``data`` (a new version, same URL)."""


class LocalFiles(Backend):
    """The archive is the local file itself."""

    def place(self, path: str) -> Placed:
        return Placed(os.path.abspath(path))

    def replace(self, placed: Placed, data: bytes) -> None:
        with open(placed.url, "wb") as f:  # same inode; size and mtime change
            f.write(data)


class S3Bucket(Backend):
    """Each archive uploaded once (under ``t/``) to the bucket of ``server``."""

    def __init__(self, server: S3Server) -> None:
        self.server = server
        self._uploads: dict[str, str] = {}

    def place(self, path: str) -> Placed:
        url = self._uploads.get(path)
        if url is None:
            url = self._uploads[path] = self.server.put_file(path)
        return Placed(url, self.server.store_kwargs())

    def replace(self, placed: Placed, data: bytes) -> None:
        self.server.put(data, key=placed.url.split("/", 3)[3])


# -- how the contract drives a front end ------------------------------------------------------


class FrontEnd(abc.ABC):
    """One front end's store API, driven synchronously.

    Each method is the front end's own call for one behaviour of the contract (zarr 3's
    coroutines run on zarr's event loop, as zarr runs them). Where a front end has no
    such call, the adapter composes it from the calls zarr makes instead (zarr 2: a prefix
    listing filters ``keys()``; a byte range slices the whole value) and says so.
    """

    name: ClassVar[str]
    #: True when the store reads a byte range of an entry without reading it whole.
    ranged: ClassVar[bool]

    @property
    def store_class(self) -> Any:
        """This front end's ``RemoteZipStore`` (its face imports under its own zarr only)."""
        return importlib.import_module(f"{_PACKAGE}.{self.name}").RemoteZipStore

    def open(self, url: str | os.PathLike[str], **kwargs: Any) -> Any:
        return self.store_class(url, **kwargs)

    def from_source(self, source: Any, **kwargs: Any) -> Any:
        return self.store_class.from_source(source, **kwargs)

    @abc.abstractmethod
    def get(self, store: Any, key: str) -> bytes | None:
        """The value of ``key``; None when the store says it is missing."""

    @abc.abstractmethod
    def get_many(self, store: Any, keys: Sequence[str]) -> dict[str, bytes]:
        """All present keys at once, as zarr reads a selection (missing keys left out)."""

    @abc.abstractmethod
    def get_range(self, store: Any, key: str, start: int, end: int) -> bytes | None:
        """Bytes ``start:end`` of ``key``'s value (None when missing)."""

    @abc.abstractmethod
    def fail_missing(self, store: Any, key: str) -> object:
        """The front end's own call that raises for a missing key."""

    @abc.abstractmethod
    def contains(self, store: Any, key: str) -> bool: ...

    @abc.abstractmethod
    def list(self, store: Any) -> builtins.list[str]:
        """Every key, in the store's order."""

    @abc.abstractmethod
    def list_prefix(self, store: Any, prefix: str) -> builtins.list[str]: ...

    @abc.abstractmethod
    def list_dir(self, store: Any, prefix: str) -> builtins.list[str]:
        """The names directly under ``prefix`` (keys and folders), in the store's order."""

    @abc.abstractmethod
    def write(self, store: Any, key: str, value: bytes) -> object: ...

    @abc.abstractmethod
    def delete(self, store: Any, key: str) -> object: ...

    @abc.abstractmethod
    def reference(self, path: str) -> contextlib.AbstractContextManager[Any]:
        """zarr's own ``ZipStore`` over ``path``, read-only (the oracle of the hierarchy)."""

    @abc.abstractmethod
    def children(self, group: Any) -> builtins.list[tuple[str, Any]]:
        """A group's direct members as ``(name, node)``."""

    def open_hierarchy(self, store: Any) -> Any:
        import zarr

        return zarr.open_group(store, mode="r")

    def nodes(self, store: Any) -> dict[str, tuple[Any, ...]]:
        """Every node of the hierarchy in ``store``, read whole:
        ``path -> (kind, attrs, shape, dtype, data)`` (a group's last three are None)."""
        import zarr

        found: dict[str, tuple[Any, ...]] = {}
        todo = [("", self.open_hierarchy(store))]
        while todo:
            path, node = todo.pop()
            if isinstance(node, zarr.Array):
                found[path] = ("array", dict(node.attrs), node.shape, str(node.dtype), node[...])
                continue
            found[path] = ("group", dict(node.attrs), None, None, None)
            todo.extend(
                (f"{path}/{name}".lstrip("/"), child) for name, child in self.children(node)
            )
        return found


class Zarr2FrontEnd(FrontEnd):
    """zarr-python 2.18: a ``MutableMapping`` (``store[key]``, ``getitems``, ``listdir``)."""

    name = "zarr2"
    ranged = False  # zarr 2.18 reads whole chunks: the store has no partial read

    def get(self, store: Any, key: str) -> bytes | None:
        try:
            value: bytes = store[key]
        except KeyError:
            return None
        return value

    def get_many(self, store: Any, keys: Sequence[str]) -> dict[str, bytes]:
        found: dict[str, bytes] = store.getitems(list(keys), contexts={})
        return found

    def get_range(self, store: Any, key: str, start: int, end: int) -> bytes | None:
        value = self.get(store, key)
        return None if value is None else value[start:end]

    def fail_missing(self, store: Any, key: str) -> object:
        return store[key]

    def contains(self, store: Any, key: str) -> bool:
        return key in store

    def list(self, store: Any) -> builtins.list[str]:
        return [*store.keys()]

    def list_prefix(self, store: Any, prefix: str) -> builtins.list[str]:
        # zarr 2 has no prefix listing: it filters keys() (as zarr.storage.rmdir does)
        return [key for key in store.keys() if key.startswith(prefix)]  # noqa: SIM118

    def list_dir(self, store: Any, prefix: str) -> builtins.list[str]:
        found: builtins.list[str] = store.listdir(prefix)
        return found

    def write(self, store: Any, key: str, value: bytes) -> object:
        store[key] = value
        return None

    def delete(self, store: Any, key: str) -> object:
        del store[key]
        return None

    def reference(self, path: str) -> contextlib.AbstractContextManager[Any]:
        import zarr

        reference: contextlib.AbstractContextManager[Any] = zarr.ZipStore(path, mode="r")
        return reference

    def children(self, group: Any) -> builtins.list[tuple[str, Any]]:
        return sorted(group.items(), key=lambda member: str(member[0]))


class Zarr3FrontEnd(FrontEnd):
    """zarr-python 3: the async ``zarr.abc.store.Store`` API, run on zarr's event loop."""

    name = "zarr3"
    ranged = True

    @staticmethod
    def sync(coroutine: Any) -> Any:
        from zarr.core.sync import sync

        return sync(coroutine)

    @staticmethod
    def _bytes(value: Any) -> bytes | None:
        return None if value is None else bytes(value.to_bytes())

    def get(self, store: Any, key: str) -> bytes | None:
        from zarr.core.buffer import default_buffer_prototype

        return self._bytes(self.sync(store.get(key, default_buffer_prototype())))

    def get_many(self, store: Any, keys: Sequence[str]) -> dict[str, bytes]:
        """Concurrent ``get`` calls, as zarr 3 reads the chunks of a selection."""
        from zarr.core.buffer import default_buffer_prototype

        async def all_of() -> builtins.list[Any]:
            prototype = default_buffer_prototype()
            return await asyncio.gather(*(store.get(key, prototype) for key in keys))

        values = self.sync(all_of())
        return {
            key: bytes(value.to_bytes())
            for key, value in zip(keys, values, strict=True)
            if value is not None
        }

    def get_range(self, store: Any, key: str, start: int, end: int) -> bytes | None:
        from zarr.abc.store import RangeByteRequest
        from zarr.core.buffer import default_buffer_prototype

        request = RangeByteRequest(start, end)
        return self._bytes(self.sync(store.get(key, default_buffer_prototype(), request)))

    def fail_missing(self, store: Any, key: str) -> object:
        return self.sync(store.getsize(key))

    def contains(self, store: Any, key: str) -> bool:
        return bool(self.sync(store.exists(key)))

    def _collect(self, listing: Any) -> builtins.list[str]:
        async def collect() -> builtins.list[str]:
            return [key async for key in listing]

        found: builtins.list[str] = self.sync(collect())
        return found

    def list(self, store: Any) -> builtins.list[str]:
        return self._collect(store.list())

    def list_prefix(self, store: Any, prefix: str) -> builtins.list[str]:
        return self._collect(store.list_prefix(prefix))

    def list_dir(self, store: Any, prefix: str) -> builtins.list[str]:
        return self._collect(store.list_dir(prefix))

    def write(self, store: Any, key: str, value: bytes) -> object:
        from zarr.core.buffer import default_buffer_prototype

        return self.sync(store.set(key, default_buffer_prototype().buffer.from_bytes(value)))

    def delete(self, store: Any, key: str) -> object:
        return self.sync(store.delete(key))

    def reference(self, path: str) -> contextlib.AbstractContextManager[Any]:
        from zarr.storage import ZipStore

        reference = ZipStore(path, mode="r")
        reference._sync_open()  # zarr 3.1's ZipStore lists only once open
        return contextlib.closing(reference)

    def children(self, group: Any) -> builtins.list[tuple[str, Any]]:
        return sorted(group.members(), key=lambda member: str(member[0]))


def installed_front_end() -> FrontEnd:
    """The adapter of the installed zarr's front end."""
    return Zarr3FrontEnd() if installed_front_end_name() == "zarr3" else Zarr2FrontEnd()


# -- the archive the contract reads -------------------------------------------------------------

#: Entries added beside the hierarchy: a deflated one, and a deep path that is not zarr's.
EXTRA_ENTRIES: dict[str, tuple[bytes, int]] = {
    "notes/readme.txt": (b"the front-end contract reads this deflated entry.\n" * 40, 8),
    "notes/deep/er/est/bytes.bin": (bytes(range(256)) * 16, 0),
}


def zarr_formats() -> tuple[int, ...]:
    """The zarr formats the installed zarr writes: 2 (zarr 2); 2 and 3 (zarr 3)."""
    return (2, 3) if zarr_major() >= 3 else (2,)


def write_contract_archive(path: str | os.PathLike[str], zarr_format: int = 2) -> str:
    """The contract's archive at ``path``: the sample hierarchy (3 channels of 16 chunks of
    15 KiB, consolidated, written by zarr's own ``ZipStore``) after two plain entries."""
    path = os.fspath(path)
    hierarchy = f"{path}.{uuid.uuid4().hex}.zarr.zip"
    write_sample_archive(
        hierarchy, channels=3, seconds=240, epoch_seconds=15, zarr_format=zarr_format
    )
    try:
        with (
            zipfile.ZipFile(hierarchy) as source,
            zipfile.ZipFile(path, "w") as target,
            warnings.catch_warnings(),
        ):
            warnings.simplefilter("ignore")  # zarr 3 writes the root zarr.json twice
            for name, (data, method) in EXTRA_ENTRIES.items():
                target.writestr(name, data, compress_type=method)
            for info in source.infolist():  # the hierarchy, in the order zarr wrote it
                target.writestr(info, source.read(info))
    finally:
        os.remove(hierarchy)
    return path


def zip_entries(path: str) -> dict[str, bytes]:
    """What :mod:`zipfile` reads for every key (a duplicated name: the newest entry)."""
    with zipfile.ZipFile(path) as z:
        return {name: z.read(name) for name in z.namelist() if not name.endswith("/")}


def children_in(names: Sequence[str], prefix: str) -> list[str]:
    """The sorted names directly under folder ``prefix`` of ``names``."""
    start = prefix.strip("/") + "/" if prefix.strip("/") else ""
    return sorted({name[len(start) :].split("/", 1)[0] for name in names if name.startswith(start)})


def requests(store: Any) -> int:
    return int(store.stats().requests)


#: Read options of the ``store`` fixture: how much of the archive the open's reads buffer.
READ_OPTIONS: dict[str, dict[str, int]] = {
    # the entries near the end come with the open's tail GET, the first with its head GET
    "default": {},
    # a 1 KiB tail and no head: every entry is a GET of its own (or a coalesced one)
    "small_tail": {"tail_size": 1024, "head_size": 0},
    # a 1 KiB tail and a 16 KiB head: the first entries are served from the head
    "small_tail_and_head": {"tail_size": 1024, "head_size": 16 * 1024},
}

#: No read buffered at open, no read-ahead: one GET per entry or per coalesced run.
UNBUFFERED: dict[str, int] = {"tail_size": 1024, "head_size": 0, "readahead": 0}

OpenStore = Callable[..., Any]


# -- the contract -------------------------------------------------------------------------------


class FrontEndFixtures:
    """The fixtures of :class:`FrontEndContract` that do not choose the archive: the
    adapter (``front_end``), where archives live (``backend``) and ``open_store``.
    A suite of its own tests over these (a front end's own API) subclasses this."""

    @pytest.fixture(scope="class")
    @classmethod
    def front_end(cls) -> FrontEnd:
        return installed_front_end()

    @pytest.fixture(scope="class")
    @classmethod
    def backend(cls) -> Backend:
        return LocalFiles()

    @pytest.fixture(autouse=True)
    def _fresh_process(self) -> Iterator[None]:
        """No cohort hint learned from another archive sizes this test's opens."""
        cohort.clear()
        yield
        cohort.clear()

    @pytest.fixture
    def open_store(self, front_end: FrontEnd, backend: Backend) -> Iterator[OpenStore]:
        """``open_store(path, **options)``: the front end's store over ``path``, placed on
        the backend; closed after the test."""
        opened: list[Any] = []

        def open_placed(path: str, **options: Any) -> Any:
            placed = backend.place(path)
            store = front_end.open(placed.url, **placed.options, **options)
            opened.append(store)
            return store

        yield open_placed
        for store in opened:
            store.close()


class FrontEndContract(FrontEndFixtures):
    """The behaviour every front end shares, on one backend.

    A subclass may override the fixtures ``backend`` (where archives live: local files
    unless told), ``front_end`` (the adapter: the installed zarr's) and ``archive_path``
    (the archive read: :func:`write_contract_archive`, zarr format 2, and 3 under zarr 3).
    """

    @pytest.fixture(scope="class", params=zarr_formats(), ids=lambda f: f"format{f}")
    @classmethod
    def archive_path(
        cls, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
    ) -> str:
        folder = tmp_path_factory.mktemp("contract")
        return write_contract_archive(folder / "contract.zip", zarr_format=request.param)

    @pytest.fixture(scope="class")
    @classmethod
    def entries(cls, archive_path: str) -> dict[str, bytes]:
        return zip_entries(archive_path)

    @pytest.fixture(params=sorted(READ_OPTIONS))
    def store(
        self, request: pytest.FixtureRequest, open_store: OpenStore, archive_path: str
    ) -> Any:
        return open_store(archive_path, **READ_OPTIONS[request.param])

    @staticmethod
    def chunks(entries: dict[str, bytes], array: str = "signals/ch01") -> list[str]:
        """The chunk keys of ``array`` in either zarr format, in chunk order."""
        found = [k for k in entries if k.startswith(f"{array}/") and k.rsplit("/", 1)[1].isdigit()]
        return sorted(found, key=lambda k: int(k.rsplit("/", 1)[1]))

    # -- reading keys ------------------------------------------------------------------------
    def test_every_key_reads_like_zipfile(
        self, front_end: FrontEnd, store: Any, entries: dict[str, bytes]
    ) -> None:
        assert len(entries) > 50
        for key, value in entries.items():
            assert front_end.get(store, key) == value, key

    def test_get_many_reads_like_zipfile_and_leaves_out_missing_keys(
        self, front_end: FrontEnd, store: Any, entries: dict[str, bytes]
    ) -> None:
        present = [k for k in entries if k.startswith(("signals/ch0", "notes/"))]
        missing = ["signals/ch00/99", "nope", "notes", "notes/deep/"]
        got = front_end.get_many(store, [*present, *missing, present[0]])
        assert got == {key: entries[key] for key in present}
        assert front_end.get_many(store, []) == {}
        assert front_end.get_many(store, missing) == {}

    def test_missing_keys_are_absent_and_the_error_names_archive_and_key(
        self, front_end: FrontEnd, store: Any
    ) -> None:
        before = requests(store)
        for key in (
            "nope",
            "signals/ch00/99",
            "signals",
            "signals/ch00",
            "signals/",
            "notes/deep",
            "",
        ):
            assert front_end.get(store, key) is None, key
            assert not front_end.contains(store, key), key
            with pytest.raises(KeyError) as info:
                front_end.fail_missing(store, key)
            error = info.value
            assert isinstance(error, RemoteZipError)
            assert (error.archive, error.key) == (store.url, key)
            assert store.url in str(error) and repr(key) in str(error)
        assert requests(store) == before  # a missing key is known from the directory

    def test_hierarchy_reads_like_zarrs_zipstore(
        self, front_end: FrontEnd, store: Any, archive_path: str
    ) -> None:
        with front_end.reference(archive_path) as reference:
            want = front_end.nodes(reference)
        got = front_end.nodes(store)
        assert sorted(got) == sorted(want)
        assert len(got) == 5  # the root, signals and its three channels
        for path, node in want.items():
            assert got[path][:-1] == node[:-1], path
            np.testing.assert_array_equal(got[path][-1], node[-1])

    def test_byte_ranges_read_like_slices(
        self, front_end: FrontEnd, open_store: OpenStore, archive_path: str, entries: Any
    ) -> None:
        """A ranged front end reads a small range of a stored entry without its other bytes
        (one GET); the others read the entry whole and slice it."""
        store = open_store(archive_path, **UNBUFFERED)
        key = self.chunks(entries)[5]
        size = len(entries[key])
        for start, end in ((100, 164), (0, 1), (size - 10, size), (0, size), (7, 7)):
            with store.measure() as moved:
                got = front_end.get_range(store, key, start, end)
            assert got == entries[key][start:end], (start, end)
            assert moved.requests <= 1
            if front_end.ranged and (start, end) == (100, 164):
                assert moved.requests == 1 and moved.bytes < size // 4
        assert front_end.get_range(store, "signals/ch00/99", 0, 1) is None

    # -- listing -----------------------------------------------------------------------------
    def test_contains_and_listings_match_zipfile_without_a_request(
        self, front_end: FrontEnd, store: Any, entries: dict[str, bytes]
    ) -> None:
        before = requests(store)
        keys = sorted(entries)
        assert front_end.list(store) == keys  # sorted, each key once
        assert all(front_end.contains(store, key) for key in keys)
        folders = {key.rpartition("/")[0] for key in keys}
        for prefix in ("", "signals/", "signals/ch0", "notes/deep/", "nope/", *folders):
            want = [key for key in keys if key.startswith(prefix)]
            assert sorted(front_end.list_prefix(store, prefix)) == want, prefix
        for path in (*folders, *keys, "nope", "signals/nope", "notes/deep/er/est/x/y"):
            assert front_end.list_dir(store, path) == children_in(keys, path), path
            assert front_end.list_dir(store, path + "/") == children_in(keys, path), path
        assert requests(store) == before

    def test_a_plain_zip_lists_like_zarrs_store_tests(
        self, front_end: FrontEnd, open_store: OpenStore, tmp_path: Any
    ) -> None:
        """zarr's ``StoreTests.test_hierarchy`` expectations, the read-only part."""
        path = tmp_path / "plain.zip"
        with zipfile.ZipFile(path, "w") as z:
            for key in ("a", "b", "c/d", "c/e/f", "c/e/g"):
                z.writestr(key, key[-1].encode() * 3)  # "aaa", "bbb", "ddd", ...
        store = open_store(str(path))
        for key in ("a", "b", "c/d", "c/e/f", "c/e/g"):
            assert front_end.contains(store, key)
            assert front_end.get(store, key) == key[-1].encode() * 3
        for key in ("c", "c/", "c/e", "c/e/", "c/d/x"):
            assert not front_end.contains(store, key)
            assert front_end.get(store, key) is None
        assert front_end.list_dir(store, "") == ["a", "b", "c"]
        assert front_end.list_dir(store, "c") == ["d", "e"]
        assert front_end.list_dir(store, "c/e") == ["f", "g"]
        for path_ in ("c/e/f", "x", "a/x", "c/x/y", "c/d/y/z"):
            assert front_end.list_dir(store, path_) == []
        assert front_end.list_prefix(store, "c/e/") == ["c/e/f", "c/e/g"]

    # -- requests ----------------------------------------------------------------------------
    def test_requests_are_exact(
        self, front_end: FrontEnd, open_store: OpenStore, archive_path: str, entries: Any
    ) -> None:
        """Metadata after the open, a far chunk, neighbouring chunks: exact request counts."""
        store = open_store(archive_path)
        metadata = [k for k in entries if k.rpartition("/")[2] in METADATA_NAMES]
        with store.measure() as moved:
            for key in metadata:
                assert front_end.get(store, key) == entries[key], key
        assert moved.requests == 0  # served from the open's reads

        store = open_store(archive_path, **UNBUFFERED)
        far = self.chunks(entries)
        with store.measure() as moved:
            assert front_end.get(store, far[8]) == entries[far[8]]
        assert moved.requests == 1
        neighbours = far[:8]  # adjacent in the zip: one coalesced GET
        with store.measure() as moved:
            assert front_end.get_many(store, neighbours) == {k: entries[k] for k in neighbours}
        assert moved.requests == 1
        with store.measure() as moved:
            assert front_end.get(store, "notes/readme.txt") == entries["notes/readme.txt"]
            assert front_end.get(store, "notes/readme.txt") == entries["notes/readme.txt"]
        assert moved.requests == 2  # a chunk is read each time it is asked for

    @pytest.mark.parametrize("max_workers", [1, 4])
    def test_without_coalescing_each_entry_is_one_get(
        self,
        front_end: FrontEnd,
        open_store: OpenStore,
        archive_path: str,
        entries: dict[str, bytes],
        max_workers: int,
    ) -> None:
        keys = [*self.chunks(entries, "signals/ch00")[:6], *self.chunks(entries)[:6]]
        store = open_store(archive_path, coalesce_max=1, max_workers=max_workers, **UNBUFFERED)
        with store.measure() as moved:
            got = front_end.get_many(store, [*keys, "signals/ch01/99"])
        assert got == {key: entries[key] for key in keys}
        assert moved.requests == len(keys)

    def test_reads_from_many_threads_at_once(
        self, front_end: FrontEnd, store: Any, entries: dict[str, bytes]
    ) -> None:
        keys = sorted(entries)
        chunks = [k for k in keys if k.startswith("signals/")]

        def one(i: int) -> bool:
            if i % 2:
                return front_end.get_many(store, chunks) == {k: entries[k] for k in chunks}
            return all(front_end.get(store, k) == entries[k] for k in keys[i % 7 :: 5])

        with ThreadPoolExecutor(max_workers=8) as pool:
            assert all(pool.map(one, range(24)))

    # -- read-only ---------------------------------------------------------------------------
    def test_writes_and_deletes_are_refused_naming_archive_and_key(
        self, front_end: FrontEnd, store: Any, entries: dict[str, bytes]
    ) -> None:
        key = sorted(entries)[0]
        attempts: list[tuple[str, Callable[[], object]]] = [
            (key, lambda: front_end.write(store, key, b"{}")),
            ("new/key", lambda: front_end.write(store, "new/key", b"x")),
            (key, lambda: front_end.delete(store, key)),
        ]
        for named, attempt in attempts:
            with pytest.raises(ReadOnlyStoreError) as info:
                attempt()
            assert isinstance(info.value, PermissionError)
            assert (info.value.archive, info.value.key) == (store.url, named)
            assert store.url in str(info.value) and repr(named) in str(info.value)
        assert front_end.list(store) == sorted(entries)
        assert front_end.get(store, key) == entries[key]

    # -- errors ------------------------------------------------------------------------------
    def test_a_corrupt_entry_is_an_error_naming_archive_and_key(
        self, front_end: FrontEnd, open_store: OpenStore, archive_path: str, tmp_path: Any
    ) -> None:
        entries = zip_entries(archive_path)
        key = self.chunks(entries)[3]
        with open(archive_path, "rb") as f:
            data = bytearray(f.read())
        data[data_offset(archive_path, key) + 10] ^= 0xFF  # the CRC-32 no longer matches
        path = tmp_path / "corrupt.zip"
        path.write_bytes(data)
        store = open_store(str(path), **UNBUFFERED)
        reads: list[Callable[[], object]] = [
            lambda: front_end.get(store, key),
            lambda: front_end.get_many(store, [key]),
        ]
        for read in reads:
            with pytest.raises(CorruptEntryError) as info:
                read()
            assert (info.value.archive, info.value.key) == (store.url, key)
            assert store.url in str(info.value) and repr(key) in str(info.value)
        other = self.chunks(entries)[9]
        assert front_end.get(store, other) == entries[other]  # the others still read

    def test_a_replaced_archive_is_refused_not_mixed(
        self,
        front_end: FrontEnd,
        backend: Backend,
        open_store: OpenStore,
        archive_path: str,
        entries: dict[str, bytes],
        tmp_path: Any,
    ) -> None:
        """The store is pinned to the version it opened (S3: the ETag; a file: size, mtime,
        inode); a pickle carries the pin."""
        path = str(tmp_path / "pinned.zip")
        shutil.copyfile(archive_path, path)
        keys = self.chunks(entries)
        store = open_store(path, **UNBUFFERED)
        assert front_end.get(store, keys[0]) == entries[keys[0]]
        blob = pickle.dumps(store)
        with open(archive_path, "rb") as f:
            backend.replace(backend.place(path), f.read() + b"a new version")
        for read in (
            lambda: front_end.get(store, keys[1]),
            lambda: front_end.get_many(store, keys),
        ):
            with pytest.raises(ArchiveChangedError) as info:
                read()
            assert store.url in str(info.value)
        with pytest.raises(ArchiveChangedError):
            front_end.get(pickle.loads(blob), keys[2])

    # -- lifecycle ---------------------------------------------------------------------------
    def test_context_manager_and_close(
        self, front_end: FrontEnd, open_store: OpenStore, archive_path: str, entries: Any
    ) -> None:
        key = self.chunks(entries)[0]
        with open_store(archive_path) as store:
            assert not store.closed
            assert front_end.get(store, key) == entries[key]
        assert store.closed
        store.close()  # closing twice is harmless
        uses: list[Callable[[], object]] = [
            lambda: front_end.get(store, key),
            lambda: front_end.get(store, "no-such-key"),
            lambda: front_end.get_many(store, [key]),
        ]
        for use in uses:
            with pytest.raises(ValueError) as info:
                use()
            assert isinstance(info.value, StoreClosedError)
            assert store.url in str(info.value) and "closed" in str(info.value)

    # -- identity ----------------------------------------------------------------------------
    def test_equal_when_reading_the_same_archive(
        self, front_end: FrontEnd, open_store: OpenStore, archive_path: str, tmp_path: Any
    ) -> None:
        a, b = open_store(archive_path), open_store(archive_path)
        assert a == b and hash(a) == hash(b) and a is not b
        c = front_end.from_source(a.archive.source)  # a's source: closed with a
        assert a == c and hash(a) == hash(c)
        other = tmp_path / "other.zip"
        with zipfile.ZipFile(other, "w") as z:
            z.writestr(".zgroup", b'{"zarr_format": 2}')
        assert a != open_store(str(other))
        assert a != "not a store"
        with front_end.reference(archive_path) as reference:
            assert a != reference

    def test_repr_and_str_name_the_archive(self, store: Any) -> None:
        assert repr(store).startswith("RemoteZipStore(")
        for text in (repr(store), str(store)):
            assert store.url in text

    # -- pickling ----------------------------------------------------------------------------
    def test_pickle_round_trip_makes_no_request(
        self, front_end: FrontEnd, store: Any, entries: dict[str, bytes]
    ) -> None:
        blob = pickle.dumps(store)
        clone = pickle.loads(blob)
        assert isinstance(clone, type(store))
        assert requests(clone) == 0
        # Deterministic (dask's tokenize compares pickles), also after a round trip.
        assert pickle.dumps(store) == blob
        assert pickle.dumps(clone) == blob
        assert clone == store and repr(clone) == repr(store)
        # The first use reads the directory; then it serves the same bytes.
        keys = self.chunks(entries)
        assert front_end.list(clone) == sorted(entries)
        assert front_end.get(clone, keys[3]) == entries[keys[3]]
        assert front_end.get_many(clone, keys[:2]) == {k: entries[k] for k in keys[:2]}
        assert pickle.dumps(clone) == blob  # reading changes nothing that is pickled
        clone.close()
        assert not store.closed  # closing a clone leaves the original open

    def test_a_pickled_zarr_array_reads_back(
        self, front_end: FrontEnd, store: Any, archive_path: str
    ) -> None:
        array = front_end.open_hierarchy(store)["signals/ch02"]
        clone = pickle.loads(pickle.dumps(array))
        with front_end.reference(archive_path) as reference:
            want = front_end.open_hierarchy(reference)["signals/ch02"][...]
        np.testing.assert_array_equal(clone[...], want)


#: The metadata names of zarr formats 2 and 3.
METADATA_NAMES = frozenset({".zgroup", ".zarray", ".zattrs", ".zmetadata", "zarr.json"})


def data_offset(path: str | os.PathLike[str], key: str) -> int:
    """Where ``key``'s data starts in the zip at ``path`` (after its local header)."""
    with zipfile.ZipFile(path) as z:
        info = z.getinfo(key)
    with open(path, "rb") as f:
        f.seek(info.header_offset + 26)
        lengths = f.read(4)
    return (
        info.header_offset
        + 30
        + int.from_bytes(lengths[:2], "little")
        + int.from_bytes(lengths[2:], "little")
    )
