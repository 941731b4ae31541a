"""The projection runner in the library: catch-up, failures, dead letters, scoping, rebuild == incremental.

Most tests run against both stores (SQLite file and in-memory); SQL read models only exist on
SQLite. The hypothesis test is the runner's main invariant: however catch-up is cut into batches
and restarts, the read model equals one rebuild from scratch, and every event is applied once.
"""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from esctl import (
    DeclarativeProjection,
    DomainEvent,
    EventRegistry,
    EventStore,
    GenericEvent,
    InMemoryEventStore,
    ProjectionError,
    SQLiteEventStore,
    UsageError,
    handles,
    register_event,
)
from esctl.projections import ProjectionRegistry, ProjectionRunner, ReadModel, RebuildResult, SQLProjection, replay
from esctl.store.types import ReadOptions

REG = EventRegistry()
T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
TENANTS = (UUID(int=0xA), UUID(int=0xB), UUID(int=0xC))


@register_event(registry=REG)
class Opened(DomainEvent):
    """An account was opened with a first amount."""

    event_type: str = "pt.Opened"
    aggregate_type: str = "Account"
    amount: int


@register_event(registry=REG)
class Moved(DomainEvent):
    """Money moved in or out of an account."""

    event_type: str = "pt.Moved"
    aggregate_type: str = "Account"
    amount: int
    poison: bool = False


class Balances(DeclarativeProjection):
    """Python state, the tutorial's style: a balance per account."""

    def __init__(self) -> None:
        super().__init__()
        self.balances: dict[str, int] = {}
        self.events = 0

    @handles(Opened)
    async def _opened(self, event: Opened) -> None:
        self.balances[str(event.aggregate_id)] = event.amount
        self.events += 1

    @handles(Moved)
    async def _moved(self, event: Moved) -> None:
        if event.poison:
            raise ValueError("poisoned move")
        key = str(event.aggregate_id)
        self.balances[key] = self.balances.get(key, 0) + event.amount
        self.events += 1


class Seen(DeclarativeProjection):
    """Counts the events it sees per tenant (of every type, unknown ones included)."""

    def __init__(self) -> None:
        super().__init__()
        self.tenants: dict[str, int] = {}

    @handles(DomainEvent)
    async def _any(self, event: DomainEvent) -> None:
        key = str(event.tenant_id)
        self.tenants[key] = self.tenants.get(key, 0) + 1


class Ledger(SQLProjection):
    """SQL rows, one per event, counting how often each was applied."""

    name = "ledger"
    tenant_column = "tenant_id"
    tables = {  # noqa: RUF012 - the class attribute SQLProjection reads
        "ledger": (
            "CREATE TABLE {ledger} (event_id TEXT PRIMARY KEY, tenant_id TEXT, account TEXT,"
            " amount INTEGER, times INTEGER NOT NULL)",
            "CREATE INDEX {ledger}_account ON {ledger} (account)",
        )
    }

    @handles(Opened)
    def _opened(self, db: ReadModel, event: Opened) -> None:
        self._write(db, event, event.amount)

    @handles(Moved)
    def _moved(self, db: ReadModel, event: Moved) -> None:
        if event.poison:
            raise ValueError("poisoned move")
        self._write(db, event, event.amount)

    def _write(self, db: ReadModel, event: DomainEvent, amount: int) -> None:
        db.execute(
            "INSERT INTO {ledger} (event_id, tenant_id, account, amount, times) VALUES (?, ?, ?, ?, 1)"
            " ON CONFLICT (event_id) DO UPDATE SET times = times + 1",
            (str(event.event_id), str(event.tenant_id), str(event.aggregate_id), amount),
        )


def projections(kind: str) -> ProjectionRegistry:
    """The built-ins, Balances per tenant and whole, a tenant-scoped Seen, and (SQLite) Ledger."""
    registry = ProjectionRegistry()
    registry.register(Balances, name="balances", per_tenant=True)
    registry.register(Balances, name="balances-all")
    registry.register(Seen, name="seen-a", tenant_id=TENANTS[0])
    if kind == "sqlite":
        registry.register(Ledger)
    return registry


