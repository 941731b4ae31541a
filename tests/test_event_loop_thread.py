"""No SQLite work of ``SQLiteEventStore`` runs on the event loop's thread.

A commit takes milliseconds; on the loop's thread it would stall every other task of the
process (every request of a web service) for as long. So every store method, every persisted
projection's catch-up, rebuild and replay, and ``close()`` must do their ``sqlite3`` calls on
the store's own thread, and only await it on the loop.

How the calls are seen, two ways that do not depend on how esctl is written:

- ``sqlite3.connect`` (and any module-level alias of it in ``esctl``) is wrapped to open a
  ``sqlite3.Connection`` subclass, with a cursor subclass, whose methods record the thread they
  run on. This sees every call, on every thread, of every connection esctl opens (the store's,
  a read-only inspection's, replay's scratch database): the figure that must not be zero.
- A profile hook (``sys.setprofile``) on the loop's thread records every C call it makes into
  ``sqlite3``: a method of a connection, cursor or blob however that object was made, or a
  function of the ``sqlite3`` module itself. This sees the loop's thread even if a connection
  were opened some other way: the figure that must be zero.

``test_the_recorder_sees_sqlite3_on_the_loop_thread`` shows both can see what they look for.
"""

from __future__ import annotations

import sqlite3
import sys
import threading
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any
from uuid import UUID

import pytest

from conftest import REGISTRY, T0, InvoiceIssued, ItemAdded, item
from esctl import (
    DeclarativeProjection,
    DomainEvent,
    EventStore,
    OptimisticLockError,
    ReadModel,
    ReadOptions,
    SQLiteEventStore,
    SQLProjection,
    handles,
)
from esctl.ingest import event_from_fields
from esctl.projections import ProjectionRegistry, ProjectionRunner, replay
from esctl.store.types import AppendChunk

TENANT_A = UUID("00000000-0000-4000-8000-00000000000a")
TENANT_B = UUID("00000000-0000-4000-8000-00000000000b")
CART_1 = UUID("01a00000-0000-7000-8000-000000000c01")
CART_2 = UUID("01a00000-0000-7000-8000-000000000c02")
CART_3 = UUID("01a00000-0000-7000-8000-000000000c03")
INVOICE = UUID("01a00000-0000-7000-8000-000000000e01")

_SQLITE_OBJECTS = (sqlite3.Connection, sqlite3.Cursor, sqlite3.Blob)
_SQLITE_MODULES = frozenset({"sqlite3", "_sqlite3"})


# -- the recorder ------------------------------------------------------------------------------


@dataclass
class SqliteCalls:
    """Every recorded ``sqlite3`` call, by the thread it ran on."""

    by_thread: dict[int, Counter[str]] = field(default_factory=dict)
    names: dict[int, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, what: str) -> None:
        ident = threading.get_ident()
        with self._lock:
            self.by_thread.setdefault(ident, Counter())[what] += 1
            self.names.setdefault(ident, threading.current_thread().name)

    def reset(self) -> None:
        with self._lock:
            self.by_thread.clear()

    def on(self, ident: int) -> Counter[str]:
        with self._lock:
            return Counter(self.by_thread.get(ident, Counter()))

    def elsewhere(self, ident: int) -> int:
        with self._lock:
            return sum(sum(c.values()) for i, c in self.by_thread.items() if i != ident)

    def threads_elsewhere(self, ident: int) -> set[str]:
        with self._lock:
            return {self.names[i] for i in self.by_thread if i != ident}


