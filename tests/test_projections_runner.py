"""The projection runner on SQLite alone: SQL read-model tables swapped in by rebuilds, two rebuilds
at once, a one-tenant rebuild that leaves the other tenants' rows byte for byte.

The runner's behaviour on every store (catch-up, failures, dead letters, scoping, the invariant
rebuild == incremental) is ``esctl.testing.projections`` (``ProjectionStorageContract``, run in
test_store_contract.py).
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from esctl import EventStore, ProjectionError, SQLiteEventStore, UsageError
from esctl.projections import ProjectionRegistry, ProjectionRunner, RebuildResult
from esctl.testing.events import REGISTRY as REG
from esctl.testing.events import TENANTS, Balances, History, Ledger, projections


async def append(store: EventStore, events: list[Any]) -> None:
    if events:
        await store.append_batch(events)


async def test_the_tutorial_style_projection_keeps_working_in_memory() -> None:
    history = History()
    projection = Balances()
    for event in [history.event(0, "moved", 5), history.event(0, "moved", 7)]:
        await projection.handle(event)
    assert projection.balances == {str(history.ids[0]): 12}
    await projection.reset()  # DeclarativeProjection.reset -> _truncate_read_models (a no-op here)
    assert projection.handled_event_types() == frozenset({"pt.Opened", "pt.Moved"})


# -- SQL read models ----------------------------------------------------------------------------


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


async def test_rebuilding_one_tenant_leaves_the_other_tenants_rows_byte_identical(tmp_path: Path) -> None:
    store = SQLiteEventStore(tmp_path / "events.db", registry=REG)
    history = History()
    try:
        await append(store, [history.event(a, "moved", a + 1) for a in range(8) for _ in range(4)])
        registry = projections(sql=True)
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