@dataclass
class History:
    """Builds events for a few accounts, each account belonging to one tenant (or none)."""

    versions: dict[int, int] = field(default_factory=dict)
    ids: dict[int, UUID] = field(default_factory=dict)
    clock: int = 0

    def event(self, account: int, kind: str, amount: int, poison: bool = False) -> DomainEvent:
        aggregate_id = self.ids.setdefault(account, uuid4())
        version = self.versions.get(account, 0) + 1
        self.versions[account] = version
        self.clock += 1
        common: dict[str, Any] = {
            "aggregate_id": aggregate_id,
            "aggregate_version": version,
            "tenant_id": account_tenant(account),
            "occurred_at": T0 + timedelta(minutes=self.clock),
        }
        if version == 1:
            return Opened(amount=amount, **common)
        if kind == "unknown":
            return GenericEvent(event_type="pt.Unknown", aggregate_type="Account", note=f"n{amount}", **common)
        return Moved(amount=amount, poison=poison, **common)


def account_tenant(account: int) -> UUID | None:
    return None if account % 4 == 3 else TENANTS[account % 4]


def make_store(kind: str, directory: Path) -> EventStore:
    if kind == "memory":
        return InMemoryEventStore()
    return SQLiteEventStore(directory / "events.db", registry=REG)


@pytest.fixture(params=["memory", "sqlite"])
def kind(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


@pytest.fixture
def store(kind: str, tmp_path: Path) -> Iterator[EventStore]:
    event_store = make_store(kind, tmp_path)
    yield event_store
    asyncio.run(event_store.close())


async def snapshot(runner: ProjectionRunner) -> dict[str, list[dict[str, Any]]]:
    return {name: await runner.view(name) for name in runner.names}


async def append(store: EventStore, events: list[DomainEvent]) -> None:
    if events:
        await store.append_batch(events)


# -- the invariant: rebuild == incremental ------------------------------------------------------

EVENT_SPEC = st.tuples(
    st.integers(0, 7),  # account (its tenant follows from it)
    st.sampled_from(["moved", "moved", "unknown"]),
    st.integers(-50, 100),
)
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("append"), st.lists(EVENT_SPEC, min_size=1, max_size=12)),
        st.tuples(
            st.just("catch-up"),
            st.tuples(st.integers(1, 9), st.integers(1, 3), st.booleans()),  # batch size, batches, restart
        ),
    ),
    min_size=1,
    max_size=14,
)


@pytest.mark.parametrize("store_kind", ["memory", "sqlite"])
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS)
def test_catching_up_in_random_batches_with_restarts_equals_one_rebuild(
    store_kind: str, ops: list[tuple[str, Any]]
) -> None:
    with tempfile.TemporaryDirectory() as directory:
        asyncio.run(_rebuild_equals_incremental(store_kind, Path(directory), ops))


async def _rebuild_equals_incremental(kind: str, directory: Path, ops: list[tuple[str, Any]]) -> None:
    store = make_store(kind, directory)
    registry = projections(kind)
    history = History()
    runner = ProjectionRunner(store, registry)
    try:
        for op, arg in ops:
            if op == "append":
                await append(store, [history.event(a, k, n) for a, k, n in arg])
            else:
                batch_size, batches, restart = arg
                if restart:
                    runner = ProjectionRunner(store, registry, batch_size=batch_size)
                else:
                    runner._batch_size = batch_size
                for result in await runner.catch_up(max_batches=batches):
                    assert result.ok
        runner = ProjectionRunner(store, registry, batch_size=4)
        assert all(r.ok for r in await runner.catch_up())
        incremental = await snapshot(runner)
        head = await store.get_global_position()
        statuses = await runner.statuses()
        assert {s.name: s.position for s in statuses} == dict.fromkeys(registry.names(), head)

        fresh = ProjectionRunner(store, registry)
        for name in registry.names():
            result = await fresh.rebuild(name)
            assert result.position == head
        rebuilt = await snapshot(fresh)
        assert rebuilt == incremental

        opened_or_moved = [s async for s in store.read_all() if s.event.event_type in ("pt.Opened", "pt.Moved")]
        balances = incremental["balances-all"][0] if incremental["balances-all"] else {"events": 0}
        assert balances["events"] == len(opened_or_moved)
        if kind == "sqlite":
            ledger = incremental["ledger"]
            assert sorted(row["event_id"] for row in ledger) == sorted(str(s.event.event_id) for s in opened_or_moved)
            assert {row["times"] for row in ledger} <= {1}
    finally:
        await store.close()


# -- catch-up, statuses, unknown types -----------------------------------------------------------


