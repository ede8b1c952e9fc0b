"""Test and benchmark helpers shipped with the package (the demo uses the simulated link
and :mod:`.minis3`, its in-process S3 endpoint)."""
