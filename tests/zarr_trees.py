"""zarr format-2 hierarchies written with zarr's own ``ZipStore`` (of either zarr), and a
comparison helper.

Each builder takes the root group and fills it; :func:`write_zip` turns it into a
``.zip`` file. :func:`assert_same_hierarchy` checks that a group opened through
``RemoteZipStore`` reads exactly like the same file opened through ``ZipStore``.
"""

from __future__ import annotations

import os
import warnings
import zipfile
from typing import Any

import numcodecs
import numpy as np
import zarr

from .worlds import ZARR3, compressors, create, filters, group, is_array, members, zip_store


def write_zip(
    path: str | os.PathLike[str],
    build: Any,
    *,
    compression: int = zipfile.ZIP_STORED,
    consolidate: bool = False,
) -> str:
    """Write ``build(root_group)`` (zarr format 2) into a new zip with the installed zarr's
    ``ZipStore``; return the path."""
    path = os.fspath(path)
    if os.path.exists(path):
        os.remove(path)
    with zip_store(path, mode="w", compression=compression) as store:
        build(group(store))
        if consolidate:
            zarr.consolidate_metadata(store)
    return path


def rich_tree(root: Any) -> None:
    """Groups, nested groups, attrs, missing chunks, several dtypes and compressors."""
    rng = np.random.default_rng(7)
    root.attrs.update({"title": "rich", "version": 2, "nested": {"a": [1, 2, 3]}})
    signals = root.create_group("signals")
    signals.attrs["sampling_rate"] = 256.0
    for i, compressor in enumerate(
        [
            None,
            numcodecs.Zlib(level=1),
            numcodecs.Blosc(cname="lz4", clevel=5, shuffle=numcodecs.Blosc.SHUFFLE),
            numcodecs.BZ2(level=9),
            numcodecs.LZMA(),
            numcodecs.GZip(level=6),
        ]
    ):
        arr = create(
            signals,
            f"ch{i:02d}",
            shape=(1000,),
            chunks=(128,),
            dtype="f4",
            compressor=compressor,
        )
        arr[:] = rng.standard_normal(1000).astype("f4")
        arr.attrs["unit"] = "uV"
    # Missing chunks: only part of the array is ever written -> fill_value elsewhere.
    sparse = create(root, "sparse", shape=(40, 50), chunks=(10, 10), dtype="i4", fill_value=-7)
    sparse[0:10, 0:10] = 1
    sparse[30:40, 40:50] = np.arange(100, dtype="i4").reshape(10, 10)
    # 2-D chunks with "/" as the dimension separator (nested chunk keys).
    nested = root.create_group("deep/er/est")
    nested.attrs["depth"] = 3
    slash = create(
        nested,
        "slash",
        shape=(30, 20),
        chunks=(7, 6),
        dtype="u2",
        dimension_separator="/",
        compressor=numcodecs.Zstd(level=3),
    )
    slash[:] = np.arange(600, dtype="u2").reshape(30, 20)
    # String dtypes: fixed unicode, fixed bytes, variable-length UTF-8 objects.
    text = root.create_group("text")
    fixed_u = create(text, "fixed_u", shape=(6,), chunks=(4,), dtype="U5")
    fixed_u[:] = ["a", "bb", "ccc", "dddd", "eeeee", "ü€"]
    fixed_s = create(text, "fixed_s", shape=(5,), chunks=(2,), dtype="S3")
    fixed_s[:] = [b"x", b"yy", b"zzz", b"", b"\x00a"]
    vlen = create(
        text, "vlen", shape=(7,), chunks=(3,), dtype=object, object_codec=numcodecs.VLenUTF8()
    )
    vlen[:] = np.array(
        ["", "short", "a much longer string", "ünïcödé", "日本語", "x" * 300, "end"], dtype=object
    )
    # A 0-d array and an empty group.
    scalar = create(root, "scalar", shape=(), dtype="f8")
    scalar[...] = 3.25
    root.create_group("empty_group")
    # Written last, so it sits at the end of the zip: ~320 KB of incompressible data puts
    # the other entries outside a small tail read (they then need range GETs).
    big = create(root, "big", shape=(40_000,), chunks=(4_000,), dtype="f8", compressor=None)
    big[:] = rng.standard_normal(40_000)


