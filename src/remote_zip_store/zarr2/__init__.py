"""Layer 5a, the zarr-python 2.18 front end: the read store and the write store."""
