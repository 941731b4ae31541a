"""The projection storage contract: what ``run_projection_transaction`` hands out, and the projection
runner on top of it (catch-up, failures, dead letters, scoping, rebuild == incremental).

SQL read models are optional: a suite for a store that keeps them sets ``sql_read_models``.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar
from uuid import UUID, uuid4

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from esctl.errors import ProjectionError, UsageError
from esctl.events import DomainEvent
from esctl.projections.base import DeclarativeProjection, handles
from esctl.projections.persisted import ReadModel, SQLProjection
from esctl.projections.registry import ProjectionRegistry
from esctl.projections.runner import CatchUpResult, ProjectionRunner, replay
from esctl.store.interface import EventStore
from esctl.store.readmodel import (
    EVENT_COLUMNS,
    NO_TENANT,
    Checkpoint,
    DeadLetter,
    Document,
    ProjectionFailure,
    ProjectionStorage,
)
from esctl.store.types import ReadOptions
from esctl.testing.base import StoreContract
from esctl.testing.events import TENANTS, History, Ledger, Moved, Moves, Opened, projections
from esctl.testing.reading import BOUNDARY_FROM, BOUNDARY_TO, brute_force, write_dataset
from esctl.timeutil import to_micros

_T = TypeVar("_T")

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
_SLOW = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.differing_executors],
)


async def append(store: EventStore, events: list[DomainEvent]) -> None:
    """Append ``events`` in one batch (nothing when empty)."""
    if events:
        await store.append_batch(events)


async def snapshot(runner: ProjectionRunner) -> dict[str, list[dict[str, Any]]]:
    """Every read model the runner knows, as its view."""
    return {name: await runner.view(name) for name in runner.names}


def _documents(*items: tuple[str, str, str]) -> list[Document]:
    return [Document(tenant, key, body.encode()) for tenant, key, body in items]


def _positions(
    storage: ProjectionStorage, *, after: int, upper: int, limit: int, options: ReadOptions | None
) -> list[tuple[int, str]]:
    rows = storage.read_rows(after, upper, limit, columns=("position", "event_id"), options=options)
    return [(int(row[0]), str(row[1])) for row in rows]


class ProjectionStorageContract(StoreContract):
    """Projections on the store under test: its ``ProjectionStorage`` and the runner on it."""

    sql_read_models: ClassVar[bool] = False
    """True when the store keeps SQL read models (``ProjectionStorage.execute`` and the tables)."""

    async def transaction(self, store: EventStore, work: Callable[[ProjectionStorage], _T], write: bool = True) -> _T:
        """Run ``work`` in one projection transaction of ``store``."""
        return await store.run_projection_transaction(work, write=write)

    # -- events, as the runner reads them ---------------------------------------------------------

    @pytest.mark.asyncio
    async def test_rows_hold_every_column_of_the_stored_events(self, store: EventStore) -> None:
        data = await write_dataset(store, size=30)
        stored = [s async for s in store.read_all()]

        def read(storage: ProjectionStorage) -> tuple[int, list[Any], list[Any]]:
            rows = storage.read_rows(0, storage.head(), 100)
            return storage.head(), rows, [storage.decode(row) for row in rows]

        head, rows, decoded = await self.transaction(store, read, write=False)
        assert head == len(data.written) == await store.get_global_position()
        assert [len(row) for row in rows] == [len(EVENT_COLUMNS)] * head
        assert decoded == stored
        columns = {name: index for index, name in enumerate(EVENT_COLUMNS)}
        for row, original in zip(rows, stored, strict=True):
            event = original.event
            assert row[columns["position"]] == original.global_position
            assert row[columns["event_id"]] == str(event.event_id)
            assert row[columns["aggregate_id"]] == str(event.aggregate_id)
            assert row[columns["tenant_id"]] == (None if event.tenant_id is None else str(event.tenant_id))
            assert row[columns["occurred_at"]] == to_micros(event.occurred_at)
            assert row[columns["stored_at"]] == to_micros(original.stored_at)
            assert isinstance(row[columns["payload"]], bytes)
            assert isinstance(row[columns["metadata"]], bytes)
        some = ("position", "event_type", "tenant_id")

        def pick(storage: ProjectionStorage) -> list[Any]:
            return storage.read_rows(0, head, 100, columns=some)

        picked = await self.transaction(store, pick, write=False)
        assert picked == [tuple(row[columns[name]] for name in some) for row in rows]

        def events(storage: ProjectionStorage) -> list[Any]:
            return storage.read_events(0, head, 100)

        assert await self.transaction(store, events, write=False) == stored

    @pytest.mark.asyncio
    async def test_row_reads_select_like_read_all_and_ignore_the_options_own_bounds(self, store: EventStore) -> None:
        data = await write_dataset(store)
        a, b, _ = data.tenants
        head = len(data.written)
        queries: list[tuple[int, int, int, dict[str, Any]]] = [
            (0, head, head, {}),
            (10, 40, 100, {}),
            (0, head, 7, {"tenant_id": a}),
            (5, head, 100, {"tenant_ids": (a, b), "event_types": ("test.ItemAdded",)}),
            (0, 60, 100, {"tenant_id": b, "from_timestamp": BOUNDARY_FROM, "to_timestamp": BOUNDARY_TO}),
            (0, head, 100, {"aggregate_type": "Invoice", "from_timestamp": BOUNDARY_FROM}),
            (30, 20, 100, {}),
        ]
        for after, upper, limit, query in queries:
            # The options' own position bounds and limit are not the read's: they are ignored.
            options = ReadOptions(from_position=head, to_position=1, limit=0, **query)

            read = functools.partial(_positions, after=after, upper=upper, limit=limit, options=options)
            got = await self.transaction(store, read, write=False)
            expected = brute_force(data.written, from_position=after, to_position=upper, **query)[:limit]
            assert got == [(position, str(event_id)) for position, event_id in expected], query

    @pytest.mark.asyncio
    async def test_row_reads_can_leave_one_tenant_out(self, store: EventStore) -> None:
        data = await write_dataset(store)
        a = data.tenants[0]

        def read(storage: ProjectionStorage) -> Any:
            return storage.read_rows(0, storage.head(), 1000, columns=("position",), exclude_tenant=a)

        got = [row[0] for row in await self.transaction(store, read, write=False)]
        assert got == [w.position for w in data.written if w.event.tenant_id != a]
        assert any(w.event.tenant_id is None for w in data.written if w.position in got)

    @pytest.mark.asyncio
    async def test_row_reads_in_pages_of_any_size_read_every_row_once(
        self, store: EventStore, read_page_size: int
    ) -> None:
        data = await write_dataset(store, size=2 * read_page_size + 3, seed=7)
        a = data.tenants[0]
        head = len(data.written)
        pages: list[tuple[int, ReadOptions | None]] = [
            (read_page_size, None),
            (3, ReadOptions(tenant_id=a)),
            (1, ReadOptions(tenant_id=a, event_types=("test.ItemAdded",))),
        ]
        for size, options in pages:
            seen: list[int] = []
            while True:
                after = seen[-1] if seen else 0
                read = functools.partial(_positions, after=after, upper=head, limit=size, options=options)
                rows = await self.transaction(store, read, write=False)
                if not rows:
                    break
                assert len(rows) <= size
                seen += [position for position, _ in rows]
            query: dict[str, Any] = {} if options is None else {"tenant_id": a, "event_types": options.event_types}
            assert seen == [p for p, _ in brute_force(data.written, **query)], size

    @pytest.mark.asyncio
    async def test_a_narrowed_event_range_reads_the_same_rows(self, store: EventStore) -> None:
        data = await write_dataset(store)
        a, b, _ = data.tenants
        selections = [
            None,
            ReadOptions(tenant_id=a),
            ReadOptions(tenant_id=b, from_timestamp=BOUNDARY_FROM, to_timestamp=BOUNDARY_TO),
            ReadOptions(tenant_id=a, from_timestamp=BOUNDARY_TO),
            ReadOptions(tenant_id=a, to_timestamp=BOUNDARY_FROM),
            ReadOptions(tenant_id=uuid4(), from_timestamp=BOUNDARY_FROM),
            ReadOptions(tenant_ids=(a, b), from_timestamp=BOUNDARY_FROM),
            ReadOptions(from_timestamp=BOUNDARY_FROM, to_timestamp=BOUNDARY_TO),
        ]
        for options in selections:

            def read(storage: ProjectionStorage, options: ReadOptions | None = options) -> tuple[Any, Any, Any]:
                head = storage.head()
                after, upper = storage.event_range(0, head, options)
                everything = storage.read_rows(0, head, 1000, columns=("position",), options=options)
                narrowed = (
                    []
                    if after >= upper
                    else storage.read_rows(after, upper, 1000, columns=("position",), options=options)
                )
                return (after, upper), everything, narrowed

            (after, upper), everything, narrowed = await self.transaction(store, read, write=False)
            assert after >= 0, options
            assert upper <= len(data.written), options
            assert narrowed == everything, options

    # -- checkpoints and dead letters -------------------------------------------------------------

    @pytest.mark.asyncio
    async def test_checkpoints_are_kept_by_name(self, store: EventStore) -> None:
        failure = ProjectionFailure(position=7, event_id=str(uuid4()), message="ValueError: é ✓", at=1_700_000_000)
        zeta = Checkpoint("zeta").advanced(5, 100)
        alpha = Checkpoint("alpha", generation=2).failed(7, failure)

        def write(storage: ProjectionStorage) -> Checkpoint | None:
            before = storage.get_checkpoint("zeta")
            storage.put_checkpoint(zeta)
            storage.put_checkpoint(alpha)
            return before

        assert await self.transaction(store, write) is None

        def read(storage: ProjectionStorage) -> tuple[Any, ...]:
            return storage.get_checkpoint("alpha"), storage.get_checkpoint("zeta"), storage.checkpoints()

        assert await self.transaction(store, read, write=False) == (alpha, zeta, [alpha, zeta])
        assert alpha.error == failure
        healed = alpha.advanced(9, 200)
        await self.transaction(store, lambda storage: storage.put_checkpoint(healed))
        assert await self.transaction(store, lambda storage: storage.checkpoints(), write=False) == [healed, zeta]
        assert healed.error is None
        assert (healed.status, healed.generation) == ("ok", 2)

    @pytest.mark.asyncio
    async def test_dead_letters_are_kept_per_projection_by_position(self, store: EventStore) -> None:
        late = DeadLetter(position=9, event_id=str(uuid4()), message="late", at=2)
        early = DeadLetter(position=3, event_id=str(uuid4()), message="early", at=1)
        other = DeadLetter(position=4, event_id=str(uuid4()), message="other", at=3)

        def write(storage: ProjectionStorage) -> None:
            storage.add_dead_letter("balances", late)
            storage.add_dead_letter("balances", early)
            storage.add_dead_letter("seen", other)

        await self.transaction(store, write)

        def read(storage: ProjectionStorage) -> tuple[Any, ...]:
            return storage.dead_letters("balances"), storage.dead_letters("seen"), storage.dead_letters("none")

        assert await self.transaction(store, read, write=False) == ([early, late], [other], [])

    # -- documents --------------------------------------------------------------------------------

    @pytest.mark.asyncio
    async def test_documents_are_kept_by_namespace_tenant_and_key(self, store: EventStore) -> None:
        a, b = str(TENANTS[0]), str(TENANTS[1])
        docs = _documents((b, "k2", '{"n": 2}'), (a, "k1", '{"n": 1}'), (NO_TENANT, "k0", "{}"), (a, "k0", "[]"))

        def write(storage: ProjectionStorage) -> None:
            storage.put_documents("model", docs)
            storage.put_documents("other", _documents((a, "k1", '"other"')))

        await self.transaction(store, write)

        def read(storage: ProjectionStorage) -> tuple[Any, ...]:
            return (
                storage.get_documents("model"),
                storage.get_documents("model", tenants=[b, a]),
                storage.get_documents("model", tenants=[NO_TENANT]),
                storage.get_documents("model", tenants=[]),
                storage.get_documents("other"),
                storage.get_documents("nothing"),
            )

        everything, two, none, empty, other, nothing = await self.transaction(store, read, write=False)
        assert everything == sorted(docs, key=lambda d: (d.tenant, d.key))
        assert two == [d for d in everything if d.tenant in (a, b)]
        assert none == [Document(NO_TENANT, "k0", b"{}")]
        assert (empty, nothing) == ([], [])
        assert other == [Document(a, "k1", b'"other"')]

        replaced = Document(a, "k1", b'{"n": 10}')
        await self.transaction(store, lambda storage: storage.put_documents("model", [replaced]))
        after = await self.transaction(store, lambda storage: storage.get_documents("model", tenants=[a]), write=False)
        assert after == [Document(a, "k0", b"[]"), replaced]

    @pytest.mark.asyncio
    async def test_documents_are_deleted_and_moved_whole_or_per_tenant(self, store: EventStore) -> None:
        a, b = str(TENANTS[0]), str(TENANTS[1])

        def write(storage: ProjectionStorage) -> None:
            storage.put_documents("live", _documents((a, "k", "1"), (a, "j", "2"), (b, "k", "3")))
            storage.put_documents("fresh", _documents((a, "k", "10")))

        await self.transaction(store, write)

        def read(storage: ProjectionStorage) -> tuple[list[Document], list[Document]]:
            return storage.get_documents("live"), storage.get_documents("fresh")

        def move_tenant(storage: ProjectionStorage) -> None:
            storage.move_documents("fresh", "live", tenant=a)

        await self.transaction(store, move_tenant)
        live, fresh = await self.transaction(store, read, write=False)
        assert live == [Document(a, "k", b"10"), Document(b, "k", b"3")]  # a's "j" is gone, b's is untouched
        assert fresh == []

        def move_all(storage: ProjectionStorage) -> None:
            storage.put_documents("fresh", _documents((b, "x", "4")))
            storage.move_documents("fresh", "live")

        await self.transaction(store, move_all)
        assert await self.transaction(store, read, write=False) == ([Document(b, "x", b"4")], [])

        def delete_tenant(storage: ProjectionStorage) -> None:
            storage.put_documents("live", _documents((a, "y", "5")))
            storage.delete_documents("live", tenant=b)

        await self.transaction(store, delete_tenant)
        assert await self.transaction(store, read, write=False) == ([Document(a, "y", b"5")], [])
        await self.transaction(store, lambda storage: storage.delete_documents("live"))
        assert await self.transaction(store, read, write=False) == ([], [])

    # -- transactions -----------------------------------------------------------------------------

    @pytest.mark.asyncio
    async def test_a_transaction_that_raises_keeps_nothing(self, store: EventStore) -> None:
        a = str(TENANTS[0])
        kept = Document(a, "kept", b"1")
        await self.transaction(store, lambda storage: storage.put_documents("model", [kept]))

        def broken(storage: ProjectionStorage) -> None:
            storage.put_documents("model", [Document(a, "lost", b"2")])
            storage.delete_documents("model", tenant=a)
            storage.put_checkpoint(Checkpoint("model").advanced(3, 1))
            storage.add_dead_letter("model", DeadLetter(3, str(uuid4()), "x", 1))
            raise RuntimeError("the handler broke")

        with pytest.raises(RuntimeError, match="the handler broke"):
            await self.transaction(store, broken)

        def read(storage: ProjectionStorage) -> tuple[Any, ...]:
            return storage.get_documents("model"), storage.get_checkpoint("model"), storage.dead_letters("model")

        assert await self.transaction(store, read, write=False) == ([kept], None, [])

    @pytest.mark.asyncio
    async def test_a_transaction_returns_what_its_work_returns_and_sees_the_events(self, store: EventStore) -> None:
        history = History()
        await append(store, [history.event(0, "moved", 1) for _ in range(3)])
        assert await self.transaction(store, lambda storage: storage.head(), write=False) == 3
        assert await self.transaction(store, lambda storage: ("ok", storage.head())) == ("ok", 3)
        await append(store, [history.event(0, "moved", 1)])
        assert await self.transaction(store, lambda storage: storage.head(), write=False) == 4

    @pytest.mark.asyncio
    async def test_sql_tables_exist_only_on_stores_with_sql_read_models(self, store: EventStore) -> None:
        calls: list[Callable[[ProjectionStorage], object]] = [
            lambda s: s.execute("CREATE TABLE t_main (tenant TEXT, k INTEGER PRIMARY KEY, v TEXT)"),
            lambda s: s.executemany("INSERT INTO t_main VALUES (?, ?, ?)", [("a", 2, "x"), ("b", 1, "y")]),
            lambda s: s.table_columns("t_main"),
            lambda s: s.table_rows("t_main"),
            lambda s: s.drop_table("t_main"),
            lambda s: s.replace_table("t_new", "t_main"),
            lambda s: s.replace_tenant_rows("t_new", "t_main", column="tenant", tenant="a"),
        ]
        if not self.sql_read_models:
            for call in calls:
                with pytest.raises(UsageError, match="no SQL read models"):
                    await self.transaction(store, call)
            return

        def build(storage: ProjectionStorage) -> tuple[Any, ...]:
            for call in calls[:2]:
                call(storage)
            storage.execute("CREATE TABLE t_new (tenant TEXT, k INTEGER PRIMARY KEY, v TEXT)")
            storage.executemany("INSERT INTO t_new VALUES (?, ?, ?)", [("a", 3, "z"), ("a", 4, "w")])
            return (
                storage.table_columns("t_main"),
                storage.table_columns("no_such_table"),
                storage.table_rows("t_main"),
                storage.table_rows("t_main", where=("tenant", "b")),
                storage.execute("SELECT v FROM t_main WHERE k = ?", (2,)),
            )

        columns, missing, rows, of_b, selected = await self.transaction(store, build)
        assert (columns, missing) == (["tenant", "k", "v"], [])
        assert [tuple(r) for r in rows] == [("a", 2, "x"), ("b", 1, "y")]
        assert [tuple(r) for r in of_b] == [("b", 1, "y")]
        assert [tuple(r) for r in selected] == [("x",)]

        def swap_tenant(storage: ProjectionStorage) -> tuple[Any, ...]:
            storage.replace_tenant_rows("t_new", "t_main", column="tenant", tenant="a")
            return storage.table_rows("t_main"), storage.table_columns("t_new")

        rows, gone = await self.transaction(store, swap_tenant)
        assert [tuple(r) for r in rows] == [("a", 3, "z"), ("a", 4, "w"), ("b", 1, "y")]
        assert gone == []

        def swap_table(storage: ProjectionStorage) -> tuple[Any, ...]:
            storage.execute("CREATE TABLE t_next (tenant TEXT, k INTEGER PRIMARY KEY, v TEXT)")
            storage.execute("INSERT INTO t_next VALUES ('c', 9, 'n')")
            storage.replace_table("t_next", "t_main")
            return storage.table_rows("t_main"), storage.table_columns("t_next")

        rows, gone = await self.transaction(store, swap_table)
        assert ([tuple(r) for r in rows], gone) == ([("c", 9, "n")], [])

        def broken(storage: ProjectionStorage) -> None:
            storage.execute("INSERT INTO t_main VALUES ('d', 10, 'lost')")
            storage.drop_table("t_main")
            raise RuntimeError("rolled back")

        with pytest.raises(RuntimeError):
            await self.transaction(store, broken)
        rows = await self.transaction(store, lambda storage: storage.table_rows("t_main"), write=False)
        assert [tuple(r) for r in rows] == [("c", 9, "n")]
        await self.transaction(store, lambda storage: storage.drop_table("t_main"))
        assert await self.transaction(store, lambda storage: storage.table_columns("t_main"), write=False) == []

    # -- the runner: rebuild == incremental -------------------------------------------------------

    @settings(_SLOW, max_examples=20)
    @given(ops=OPS)
    def test_catching_up_in_random_batches_with_restarts_equals_one_rebuild(self, ops: list[tuple[str, Any]]) -> None:
        self.run_with_stores(1, lambda store: self._rebuild_equals_incremental(store, ops))

    async def _rebuild_equals_incremental(self, store: EventStore, ops: list[tuple[str, Any]]) -> None:
        registry = projections(sql=self.sql_read_models)
        history = History()
        runner = ProjectionRunner(store, registry)
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
            rebuild = await fresh.rebuild(name)
            assert rebuild.position == head
        rebuilt = await snapshot(fresh)
        assert rebuilt == incremental

        opened_or_moved = [s async for s in store.read_all() if s.event.event_type in ("pt.Opened", "pt.Moved")]
        balances = incremental["balances-all"][0] if incremental["balances-all"] else {"events": 0}
        assert balances["events"] == len(opened_or_moved)
        if self.sql_read_models:
            ledger = incremental["ledger"]
            assert sorted(row["event_id"] for row in ledger) == sorted(str(s.event.event_id) for s in opened_or_moved)
            assert {row["times"] for row in ledger} <= {1}

    # -- catch-up, statuses, unknown types --------------------------------------------------------

    @pytest.mark.asyncio
    async def test_unknown_types_are_skipped_but_the_checkpoint_advances(self, store: EventStore) -> None:
        history = History()
        await append(store, [history.event(0, "moved", 10), history.event(0, "moved", 5)])
        await append(store, [history.event(0, "unknown", 1) for _ in range(3)])
        runner = ProjectionRunner(store, projections(sql=self.sql_read_models))
        results = {r.name: r for r in await runner.catch_up()}
        assert {r.position for r in results.values()} == {5}
        assert results["balances"].events == 2  # it reads only its own two types
        assert results["seen-a"].events == 5  # it handles DomainEvent: every type, unknown ones too
        assert (await runner.view("balances-all"))[0]["balances"] == {str(history.ids[0]): 15}
        assert (await runner.view("seen-a"))[0]["tenants"] == {str(TENANTS[0]): 5}

    @pytest.mark.asyncio
    async def test_a_tenant_scoped_projection_never_sees_another_tenants_events(self, store: EventStore) -> None:
        history = History()
        events = [history.event(account, "moved", 1) for account in range(8) for _ in range(3)]
        await append(store, events)
        runner = ProjectionRunner(store, projections(sql=self.sql_read_models))
        await runner.catch_up(["seen-a"])
        expected = sum(1 for e in events if e.tenant_id == TENANTS[0])
        assert (await runner.view("seen-a")) == [{"tenants": {str(TENANTS[0]): expected}}]
        # Replayed, and replayed with another tenant asked for: still only its own tenant.
        assert await replay(store, runner.projection("seen-a")) == [{"tenants": {str(TENANTS[0]): expected}}]
        other = ReadOptions(tenant_id=TENANTS[1])
        assert await replay(store, runner.projection("seen-a"), other) == []

    @pytest.mark.asyncio
    async def test_a_failing_handler_stops_only_its_projection_just_before_the_event(self, store: EventStore) -> None:
        history = History()
        before = [history.event(0, "moved", n) for n in range(6)]
        poison = history.event(0, "moved", 99, poison=True)
        after = [history.event(1, "moved", n) for n in range(4)]
        await append(store, [*before, poison, *after])
        registry = projections(sql=self.sql_read_models)
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

    @pytest.mark.asyncio
    async def test_a_rebuild_that_hits_a_failing_handler_leaves_the_read_model_in_use(self, store: EventStore) -> None:
        history = History()
        await append(store, [history.event(0, "moved", n) for n in range(3)])
        registry = projections(sql=self.sql_read_models)
        runner = ProjectionRunner(store, registry)
        await runner.catch_up(["balances-all"])
        before = await runner.view("balances-all")
        await append(store, [history.event(0, "moved", 1, poison=True)])
        with pytest.raises(ProjectionError, match="position 4"):
            await runner.rebuild("balances-all")
        assert await runner.view("balances-all") == before
        status = {s.name: s for s in await runner.statuses()}["balances-all"]
        assert (status.position, status.status) == (3, "ok")

    @pytest.mark.asyncio
    async def test_handlers_that_await_real_io_are_refused_as_a_failure(self, store: EventStore) -> None:
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

    @pytest.mark.asyncio
    @pytest.mark.parametrize("tenant", [None, TENANTS[0]])
    async def test_a_long_lived_runner_catches_up_correctly_after_another_runner_rebuilt(
        self, store: EventStore, tenant: UUID | None
    ) -> None:
        # The follower's cached state predates the rebuild's swap. A catch-up that finds nothing
        # new must still drop that cache, or the next events are applied on top of stale state.
        history = History()
        registry = projections(sql=self.sql_read_models)
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

    @settings(_SLOW, max_examples=12)
    @given(count=st.integers(2, 60), poison=st.data(), batch=st.integers(1, 25), others=st.integers(0, 5))
    def test_catch_up_counts_every_event_applied_before_a_failure(
        self, count: int, poison: st.DataObject, batch: int, others: int
    ) -> None:
        at = poison.draw(st.integers(1, count - 1), label="poison index")
        result, moves = self.run_with_stores(
            1, lambda store: self._catch_up_until_failure(store, count, at, batch, others)
        )
        assert result.failure is not None
        assert result.failure.position == at + 1 + others
        assert result.position == at + others
        # Every move before the poisoned one was applied exactly once, and counted.
        assert result.events == at == moves

    async def _catch_up_until_failure(
        self, store: EventStore, count: int, at: int, batch: int, others: int
    ) -> tuple[CatchUpResult, int]:
        account, other = uuid4(), uuid4()
        # Events the projection does not read come first: they move the checkpoint, not the count.
        events: list[DomainEvent] = [
            Opened(aggregate_id=other, aggregate_version=i + 1, tenant_id=TENANTS[1], amount=0) for i in range(others)
        ]
        events += [
            Moved(aggregate_id=account, aggregate_version=i + 1, tenant_id=TENANTS[0], amount=1, poison=i == at)
            for i in range(count)
        ]
        registry = ProjectionRegistry()
        registry.register(Moves, name="moves")
        await store.append_batch(events)
        runner = ProjectionRunner(store, registry, batch_size=batch)
        [result] = await runner.catch_up(["moves"])
        [row] = await runner.view("moves")
        return result, int(row["count"])

    # -- SQL read models --------------------------------------------------------------------------

    @pytest.mark.asyncio
    async def test_sql_read_models_fail_as_their_handler_or_are_refused_without_sql(self, store: EventStore) -> None:
        class Broken(SQLProjection):
            name = "broken"
            tables = {"broken": "CREATE TABLE {broken} (id TEXT)"}  # noqa: RUF012

            @handles(Opened)
            def _opened(self, db: ReadModel, event: Opened) -> None:
                db.execute("INSERT INTO {broken} (no_such_column) VALUES (1)")

        await append(store, [History().event(0, "opened", 1)])
        for projection in (Broken, Ledger):
            registry = ProjectionRegistry(builtins=False)
            registry.register(projection)
            if not self.sql_read_models:
                with pytest.raises(UsageError, match="no SQL read models"):
                    await ProjectionRunner(store, registry).catch_up()
                continue
            result = (await ProjectionRunner(store, registry).catch_up())[0]
            if projection is Broken:
                assert result.failure is not None
                assert "no_such_column" in result.failure.message
                assert result.position == 0
            else:
                assert result.ok
                assert result.position == 1
