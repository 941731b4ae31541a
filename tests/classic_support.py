"""A store of each kind for the classic-API tests: in memory, SQLite in tmp_path, PostgreSQL when a server is set."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import pytest_asyncio

from esctl.registry import EventRegistry
from esctl.store.interface import EventStore

STORE_KINDS = ["memory", "sqlite", "postgres"]


@contextmanager
def store_of(kind: str, tmp_path: Path, registry: EventRegistry | None = None) -> Iterator[EventStore]:
    """Give a new, empty store of ``kind`` (``postgres`` skips without a test server); the caller closes it."""
    if kind == "memory":
        from esctl.store.memory import InMemoryEventStore

        yield InMemoryEventStore()
    elif kind == "sqlite":
        from esctl.store.sqlite import SQLiteEventStore

        yield SQLiteEventStore(tmp_path / "events.db", registry=registry)
    else:
        from esctl.store.postgres import PostgresEventStore
        from postgres_support import drop_schema, new_schema, server_dsn, with_schema

        name = new_schema()
        try:
            yield PostgresEventStore(with_schema(server_dsn(), name), registry=registry)
        finally:
            drop_schema(name)


@pytest_asyncio.fixture(params=STORE_KINDS)
async def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[EventStore]:
    """A new, empty store of each kind, closed after the test."""
    with store_of(request.param, tmp_path) as store:
        try:
            yield store
        finally:
            await store.close()
