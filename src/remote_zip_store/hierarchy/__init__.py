"""Layer 4, zarr hierarchy knowledge without importing zarr; internal (no public names).

``_names`` (metadata file names of formats 2 and 3), ``_roots`` (where the hierarchy
starts inside a zip), ``_prefetch`` (all metadata in one round), ``_frontend`` (what
both zarr front ends share over an opened archive) and ``_session`` (what both
write stores share over a writer).
"""
