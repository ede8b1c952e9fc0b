"""Layer 5a, the zarr-python 2.18 front end: the read store and the write store.

Importing this package imports zarr 2 (under zarr 3 it fails: use :mod:`..zarr3`).
"""

from ._store import ReadOnlyStoreError, RemoteZipStore
from ._write import ZipWriteStore

__all__ = ["ReadOnlyStoreError", "RemoteZipStore", "ZipWriteStore"]
