"""Layer 1, the zip format: bytes in, records out, no I/O (fuzzable).

``parse`` locates and parses the end records and the central directory, ``index``
maps names to records, ``listing`` answers sorted-key listings, ``planner``
coalesces byte ranges, ``decode`` turns an entry's stored bytes into its contents
and ``encode`` writes records. Nothing here imports zarr, a transport or a thread.
"""