def recording_classes(calls: SqliteCalls) -> tuple[type[sqlite3.Connection], type[sqlite3.Cursor]]:
    """A connection and a cursor class whose SQLite-calling methods record their thread."""

    def wrap(base: type[Any], name: str) -> Callable[..., Any]:
        original = getattr(base, name)
        label = f"{base.__name__}.{name}"

        def method(self: Any, *args: Any, **kwargs: Any) -> Any:
            calls.record(label)
            return original(self, *args, **kwargs)

        method.__name__ = name
        return method

    cursor_methods = ("execute", "executemany", "executescript", "fetchone", "fetchmany", "fetchall", "close")
    cursor_body: dict[str, Any] = {name: wrap(sqlite3.Cursor, name) for name in cursor_methods}
    cursor_body["__next__"] = wrap(sqlite3.Cursor, "__next__")
    cursor_class = type("RecordingCursor", (sqlite3.Cursor,), cursor_body)

    connection_methods = (
        "commit",
        "rollback",
        "close",
        "backup",
        "blobopen",
        "create_function",
        "create_aggregate",
        "create_collation",
        "set_authorizer",
        "set_progress_handler",
        "set_trace_callback",
        "interrupt",
        "serialize",
        "deserialize",
    )
    connection_body: dict[str, Any] = {
        name: wrap(sqlite3.Connection, name) for name in connection_methods if hasattr(sqlite3.Connection, name)
    }
    plain_cursor = sqlite3.Connection.cursor

    def cursor(self: sqlite3.Connection, factory: Any = None) -> sqlite3.Cursor:
        calls.record("Connection.cursor")
        return plain_cursor(self, factory or cursor_class)

    connection_body["cursor"] = cursor

    def shortcut(name: str) -> Callable[..., Any]:
        # ``Connection.execute`` and friends make a plain cursor in C; make a recording one.
        label = f"Connection.{name}"

        def method(self: sqlite3.Connection, *args: Any) -> Any:
            calls.record(label)
            return getattr(self.cursor(), name)(*args)

        method.__name__ = name
        return method

    for name in ("execute", "executemany", "executescript"):
        connection_body[name] = shortcut(name)
    return type("RecordingConnection", (sqlite3.Connection,), connection_body), cursor_class


