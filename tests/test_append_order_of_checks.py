"""Which refusal an append reports when a batch has several faults, and when ``stored_at`` is taken.

The SQLite store encodes a batch's rows before it takes the write lock and plans from the rows
when the batch is plain; these tests hold it to the order of checks the rules have always had
(the stream check of ``append_events`` first, then the append rules, then encoding), on both
stores where both encode.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from uuid import uuid4

import pytest

from conftest import REGISTRY, item
from esctl import EventStore, ExpectedVersion, InvalidInputError, OptimisticLockError, SQLiteEventStore

UNSERIALIZABLE = {"handle": object()}


async def test_a_version_conflict_is_reported_before_unserializable_metadata(store: EventStore) -> None:
    cart = uuid4()
    await store.append_events(cart, "Cart", [item(cart, 1)])
    with pytest.raises(OptimisticLockError) as caught:
        await store.append_events(cart, "Cart", [item(cart, 2), item(cart, 4, metadata=UNSERIALIZABLE)])
    assert caught.value.batch_index == 1
    with pytest.raises(OptimisticLockError):
        await store.append_batch([item(cart, 3, metadata=UNSERIALIZABLE)])
    assert await store.get_global_position() == 1


async def test_an_event_of_another_stream_is_reported_before_unserializable_metadata(store: EventStore) -> None:
    cart, other = uuid4(), uuid4()
    with pytest.raises(InvalidInputError, match="belongs to") as caught:
        await store.append_events(cart, "Cart", [item(cart, 1, metadata=UNSERIALIZABLE), item(other, 1)])
    assert caught.value.field == "aggregate_id"
    assert caught.value.batch_index == 1
    with pytest.raises(InvalidInputError, match="belongs to"):
        await store.append_events(cart, "Invoice", [item(cart, 1)])


async def test_unserializable_metadata_alone_is_refused_by_the_sqlite_store(tmp_path: Path) -> None:
    async with SQLiteEventStore(tmp_path / "events.db", registry=REGISTRY) as store:
        cart = uuid4()
        with pytest.raises(InvalidInputError, match="metadata is not JSON-serializable"):
            await store.append_events(cart, "Cart", [item(cart, 1), item(cart, 2, metadata=UNSERIALIZABLE)])
        assert await store.get_global_position() == 0


async def test_stored_at_is_taken_holding_the_write_lock(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    async with SQLiteEventStore(path, registry=REGISTRY) as store:
        carts = [uuid4() for _ in range(20)]
        for cart in carts:
            await store.append_events(cart, "Cart", [item(cart, 1), item(cart, 2)], ExpectedVersion.NO_STREAM)
    conn = sqlite3.connect(path)
    try:
        stamps = [row[0] for row in conn.execute("SELECT stored_at FROM events ORDER BY position")]
    finally:
        conn.close()
    assert stamps == sorted(stamps)
    assert all(stamp > 0 for stamp in stamps)
    assert len(set(stamps[0::2])) == 20  # one moment per append, a new one for each
