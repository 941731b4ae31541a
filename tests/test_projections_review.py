"""Projection commands as a new user meets them: the review's findings, each pinned down.

A mistyped ``--db`` never becomes a new store, someone else's database is refused, failures
show in the exit code and are reported once with the right counts, page reads never sort, the
help reads as written, and the rebuild prompt and its interruption say what happened.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest

from esctl import (
    DatabaseUnusableError,
    DomainEvent,
    EventRegistry,
    SQLiteEventStore,
    register_event,
)
from esctl.projections import ProjectionRegistry, ProjectionRunner
from esctl.store.sqlite.projections import SQLiteProjectionStorage
from esctl.store.types import ReadOptions

REG = EventRegistry()
T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
TENANTS = (UUID(int=0xA1), UUID(int=0xB2), UUID(int=0xC3))
FOREIGN_HINT = "is --db right? esctl leaves other databases alone; a path that does not exist yet makes a new store"


@register_event(registry=REG)
class Rang(DomainEvent):
    """A bell rang; ``poison`` makes the counting handler raise."""

    event_type: str = "review.Rang"
    aggregate_type: str = "Bell"
    poison: bool = False


@register_event(registry=REG)
class Hushed(DomainEvent):
    """A bell was hushed."""

    event_type: str = "review.Hushed"
    aggregate_type: str = "Bell"


def esctl(db: Path, *args: str, stdin: Any = subprocess.DEVNULL) -> subprocess.CompletedProcess[str]:
    """Run ``python -m esctl --db DB ARGS`` as a real process (built-in projections only)."""
    return subprocess.run(
        [sys.executable, "-m", "esctl", "--db", str(db), *args],
        capture_output=True,
        stdin=stdin,
        text=True,
        env={**os.environ, "COLUMNS": "120"},
        timeout=120,
        check=False,
        cwd=db.parent,
    )


def rings(count: int, *, poison: int | None = None, tenant: UUID | None = None, start: int = 0) -> list[DomainEvent]:
    """``count`` rings of one bell (the one at index ``poison`` poisoned), a minute apart."""
    bell = uuid4()
    return [
        Rang(
            aggregate_id=bell,
            aggregate_version=i + 1,
            tenant_id=tenant or TENANTS[0],
            occurred_at=T0 + timedelta(minutes=start + i),
            poison=i == poison,
        )
        for i in range(count)
    ]


async def write(path: Path, events: list[DomainEvent]) -> None:
    async with SQLiteEventStore(path, registry=REG) as store:
        await store.append_batch(events)


def foreign_database(path: Path) -> bytes:
    """Someone else's SQLite database (user_version 0, tables of its own); returns its bytes."""
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
        conn.execute("INSERT INTO customers (name) VALUES ('Ada')")
    conn.close()
    return path.read_bytes()


# -- 1. a mistyped --db, someone else's database ------------------------------------------------


@pytest.mark.parametrize("args", [("catch-up",), ("rebuild-projection", "tenant-stats", "--yes")])
def test_writing_projection_commands_never_create_a_store(tmp_path: Path, args: tuple[str, ...]) -> None:
    missing = tmp_path / "demoo.db"
    result = esctl(missing, *args)
    assert result.returncode == 5, result.stderr
    assert not missing.exists()
    assert not list(tmp_path.glob("demoo.db*"))
    # The same message as the read commands give.
    read = esctl(missing, "projections")
    assert read.returncode == 5
    assert result.stderr.splitlines()[-1] == read.stderr.splitlines()[-1]
    assert f"database {missing} does not exist" in result.stderr


@pytest.mark.parametrize(
    "args", [("catch-up",), ("rebuild-projection", "tenant-stats", "--yes"), ("projections",), ("init",)]
)
def test_someone_elses_database_is_refused_and_left_alone(tmp_path: Path, args: tuple[str, ...]) -> None:
    db = tmp_path / "crm.db"
    before = foreign_database(db)
    result = esctl(db, *args)
    assert result.returncode == 7, result.stderr
    assert "not an esctl event store" in result.stderr
    assert FOREIGN_HINT in result.stderr
    assert "run `esctl init`" not in result.stderr
    assert "Traceback" not in result.stderr
    conn = sqlite3.connect(db)
    try:
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert tables == {"customers"}
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 0
    finally:
        conn.close()
    if args[0] != "init":  # the pre-check opens it read-only: not a byte changes
        assert db.read_bytes() == before


def test_an_empty_file_is_not_turned_into_a_store_by_catch_up(tmp_path: Path) -> None:
    db = tmp_path / "empty.db"
    db.touch()
    result = esctl(db, "catch-up")
    assert result.returncode == 7, result.stderr
    assert FOREIGN_HINT in result.stderr
    assert db.stat().st_size == 0


