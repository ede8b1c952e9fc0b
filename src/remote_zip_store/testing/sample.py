"""A small EEG-like zarr hierarchy in a zip: the demo's archive and a test fixture.

One sleep recording: ``signals/chNN`` float32 arrays (one chunk per epoch of
30 s), attributes on the root, consolidated metadata. Written with the installed
zarr's own ``ZipStore``, exactly as labs produce these archives: zarr format 2
under zarr-python 2; under zarr-python 3 format 2 or 3 (``zarr_format``).
"""

from __future__ import annotations

import os
import warnings
import zipfile
from typing import Any

import numpy as np
import zarr


def zarr_major() -> int:
    """The installed zarr-python's major version (2 or 3)."""
    return int(zarr.__version__.split(".", 1)[0])


def write_sample_archive(
    path: str | os.PathLike[str],
    *,
    channels: int = 4,
    seconds: int = 300,
    rate: int = 256,
    epoch_seconds: int = 30,
    compression: int = zipfile.ZIP_STORED,
    consolidated: bool = True,
    seed: int = 7,
    zarr_format: int = 2,
) -> str:
    """Write the archive to ``path`` and return the path.

    ``zarr_format=3`` needs zarr-python 3 (a ``ValueError`` under zarr 2).
    """
    if zarr_format not in (2, 3):
        raise ValueError(f"zarr_format must be 2 or 3, not {zarr_format!r}")
    if zarr_format == 3 and zarr_major() < 3:
        raise ValueError(f"zarr format 3 needs zarr-python >= 3 (installed: {zarr.__version__})")
    path = os.fspath(path)
    if os.path.exists(path):
        os.remove(path)
    rng = np.random.default_rng(seed)
    samples = seconds * rate
    chunk = epoch_seconds * rate
    attrs = {"subject": "S001", "sampling_rate_hz": rate, "channels": channels, "seconds": seconds}
    data = [
        np.cumsum(rng.standard_normal(samples, dtype=np.float32)).astype(np.float32)
        for _ in range(channels)
    ]
    if zarr_major() >= 3:
        _write_zarr3(path, attrs, data, chunk, compression, consolidated, zarr_format)
        return path
    with zarr.ZipStore(path, mode="w", compression=compression) as store:
        root = zarr.group(store=store)
        root.attrs.update(attrs)
        signals = root.create_group("signals")
        for c, values in enumerate(data):
            array = signals.create_dataset(
                f"ch{c:02d}", shape=(samples,), chunks=(chunk,), dtype="f4", compressor=None
            )
            array[:] = values
            # xarray's zarr-2 convention: without dimension names open_zarr refuses the array.
            array.attrs.update({"unit": "uV", "_ARRAY_DIMENSIONS": ["time"]})
        if consolidated:
            zarr.consolidate_metadata(store)
    return path


def _write_zarr3(
    path: str,
    attrs: dict[str, Any],
    data: list[Any],
    chunk: int,
    compression: int,
    consolidated: bool,
    zarr_format: int,
) -> None:
    """The same hierarchy through zarr 3's API (uncompressed chunks, as under zarr 2)."""
    from zarr.storage import ZipStore

    # zarr 3's ZipStore rewrites metadata as zarr 2's did (zipfile warns of each duplicate);
    # attributes given at creation keep those few.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        store = ZipStore(path, mode="w", compression=compression)
        try:
            root = zarr.create_group(store=store, zarr_format=zarr_format, attributes=attrs)
            signals = root.create_group("signals")
            for c, values in enumerate(data):
                options: dict[str, Any]
                array_attrs: dict[str, Any]
                if zarr_format == 3:
                    options = {"dimension_names": ["time"], "compressors": None}
                    array_attrs = {"unit": "uV"}
                else:  # xarray's zarr-2 convention: dimension names in the attributes
                    options = {"compressors": None}
                    array_attrs = {"unit": "uV", "_ARRAY_DIMENSIONS": ["time"]}
                array = signals.create_array(
                    f"ch{c:02d}",
                    shape=values.shape,
                    chunks=(chunk,),
                    dtype="f4",
                    attributes=array_attrs,
                    **options,
                )
                array[:] = values
            if consolidated:
                zarr.consolidate_metadata(store)
        finally:
            store.close()
