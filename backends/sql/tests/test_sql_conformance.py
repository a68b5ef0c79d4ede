"""The whole conformance suite on PostgreSQL, MariaDB and SQLite."""

from __future__ import annotations

import pytest

from kanal_conformance import QueueSuite


class TestPostgres(QueueSuite):
    @pytest.fixture
    def queue_url(self, postgres_url: str) -> str:
        return postgres_url


class TestMariaDB(QueueSuite):
    @pytest.fixture
    def queue_url(self, mysql_url: str) -> str:
        return mysql_url


class TestSQLite(QueueSuite):
    @pytest.fixture
    def queue_url(self, sqlite_url: str) -> str:
        return sqlite_url