@contextmanager
def recording_connections(calls: SqliteCalls, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Make ``sqlite3.connect``, wherever esctl reaches it, open recording connections."""
    real_connect = sqlite3.connect
    connection_class, _ = recording_classes(calls)

    def connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        calls.record("sqlite3.connect")
        kwargs.setdefault("factory", connection_class)
        return real_connect(*args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(sqlite3, "connect", connect)
        # A module that did ``from sqlite3 import connect`` holds its own name for it.
        for name, module in list(sys.modules.items()):
            if (name == "esctl" or name.startswith("esctl.")) and getattr(module, "connect", None) is real_connect:
                patch.setattr(module, "connect", connect)
        yield


@contextmanager
def profiling_this_thread(calls: SqliteCalls) -> Iterator[None]:
    """Record every C call this thread makes into ``sqlite3`` (``sys.setprofile`` is per thread)."""
    previous = sys.getprofile()

    def hook(frame: FrameType, event: str, arg: Any) -> None:
        if event != "c_call":
            return
        owner = getattr(arg, "__self__", None)
        if isinstance(owner, _SQLITE_OBJECTS):
            calls.record(f"{type(owner).__name__}.{getattr(arg, '__name__', '?')} (profiled)")
        elif getattr(arg, "__module__", None) in _SQLITE_MODULES:
            calls.record(f"sqlite3.{getattr(arg, '__name__', '?')} (profiled)")

    sys.setprofile(hook)
    try:
        yield
    finally:
        sys.setprofile(previous)


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[SqliteCalls]:
    """Record the thread of every ``sqlite3`` call of the test, and of the loop's thread's C calls."""
    recorded = SqliteCalls()
    with recording_connections(recorded, monkeypatch):
        yield recorded


@asynccontextmanager
async def watching_the_loop(calls: SqliteCalls) -> AsyncIterator[int]:
    """Profile the running loop's thread (where this coroutine runs); yield its thread id."""
    with profiling_this_thread(calls):
        yield threading.get_ident()


def assert_off_the_loop(calls: SqliteCalls, loop_thread: int) -> None:
    on_loop = calls.on(loop_thread)
    assert not on_loop, f"sqlite3 calls on the event loop's thread: {dict(on_loop)}"
    assert calls.elsewhere(loop_thread) > 0, "no sqlite3 call was recorded at all: the recorder saw nothing"
    assert all(name.startswith("esctl-sqlite") for name in calls.threads_elsewhere(loop_thread)), (
        calls.threads_elsewhere(loop_thread)
    )


# -- what the store is asked to do -----------------------------------------------------------------


def items(cart: UUID, first: int, count: int, tenant: UUID) -> list[DomainEvent]:
    return [item(cart, version, tenant_id=tenant, sku=f"SKU-{version % 7}") for version in range(first, first + count)]


def chunk_input(number: int) -> Any:
    """An input event as ``esctl import`` makes it: registered types keep a model, others only a row."""
    data = {
        "event_id": f"01a00000-0000-7000-8000-{0xD000 + number:012x}",
        "event_type": "test.ItemRemoved" if number % 2 else "loop.Noted",
        "occurred_at": f"2026-11-01T09:00:{number % 60:02d}Z",
        "aggregate_type": "Cart",
        "aggregate_id": str(CART_3),
        "aggregate_version": number,
        "tenant_id": str(TENANT_B),
        "sku" if number % 2 else "text": f"n{number}",
    }
    return event_from_fields(data, registry=REGISTRY, line=number)


async def appends(store: EventStore) -> None:
    """One-event and 100-event appends, a multi-stream batch, chunks, and a refused append."""
    for version in range(1, 6):  # one-event batches, as a service's save() writes
        await store.append_events(CART_1, "Cart", items(CART_1, version, 1, TENANT_A), version - 1)
    await store.append_events(CART_2, "Cart", items(CART_2, 1, 100, TENANT_B), 0)
    invoice = InvoiceIssued(
        aggregate_id=INVOICE, aggregate_version=1, tenant_id=TENANT_A, amount_cents=1250, due=T0, occurred_at=T0
    )
    await store.append_batch([*items(CART_1, 6, 3, TENANT_A), invoice])
    inputs = [chunk_input(number) for number in range(1, 9)]
    await store.append_chunks(AppendChunk(inputs[start : start + 3]) for start in range(0, len(inputs), 3))
    with pytest.raises(OptimisticLockError):
        await store.append_events(CART_1, "Cart", items(CART_1, 2, 1, TENANT_A), 1)
    assert await store.get_global_position() == 5 + 100 + 4 + 8
    assert await store.get_stream_version(CART_2, "Cart") == 100
    assert await store.event_exists(invoice.event_id)


class CartLines(SQLProjection):
    """SQL rows: one per item added, kept per tenant, with an index."""

    name = "cart-lines"
    tenant_column = "tenant_id"
    tables = {  # noqa: RUF012 - the class attribute SQLProjection reads
        "lines": (
            "CREATE TABLE {lines} (event_id TEXT PRIMARY KEY, tenant_id TEXT, cart TEXT, sku TEXT)",
            "CREATE INDEX {lines}_cart ON {lines} (cart)",
        )
    }

    @handles(ItemAdded)
    def _added(self, db: ReadModel, event: ItemAdded) -> None:
        db.execute(
            "INSERT INTO {lines} (event_id, tenant_id, cart, sku) VALUES (?, ?, ?, ?)",
            (str(event.event_id), str(event.tenant_id), str(event.aggregate_id), event.sku),
        )


class ItemCount(DeclarativeProjection):
    """Python state, the tutorial's style: items added per cart."""

    def __init__(self) -> None:
        super().__init__()
        self.carts: dict[str, int] = {}

    @handles(ItemAdded)
    async def _added(self, event: ItemAdded) -> None:
        key = str(event.aggregate_id)
        self.carts[key] = self.carts.get(key, 0) + 1


def projection_registry() -> ProjectionRegistry:
    """The built-ins (tenant-stats, stream-index), an SQL projection and a per-tenant state one."""
    registry = ProjectionRegistry()
    registry.register(CartLines)
    registry.register(ItemCount, name="item-count", per_tenant=True)
    return registry


async def filled_store(tmp_path: Path, calls: SqliteCalls) -> SQLiteEventStore:
    """A store holding what ``appends`` writes, its connection open; no call recorded yet."""
    store = SQLiteEventStore(tmp_path / "events.db", registry=REGISTRY)
    await appends(store)
    calls.reset()  # what appending does is test_appends_run_off_the_loop's business
    return store


# -- the tests -------------------------------------------------------------------------------------


async def test_the_recorder_sees_sqlite3_on_the_loop_thread(calls: SqliteCalls) -> None:
    async with watching_the_loop(calls) as loop_thread:
        conn = sqlite3.connect(":memory:")
        conn.execute("SELECT 1").fetchone()
        conn.close()
        raw = sqlite3.Connection(":memory:")  # not through connect(): only the profile hook sees it
        raw.execute("SELECT 1").fetchall()
        raw.close()
    seen = calls.on(loop_thread)
    assert seen["sqlite3.connect"] == 1
    assert seen["Connection.execute"] == 1  # the recording connection
    assert seen["Cursor.fetchone"] == 1  # the recording cursor
    # The plain connection, seen by the profile hook alone:
    assert seen["Connection.execute (profiled)"] >= 1
    assert seen["Cursor.fetchall (profiled)"] == 1
    assert seen["Connection.close (profiled)"] >= 1
    with pytest.raises(AssertionError, match="on the event loop's thread"):
        assert_off_the_loop(calls, loop_thread)


async def test_appends_run_off_the_loop(calls: SqliteCalls, tmp_path: Path) -> None:
    async with watching_the_loop(calls) as loop_thread:
        store = SQLiteEventStore(tmp_path / "events.db", registry=REGISTRY)
        try:
            await appends(store)
        finally:
            await store.close()
    assert_off_the_loop(calls, loop_thread)
    assert calls.elsewhere(loop_thread) >= 5 + 1 + 1 + 1


async def test_reads_run_off_the_loop(calls: SqliteCalls, tmp_path: Path) -> None:
    store = await filled_store(tmp_path, calls)
    async with watching_the_loop(calls) as loop_thread:
        try:
            everything = [stored async for stored in store.read_all()]
            assert len(everything) == 117
            assert len([s async for s in store.read_all(ReadOptions(tenant_id=TENANT_A, limit=3))]) == 3
            assert len([s async for s in store.read_stream(CART_2, "Cart", from_version=90)]) == 10
            assert (await store.get_events(CART_1, "Cart")).version == 8
            assert len(await store.get_events_by_type("Invoice")) == 1
            assert await store.count_events(ReadOptions(tenant_id=TENANT_B)) == 108
            assert len([info async for info in store.list_streams()]) == 4
            assert len([info async for info in store.list_streams(tenant_ids=[TENANT_A], limit=1)]) == 1
            assert {info.tenant_id for info in await store.list_tenants()} == {TENANT_A, TENANT_B}
            assert (await store.stats()).events == 117
            report = await store.verify()
            assert report.events == 117
            assert not report.findings
            lines = [line async for page in store.read_json_lines() for line in page]
            assert len(lines) == 117
            assert (await store.schema_status()).pending == 0
            await store.migrate()
        finally:
            await store.close()
    assert_off_the_loop(calls, loop_thread)


async def test_projections_catch_up_rebuild_and_replay_off_the_loop(calls: SqliteCalls, tmp_path: Path) -> None:
    store = await filled_store(tmp_path, calls)
    async with watching_the_loop(calls) as loop_thread:
        try:
            runner = ProjectionRunner(store, projection_registry(), batch_size=40)
            results = await runner.catch_up()
            assert {r.name for r in results} == {"tenant-stats", "stream-index", "cart-lines", "item-count"}
            await store.append_events(CART_1, "Cart", items(CART_1, 9, 1, TENANT_A), 8)
            await runner.catch_up()  # from the checkpoints
            caught_up = {name: await runner.view(name) for name in runner.names}
            assert len(caught_up["cart-lines"]) == 5 + 100 + 3 + 1  # the ItemAdded events
            for name in runner.names:
                await runner.rebuild(name)
            await runner.rebuild("cart-lines", tenant_id=TENANT_A)
            await runner.rebuild("item-count", tenant_id=TENANT_B)
            assert {name: await runner.view(name) for name in runner.names} == caught_up
            assert all(status.lag == 0 for status in await runner.statuses())
            assert await runner.plan_rebuild("tenant-stats") == (118, 118)
            assert await runner.checkpoint("tenant-stats") is not None
            for name in runner.names:
                replayed = await replay(store, runner.projection(name), batch_size=25)
                assert replayed == caught_up[name], name
            assert await replay(store, runner.projection("tenant-stats"), ReadOptions(tenant_id=TENANT_A))
        finally:
            await store.close()
    assert_off_the_loop(calls, loop_thread)


async def test_close_runs_off_the_loop(calls: SqliteCalls, tmp_path: Path) -> None:
    store = SQLiteEventStore(tmp_path / "events.db", registry=REGISTRY)
    await store.get_global_position()
    calls.reset()
    async with watching_the_loop(calls) as loop_thread:
        await store.close()
        await store.close()  # a second close does nothing, anywhere
    assert_off_the_loop(calls, loop_thread)
    assert sum(c["Connection.close"] for c in calls.by_thread.values()) == 1