async def test_unknown_types_are_skipped_but_the_checkpoint_advances(store: EventStore, kind: str) -> None:
    history = History()
    await append(store, [history.event(0, "moved", 10), history.event(0, "moved", 5)])
    await append(store, [history.event(0, "unknown", 1) for _ in range(3)])
    runner = ProjectionRunner(store, projections(kind))
    results = {r.name: r for r in await runner.catch_up()}
    assert {r.position for r in results.values()} == {5}
    assert results["balances"].events == 2  # it reads only its own two types
    assert results["seen-a"].events == 5  # it handles DomainEvent: every type, unknown ones too
    assert (await runner.view("balances-all"))[0]["balances"] == {str(history.ids[0]): 15}
    assert (await runner.view("seen-a"))[0]["tenants"] == {str(TENANTS[0]): 5}


async def test_a_tenant_scoped_projection_never_sees_another_tenants_events(store: EventStore, kind: str) -> None:
    history = History()
    events = [history.event(account, "moved", 1) for account in range(8) for _ in range(3)]
    await append(store, events)
    runner = ProjectionRunner(store, projections(kind))
    await runner.catch_up(["seen-a"])
    expected = sum(1 for e in events if e.tenant_id == TENANTS[0])
    assert (await runner.view("seen-a")) == [{"tenants": {str(TENANTS[0]): expected}}]
    # Replayed, and replayed with another tenant asked for: still only its own tenant.
    assert await replay(store, runner.projection("seen-a")) == [{"tenants": {str(TENANTS[0]): expected}}]
    other = ReadOptions(tenant_id=TENANTS[1])
    assert await replay(store, runner.projection("seen-a"), other) == []


async def test_a_failing_handler_stops_only_its_projection_just_before_the_event(store: EventStore, kind: str) -> None:
    history = History()
    before = [history.event(0, "moved", n) for n in range(6)]
    poison = history.event(0, "moved", 99, poison=True)
    after = [history.event(1, "moved", n) for n in range(4)]
    await append(store, [*before, poison, *after])
    registry = projections(kind)
    runner = ProjectionRunner(store, registry, batch_size=4)
    results = {r.name: r for r in await runner.catch_up()}

    failed = results["balances"]
    assert failed.failure is not None
    assert (failed.failure.position, failed.failure.event_id) == (7, str(poison.event_id))
    assert "ValueError: poisoned move" in failed.failure.message
    assert failed.position == 6
    assert results["tenant-stats"].ok
    assert results["tenant-stats"].position == 11
    # The events before the failing one are in the read model, exactly once.
    state = {row["tenant_id"]: row for row in await runner.view("balances")}
    assert state[str(TENANTS[0])]["events"] == 6
    statuses = {s.name: s for s in await runner.statuses()}
    assert statuses["balances"].status == "failed"
    assert statuses["balances"].lag == 5
    assert statuses["stream-index"].status == "ok"

    # Trying again (same handler) stops at the same event; skipping it moves on.
    again = {r.name: r for r in await ProjectionRunner(store, registry).catch_up(["balances"])}
    assert again["balances"].failure is not None
    assert again["balances"].failure.position == 7
    skipped = (await ProjectionRunner(store, registry).catch_up(["balances"], skip=True))[0]
    assert skipped.ok
    assert skipped.skipped is not None
    assert skipped.skipped.position == 7
    assert skipped.position == 11
    statuses = {s.name: s for s in await runner.statuses()}
    assert (statuses["balances"].status, statuses["balances"].dead_letters) == ("ok", 1)
    # A rebuild skips the dead letter too, and gives the same read model.
    incremental = await runner.view("balances")
    rebuilt = await ProjectionRunner(store, registry).rebuild("balances")
    assert rebuilt.events == 10  # 11 events, the dead letter not applied and not counted
    assert await runner.view("balances") == incremental


async def test_a_rebuild_that_hits_a_failing_handler_leaves_the_read_model_in_use(store: EventStore, kind: str) -> None:
    history = History()
    await append(store, [history.event(0, "moved", n) for n in range(3)])
    registry = projections(kind)
    runner = ProjectionRunner(store, registry)
    await runner.catch_up(["balances-all"])
    before = await runner.view("balances-all")
    await append(store, [history.event(0, "moved", 1, poison=True)])
    with pytest.raises(ProjectionError, match="position 4"):
        await runner.rebuild("balances-all")
    assert await runner.view("balances-all") == before
    status = {s.name: s for s in await runner.statuses()}["balances-all"]
    assert (status.position, status.status) == (3, "ok")


