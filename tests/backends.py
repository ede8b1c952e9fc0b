"""Backends for suites built on remote_zip_store.testing.contract (the session's servers)."""

from __future__ import annotations

import pytest

from remote_zip_store.testing.contract import Backend, S3Bucket
from remote_zip_store.testing.servers import S3Server


class OnS3:
    """Mix in before a suite: its archives go to the session's server ``server_name``
    (a fixture of tests/conftest.py: ``moto`` or ``seaweedfs``), uploaded once per class."""

    server_name = ""

    @pytest.fixture(scope="class")
    @classmethod
    def server(cls, request: pytest.FixtureRequest) -> S3Server:
        server: S3Server = request.getfixturevalue(cls.server_name)
        return server

    @pytest.fixture(scope="class")
    @classmethod
    def backend(cls, server: S3Server) -> Backend:
        return S3Bucket(server)
