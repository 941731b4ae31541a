"""esctl's stores against the contract suites of ``esctl.testing``.

These classes are the only place a test chooses a store: every behaviour a store must have is a
test of ``EventStoreContract`` or ``ProjectionStorageContract``, run here once per store, so the
stores cannot drift apart. What is SQLite's alone (files, locks, query plans) is tested in the
SQLite test modules.
"""

from __future__ import annotations

import threading
from pathlib import Path
from uuid import uuid4

import pytest

import esctl.store.interface
from esctl import EventRegistry, EventStore, InMemoryEventStore, SQLiteEventStore
from esctl.store.sqlite import reads
from esctl.testing import EventStoreContract, ProjectionStorageContract, item
from esctl.testing.chunks import fields, inputs

SMALL_PAGE = 7
"""The page size the SQLite store reads with in the page-boundary tests."""


class InMemoryStore:
    """Builds the in-memory store; its only pages are the generic JSON-lines batches."""

    def make_store(self, tmp_path: Path, registry: EventRegistry) -> EventStore:
        return InMemoryEventStore()

    @pytest.fixture
    def read_page_size(self, monkeypatch: pytest.MonkeyPatch) -> int:
        monkeypatch.setattr(esctl.store.interface, "_JSON_PAGE", SMALL_PAGE)
        return SMALL_PAGE


class SQLiteStore:
    """Builds a SQLite store in a file of ``tmp_path``."""

    def make_store(self, tmp_path: Path, registry: EventRegistry) -> EventStore:
        return SQLiteEventStore(tmp_path / "events.db", registry=registry)

    @pytest.fixture
    def read_page_size(self, monkeypatch: pytest.MonkeyPatch) -> int:
        from esctl.store.sqlite import inspect

        monkeypatch.setattr(reads, "READ_BATCH", SMALL_PAGE)
        monkeypatch.setattr(inspect, "PAGE", SMALL_PAGE)
        return SMALL_PAGE


class TestInMemoryStore(InMemoryStore, EventStoreContract):
    pass


class TestSQLiteStore(SQLiteStore, EventStoreContract):
    @pytest.mark.asyncio
    async def test_leaving_async_with_stops_the_connection_thread(self, store: EventStore) -> None:
        def store_threads() -> int:
            return sum(t.name.startswith("esctl-sqlite") for t in threading.enumerate())

        before = store_threads()
        async with store:
            cart = uuid4()
            await store.append_events(cart, "Cart", [item(cart, 1)])
            await store.get_global_position()  # on the SQLite store's own thread
            assert store_threads() == before + 1
        assert store_threads() == before  # leaving the block closed the store (and its thread)


class TestInMemoryProjectionStorage(InMemoryStore, ProjectionStorageContract):
    pass


class TestSQLiteProjectionStorage(SQLiteStore, ProjectionStorageContract):
    sql_read_models = True


def test_both_kinds_of_input_event_are_in_the_chunk_tests_mix() -> None:
    events = inputs(*(fields(n) for n in range(1, 7)))
    assert [e.row is not None for e in events] == [True, True, False, True, True, False]
