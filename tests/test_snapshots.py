"""Snapshots: the store on each backend, AggregateRepository(snapshot_store=..., snapshot_every=N),
loads equal to a full replay, a 10,000-event aggregate loaded from its snapshot, and
`esctl snapshots` / `esctl snapshots drop` as real processes."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import tempfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID, uuid4

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from classic_support import STORE_KINDS, store_of
from cli_support import run_esctl
from esctl import (
    AggregateRepository,
    DeclarativeAggregate,
    DomainEvent,
    EventStore,
    ReadOptions,
    SQLiteEventStore,
    StoredEvent,
    TenantAwareRepository,
    TenantMismatchError,
    UsageError,
    handles,
    register_event,
)
from esctl.store.snapshots import Snapshot, SnapshotStore


@register_event
class Deposited(DomainEvent):
    event_type: str = "snap.Deposited"
    aggregate_type: str = "Wallet"
    amount: int


@register_event
class Withdrew(DomainEvent):
    event_type: str = "snap.Withdrew"
    aggregate_type: str = "Wallet"
    amount: int


class WalletState(BaseModel):
    balance: int = 0
    moves: list[int] = []
    owner: UUID | None = None


class Wallet(DeclarativeAggregate[WalletState]):
    aggregate_type = "Wallet"

    def _get_initial_state(self) -> WalletState:
        return WalletState()

    @handles(Deposited)
    def _deposited(self, event: Deposited) -> None:
        self._state = WalletState(
            balance=self.state.balance + event.amount, moves=[*self.state.moves, event.amount], owner=event.tenant_id
        )

    @handles(Withdrew)
    def _withdrew(self, event: Withdrew) -> None:
        self._state = WalletState(
            balance=self.state.balance - event.amount, moves=[*self.state.moves, -event.amount], owner=event.tenant_id
        )

    def move(self, amount: int) -> None:
        if amount >= 0:
            self.apply_event(self.create_event(Deposited, amount=amount))
        else:
            self.apply_event(self.create_event(Withdrew, amount=-amount))


class WalletV2(Wallet):
    schema_version = 2


def snapshots_of(store: EventStore) -> SnapshotStore:
    try:
        return store.snapshot_store()
    except UsageError:
        pytest.skip(f"{type(store).__name__} keeps no snapshots yet")


@pytest.fixture(params=STORE_KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


# -- the snapshot store on each backend ------------------------------------------------------------


async def test_the_snapshot_store_keeps_the_newest_per_aggregate(kind: str, tmp_path: Path) -> None:
    with store_of(kind, tmp_path) as store:
        try:
            snapshots = snapshots_of(store)
            acme, globex = uuid4(), uuid4()
            a, b, c = uuid4(), uuid4(), uuid4()
            when = datetime(2026, 11, 1, 8, tzinfo=UTC)
            await snapshots.save_snapshot(Snapshot(a, "Wallet", 100, {"balance": 1}, 1, acme, when))
            await snapshots.save_snapshot(Snapshot(a, "Wallet", 50, {"balance": 0}, 1, acme, when))  # older: ignored
            await snapshots.save_snapshot(Snapshot(b, "Wallet", 200, {"balance": 2}, 1, globex, when))
            await snapshots.save_snapshot(Snapshot(c, "Order", 300, [1, "x", None], 3, None, when + timedelta(hours=1)))
            got = await snapshots.get_snapshot(a, "Wallet")
            assert got == Snapshot(a, "Wallet", 100, {"balance": 1}, 1, acme, when)
            assert await snapshots.get_snapshot(a, "Order") is None
            assert (await snapshots.get_snapshot(c, "Order")).state == [1, "x", None]  # type: ignore[union-attr]
            await snapshots.save_snapshot(Snapshot(a, "Wallet", 150, {"balance": 5}, 1, acme, when))
            assert (await snapshots.get_snapshot(a, "Wallet")).version == 150  # type: ignore[union-attr]
            groups = await snapshots.list_snapshot_groups()
            assert [(g.aggregate_type, g.tenant_id, g.snapshots, g.min_version, g.max_version) for g in groups] == [
                ("Order", None, 1, 300, 300),
                *sorted([("Wallet", acme, 1, 150, 150), ("Wallet", globex, 1, 200, 200)], key=lambda g: str(g[1])),
            ]
            assert await snapshots.count_snapshots(aggregate_type="Wallet") == 2
            assert await snapshots.count_snapshots(tenant_id=acme) == 1
            assert await snapshots.delete_snapshots(aggregate_type="Wallet", tenant_id=globex) == 1
            assert await snapshots.delete_snapshot(a, "Wallet") is True
            assert await snapshots.delete_snapshot(a, "Wallet") is False
            assert await snapshots.delete_snapshots() == 1
            assert await snapshots.list_snapshot_groups() == []
        finally:
            await store.close()


async def test_sqlite_snapshots_live_in_the_stores_file(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    wallet = uuid4()
    async with SQLiteEventStore(path) as store:
        await store.snapshot_store().save_snapshot(Snapshot(wallet, "Wallet", 7, {"balance": 7}))
    assert sqlite3.connect(path).execute("SELECT version FROM snapshots").fetchall() == [(7,)]
    async with SQLiteEventStore(path, readonly=True) as store:
        assert (await store.snapshot_store().get_snapshot(wallet, "Wallet")).version == 7  # type: ignore[union-attr]


# -- the repository --------------------------------------------------------------------------------


class CountingReads:
    """Counts the events a store's read_stream returns."""

    def __init__(self, store: EventStore) -> None:
        self.read = 0
        original = store.read_stream

        def counted(*args: object, **kwargs: object) -> AsyncIterator[StoredEvent]:
            async def generator() -> AsyncIterator[StoredEvent]:
                async for stored in original(*args, **kwargs):  # type: ignore[arg-type]
                    self.read += 1
                    yield stored

            return generator()

        store.read_stream = counted  # type: ignore[method-assign]


