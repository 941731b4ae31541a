"""What only the SQLite store has: the file, its schema and migrations, WAL, locks, query plans, pages."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from uuid import uuid4

import pytest

import esctl.store.sqlite.driver as driver
import esctl.store.sqlite.reads as reads
from conftest import REGISTRY, item
from esctl import (
    DatabaseBusyError,
    DatabaseNotFoundError,
    DatabaseUnusableError,
    DomainEvent,
    ReadOptions,
    SchemaTooNewError,
    SQLiteEventStore,
)
from esctl.store.sqlite import schema
from esctl.store.types import ReadDirection
from esctl.timeutil import to_micros

BACKWARD = ReadDirection.BACKWARD


def open_store(path: Path, **kwargs: object) -> SQLiteEventStore:
    return SQLiteEventStore(path, registry=REGISTRY, **kwargs)  # type: ignore[arg-type]


async def fill(path: Path, count: int, **item_fields: object) -> list[DomainEvent]:
    """Append ``count`` events to one new stream of the store at ``path``."""
    cart = uuid4()
    events: list[DomainEvent] = [item(cart, v, **item_fields) for v in range(1, count + 1)]  # type: ignore[arg-type]
    async with open_store(path) as store:
        await store.append_events(cart, "Cart", events)
    return events


def raw(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


# -- the file ------------------------------------------------------------------------------------


async def test_a_new_database_is_in_wal_mode_with_the_current_schema(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    await fill(path, 1)
    conn = raw(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == schema.SCHEMA_VERSION >= 1
    names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'index')")}
    assert {"events", "events_tenant_position", "events_tenant_occurred", "events_type_position"} <= names
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


async def test_timestamps_are_stored_as_integer_utc_microseconds(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    (event,) = await fill(path, 1)
    row = raw(path).execute("SELECT typeof(occurred_at), occurred_at, typeof(stored_at) FROM events").fetchone()
    assert row == ("integer", to_micros(event.occurred_at), "integer")


async def test_two_stores_on_one_file_see_each_others_writes(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    async with open_store(path) as writer, open_store(path) as other:
        cart = uuid4()
        await writer.append_events(cart, "Cart", [item(cart, 1)])
        await other.append_events(cart, "Cart", [item(cart, 2)], 1)
        async with open_store(path, readonly=True) as reader:
            assert await reader.get_stream_version(cart, "Cart") == 2
            await writer.append_events(cart, "Cart", [item(cart, 3)], 2)
            assert await reader.get_stream_version(cart, "Cart") == 3


# -- migrations ------------------------------------------------------------------------------------


def test_migrate_runs_every_migration_once(tmp_path: Path) -> None:
    conn = raw(tmp_path / "events.db")
    assert schema.pending_migrations(conn) == schema.SCHEMA_VERSION
    assert schema.migrate(conn) == schema.SCHEMA_VERSION
    assert schema.migrate(conn) == 0
    assert schema.current_version(conn) == schema.SCHEMA_VERSION
    schema.check_readable(conn)


@pytest.fixture
def next_migration(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pretend this code has one more migration than it ships with."""
    extra = ("CREATE TABLE migration_probe (value INTEGER)", "INSERT INTO migration_probe VALUES (42)")
    monkeypatch.setattr(schema, "MIGRATIONS", (*schema.MIGRATIONS, extra))
    monkeypatch.setattr(schema, "SCHEMA_VERSION", schema.SCHEMA_VERSION + 1)


