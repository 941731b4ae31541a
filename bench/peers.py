"""The Python peers, appending the same events in the same batches (optional extra ``bench``).

- ``eventsourcing``: its SQLite application recorder (``SQLiteApplicationRecorder``, the layer
  that writes stored events with a global notification id) gets one ``insert_events`` call per
  batch. It takes events already serialized (its mapper does that a layer up), so its input is
  prepared before timing: the comparison is conservative for esctl, which serializes.
- ``eventsource-py``: its ``SQLiteEventStore.append`` gets one call per batch, with events of its
  own ``DomainEvent`` classes built from the same JSON before timing (as esctl's are).

- ``aiosqlite``: not an event store but the asyncio bridge to ``sqlite3`` that esctl does not
  use: the same rows the raw ``sqlite3`` baseline writes, into esctl's schema (WAL, ``synchronous
  = NORMAL``), one ``BEGIN IMMEDIATE``, ``executemany`` and ``COMMIT`` per batch, each awaited
  (each one a round trip to aiosqlite's thread). Rows are prepared before timing, so it does
  less work than esctl, which encodes and checks every event. With ``checked=True`` it also
  makes the calls esctl's append transaction makes on its connection (the stream's head read
  before the insert, ``last_insert_rowid()`` after it), each awaited like the others.

Each ``prepare_*`` returns ``None`` when the package is not installed, else a function that
appends everything into a fresh database at the path it is given and returns its time.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import UUID

import orjson
import workload
from timing import Sample, Stopwatch

Runner = Callable[[Path], Sample]


def prepare_eventsourcing(batches: list[list[dict[str, Any]]]) -> Runner | None:
    try:
        from eventsourcing.persistence import StoredEvent
        from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteDatastore
    except ImportError:
        return None
    stored = [
        [
            StoredEvent(
                originator_id=UUID(e["aggregate_id"]),
                originator_version=e["aggregate_version"],
                topic=f"bench.events:{e['event_type']}",
                state=orjson.dumps(e),
            )
            for e in batch
        ]
        for batch in batches
    ]

    def run(path: Path) -> Sample:
        datastore = SQLiteDatastore(db_name=str(path))
        try:
            recorder = SQLiteApplicationRecorder(datastore)
            recorder.create_table()
            with Stopwatch() as watch:
                for batch in stored:
                    recorder.insert_events(batch)
            return watch.sample
        finally:
            datastore.close()

    return run


def prepare_eventsource(batches: list[list[dict[str, Any]]]) -> Runner | None:
    try:
        from eventsource import DomainEvent, ExpectedVersion, SQLiteEventStore, StreamId
    except ImportError:
        return None
    from pydantic import create_model

    classes: dict[str, Any] = {}
    for name, (aggregate_type, fields) in workload.EVENT_TYPES.items():
        definitions: dict[str, Any] = {"aggregate_type": (str, aggregate_type)}
        for field, make in fields.items():
            definitions[field] = (type(make(random.Random(0))), ...)
        classes[name] = create_model(name, __base__=DomainEvent, **definitions)
    prepared = [
        (
            StreamId(aggregate_id=UUID(batch[0]["aggregate_id"]), category=batch[0]["aggregate_type"]),
            [classes[e["event_type"]].model_validate(e) for e in batch],
            ExpectedVersion.exact(batch[0]["aggregate_version"] - 1),
        )
        for batch in batches
    ]

    async def append_all(path: Path) -> Sample:
        store = SQLiteEventStore(str(path))
        try:
            await store.current_position()  # connect and create the schema before timing
            with Stopwatch() as watch:
                for stream, events, expected in prepared:
                    await store.append(stream, events, expected)
            return watch.sample
        finally:
            await store.close()

    def run(path: Path) -> Sample:
        return asyncio.run(append_all(path))

    return run


HEAD = (
    "SELECT aggregate_version, tenant_id FROM events"
    " WHERE aggregate_id = ? AND aggregate_type = ? ORDER BY aggregate_version DESC LIMIT 1"
)
"""The read of a stream's head that esctl's append makes before inserting (written out here)."""


async def aiosqlite_append(db: Any, insert: str, rows: list[tuple[Any, ...]], *, checked: bool) -> None:
    """One transaction through aiosqlite, every call awaited: 3 round trips, or 7 when ``checked``."""
    await db.execute("BEGIN IMMEDIATE")
    if checked:
        async with db.execute(HEAD, (rows[0][4], rows[0][3])) as cursor:
            await cursor.fetchone()
    await db.executemany(insert, rows)
    if checked:
        async with db.execute("SELECT last_insert_rowid()") as cursor:
            await cursor.fetchone()
    await db.execute("COMMIT")


def prepare_aiosqlite(batches: list[list[dict[str, Any]]], *, checked: bool = False) -> Runner | None:
    try:
        import aiosqlite
    except ImportError:
        return None
    stored_at = workload.START_US + workload.SPAN_US
    rows = [[workload.to_row(e, stored_at) for e in batch] for batch in batches]
    insert = workload.insert_statement()

    async def append_all(path: Path) -> Sample:
        async with aiosqlite.connect(path, isolation_level=None) as db:
            await db.execute("PRAGMA synchronous = NORMAL")  # WAL is the file's, set by create_schema
            with Stopwatch() as watch:
                for batch in rows:
                    await aiosqlite_append(db, insert, batch, checked=checked)
            return watch.sample

    def run(path: Path) -> Sample:
        import sqlite3

        conn = sqlite3.connect(path, isolation_level=None)
        try:
            workload.create_schema(conn)
        finally:
            conn.close()
        return asyncio.run(append_all(path))

    return run