async def save_moves(repo: AggregateRepository[Wallet], wallet_id: UUID, moves: list[list[int]]) -> Wallet:
    wallet = repo.create_new(wallet_id)
    for batch in moves:
        for amount in batch:
            wallet.move(amount)
        await repo.save(wallet)
    return wallet


async def test_snapshots_are_taken_at_multiples_and_loads_start_from_them(kind: str, tmp_path: Path) -> None:
    with store_of(kind, tmp_path) as store:
        try:
            snapshots = snapshots_of(store)
            repo = AggregateRepository(store, Wallet, snapshot_store=snapshots, snapshot_every=10)
            wallet_id = uuid4()
            await save_moves(repo, wallet_id, [[1] * 7, [2] * 7, [3] * 7])  # versions 7, 14, 21
            snapshot = await snapshots.get_snapshot(wallet_id, "Wallet")
            assert snapshot is not None
            assert snapshot.version == 21
            counter = CountingReads(store)
            loaded = await repo.load(wallet_id)
            assert counter.read == 0
            assert (loaded.version, loaded.state.balance) == (21, 7 + 14 + 21)
            loaded.move(-5)
            await repo.save(loaded)  # version 22: no multiple of 10 crossed
            assert (await snapshots.get_snapshot(wallet_id, "Wallet")).version == 21  # type: ignore[union-attr]
            again = await repo.load(wallet_id)
            assert counter.read == 1
            assert (again.version, again.state.balance, again.state.moves[-1]) == (22, 37, -5)
        finally:
            await store.close()


async def test_a_snapshot_of_another_schema_version_is_ignored(kind: str, tmp_path: Path) -> None:
    with store_of(kind, tmp_path) as store:
        try:
            snapshots = snapshots_of(store)
            wallet_id = uuid4()
            old = AggregateRepository(store, Wallet, snapshot_store=snapshots, snapshot_every=5)
            await save_moves(old, wallet_id, [[1] * 6])
            # A tampered snapshot at the current schema would show; at another one it must not.
            await snapshots.save_snapshot(Snapshot(wallet_id, "Wallet", 6, {"balance": 999, "moves": []}, 1))
            assert (await old.load(wallet_id)).state.balance == 999
            new = AggregateRepository(store, WalletV2, snapshot_store=snapshots, snapshot_every=5)
            counter = CountingReads(store)
            assert (await new.load(wallet_id)).state.balance == 6
            assert counter.read == 6
        finally:
            await store.close()


async def test_a_snapshot_that_does_not_restore_or_that_the_stream_never_reached_is_ignored(
    kind: str, tmp_path: Path
) -> None:
    with store_of(kind, tmp_path) as store:
        try:
            snapshots = snapshots_of(store)
            repo = AggregateRepository(store, Wallet, snapshot_store=snapshots, snapshot_every=100)
            wallet_id = uuid4()
            await save_moves(repo, wallet_id, [[4, 4]])
            await snapshots.save_snapshot(Snapshot(wallet_id, "Wallet", 2, {"balance": "not a number"}))
            assert (await repo.load(wallet_id)).state.balance == 8
            await snapshots.save_snapshot(Snapshot(wallet_id, "Wallet", 50, {"balance": 1000}))
            loaded = await repo.load(wallet_id)
            assert (loaded.version, loaded.state.balance) == (2, 8)
            ghost = uuid4()
            await snapshots.save_snapshot(Snapshot(ghost, "Wallet", 3, {"balance": 3}))
            assert await repo.get_or_none(ghost) is None
        finally:
            await store.close()