async def test_an_older_database_is_migrated_on_first_write_and_keeps_its_events(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    path = tmp_path / "events.db"
    events = await fill(path, 3)
    request.getfixturevalue("next_migration")
    async with open_store(path, readonly=True) as reader:
        with pytest.raises(DatabaseUnusableError, match="needs") as caught:
            await reader.get_global_position()
        assert "esctl init" in (caught.value.hint or "")
    async with open_store(path) as store:
        assert [s.event async for s in store.read_all()] == events
    conn = raw(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == schema.SCHEMA_VERSION
    assert conn.execute("SELECT value FROM migration_probe").fetchall() == [(42,)]


async def test_a_schema_newer_than_the_code_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    await fill(path, 2)
    newer = schema.SCHEMA_VERSION + 1
    raw(path).execute(f"PRAGMA user_version = {newer}")
    for readonly in (False, True):
        async with open_store(path, readonly=readonly) as store:
            with pytest.raises(SchemaTooNewError) as caught:
                await store.get_global_position()
            assert isinstance(caught.value, DatabaseUnusableError)
            assert caught.value.exit_code == 7
            assert caught.value.hint
    async with open_store(path) as store:
        cart = uuid4()
        with pytest.raises(SchemaTooNewError):
            await store.append_events(cart, "Cart", [item(cart, 1)])
    conn = raw(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == newer
    assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == 2


# -- files that are not (usable) esctl databases -------------------------------------------------------


@pytest.mark.parametrize("readonly", [False, True])
async def test_a_file_that_is_not_sqlite_is_refused_and_left_alone(tmp_path: Path, readonly: bool) -> None:
    path = tmp_path / "notes.txt"
    content = b"these are my notes, not a database\n" * 200
    path.write_bytes(content)
    async with open_store(path, readonly=readonly) as store:
        with pytest.raises(DatabaseUnusableError) as caught:
            await store.get_global_position()
    assert caught.value.exit_code == 7
    assert "not" in str(caught.value).lower()
    assert path.read_bytes() == content


@pytest.mark.parametrize("readonly", [False, True])
async def test_a_missing_file_for_reading_is_not_found_and_never_created(tmp_path: Path, readonly: bool) -> None:
    path = tmp_path / "typo.db"
    if not readonly:
        async with open_store(path) as store:  # a writer creates it: that is what `init` does
            assert await store.get_global_position() == 0
        assert path.exists()
        return
    async with open_store(path, readonly=True) as store:
        with pytest.raises(DatabaseNotFoundError) as caught:
            await store.get_global_position()
        with pytest.raises(DatabaseNotFoundError):
            [s async for s in store.read_all()]
    assert caught.value.exit_code == 5
    assert list(tmp_path.iterdir()) == []


async def test_a_missing_directory_for_reading_is_not_found(tmp_path: Path) -> None:
    async with open_store(tmp_path / "no" / "such" / "dir.db", readonly=True) as store:
        with pytest.raises(DatabaseNotFoundError):
            await store.get_global_position()
    assert list(tmp_path.iterdir()) == []


async def test_an_empty_sqlite_file_is_not_an_event_store_for_reading(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    raw(path).execute("CREATE TABLE unrelated (x)")
    async with open_store(path, readonly=True) as store:
        with pytest.raises(DatabaseUnusableError, match="not an esctl event store"):
            await store.get_global_position()


async def test_a_read_only_store_cannot_write(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    await fill(path, 1)
    async with open_store(path, readonly=True) as store:
        cart = uuid4()
        with pytest.raises(DatabaseUnusableError):
            await store.append_events(cart, "Cart", [item(cart, 1)])
        assert await store.get_global_position() == 1


async def test_a_directory_is_not_a_database(tmp_path: Path) -> None:
    async with open_store(tmp_path) as store:
        with pytest.raises(DatabaseUnusableError):
            await store.get_global_position()


# -- locks -----------------------------------------------------------------------------------------------


def _hold_write_lock(path: Path, released: threading.Event, held: threading.Event) -> None:
    conn = raw(path)
    conn.execute("BEGIN IMMEDIATE")
    held.set()
    released.wait(10)
    conn.execute("COMMIT")
    conn.close()


async def test_a_writer_past_the_busy_timeout_gets_database_busy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "events.db"
    await fill(path, 1)
    released, held = threading.Event(), threading.Event()
    holder = threading.Thread(target=_hold_write_lock, args=(path, released, held))
    holder.start()
    try:
        assert held.wait(5)
        monkeypatch.setenv("ESCTL_BUSY_TIMEOUT", "0.1")
        async with open_store(path) as store:
            cart = uuid4()
            with pytest.raises(DatabaseBusyError) as caught:
                await store.append_events(cart, "Cart", [item(cart, 1)])
            assert caught.value.exit_code == 6
            released.set()
            holder.join()
            await store.append_events(cart, "Cart", [item(cart, 1)])
            assert await store.get_global_position() == 2
    finally:
        released.set()
        holder.join()


async def test_a_writer_waits_for_the_lock_within_the_busy_timeout(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    await fill(path, 1)
    released, held = threading.Event(), threading.Event()
    holder = threading.Thread(target=_hold_write_lock, args=(path, released, held))
    holder.start()
    try:
        assert held.wait(5)
        threading.Timer(0.3, released.set).start()
        async with open_store(path, busy_timeout=10_000) as store:  # milliseconds
            cart = uuid4()
            await store.append_events(cart, "Cart", [item(cart, 1)])
            assert await store.get_global_position() == 2
    finally:
        released.set()
        holder.join()


@pytest.fixture
def traced(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every SQL statement the stores' connections run, with parameters filled in."""
    statements: list[str] = []
    connect: Callable[..., sqlite3.Connection] = sqlite3.connect

    def tracing_connect(*args: object, **kwargs: object) -> sqlite3.Connection:
        conn = connect(*args, **kwargs)
        conn.set_trace_callback(statements.append)
        return conn

    monkeypatch.setattr(driver.sqlite3, "connect", tracing_connect)
    return statements


def _pages_run(statements: list[str]) -> list[str]:
    return [s for s in statements if s.lstrip().upper().startswith("SELECT") and "ORDER BY POSITION" in s.upper()]


async def _plan_of(store: SQLiteEventStore, statements: list[str], options: ReadOptions, path: Path) -> str:
    statements.clear()
    [s async for s in store.read_all(options)]
    queries = _pages_run(statements)
    assert queries, f"no paged query ran for {options}"
    conn = raw(path)
    return " | ".join(row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {queries[0]}"))


async def test_read_all_queries_use_the_indexes_made_for_them(tmp_path: Path, traced: list[str]) -> None:
    path = tmp_path / "events.db"
    acme, globex = uuid4(), uuid4()
    async with open_store(path) as store:
        batch: list[DomainEvent] = []
        streams = [uuid4() for _ in range(20)]
        for index, cart in enumerate(streams):
            tenant = acme if index % 2 else globex
            batch.extend(item(cart, v, tenant_id=tenant) for v in range(1, 11))
        await store.append_batch(batch)
        since, until = item(uuid4(), 3).occurred_at, item(uuid4(), 6).occurred_at
        expectations = {
            "one tenant": (ReadOptions(tenant_id=acme), "USING INDEX events_tenant_"),
            "one tenant, a time window": (
                ReadOptions(tenant_id=acme, from_timestamp=since, to_timestamp=until),
                "USING INDEX events_tenant_",
            ),
            "one event type": (ReadOptions(event_types=("test.ItemAdded",)), "USING INDEX events_type_position"),
            # No index of its own (inserts pay for every index): a walk of positions.
            "one aggregate type": (ReadOptions(aggregate_type="Cart"), "USING INTEGER PRIMARY KEY"),
            "one stream": (
                ReadOptions(aggregate_type="Cart", aggregate_id=streams[3]),
                "USING INDEX sqlite_autoindex_events_",  # the UNIQUE (aggregate_id, aggregate_type, version)
            ),
            "one stream of one tenant": (
                ReadOptions(tenant_id=acme, aggregate_type="Cart", aggregate_id=streams[3]),
                "USING INDEX sqlite_autoindex_events_",
            ),
            "everything": (ReadOptions(), "USING INTEGER PRIMARY KEY"),
            "a position range": (ReadOptions(from_position=50, to_position=60), "USING INTEGER PRIMARY KEY"),
        }
        for name, (options, wanted) in expectations.items():
            plan = await _plan_of(store, traced, options, path)
            assert wanted in plan, f"{name}: {plan}"
            assert "SCAN events" not in plan, f"{name} reads the whole table: {plan}"


async def test_a_tenant_time_window_reads_only_the_positions_the_window_spans(
    tmp_path: Path, traced: list[str]
) -> None:
    # The window's first and last positions come from events_tenant_occurred (index entries
    # only); the pages then walk that stretch of the tenant's index, not its whole history.
    path = tmp_path / "events.db"
    acme, globex = uuid4(), uuid4()
    async with open_store(path) as store:
        carts = [uuid4() for _ in range(10)]
        for version in range(1, 11):
            batch = [item(cart, version, tenant_id=acme if i % 2 else globex) for i, cart in enumerate(carts)]
            await store.append_batch(batch)
        since, until = item(uuid4(), 4).occurred_at, item(uuid4(), 6).occurred_at
        options = ReadOptions(tenant_id=acme, from_timestamp=since, to_timestamp=until)
        expected = [s.global_position async for s in store.read_all(ReadOptions(tenant_id=acme))]
        traced.clear()
        got = [s async for s in store.read_all(options)]
        assert [s.event.aggregate_version for s in got] == [4, 4, 4, 4, 4, 5, 5, 5, 5, 5]
        assert len(expected) == 50
        window = [s for s in traced if "MIN(position)" in s]
        assert len(window) == 1, traced
        plan = " | ".join(row[3] for row in raw(path).execute(f"EXPLAIN QUERY PLAN {window[0]}"))
        assert "COVERING INDEX events_tenant_occurred" in plan, plan
        page = _pages_run(traced)[0]
        first, last = got[0].global_position, got[-1].global_position
        assert f"position > {first - 1} AND position <= {last}" in page, page


async def test_reads_of_several_tenants_or_types_never_sort_all_their_matches(
    tmp_path: Path, traced: list[str]
) -> None:
    # An index walked for an IN list returns rows out of position order, so every page would
    # sort all the remaining matches: a read must walk positions instead, in order, and stop.
    path = tmp_path / "events.db"
    acme, globex = uuid4(), uuid4()
    async with open_store(path) as store:
        for tenant in (acme, globex, None):
            cart = uuid4()
            await store.append_events(cart, "Cart", [item(cart, v, tenant_id=tenant) for v in range(1, 6)])
        for options in (
            ReadOptions(tenant_ids=(acme, globex)),
            ReadOptions(event_types=("test.ItemAdded", "test.ItemRemoved")),
            ReadOptions(tenant_ids=(acme, globex), event_types=("test.ItemAdded", "test.ItemRemoved")),
        ):
            plan = await _plan_of(store, traced, options, path)
            assert "TEMP B-TREE" not in plan, f"{options}: {plan}"
            assert "SCAN events" not in plan, f"{options}: {plan}"


async def test_stream_head_lookups_use_the_stream_index(tmp_path: Path, traced: list[str]) -> None:
    path = tmp_path / "events.db"
    async with open_store(path) as store:
        cart = uuid4()
        await store.append_events(cart, "Cart", [item(cart, 1)])
        traced.clear()
        assert await store.get_stream_version(cart, "Cart") == 1
    conn = raw(path)
    selects = [s for s in traced if s.lstrip().upper().startswith("SELECT")]
    assert selects
    for statement in selects:
        plan = " | ".join(row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {statement}"))
        assert "SCAN events" not in plan, plan


# -- reads come in pages --------------------------------------------------------------------------------------


async def test_reads_fetch_pages_of_bounded_size_lazily(tmp_path: Path, traced: list[str]) -> None:
    path = tmp_path / "events.db"
    count = 2 * reads.READ_BATCH + 500
    await fill(path, count)
    async with open_store(path) as store:
        traced.clear()
        reader = store.read_all()
        first = await anext(reader)
        assert first.global_position == 1
        assert len(_pages_run(traced)) == 1  # one page fetched, not the whole table
        rest = [s async for s in reader]
        assert len(rest) == count - 1
        pages = _pages_run(traced)
        assert len(pages) == 3
        assert all(f"LIMIT {reads.READ_BATCH}" in page for page in pages)
        traced.clear()
        sizes = [len(batch) async for batch in store.read_json_lines()]
        assert sizes == [reads.READ_BATCH, reads.READ_BATCH, 500]


async def test_a_read_is_a_snapshot_of_the_log_when_it_started(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reads, "READ_BATCH", 10)
    path = tmp_path / "events.db"
    await fill(path, 25)
    async with open_store(path) as store, open_store(path) as writer:
        seen = []
        async for stored in store.read_all():
            seen.append(stored.global_position)
            if len(seen) == 5:
                cart = uuid4()
                await writer.append_events(cart, "Cart", [item(cart, v) for v in range(1, 31)])
        assert seen == list(range(1, 26))
        assert await store.get_global_position() == 55


async def test_limit_is_honoured_across_pages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reads, "READ_BATCH", 7)
    path = tmp_path / "events.db"
    events = await fill(path, 40)
    async with open_store(path) as store:
        got = [s.event async for s in store.read_all(ReadOptions(limit=23, from_position=3))]
        back = [s.event async for s in store.read_all(ReadOptions(limit=23, from_position=3, direction=BACKWARD))]
    assert got == events[3:26]  # after position 3
    assert back == events[::-1][:23]


async def test_close_is_idempotent_and_works_without_use(tmp_path: Path) -> None:
    store = open_store(tmp_path / "unused.db")
    await store.close()
    await store.close()
    assert not (tmp_path / "unused.db").exists()  # connects on first use only


async def test_stores_on_separate_loops_in_one_process(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    await fill(path, 3)

    def read_in_a_new_loop() -> int:
        async def count() -> int:
            async with open_store(path, readonly=True) as store:
                return len([s async for s in store.read_all()])

        return asyncio.run(count())

    assert await asyncio.to_thread(read_in_a_new_loop) == 3


async def test_someone_elses_database_is_refused_and_left_exactly_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "theirs.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
    conn.execute("INSERT INTO invoices (total) VALUES (9.5)")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    store = SQLiteEventStore(path)
    with pytest.raises(DatabaseUnusableError, match="not an esctl event store"):
        await store.get_global_position()
    await store.close()
    assert path.read_bytes() == before  # no esctl tables, and still in its own journal mode
    assert not (tmp_path / "theirs.db-wal").exists()