async def test_handlers_that_await_real_io_are_refused_as_a_failure(store: EventStore, kind: str) -> None:
    class Sleepy(DeclarativeProjection):
        @handles(Opened)
        async def _opened(self, event: Opened) -> None:
            await asyncio.sleep(0)

    history = History()
    await append(store, [history.event(0, "opened", 1)])
    registry = ProjectionRegistry(builtins=False)
    registry.register(Sleepy, name="sleepy")
    result = (await ProjectionRunner(store, registry).catch_up())[0]
    assert result.failure is not None
    assert "awaited real I/O" in result.failure.message


async def test_the_tutorial_style_projection_keeps_working_in_memory() -> None:
    history = History()
    projection = Balances()
    for event in [history.event(0, "moved", 5), history.event(0, "moved", 7)]:
        await projection.handle(event)
    assert projection.balances == {str(history.ids[0]): 12}
    await projection.reset()  # DeclarativeProjection.reset -> _truncate_read_models (a no-op here)
    assert projection.handled_event_types() == frozenset({"pt.Opened", "pt.Moved"})


# -- SQL read models ----------------------------------------------------------------------------


async def test_sql_projection_errors_are_the_handlers_failure(tmp_path: Path) -> None:
    class Broken(SQLProjection):
        name = "broken"
        tables = {"broken": "CREATE TABLE {broken} (id TEXT)"}  # noqa: RUF012

        @handles(Opened)
        def _opened(self, db: ReadModel, event: Opened) -> None:
            db.execute("INSERT INTO {broken} (no_such_column) VALUES (1)")

    store = SQLiteEventStore(tmp_path / "events.db", registry=REG)
    try:
        await append(store, [History().event(0, "opened", 1)])
        registry = ProjectionRegistry(builtins=False)
        registry.register(Broken)
        result = (await ProjectionRunner(store, registry).catch_up())[0]
        assert result.failure is not None
        assert "no_such_column" in result.failure.message
        assert result.position == 0
    finally:
        await store.close()


async def test_sql_read_models_need_a_sql_store() -> None:
    store = InMemoryEventStore()
    await append(store, [History().event(0, "opened", 1)])
    registry = ProjectionRegistry(builtins=False)
    registry.register(Ledger)
    with pytest.raises(UsageError, match="no SQL read models"):
        await ProjectionRunner(store, registry).catch_up()


async def caught_up_ledger(
    store: EventStore, *, accounts: int, moves: int
) -> tuple[ProjectionRegistry, ProjectionRunner, list[dict[str, Any]]]:
    """Append ``moves`` events to each of ``accounts`` accounts and catch Ledger up.

    Returns:
        Ledger's registry, a runner, and Ledger's view after the catch-up.
    """
    history = History()
    await append(store, [history.event(a, "moved", 1) for a in range(accounts) for _ in range(moves)])
    registry = ProjectionRegistry(builtins=False)
    registry.register(Ledger)
    runner = ProjectionRunner(store, registry)
    await runner.catch_up()
    return registry, runner, await runner.view("ledger")


async def test_a_rebuild_swaps_fresh_tables_in_and_indexes_survive_several_rebuilds(tmp_path: Path) -> None:
    store = SQLiteEventStore(tmp_path / "events.db", registry=REG)
    try:
        _, runner, before = await caught_up_ledger(store, accounts=4, moves=5)
        for generation in (1, 2, 3):
            result = await runner.rebuild("ledger")
            assert result.generation == generation
            assert await runner.view("ledger") == before
    finally:
        await store.close()
    conn = sqlite3.connect(tmp_path / "events.db")
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    indexes = [
        row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'ledger'")
    ]
    conn.close()
    assert "ledger" in tables
    assert not [t for t in tables if "__r" in t]  # no fresh table left behind
    assert any(name.endswith("_account") for name in indexes)


