"""The classic store helpers: InMemoryEventStore.clear/get_all_events/get_event_count/get_aggregate_ids,
and SQLiteEventStore(database, event_registry, *, wal_mode, busy_timeout in ms) with initialize,
is_connected and ":memory:"."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from uuid import uuid4

import pytest

from esctl import DatabaseBusyError, DomainEvent, EventRegistry, GenericEvent, InMemoryEventStore, SQLiteEventStore


class Pinged(DomainEvent):
    event_type: str = "classic.Pinged"
    aggregate_type: str = "Probe"


REGISTRY = EventRegistry()
REGISTRY.register(Pinged)


async def test_in_memory_store_helpers() -> None:
    store = InMemoryEventStore()
    first, second = uuid4(), uuid4()
    await store.append_events(first, "Probe", [Pinged(aggregate_id=first), Pinged(aggregate_id=first)])
    await store.append_events(second, "Probe", [Pinged(aggregate_id=second)])
    await store.append_events(first, "Other", [DomainEvent(aggregate_id=first, aggregate_type="Other")])
    assert store.get_event_count() == 4
    assert [e.aggregate_id for e in store.get_all_events()] == [first, first, second, first]
    assert store.get_aggregate_ids() == [first, second]
    await store.snapshot_store().delete_snapshots()
    store.clear()
    assert store.get_event_count() == 0
    assert store.get_all_events() == []
    assert store.get_aggregate_ids() == []
    assert await store.get_global_position() == 0
    assert await store.get_stream_version(first, "Probe") == 0
    # usable again after clear(), from version 1 and position 1
    result = await store.append_events(first, "Probe", [Pinged(aggregate_id=first)])
    assert (result.new_version, result.global_position) == (1, 1)


async def test_sqlite_memory_database_is_private_and_on_the_stores_thread() -> None:
    store = SQLiteEventStore(":memory:", REGISTRY)
    assert not store.is_connected
    await store.initialize()
    assert store.is_connected
    probe = uuid4()
    await store.append_events(probe, "Probe", [Pinged(aggregate_id=probe)])
    (stored,) = [s async for s in store.read_all()]
    assert type(stored.event) is Pinged  # read with the registry given positionally
    assert (await store.schema_status()).pending == 0
    other = SQLiteEventStore(":memory:", REGISTRY)
    assert await other.get_global_position() == 0  # another store, another database
    await other.close()
    lines = await _export(store)
    assert len(lines) == 1
    await store.close()
    assert not store.is_connected
    assert not Path(":memory:").exists()  # never a file named ':memory:'


async def _export(store: SQLiteEventStore) -> list[bytes]:
    import asyncio

    # export_json_lines blocks: run it where no loop runs, as the CLI does.
    return await asyncio.to_thread(lambda: [line for page in store.export_json_lines() for line in page])


async def test_wal_mode_false_keeps_the_rollback_journal(tmp_path: Path) -> None:
    plain = SQLiteEventStore(tmp_path / "plain.db", wal_mode=False)
    await plain.initialize()
    await plain.close()
    walled = SQLiteEventStore(tmp_path / "wal.db")
    await walled.initialize()
    await walled.close()
    mode = sqlite3.connect(tmp_path / "plain.db").execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "delete"
    assert sqlite3.connect(tmp_path / "wal.db").execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_the_registry_is_also_taken_by_keyword(tmp_path: Path) -> None:
    probe = uuid4()
    async with SQLiteEventStore(tmp_path / "e.db", registry=REGISTRY) as store:
        await store.append_events(probe, "Probe", [Pinged(aggregate_id=probe)])
    async with SQLiteEventStore(tmp_path / "e.db", event_registry=EventRegistry()) as store:
        (stored,) = [s async for s in store.read_all()]
    assert type(stored.event) is GenericEvent


async def test_busy_timeout_is_in_milliseconds(tmp_path: Path) -> None:
    import time

    path = tmp_path / "e.db"
    async with SQLiteEventStore(path) as store:
        await store.initialize()
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        held.set()
        release.wait(10)
        conn.execute("COMMIT")
        conn.close()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(5)
        async with SQLiteEventStore(path, busy_timeout=300) as store:
            probe = uuid4()
            started = time.monotonic()
            with pytest.raises(DatabaseBusyError):
                await store.append_events(probe, "Probe", [Pinged(aggregate_id=probe)])
            waited = time.monotonic() - started
    finally:
        release.set()
        holder.join()
    assert 0.25 <= waited < 3  # 300 ms, not 300 s
