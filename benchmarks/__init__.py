"""Benchmarks: speed and memory targets live here, not in timed unit tests.

The suite: ``python -m benchmarks.run`` (see docs/benchmarks.md).
"""
