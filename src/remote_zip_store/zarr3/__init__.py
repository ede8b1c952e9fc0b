"""Layer 5b, the zarr-python 3 front end: the read store and the write store.

Importing this package imports zarr 3. ``remote_zip_store.zarr3.RemoteZipStore`` is
also the path of the release before the layered package (its pickles name it).
"""

from ..errors import MissingKeyError, ReadOnlyStoreError
from ._ranges import resolve_byte_request
from ._store import RemoteZipStore
from ._write import ZipWriteStore

__all__ = [
    "MissingKeyError",
    "ReadOnlyStoreError",
    "RemoteZipStore",
    "ZipWriteStore",
    "resolve_byte_request",
]
