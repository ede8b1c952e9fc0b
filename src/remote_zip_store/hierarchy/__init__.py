"""Layer 4, zarr hierarchy knowledge without importing zarr.

``names`` (metadata file names of formats 2 and 3), ``roots`` (where the hierarchy
starts inside a zip), ``prefetch`` (all metadata in one round), ``frontend`` (what
both zarr front ends share over an opened archive) and ``session`` (what both
write stores share over a writer).
"""