async def test_the_library_refuses_to_add_its_schema_to_a_foreign_database(tmp_path: Path) -> None:
    db = tmp_path / "crm.db"
    foreign_database(db)
    async with SQLiteEventStore(db, registry=REG) as store:
        with pytest.raises(DatabaseUnusableError, match="not an esctl event store") as caught:
            await store.append_batch(rings(1))
    assert caught.value.hint == FOREIGN_HINT
    conn = sqlite3.connect(db)
    try:
        assert not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'events'").fetchall()
    finally:
        conn.close()
    # A new file, and an empty one, still become stores: that is what `init` and `append` do.
    for path in (tmp_path / "new.db", tmp_path / "touched.db"):
        if path.name == "touched.db":
            path.touch()
        async with SQLiteEventStore(path, registry=REG) as store:
            await store.append_batch(rings(2))
            assert await store.get_global_position() == 2


def test_catch_up_on_an_existing_store_still_works(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    asyncio.run(write(db, rings(5)))
    result = esctl(db, "catch-up", "tenant-stats")
    assert result.returncode == 0, result.stderr
    assert "tenant-stats: applied 5 events; at position 5 of 5." in result.stderr


# -- 2. and 3. failures: exit 8 on the listing, catch-up reports once and counts right ----------

APP = '''
from esctl import DeclarativeProjection, DomainEvent, handles, register_event
from esctl.projections import register_projection


@register_event
class Rang(DomainEvent):
    event_type: str = "review.Rang"
    aggregate_type: str = "Bell"
    poison: bool = False


class Boom(DeclarativeProjection):
    """Fails on a poisoned ring."""

    @handles(Rang)
    async def _rang(self, event: Rang) -> None:
        if event.poison:
            raise ValueError("cracked bell")


register_projection(Boom, name="boom", per_tenant=True)
'''


def test_a_failed_projection_makes_the_listing_exit_8_and_catch_up_report_it_once(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    (tmp_path / "review_app.py").write_text(APP)
    events = rings(100, poison=78)  # position 79
    asyncio.run(write(db, events))

    result = esctl(db, "--app", "review_app.py", "catch-up", "boom")
    assert result.returncode == 8, result.stderr
    assert "after 0 events" not in result.stderr
    assert result.stderr.count("position 79") == 1, result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith(
        f"Error: 1 projection stopped by a failing handler (boom): boom at position 79 (event {events[78].event_id})"
    )
    assert "stopped at 78 after 78 events" in line

    listing = esctl(db, "--app", "review_app.py", "projections", "--format", "json")
    assert listing.returncode == 8, listing.stderr
    boom = [row for row in json.loads(listing.stdout) if row["name"] == "boom"]  # the listing is printed
    assert [row["status"] for row in boom] == ["failed"]
    assert "Error: 1 projection stopped by a failing handler (boom)" in listing.stderr
    assert "esctl catch-up boom --skip" in listing.stderr

    skipped = esctl(db, "--app", "review_app.py", "catch-up", "boom", "--skip")
    assert skipped.returncode == 0, skipped.stderr
    assert esctl(db, "--app", "review_app.py", "projections").returncode == 0


def test_the_projections_help_says_it_exits_8() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "esctl", "projections", "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        check=False,
    )
    assert result.returncode == 0
    assert "exits 8" in result.stdout


# -- 4. page reads never sort ------------------------------------------------------------------


def _traced_plans(db: Path, read: Any) -> list[str]:
    """Run ``read(storage)`` and return the query plan lines of every events query it made."""
    conn = sqlite3.connect(db, isolation_level=None)
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    try:
        read(SQLiteProjectionStorage(conn, REG, db))
        conn.set_trace_callback(None)
        plans = []
        for sql in statements:
            if "FROM events" in sql and "ORDER BY position" in sql:
                plans += [str(row[-1]) for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}")]
        return plans
    finally:
        conn.close()


@pytest.mark.parametrize(
    "options",
    [
        ReadOptions(event_types=("review.Hushed", "review.Rang")),
        ReadOptions(tenant_ids=TENANTS[:2]),
        ReadOptions(tenant_ids=TENANTS[:2], event_types=("review.Hushed", "review.Rang")),
        ReadOptions(tenant_id=TENANTS[0], event_types=("review.Hushed", "review.Rang")),
        ReadOptions(tenant_id=TENANTS[0], from_timestamp=T0 + timedelta(minutes=5)),
    ],
)
def test_projection_page_reads_walk_an_index_in_position_order(tmp_path: Path, options: ReadOptions) -> None:
    db = tmp_path / "events.db"
    asyncio.run(write(db, rings(30, tenant=TENANTS[0]) + rings(30, tenant=TENANTS[1])))
    plans = _traced_plans(db, lambda storage: storage.read_rows(0, 60, 10, options=options))
    assert plans
    assert not [line for line in plans if "TEMP B-TREE" in line], plans


def test_a_tenant_time_window_is_located_once_and_pages_stay_the_same(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    events = [e for pair in zip(rings(40, tenant=TENANTS[0]), rings(40, tenant=TENANTS[1]), strict=True) for e in pair]
    asyncio.run(write(db, events))
    window = ReadOptions(
        tenant_id=TENANTS[1], from_timestamp=T0 + timedelta(minutes=10), to_timestamp=T0 + timedelta(minutes=20)
    )
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        storage = SQLiteProjectionStorage(conn, REG, db)
        after, upper = storage.event_range(0, 80, window)
        assert (after, upper) == (21, 40)  # tenant B's minutes 10..19 are positions 22, 24, … 40
        assert storage.read_rows(after, upper, 100, options=window) == storage.read_rows(0, 80, 100, options=window)
        empty = ReadOptions(tenant_id=TENANTS[2], from_timestamp=T0)
        first, last = storage.event_range(0, 80, empty)
        assert first >= last
        assert storage.event_range(3, 70, ReadOptions(tenant_id=TENANTS[0])) == (3, 70)  # no window: as given
    finally:
        conn.close()


# -- 5. help texts ------------------------------------------------------------------------------


def _help(*args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "esctl", *args, "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_projection_show_help_prints_each_example_on_its_own_line() -> None:
    lines = [line.strip() for line in _help("projection", "show").splitlines()]
    assert "esctl projection show tenant-stats" in lines
    assert any(line.startswith("esctl projection show stream-index --tenant") for line in lines)


def test_catch_up_usage_names_its_argument_once() -> None:
    text = _help("catch-up")
    assert "[[NAME]" not in text
    assert "NAME" in text


# -- 6. and 7. the rebuild prompt and its interruption ------------------------------------------


def test_declining_the_rebuild_prompt_exits_2_with_one_line(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    asyncio.run(write(db, rings(5)))
    assert esctl(db, "-q", "catch-up").returncode == 0
    controller, terminal = os.openpty()
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "esctl", "--db", str(db), "rebuild-projection", "tenant-stats"],
            stdin=terminal,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        os.write(controller, b"n\n")
        _, stderr = process.communicate(timeout=60)
    finally:
        os.close(terminal)
        os.close(controller)
    assert process.returncode == 2, stderr
    assert "Rebuild tenant-stats from the first event?" in stderr
    assert "Error: rebuild of tenant-stats declined — pass --yes to skip the question" in stderr
    assert "Aborted" not in stderr
    conn = sqlite3.connect(db)
    try:  # nothing was rebuilt: the generation is still 0
        assert conn.execute("SELECT generation FROM projection_checkpoints WHERE name = 'tenant-stats'").fetchone() == (
            0,
        )
    finally:
        conn.close()


def test_an_interrupted_rebuild_says_which_read_model_is_in_use(tmp_path: Path) -> None:
    from esctl.cli import projections as cli
    from esctl.cli.runtime import settings as cli_settings
    from esctl.projections.registry import default_projections

    db = tmp_path / "events.db"
    asyncio.run(write(db, rings(5)))
    cli_settings.reset(db=db, app_modules=(), quiet=False, verbose=False)

    not_swapped = cli._RebuildProgress(current="tenant-stats", generation=0)
    assert cli._interrupted_rebuild(not_swapped) == (
        "tenant-stats: the read model in use is unchanged (its rebuild was not swapped in)"
    )

    async def rebuild() -> None:
        async with SQLiteEventStore(db, registry=REG) as store:
            await ProjectionRunner(store, default_projections).rebuild("tenant-stats")

    asyncio.run(rebuild())  # the swap commits: generation 1
    swapped = cli._RebuildProgress(done=["stream-index"], current="tenant-stats", generation=0)
    message = cli._interrupted_rebuild(swapped)
    assert message.startswith("rebuilt and swapped in: stream-index; tenant-stats: a rebuild of it was swapped in")
    assert "this one's or another's" in message  # the generation alone cannot say whose swap it was
    assert cli._interrupted_rebuild(cli._RebuildProgress(done=["stream-index"])) == (
        "rebuilt and swapped in: stream-index; nothing else was changed"
    )


@pytest.mark.parametrize("table", ["events", "projection_x", "sqlite_y", "orders__g2", "orders__r0123456789ab"])
def test_a_read_model_table_may_not_take_a_name_esctl_uses(table: str) -> None:
    from esctl import UsageError
    from esctl.projections import SQLProjection

    def projection(name: str) -> type[SQLProjection]:
        return type("Orders", (SQLProjection,), {"name": "orders", "tables": {name: f"CREATE TABLE {{{name}}} (x)"}})

    with pytest.raises(UsageError, match="cannot name a read-model table"):
        ProjectionRegistry(builtins=False).register(projection(table))
    ProjectionRegistry(builtins=False).register(projection("orders__r1"))  # not a fresh table's name
