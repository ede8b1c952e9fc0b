"""Start a benchmark run as a new process would: no shared client, pool or cohort hint."""

from __future__ import annotations

import sys


def forget_process_state() -> None:
    """Drop the process-wide state a store reuses: shared boto3 clients, the lean and
    obstore request layers (each holds a resolved session and a pool of warm
    connections), HTTP pools and cohort hints (a warm connection or a hint taught by
    another archive is what a new process does not have), and fsspec's cached
    filesystems when fsspec is installed."""
    from ..archive import _cohort as cohort
    from ..transport import _http as http
    from ..transport import _s3 as s3
    from ..transport import _s3lean as s3lean

    s3.clear_shared_clients()
    s3lean.clear_shared_lean()
    if "remote_zip_store.transport._obstore" in sys.modules:  # never imported for this
        sys.modules["remote_zip_store.transport._obstore"].clear_shared_obstore()
    http.clear_shared_pools()
    cohort.clear()
    try:
        import fsspec.implementations.zip
        import s3fs
    except ImportError:
        return
    s3fs.S3FileSystem.clear_instance_cache()
    fsspec.implementations.zip.ZipFileSystem.clear_instance_cache()
