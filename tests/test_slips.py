"""Tests aimed at one-line slips that the rest of the suite let through (issue #13).

Each test names the slip it catches; each was checked by making that slip in the code and seeing
the test fail. They run on every store where the rule is the store's (``store`` fixture), and
through the real command line where the rule is the CLI's.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID, uuid4

import pytest

from cli_support import error_lines, event, invoke, ndjson, rows, run_esctl
from esctl import EventStore, InMemoryEventStore, SQLiteEventStore
from esctl.errors import DuplicateEventError, ExitStatus, TenantMismatchError
from esctl.projections import ProjectionRunner
from esctl.projections.replay import replay
from esctl.repository import TenantAwareRepository
from esctl.store.readmodel import ProjectionStorage
from esctl.testing.events import REGISTRY, TENANTS, Cart, History, item, projections
from esctl.timeutil import to_micros
from test_cli_quick import demo_db, same_answer  # noqa: F401 - demo_db is a fixture

T = TypeVar("T")


def _make_store(kind: str, tmp_path: Path) -> EventStore:
    if kind == "memory":
        return InMemoryEventStore()
    return SQLiteEventStore(tmp_path / "events.db", registry=REGISTRY)


@pytest.fixture(params=["memory", "sqlite"])
def store_kind(request: pytest.FixtureRequest) -> str:
    """Each store the library ships (PostgreSQL's own tests take ``postgres_url``)."""
    kind: str = request.param
    return kind


@pytest.fixture
async def store(store_kind: str, tmp_path: Path) -> AsyncIterator[EventStore]:
    """An empty store of each kind in turn, closed after the test."""
    made = _make_store(store_kind, tmp_path)
    try:
        yield made
    finally:
        await made.close()


# -- the checkpoint in the same transaction as its read-model batch ------------------------------


class _Crash(Exception):
    """The process 'dies' here (a fault point)."""


class _FaultyStorage:
    """Projection storage that fails at its ``fail_at``-th ``put_checkpoint`` (counted across
    transactions), just before the checkpoint is written: a crash between a batch's read-model
    changes and its checkpoint."""

    def __init__(self, inner: ProjectionStorage, counter: list[int], fail_at: int) -> None:
        self._inner = inner
        self._counter = counter
        self._fail_at = fail_at

    def put_checkpoint(self, *args: Any, **kwargs: Any) -> Any:
        self._counter[0] += 1
        if self._counter[0] == self._fail_at:
            raise _Crash
        return self._inner.put_checkpoint(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def _inject(store: EventStore, wrap: Callable[[ProjectionStorage], Any]) -> Callable[[], None]:
    """Make every projection transaction of ``store`` see ``wrap(storage)``; return an undo."""
    original = store.run_projection_transaction

    async def run(work: Callable[[ProjectionStorage], T], *, write: bool = True) -> T:
        return await original(lambda storage: work(wrap(storage)), write=write)

    store.run_projection_transaction = run  # type: ignore[method-assign]
    return lambda: setattr(store, "run_projection_transaction", original)


async def _append_history(store: EventStore, events: int) -> History:
    history = History()
    batch = [history.event(n % 7, "moved", n) for n in range(events)]
    await store.append_batch(batch)
    return history


@pytest.mark.parametrize("fail_at", [1, 2, 4])
async def test_a_crash_between_a_batch_and_its_checkpoint_loses_the_whole_batch(
    store: EventStore, fail_at: int
) -> None:
    # The slip: the checkpoint written in a transaction of its own. Then a crash just before it
    # leaves the batch's read-model changes committed, and the restarted runner applies them again.
    await _append_history(store, 60)
    sql = isinstance(store, SQLiteEventStore)  # SQL read models need a SQL store
    registry = projections(sql=sql)
    names = ["ledger", "balances"] if sql else ["balances", "balances-all"]
    counter = [0]
    undo = _inject(store, lambda storage: _FaultyStorage(storage, counter, fail_at))
    with pytest.raises(_Crash):
        await ProjectionRunner(store, registry, batch_size=10).catch_up(names)
    undo()
    restarted = ProjectionRunner(store, registry, batch_size=10)
    await restarted.catch_up(names)
    for name in names:
        assert await restarted.view(name) == await replay(store, registry.get(name)), name
    if sql:
        assert {row["times"] for row in await restarted.view("ledger")} == {1}


# -- a rebuild's swap takes in what writers appended after its last fresh batch -----------------


def _is_last_fresh_step(result: object) -> bool:
    """True for the result of a rebuild's fresh step that reached the head: (position, head, n)."""
    return (
        isinstance(result, tuple)
        and len(result) == 3
        and all(type(value) is int for value in result)
        and result[0] >= result[1]
    )


@pytest.mark.parametrize("tenant", [None, TENANTS[0]], ids=["whole", "one-tenant"])
async def test_a_rebuild_swap_takes_in_events_appended_right_after_its_last_fresh_batch(
    store_kind: str, tmp_path: Path, tenant: UUID | None
) -> None:
    store = _make_store(store_kind, tmp_path)
    # Another connection (for SQLite, another store on the same file) appends in the gap.
    writer = store if store_kind == "memory" else _make_store(store_kind, tmp_path)
    try:
        history = await _append_history(store, 40)
        sql = store_kind == "sqlite"
        registry = projections(sql=sql)
        runner = ProjectionRunner(store, registry, batch_size=10)
        await runner.catch_up()
        # Late events: of the tenant being rebuilt, of another tenant, and of no tenant.
        late = [history.event(account, "moved", 100 + account) for account in (0, 1, 3, 4)]
        assert {event.tenant_id for event in late} >= {TENANTS[0], None}
        original = store.run_projection_transaction
        appended: list[bool] = []

        async def run(work: Callable[[ProjectionStorage], T], *, write: bool = True) -> T:
            result = await original(work, write=write)
            if _is_last_fresh_step(result) and not appended:
                appended.append(True)
                await writer.append_batch(late)
            return result

        store.run_projection_transaction = run  # type: ignore[method-assign]
        for name in ("ledger", "balances") if sql else ("balances", "balances-all"):
            if tenant is not None and name == "balances-all":
                continue  # kept whole, not per tenant
            appended.clear()
            rebuilt = await runner.rebuild(name, tenant_id=tenant)
            assert appended, "the rebuild never reached its last fresh batch"
            head = await store.get_global_position()
            assert rebuilt.position == head, name
            assert await runner.view(name) == await replay(store, registry.get(name)), name
            late = [history.event(account, "moved", 200 + account) for account in (0, 1, 3, 4)]
        if sql:
            assert {row["times"] for row in await runner.view("ledger")} == {1}
    finally:
        if writer is not store:
            await writer.close()
        await store.close()


# -- a stored event id re-sent with another explicit version --------------------------------------


async def test_a_stored_event_id_resent_with_another_explicit_version_is_a_duplicate_id_error(
    store: EventStore,
) -> None:
    cart = uuid4()
    first, second = item(cart, 1), item(cart, 2)
    await store.append_events(cart, "Cart", [first, second])
    moved = first.model_copy(update={"aggregate_version": 3})  # same id, same payload, version 3
    with pytest.raises(DuplicateEventError) as caught:
        await store.append_batch([moved])
    assert caught.value.field == "event_id"
    assert [stored.event async for stored in store.read_all()] == [first, second]
    assert await store.get_stream_version(cart, "Cart") == 2


# -- a single-value option given twice: the quick path and Typer agree, the last one wins --------


def test_a_repeated_single_value_option_means_its_last_value_on_both_paths(demo_db: Path) -> None:  # noqa: F811
    db = str(demo_db)
    code, out, _ = same_answer(["--db", db, "dump", "--limit", "5", "--limit", "2"])
    assert code == 0
    assert len(out.splitlines()) == 2
    first, second = "2026-11-12T00:00:00Z", "2026-11-15T00:00:00Z"  # the demo's days: 10th to 20th
    code, out, _ = same_answer(["--db", db, "dump", "--since", first, "--since", second, "-n", "50"])
    assert code == 0
    assert out
    assert all(json.loads(line)["occurred_at"] >= second for line in out.splitlines())
    code, out, _ = same_answer(["--db", db, "dump", "--until", second, "--until", first, "-n", "50"])
    assert all(json.loads(line)["occurred_at"] < first for line in out.splitlines())


# -- verify finds a stream one of whose events lost its tenant -----------------------------------


def test_verify_finds_an_event_whose_tenant_was_set_to_null_in_a_tenant_stream(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    assert invoke(db, "append", "-", input=ndjson([event(n) for n in (1, 2, 3)])).exit_code == 0
    assert invoke(db, "verify").exit_code == 0
    conn = sqlite3.connect(db)
    conn.execute("UPDATE events SET tenant_id = NULL WHERE aggregate_version = 2")
    conn.commit()
    conn.close()
    result = invoke(db, "verify", "-f", "json")
    assert result.exit_code == ExitStatus.VERIFICATION, result.stderr
    findings = json.loads(result.stdout)
    assert [finding["check"] for finding in findings] == ["tenant"]
    assert findings[0]["stream_id"] == f"Cart:{event(1)['aggregate_id']}"


# -- --expected-version applies to a stream's first chunk only ------------------------------------


@pytest.mark.parametrize("path", ["quick", "typer"])
def test_batch_size_1_with_expected_no_stream_appends_a_two_event_new_stream(tmp_path: Path, path: str) -> None:
    db = tmp_path / "events.db"
    data = ndjson([event(1), event(2)])
    argv = ("append", "--batch-size", "1", "--expected-version", "no-stream", "-")
    if path == "quick":
        done = run_esctl("--db", str(db), *argv, input=data)
        code, stderr = done.returncode, done.stderr.decode()
    else:
        result = invoke(db, *argv, input=data)
        code, stderr = result.exit_code, result.stderr
    assert code == 0, stderr
    assert [row[6] for row in rows(db) or []] == [1, 2]
    again = invoke(db, *argv, input=ndjson([event(3)]))
    assert again.exit_code == ExitStatus.CONFLICT  # the stream exists now: no-stream is refused
    assert len(rows(db) or []) == 2


# -- TenantAwareRepository.save of a tenantless event ---------------------------------------------


async def test_tenant_aware_save_refuses_an_event_without_a_tenant(store: EventStore) -> None:
    acme = uuid4()
    repo = TenantAwareRepository(store, lambda aid: Cart(aid, None), "Cart", tenant_id=acme)
    cart = repo.create_new(uuid4())
    cart.add("SKU-1")  # the cart has no tenant: its event carries none
    assert cart.uncommitted_events[0].tenant_id is None
    with pytest.raises(TenantMismatchError):
        await repo.save(cart)
    assert await store.get_global_position() == 0


# -- dump | append keeps the stored values, compared with the input, not with another dump --------

ROUND_TRIP_INPUT = [
    event(1, occurred_at="2026-11-01T09:30:00.123456+01:30", text="ünïcødé ☃ \u2028 line"),
    event(
        2, occurred_at="2026-11-01T08:00:00Z", amount=0.1, big=2**53 + 1, neg=-1.5e-7, nested={"a": [1, {"b": None}]}
    ),
    event(3, occurred_at="2026-11-01T08:00:00.000001-05:00", metadata={"k": "v", "n": [1, 2]}, actor_id="bob"),
    event(4, tenant_id=None, aggregate_id=str(uuid4()), aggregate_version=1, empty="", flag=True),
]


def test_dump_then_append_stores_the_input_values_exactly(tmp_path: Path) -> None:
    source, copy = tmp_path / "source.db", tmp_path / "copy.db"
    assert invoke(source, "append", "-", input=ndjson(ROUND_TRIP_INPUT)).exit_code == 0
    dumped = run_esctl("--db", str(source), "dump")
    assert dumped.returncode == 0
    copied = run_esctl("--db", str(copy), "append", "-", input=dumped.stdout)
    assert copied.returncode == 0, copied.stderr
    stored = rows(copy) or []
    assert len(stored) == len(ROUND_TRIP_INPUT)
    envelope = {
        "event_id",
        "event_type",
        "event_version",
        "occurred_at",
        "aggregate_type",
        "aggregate_id",
        "aggregate_version",
        "tenant_id",
        "actor_id",
        "correlation_id",
        "causation_id",
        "metadata",
    }
    for row, given in zip(stored, ROUND_TRIP_INPUT, strict=True):
        (_, event_id, event_type, event_version, aggregate_type, aggregate_id, version, tenant, occurred) = row[:9]
        assert (event_id, event_type, event_version) == (given["event_id"], given["event_type"], 1)
        assert (aggregate_type, aggregate_id, version) == (
            given["aggregate_type"],
            given["aggregate_id"],
            given["aggregate_version"],
        )
        assert tenant == given.get("tenant_id")
        assert occurred == to_micros(datetime.fromisoformat(given["occurred_at"]))  # integer UTC microseconds
        correlation, causation, actor, payload, metadata = row[10:15]
        assert (correlation, causation, actor) == (given["event_id"], None, given.get("actor_id"))
        assert json.loads(payload) == {k: v for k, v in given.items() if k not in envelope}
        assert json.loads(metadata) == given.get("metadata", {})
    # And the copy holds the original's stored values, stored_at aside (the copy's own).
    original = rows(source) or []
    assert [r[:9] + r[10:] for r in stored] == [r[:9] + r[10:] for r in original]


def test_the_round_trip_input_stays_exact_through_a_failed_append(tmp_path: Path) -> None:
    # Helper check for the slip tests above: an input line that fails leaves no row behind.
    db = tmp_path / "events.db"
    result = invoke(db, "append", "-", input=ndjson([*ROUND_TRIP_INPUT, event(5, aggregate_id="nope")]))
    assert result.exit_code == ExitStatus.INVALID_INPUT
    assert error_lines(result.stderr)[0].startswith("Error: line 5, field 'aggregate_id'")
    assert rows(db) in (None, [])