async def test_a_tenant_aware_repository_checks_the_snapshots_tenant(tmp_path: Path) -> None:
    with store_of("sqlite", tmp_path) as store:
        snapshots = store.snapshot_store()
        acme, globex = uuid4(), uuid4()
        inner = AggregateRepository(store, Wallet, snapshot_store=snapshots, snapshot_every=2)
        repo = TenantAwareRepository(inner)
        wallet_id = uuid4()
        from esctl import tenant_scope

        async with tenant_scope(acme):
            wallet = repo.create_new(wallet_id)
            wallet.move(1)
            wallet.move(2)
            await repo.save(wallet)
            assert (await repo.load(wallet_id)).state.owner == acme
        assert (await snapshots.get_snapshot(wallet_id, "Wallet")).tenant_id == acme  # type: ignore[union-attr]
        async with tenant_scope(globex):
            with pytest.raises(TenantMismatchError):
                await repo.load(wallet_id)
        await store.close()


def test_snapshot_every_needs_a_store_and_a_positive_number() -> None:
    from esctl import InMemoryEventStore

    store = InMemoryEventStore()
    with pytest.raises(UsageError):
        AggregateRepository(store, Wallet, snapshot_every=10)
    with pytest.raises(UsageError):
        AggregateRepository(store, Wallet, snapshot_store=store.snapshot_store(), snapshot_every=0)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(["memory", "sqlite"]),
    batches=st.lists(st.lists(st.integers(-50, 50), min_size=1, max_size=9), min_size=1, max_size=8),
    every=st.integers(1, 12),
    tenant=st.sampled_from([None, UUID(int=7)]),
)
def test_a_load_from_snapshots_equals_a_full_replay(
    kind: str, batches: list[list[int]], every: int, tenant: UUID | None
) -> None:
    async def main(folder: Path) -> None:
        with store_of(kind, folder) as store:
            try:
                snapshots = store.snapshot_store()
                snapped = AggregateRepository(store, Wallet, snapshot_store=snapshots, snapshot_every=every)
                plain = AggregateRepository(store, Wallet)
                wallet_id = uuid4()
                wallet = snapped.create_new(wallet_id)
                for batch in batches:
                    for amount in batch:
                        event = wallet.create_event(
                            Deposited if amount >= 0 else Withdrew, amount=abs(amount), tenant_id=tenant
                        )
                        wallet.apply_event(event)
                    await snapped.save(wallet)
                    with_snapshot, replayed = await snapped.load(wallet_id), await plain.load(wallet_id)
                    assert with_snapshot.state == replayed.state == wallet.state
                    assert with_snapshot.version == replayed.version == wallet.version
                    wallet = with_snapshot  # keep going from what the snapshot load gave
                total = sum(len(b) for b in batches)
                snapshot = await snapshots.get_snapshot(wallet_id, "Wallet")
                if total >= every:
                    assert snapshot is not None
                    assert snapshot.version >= every
                    assert snapshot.tenant_id == tenant
            finally:
                await store.close()

    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(main(Path(folder)))


async def test_a_10000_event_aggregate_loads_from_its_snapshot_reading_at_most_100_events(tmp_path: Path) -> None:
    async with SQLiteEventStore(tmp_path / "events.db") as store:
        snapshots = store.snapshot_store()
        repo = AggregateRepository(store, Wallet, snapshot_store=snapshots, snapshot_every=100)
        wallet_id = uuid4()
        wallet = repo.create_new(wallet_id)
        for start in range(0, 9_943, 37):  # saves of 37 events: snapshots fall between saves
            for _ in range(min(37, 9_943 - start)):
                wallet.move(1)
            await repo.save(wallet)
        # The last 57 events by a repository that takes no snapshots, so the load has some to read.
        for _ in range(57):
            wallet.move(1)
        await AggregateRepository(store, Wallet).save(wallet)
        assert wallet.version == 10_000
        snapshot = await snapshots.get_snapshot(wallet_id, "Wallet")
        assert snapshot is not None
        assert 9_900 <= snapshot.version <= 9_943
        counter = CountingReads(store)
        loaded = await repo.load(wallet_id)
        assert 0 < counter.read <= 100
        assert counter.read == 10_000 - snapshot.version
        assert (loaded.version, loaded.state.balance) == (10_000, 10_000)
        plain = await AggregateRepository(store, Wallet).load(wallet_id)
        assert plain.state == loaded.state
        assert counter.read == 10_000 - snapshot.version + 10_000