def write_array_zip(path: str | os.PathLike[str]) -> str:
    """A zip whose root is a single array (for ``zarr.open_array``)."""
    path = os.fspath(path)
    if os.path.exists(path):
        os.remove(path)
    with zip_store(path, mode="w") as store:
        if ZARR3:
            arr = zarr.create_array(
                store, shape=(25, 25), chunks=(10, 10), dtype="f8", fill_value=np.nan, zarr_format=2
            )
        else:
            arr = zarr.create(
                shape=(25, 25), chunks=(10, 10), dtype="f8", store=store, fill_value=np.nan
            )
        arr[:20, :] = np.arange(500, dtype="f8").reshape(20, 25)
        arr.attrs["kind"] = "root array"
    return path


def write_rewritten_chunk_zip(path: str | os.PathLike[str]) -> str:
    """A zip with duplicate entries: a chunk written twice through ``ZipStore``."""
    path = os.fspath(path)
    if os.path.exists(path):
        os.remove(path)
    with zip_store(path, mode="w") as store:
        root = group(store)
        arr = create(root, "a", shape=(20,), chunks=(10,), dtype="i8")
        arr[:] = 1
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "Duplicate name" from zipfile
            arr[:] = 2
            arr[5] = 99
            root.attrs["written"] = "twice"
            root.attrs["written"] = "three times"
    return path


def walk_arrays(group: Any, prefix: str = "") -> dict[str, Any]:
    """Every array in a group, recursively, by path."""
    found: dict[str, Any] = {}
    for name, item in members(group):
        path = f"{prefix}{name}"
        if is_array(item):
            found[path] = item
        else:
            found.update(walk_arrays(item, path + "/"))
    return found


def walk_groups(group: Any, prefix: str = "") -> dict[str, Any]:
    found: dict[str, Any] = {}
    for name, item in members(group):
        if is_array(item):
            continue
        path = f"{prefix}{name}"
        found[path] = item
        found.update(walk_groups(item, path + "/"))
    return found


def assert_same_array(ours: Any, ref: Any) -> None:
    assert ours.shape == ref.shape
    assert ours.chunks == ref.chunks
    assert ours.dtype == ref.dtype
    assert compressors(ours) == compressors(ref)
    assert filters(ours) == filters(ref)
    assert ours.order == ref.order
    assert dict(ours.attrs) == dict(ref.attrs)
    assert ours.nchunks_initialized == ref.nchunks_initialized
    if ref.fill_value is None or (isinstance(ref.fill_value, float) and np.isnan(ref.fill_value)):
        assert ours.fill_value is None or np.isnan(ours.fill_value)
    else:
        assert ours.fill_value == ref.fill_value
    got, want = ours[...], ref[...]
    assert type(got) is type(want)
    if isinstance(want, np.ndarray):
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)
    else:
        assert got == want or (np.isnan(got) and np.isnan(want))


def _outline(group: Any, prefix: str = "") -> list[str]:
    """The tree as lines ``path kind shape dtype``: zarr 2's ``tree()`` without its
    drawing (zarr 3's ``tree()`` needs ``rich``)."""
    lines = []
    for name, item in members(group):
        path = f"{prefix}{name}"
        if is_array(item):
            lines.append(f"{path} array {item.shape} {item.dtype}")
        else:
            lines.append(f"{path} group")
            lines.extend(_outline(item, path + "/"))
    return lines


def assert_same_hierarchy(ours: Any, ref: Any, *, same_name: bool = True) -> None:
    """Same tree, same attributes, same arrays (metadata and every value).

    ``same_name=False`` ignores the groups' own names, for a group compared with a
    subgroup of the reference.
    """
    if same_name:
        assert ours.name == ref.name
    if not ZARR3:
        ours_tree, ref_tree = str(ours.tree()).splitlines(), str(ref.tree()).splitlines()
        if not same_name:
            ours_tree, ref_tree = ours_tree[1:], ref_tree[1:]
        assert ours_tree == ref_tree
    assert _outline(ours) == _outline(ref)
    assert dict(ours.attrs) == dict(ref.attrs)
    ours_groups, ref_groups = walk_groups(ours), walk_groups(ref)
    assert sorted(ours_groups) == sorted(ref_groups)
    for path, ref_group in ref_groups.items():
        assert dict(ours_groups[path].attrs) == dict(ref_group.attrs), path
    ours_arrays, ref_arrays = walk_arrays(ours), walk_arrays(ref)
    assert sorted(ours_arrays) == sorted(ref_arrays)
    assert ref_arrays, "the reference hierarchy has no arrays: the test would prove nothing"
    for path, array in ref_arrays.items():
        assert_same_array(ours_arrays[path], array)
