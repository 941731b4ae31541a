"""The PostgreSQL store against the contract suites of ``esctl.testing``, like the other two stores
(tests/test_store_contract.py): each store the suite makes lives in a schema of its own on the
test server (``postgres_support``), dropped after the test.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from esctl import EventRegistry, EventStore
from esctl.testing import EventStoreContract, ProjectionStorageContract
from postgres_support import drop_schema, new_schema, server_dsn, with_schema

SMALL_PAGE = 7
"""The page size the PostgreSQL store reads with in the page-boundary tests."""


class PostgresStore:
    """Builds a PostgreSQL store in a new schema; the schemas a test made are dropped after it."""

    _schemas: list[str]

    @pytest.fixture(autouse=True)
    def _drop_schemas(self) -> Iterator[None]:
        server_dsn()  # skips (or fails under CI=true) without a server
        self._schemas = []
        yield
        for name in self._schemas:
            drop_schema(name)

    def make_store(self, tmp_path: Path, registry: EventRegistry) -> EventStore:
        from esctl.store.postgres import PostgresEventStore

        name = new_schema()
        self._schemas.append(name)
        return PostgresEventStore(with_schema(server_dsn(), name), registry=registry)

    @pytest.fixture
    def read_page_size(self, monkeypatch: pytest.MonkeyPatch) -> int:
        from esctl.store.postgres import inspect, reads

        monkeypatch.setattr(reads, "READ_BATCH", SMALL_PAGE)
        monkeypatch.setattr(inspect, "PAGE", SMALL_PAGE)
        return SMALL_PAGE


class TestPostgresStore(PostgresStore, EventStoreContract):
    pass


class TestPostgresProjectionStorage(PostgresStore, ProjectionStorageContract):
    sql_read_models = True
