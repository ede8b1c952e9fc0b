"""Tests of the zarr-python 3 front end; each module skips under zarr 2."""
