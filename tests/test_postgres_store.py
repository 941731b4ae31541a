"""What is the PostgreSQL store's alone: query plans, connection failures, schema versions, the
table swap's lock, LISTEN/NOTIFY, placeholders. Everything both stores share is in the contract
suites (test_store_contract_postgres.py) and the CLI tests parametrized over both backends.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import timedelta
from uuid import uuid4

import psycopg
import pytest

from backends import stored_rows
from cli_support import error_lines, event, invoke, ndjson, run_esctl
from esctl.errors import DatabaseBusyError
from esctl.projections import ProjectionRunner
from esctl.store import open_store
from esctl.store.postgres import PostgresEventStore, reads
from esctl.store.postgres.projections import qmark_to_format
from esctl.store.postgres.schema import MIGRATIONS, SCHEMA_VERSION
from esctl.store.types import ReadOptions
from esctl.testing import REGISTRY, T0, item
from esctl.testing.events import History, projections
from esctl.testing.projections import append
from postgres_support import admin, server_dsn

TENANTS = [uuid4() for _ in range(4)]


def store_at(url: str) -> PostgresEventStore:
    return PostgresEventStore(url, registry=REGISTRY)


# -- indexes ------------------------------------------------------------------------------------


async def test_a_tenants_time_window_is_read_through_the_tenant_indexes(postgres_url: str) -> None:
    store = store_at(postgres_url)
    try:
        carts = [uuid4() for _ in range(200)]
        events = [
            item(cart, version, tenant_id=TENANTS[n % 4], occurred_at=T0 + timedelta(minutes=n * 10 + version))
            for n, cart in enumerate(carts)
            for version in range(1, 11)
        ]
        await store.append_batch(events)
    finally:
        await store.close()
    window = ReadOptions(
        tenant_id=TENANTS[1], from_timestamp=T0 + timedelta(hours=5), to_timestamp=T0 + timedelta(hours=9)
    )
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("ANALYZE events")
        conn.execute("SET enable_seqscan = off")  # what the planner can do, not what it costs on 2,000 rows
        clauses = ["tenant_id = %s"]
        params: list[object] = [str(TENANTS[1])]
        reads.add_time_window(window, clauses, params)
        plan = "\n".join(
            str(row[0])
            for row in conn.execute(
                f"EXPLAIN SELECT MIN(position + 0), MAX(position + 0) FROM events WHERE {' AND '.join(clauses)}", params
            )
        )
        # The window's positions come from the tenant's (tenant_id, occurred_at) index entries,
        # not from a walk of the primary key.
        assert "on events_tenant_occurred" in plan, plan
        assert "Seq Scan" not in plan, plan
        assert "events_pkey" not in plan, plan
        first, last = reads.window_positions(conn, window) or (0, 0)
        sql, page_params = reads.page_query(window, first - 1, last, reads.READ_BATCH)
        page_plan = "\n".join(str(row[0]) for row in conn.execute("EXPLAIN " + sql, page_params))
        print(plan, page_plan, sep="\n")  # for the record: pytest -s shows them
        assert "Seq Scan" not in page_plan, page_plan
        # Each page is an index range scan bounded by the window's positions (by the primary key or
        # the tenant's position index, whichever the planner prices lower), never the whole log.
        assert "Index" in page_plan, page_plan
        assert f"> '{first - 1}'" in page_plan, page_plan
    # And the window the pages walk holds exactly the window's events.
    reader = open_store(postgres_url, readonly=True)
    dumped = [e async for page in reader.read_json_lines(window) for e in page]
    await reader.close()
    expected = [
        e for e in events if e.tenant_id == TENANTS[1] and window.from_timestamp <= e.occurred_at < window.to_timestamp
    ]
    assert len(dumped) == len(expected) > 0


# -- connection failures ------------------------------------------------------------------------


@pytest.fixture
def password_role() -> Iterator[str]:
    """A role that must give its password (``.ci/postgres`` asks one of ``esctl_password``)."""
    server_dsn()
    admin("DROP ROLE IF EXISTS esctl_password")
    admin("CREATE ROLE esctl_password LOGIN PASSWORD 'right-one'")
    yield "esctl_password"
    admin("DROP ROLE IF EXISTS esctl_password")


def _host() -> str:
    return server_dsn().split("host=", 1)[1].split("&", 1)[0]


def test_an_unreachable_server_a_missing_database_and_a_wrong_password_are_one_line_exit_7(
    password_role: str, tmp_path: object
) -> None:
    host = _host()
    targets = {
        "no server": (f"postgresql://postgres:s3cret-pw@/postgres?host={host}/nowhere", "No such file"),
        "no database": (
            f"postgresql://postgres:s3cret-pw@/no_such_db?host={host}",
            'database "no_such_db" does not exist',
        ),
        "wrong password": (
            f"postgresql://{password_role}:s3cret-pw@/postgres?host={host}",
            "password authentication failed",
        ),
        "refused": ("postgresql://postgres:s3cret-pw@127.0.0.1:1/postgres", "Connection refused"),
    }
    for name, (target, reason) in targets.items():
        for command in (("dump",), ("append", "-"), ("init",), ("init", "--check"), ("stats",)):
            # One real process per target (no traceback, nothing else on stderr); the rest in-process.
            if command == ("dump",):
                done = run_esctl("--db", target, *command)
                code, stderr = done.returncode, done.stderr.decode()
            else:
                result = invoke(target, *command, input=ndjson([event(1)]))
                code, stderr = int(result.exit_code), result.stderr
            assert code == 7, (name, command, stderr)
            assert len(error_lines(stderr)) == 1, (name, stderr)
            assert len(stderr.strip().splitlines()) == 1, (name, stderr)
            assert reason in stderr, (name, stderr)
            assert "s3cret-pw" not in stderr, stderr
            assert "Traceback" not in stderr, stderr
            assert ":***@" in stderr, stderr


def test_psycopg_missing_is_exit_7_naming_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from esctl.errors import DatabaseUnusableError

    monkeypatch.setitem(sys.modules, "esctl.store.postgres.store", None)  # an import that fails
    with pytest.raises(DatabaseUnusableError, match=r"needs psycopg") as raised:
        open_store("postgresql://app:pw@db/events")
    assert raised.value.hint == "pip install 'esctl[postgres]'"
    assert "pw@" not in raised.value.message


# -- schema ---------------------------------------------------------------------------------------


def test_init_creates_checks_and_migrates_and_a_newer_schema_is_refused(postgres_url: str) -> None:
    assert invoke(postgres_url, "init", "--check").exit_code == 5  # nothing there yet
    assert stored_rows(postgres_url) is None  # and the check created nothing
    created = invoke(postgres_url, "init")
    assert created.exit_code == 0, created.stderr
    assert "Created the event store" in created.stderr
    assert "options=-csearch_path" in created.stderr  # the target, as given (no password here)
    assert invoke(postgres_url, "init", "--check").exit_code == 0
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        # The store as the first esctl with this backend left it: migration 1 alone.
        tables = [row[0] for row in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")]
        conn.execute("DROP TABLE " + ", ".join(tables) + " CASCADE")  # type: ignore[arg-type]
        for statement in MIGRATIONS[0]:
            conn.execute(statement)  # type: ignore[arg-type]
        conn.execute("INSERT INTO esctl_schema (id, version) VALUES (1, 1)")
    pending = invoke(postgres_url, "init", "--check")
    assert pending.exit_code == 7
    assert f"needs {SCHEMA_VERSION - 1} migrations" in pending.stderr
    assert invoke(postgres_url, "dump").exit_code == 7  # readers refuse a pending migration
    migrated = invoke(postgres_url, "init")
    assert f"from schema version 1 to {SCHEMA_VERSION}" in migrated.stderr
    assert invoke(postgres_url, "append", "-", input=ndjson([event(1)])).exit_code == 0
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("UPDATE esctl_schema SET version = 99")
    before = stored_rows(postgres_url)
    for command in (("dump",), ("append", "-"), ("init",), ("init", "--check")):
        result = invoke(postgres_url, *command, input=ndjson([event(2)]))
        assert result.exit_code == 7, (command, result.stderr)
        assert "schema is version 99" in result.stderr
    assert stored_rows(postgres_url) == before


def test_someone_elses_schema_is_refused_and_left_as_it_was(postgres_url: str) -> None:
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE invoices (id integer PRIMARY KEY)")
    for command in (("init",), ("append", "-"), ("dump",), ("init", "--check"), ("catch-up",)):
        result = invoke(postgres_url, *command, input=ndjson([event(1)]))
        assert result.exit_code == 7, (command, result.stderr)
        assert "not an esctl event store" in result.stderr
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        tables = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()").fetchall()
    assert tables == [("invoices",)]


def test_read_commands_never_create_a_store(postgres_url: str) -> None:
    for command in (("dump",), ("streams",), ("tenants",), ("stats",), ("verify",), ("projections",)):
        result = invoke(postgres_url, *command)
        assert result.exit_code == 5, (command, result.stderr)
        assert "no esctl event store" in result.stderr
    assert stored_rows(postgres_url) is None


# -- LISTEN/NOTIFY --------------------------------------------------------------------------------


async def test_a_waiting_follower_wakes_on_an_append_not_at_its_next_poll(postgres_url: str) -> None:
    follower, writer = store_at(postgres_url), store_at(postgres_url)
    try:
        await writer.migrate()
        started = time.monotonic()
        await follower.wait_for_appends(0.3)  # nothing appended: the poll interval passes
        assert 0.25 < time.monotonic() - started < 2
        waiting = asyncio.ensure_future(follower.wait_for_appends(30))
        await asyncio.sleep(0.3)  # it is listening
        assert not waiting.done()
        cart = uuid4()
        appended = time.monotonic()
        await writer.append_events(cart, "Cart", [item(cart, 1)])
        await asyncio.wait_for(waiting, timeout=5)
        assert time.monotonic() - appended < 2
    finally:
        await follower.close()
        await writer.close()


async def test_follow_applies_an_append_within_moments_with_a_long_poll_interval(postgres_url: str) -> None:
    store = store_at(postgres_url)
    history = History()
    seen: list[int] = []
    try:
        await append(store, [history.event(0, "opened", 5)])
        runner = ProjectionRunner(store, projections(sql=True))
        stop = asyncio.Event()
        following = asyncio.ensure_future(
            runner.follow(["balances-all"], interval=60, on_results=lambda rs: seen.append(rs[0].position), stop=stop)
        )
        for _ in range(100):
            if seen:
                break
            await asyncio.sleep(0.05)
        assert seen == [1]
        await asyncio.sleep(0.3)
        await append(store, [history.event(0, "moved", 2)])
        for _ in range(100):
            if len(seen) > 1:
                break
            await asyncio.sleep(0.05)
        assert seen[-1] == 2  # well before the 60 s poll
        stop.set()
        await asyncio.wait_for(following, timeout=5)
    finally:
        await store.close()


# -- the rebuild's table swap --------------------------------------------------------------------


async def _ledger_store(url: str) -> tuple[PostgresEventStore, ProjectionRunner]:
    store = store_at(url)
    history = History()
    await append(store, [history.event(n % 3, "opened" if n < 3 else "moved", n) for n in range(30)])
    runner = ProjectionRunner(store, projections(sql=True))
    [result] = await runner.catch_up(["ledger"])
    assert result.ok
    assert result.position == 30
    return store, runner


async def test_a_rebuild_waits_for_a_reader_of_the_live_table_then_swaps_carrying_its_indexes(
    postgres_url: str,
) -> None:
    store, runner = await _ledger_store(postgres_url)
    try:
        with psycopg.connect(postgres_url) as reader:
            rows = reader.execute("SELECT event_id, times FROM ledger ORDER BY event_id").fetchall()
            rebuilding = asyncio.ensure_future(runner.rebuild("ledger"))
            await asyncio.sleep(1.0)
            assert not rebuilding.done()  # the reader's open transaction holds the live table
            reader.commit()
            result = await asyncio.wait_for(rebuilding, timeout=10)
        assert result.position == 30
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            assert conn.execute("SELECT event_id, times FROM ledger ORDER BY event_id").fetchall() == rows
            indexes = {row[0] for row in conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'ledger'")}
            tables = {row[0] for row in conn.execute("SELECT tablename FROM pg_tables WHERE tablename LIKE 'ledger%'")}
        assert "ledger_account" in indexes  # renamed after the live table, not the fresh one
        assert tables == {"ledger"}
    finally:
        await store.close()


async def test_a_swap_blocked_past_the_busy_timeout_is_busy_and_leaves_the_read_model(postgres_url: str) -> None:
    store, _ = await _ledger_store(postgres_url)
    await store.close()
    store = PostgresEventStore(postgres_url, registry=REGISTRY, busy_timeout=0.6)
    runner = ProjectionRunner(store, projections(sql=True))
    try:
        with psycopg.connect(postgres_url) as reader:
            rows = reader.execute("SELECT event_id, times FROM ledger ORDER BY event_id").fetchall()
            with pytest.raises(DatabaseBusyError, match="swapping the rebuilt ledger in"):
                await runner.rebuild("ledger")
            reader.rollback()
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            assert conn.execute("SELECT event_id, times FROM ledger ORDER BY event_id").fetchall() == rows
            left = conn.execute("SELECT tablename FROM pg_tables WHERE tablename LIKE 'ledger%'").fetchall()
        assert left == [("ledger",)]  # the fresh table was dropped
    finally:
        await store.close()


# -- placeholders ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("qmark", "format_"),
    [
        ("INSERT INTO t VALUES (?, ?)", "INSERT INTO t VALUES (%s, %s)"),
        ("SELECT '?' || ? FROM t WHERE a LIKE 'x%'", "SELECT '?' || %s FROM t WHERE a LIKE 'x%%'"),
        ('SELECT "odd?col" FROM t WHERE n % 2 = ?', 'SELECT "odd?col" FROM t WHERE n %% 2 = %s'),
        ("SELECT 'it''s ?' , ? -- why?\n", "SELECT 'it''s ?' , %s -- why?\n"),
        ("SELECT /* ? */ ?", "SELECT /* ? */ %s"),
    ],
)
def test_qmark_placeholders_become_psycopgs(qmark: str, format_: str) -> None:
    assert qmark_to_format(qmark) == format_