# -- the command line --------------------------------------------------------------------------------


def _filled(path: Path) -> tuple[UUID, UUID]:
    acme, globex = UUID(int=1), UUID(int=2)

    async def fill() -> None:
        async with SQLiteEventStore(path) as store:
            snapshots = store.snapshot_store()
            for tenant, count in ((acme, 3), (globex, 2)):
                for version in range(1, count + 1):
                    await snapshots.save_snapshot(Snapshot(uuid4(), "Wallet", version * 10, {"balance": 1}, 1, tenant))
            await snapshots.save_snapshot(Snapshot(uuid4(), "Order", 5, {}, 1, None))

    asyncio.run(fill())
    return acme, globex


def test_esctl_snapshots_lists_them_per_type_and_tenant(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    acme, globex = _filled(path)
    done = run_esctl("--db", str(path), "snapshots", "--format", "json")
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert [
        (r["aggregate_type"], r["tenant_id"], r["snapshots"], r["min_version"], r["max_version"]) for r in rows
    ] == [
        ("Order", None, 1, 5, 5),
        ("Wallet", str(acme), 3, 10, 30),
        ("Wallet", str(globex), 2, 10, 20),
    ]


def test_esctl_snapshots_drop(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    acme, _ = _filled(path)
    before = path.read_bytes()
    dry = run_esctl("--db", str(path), "snapshots", "drop", "--tenant", str(acme), "--dry-run")
    assert (dry.returncode, dry.stderr.decode().strip()) == (0, f"Would drop 3 snapshots of tenant {acme} from {path}.")
    unconfirmed = run_esctl("--db", str(path), "snapshots", "drop")
    assert unconfirmed.returncode == 2
    bad = run_esctl("--db", str(path), "snapshots", "drop", "--tenant", "acme", "--yes")
    assert bad.returncode == 3
    assert bad.stderr.decode().count("\n") == 1
    assert "--tenant" in bad.stderr.decode()
    assert path.read_bytes() == before  # nothing dropped by the dry run and the refusals
    dropped = run_esctl(
        "--db", str(path), "snapshots", "drop", "--aggregate-type", "Wallet", "--tenant", str(acme), "-y"
    )
    assert dropped.returncode == 0, dropped.stderr
    assert "Dropped 3 snapshots" in dropped.stderr.decode()
    left = json.loads(run_esctl("--db", str(path), "snapshots", "--format", "json").stdout)
    assert [(r["aggregate_type"], r["snapshots"]) for r in left] == [("Order", 1), ("Wallet", 2)]
    everything = run_esctl("--db", str(path), "snapshots", "drop", "--yes")
    assert "Dropped 3 snapshots" in everything.stderr.decode()
    missing = run_esctl("--db", str(tmp_path / "nope.db"), "snapshots", "drop", "--yes")
    assert missing.returncode == 5
    assert not (tmp_path / "nope.db").exists()


async def test_reads_are_unaffected_by_snapshots(tmp_path: Path) -> None:
    async with SQLiteEventStore(tmp_path / "events.db") as store:
        repo = AggregateRepository(store, Wallet, snapshot_store=store.snapshot_store(), snapshot_every=1)
        await save_moves(repo, uuid4(), [[1, 2, 3]])
        assert [s.global_position async for s in store.read_all(ReadOptions())] == [1, 2, 3]
        assert (await store.verify()).ok


def test_the_snapshot_bench_runs_and_reads_fewer_events_from_snapshots() -> None:
    import subprocess
    import sys

    script = Path(__file__).resolve().parents[1] / "bench" / "snapshots.py"
    done = subprocess.run(
        [sys.executable, str(script), "--events", "300", "--every", "50", "--repeat", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    reads = {line[:42].strip(): int(line.split()[-1].replace(",", "")) for line in done.stdout.splitlines()[2:6]}
    assert reads["SQLite: load, full replay"] == reads["memory: load, full replay"] == 300
    from_snapshot = reads["SQLite: load from snapshot (every 50)"]
    assert from_snapshot == reads["memory: load from snapshot (every 50)"]
    assert 57 <= from_snapshot < 50 + 57  # the untaken tail, and less than a snapshot interval before it