async def test_of_two_rebuilds_at_once_the_newer_carries_on_and_the_older_stops_cleanly(tmp_path: Path) -> None:
    # Both run in small batches on one event loop, so their transactions interleave. Without a
    # guard they wrote into one fresh table and swapped in events applied twice.
    store = SQLiteEventStore(tmp_path / "events.db", registry=REG)
    try:
        registry, runner, before = await caught_up_ledger(store, accounts=8, moves=50)
        first, second = await asyncio.gather(
            ProjectionRunner(store, registry, batch_size=10).rebuild("ledger"),
            ProjectionRunner(store, registry, batch_size=10).rebuild("ledger"),
            return_exceptions=True,
        )
        assert isinstance(first, ProjectionError)
        assert "another rebuild" in str(first)
        assert isinstance(second, RebuildResult)
        assert (second.events, second.generation) == (400, 1)  # one swap: the generation counts swaps
        after = await runner.view("ledger")
        assert after == before
        assert {row["times"] for row in after} == {1}
        assert (await runner.checkpoint("ledger")).generation == 1  # type: ignore[union-attr]
    finally:
        await store.close()
    conn = sqlite3.connect(tmp_path / "events.db")
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    # The claim (namespace ledger@rebuild) and the fresh documents (ledger@rebuild-<claim>) alike.
    leftovers = conn.execute("SELECT COUNT(*) FROM projection_documents WHERE namespace LIKE 'ledger@%'").fetchone()
    conn.close()
    assert not [t for t in tables if "__r" in t]
    assert leftovers == (0,)


@pytest.mark.parametrize("tenant", [None, TENANTS[0]])
async def test_a_long_lived_runner_catches_up_correctly_after_another_runner_rebuilt(
    store: EventStore, kind: str, tenant: UUID | None
) -> None:
    # The follower's cached state predates the rebuild's swap. A catch-up that finds nothing
    # new must still drop that cache, or the next events are applied on top of stale state.
    history = History()
    registry = projections(kind)
    await append(store, [history.event(0, "moved", 1) for _ in range(10)])
    follower = ProjectionRunner(store, registry)
    await follower.catch_up(["balances"])
    await append(store, [history.event(0, "moved", 1) for _ in range(5)])
    await ProjectionRunner(store, registry).rebuild("balances", tenant_id=tenant)
    await follower.catch_up(["balances"])  # nothing new since the swap
    await append(store, [history.event(0, "moved", 1) for _ in range(5)])
    await follower.catch_up(["balances"])
    [row] = await follower.view("balances")
    assert row["events"] == 20
    assert await follower.view("balances") == await ProjectionRunner(store, registry).view("balances")


async def test_rebuilding_one_tenant_leaves_the_other_tenants_rows_byte_identical(tmp_path: Path) -> None:
    store = SQLiteEventStore(tmp_path / "events.db", registry=REG)
    history = History()
    try:
        await append(store, [history.event(a, "moved", a + 1) for a in range(8) for _ in range(4)])
        registry = projections("sqlite")
        runner = ProjectionRunner(store, registry)
        await runner.catch_up()
    finally:
        await store.close()
    path = tmp_path / "events.db"
    a, b = str(TENANTS[0]), str(TENANTS[1])
    original = _raw(path)
    # Damage tenants A and B in every per-tenant read model.
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("UPDATE ledger SET amount = -1 WHERE tenant_id IN (?, ?)", (a, b))
        conn.execute(
            'UPDATE projection_documents SET body = CAST(\'{"balances": {}, "events": -1}\' AS BLOB)'
            " WHERE namespace = 'balances' AND tenant IN (?, ?)",
            (a, b),
        )
    conn.close()
    damaged = _raw(path)
    store = SQLiteEventStore(path, registry=REG)
    try:
        runner = ProjectionRunner(store, registry)
        for name in ("ledger", "balances", "tenant-stats", "stream-index"):
            await runner.rebuild(name, tenant_id=TENANTS[0])
        with pytest.raises(UsageError, match="not kept per tenant"):
            await runner.rebuild("balances-all", tenant_id=TENANTS[0])
    finally:
        await store.close()
    repaired = _raw(path)
    for table in original:
        assert _part(repaired[table], a) == _part(original[table], a), table  # A is right again
        for tenant in {row[0] for row in original[table]} - {a}:
            assert _part(repaired[table], tenant) == _part(damaged[table], tenant), table  # others untouched


def _raw(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Rows of every per-tenant read model, as stored (bytes and all), tenant first."""
    conn = sqlite3.connect(path)
    try:
        tables = {
            "ledger": conn.execute("SELECT tenant_id, * FROM ledger ORDER BY event_id").fetchall(),
        }
        for namespace in ("balances", "tenant-stats", "stream-index"):
            tables[namespace] = conn.execute(
                "SELECT tenant, key, body FROM projection_documents WHERE namespace = ? ORDER BY tenant, key",
                (namespace,),
            ).fetchall()
        return tables
    finally:
        conn.close()


def _part(rows: list[tuple[Any, ...]], tenant: str) -> list[tuple[Any, ...]]:
    return [row for row in rows if row[0] == tenant]
