"""Layer 5b, the zarr-python 3 front end: the read store and the write store.

Importing this package imports zarr 3. ``remote_zip_store.zarr3.store.RemoteZipStore``
(the module path of the release before the layered package) stays importable here.
"""

from ..errors import MissingKeyError, ReadOnlyStoreError
from .ranges import resolve_byte_request
from .store import RemoteZipStore

__all__ = ["MissingKeyError", "ReadOnlyStoreError", "RemoteZipStore", "resolve_byte_request"]
