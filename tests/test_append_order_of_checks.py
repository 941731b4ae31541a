"""The SQLite store's side of the order of checks, and when ``stored_at`` is taken.

The SQLite store encodes a batch's rows before it takes the write lock and plans from the rows
when the batch is plain; the order of checks the rules have always had (the stream check of
``append_events`` first, then the append rules, then encoding) is held on every store by
``esctl.testing.appending``. Here: what only a store that encodes refuses, and the write lock.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from uuid import uuid4

import pytest

from conftest import REGISTRY, item
from esctl import ExpectedVersion, InvalidInputError, SQLiteEventStore

UNSERIALIZABLE = {"handle": object()}


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
