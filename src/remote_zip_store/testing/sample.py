"""A small EEG-like zarr hierarchy in a zip: the demo's archive and a test fixture.

One sleep recording: ``signals/chNN`` float32 arrays (one chunk per epoch of
30 s), attributes on the root, consolidated metadata. Written with zarr's own
``ZipStore``, exactly as labs produce these archives.
"""

from __future__ import annotations

import os
import zipfile

import numpy as np
import zarr


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
) -> str:
    """Write the archive to ``path`` and return the path."""
    path = os.fspath(path)
    if os.path.exists(path):
        os.remove(path)
    rng = np.random.default_rng(seed)
    samples = seconds * rate
    chunk = epoch_seconds * rate
    with zarr.ZipStore(path, mode="w", compression=compression) as store:
        root = zarr.group(store=store)
        root.attrs.update(
            {"subject": "S001", "sampling_rate_hz": rate, "channels": channels, "seconds": seconds}
        )
        signals = root.create_group("signals")
        for c in range(channels):
            data = np.cumsum(rng.standard_normal(samples, dtype=np.float32)).astype(np.float32)
            array = signals.create_dataset(
                f"ch{c:02d}", shape=(samples,), chunks=(chunk,), dtype="f4", compressor=None
            )
            array[:] = data
            # xarray's zarr-2 convention: without dimension names open_zarr refuses the array.
            array.attrs.update({"unit": "uV", "_ARRAY_DIMENSIONS": ["time"]})
        if consolidated:
            zarr.consolidate_metadata(store)
    return path
