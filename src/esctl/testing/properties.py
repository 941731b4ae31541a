"""Random sequences of appends across tenants and streams, on the store under test and the reference.

Each example runs the same operations against the store under test and the in-memory reference
store, next to a plain model of what should be stored. Whatever the sequence: positions are
1..N with no gap, every stream's versions are 1..n, the two stores agree event for event,
refused appends write nothing, and a tenant filter never returns another tenant's event.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from esctl.errors import OptimisticLockError, TenantMismatchError
from esctl.events import DomainEvent
from esctl.store.interface import EventStore
from esctl.store.types import Expected, ExpectedVersion, ReadOptions
from esctl.testing.base import StoreContract
from esctl.testing.events import item

ACME = UUID(int=0xACE)
GLOBEX = UUID(int=0x610BE)
STRANGER = UUID(int=0x5)
TENANTS: list[UUID | None] = [ACME, GLOBEX, None]
SLOTS = 5


def stream_of(slot: int) -> UUID:
    """The aggregate id of stream number ``slot``."""
    return UUID(int=1000 + slot)


@dataclass
class Model:
    """What the stores should hold, kept by hand."""

    tenants: dict[int, UUID | None]
    versions: dict[int, int] = field(default_factory=dict)
    log: list[DomainEvent] = field(default_factory=list)
    batches: list[list[DomainEvent]] = field(default_factory=list)


append_op = st.tuples(
    st.just("append"),
    st.integers(0, SLOTS - 1),
    st.integers(1, 4),
    st.sampled_from(["exact", "any", "no_stream", "stream_exists", "stale"]),
)
batch_op = st.tuples(st.just("batch"), st.lists(st.integers(0, SLOTS - 1), min_size=1, max_size=6))
foreign_op = st.tuples(st.just("foreign"), st.integers(0, SLOTS - 1))
replay_op = st.tuples(st.just("replay"), st.integers(0, 50))
operations = st.lists(st.one_of(append_op, batch_op, foreign_op, replay_op), min_size=1, max_size=25)
stream_tenants = st.lists(st.sampled_from(TENANTS), min_size=SLOTS, max_size=SLOTS)


def _next_events(model: Model, slots: list[int]) -> list[DomainEvent]:
    versions = dict(model.versions)
    events: list[DomainEvent] = []
    for slot in slots:
        versions[slot] = versions.get(slot, 0) + 1
        events.append(item(stream_of(slot), versions[slot], tenant_id=model.tenants[slot], sku=f"s{slot}"))
    return events


def _expected_for(mode: str, current: int) -> tuple[Expected, bool]:
    """Return the expected version to send and whether the store must accept it."""
    if mode == "exact":
        return current, True
    if mode == "any":
        return ExpectedVersion.ANY, True
    if mode == "no_stream":
        return ExpectedVersion.NO_STREAM, current == 0
    if mode == "stream_exists":
        return ExpectedVersion.STREAM_EXISTS, current > 0
    return current + 1, False  # stale: the writer thinks the stream is further along than it is


async def _apply(stores: list[EventStore], model: Model, op: tuple[object, ...]) -> None:
    kind = op[0]
    if kind == "append":
        _, slot, count, mode = op
        assert isinstance(slot, int)
        assert isinstance(count, int)
        assert isinstance(mode, str)
        events = _next_events(model, [slot] * count)
        expected, accepted = _expected_for(mode, model.versions.get(slot, 0))
        for store in stores:
            if accepted:
                result = await store.append_events(stream_of(slot), "Cart", events, expected)
                assert (result.appended, result.skipped) == (count, 0)
            else:
                before = await store.get_global_position()
                try:
                    await store.append_events(stream_of(slot), "Cart", events, expected)
                except OptimisticLockError:
                    pass
                else:
                    raise AssertionError(f"{type(store).__name__} accepted {mode} at {model.versions.get(slot, 0)}")
                assert await store.get_global_position() == before
        if accepted:
            _commit(model, events)
    elif kind == "batch":
        slots = op[1]
        assert isinstance(slots, list)
        events = _next_events(model, slots)
        for store in stores:
            result = await store.append_batch(events)
            assert result.appended == len(events)
        _commit(model, events)
    elif kind == "foreign":
        slot = op[1]
        assert isinstance(slot, int)
        if slot not in model.versions:
            return
        owner = model.tenants[slot]
        intruder = STRANGER if owner is not None else ACME
        event = item(stream_of(slot), model.versions[slot] + 1, tenant_id=intruder)
        for store in stores:
            try:
                await store.append_events(stream_of(slot), "Cart", [event], model.versions[slot])
            except TenantMismatchError:
                pass
            else:
                raise AssertionError(f"{type(store).__name__} let tenant {intruder} into a stream of {owner}")
    elif kind == "replay":
        index = op[1]
        assert isinstance(index, int)
        if not model.batches:
            return
        batch = model.batches[index % len(model.batches)]
        for store in stores:
            result = await store.append_batch(batch)
            assert (result.appended, result.skipped) == (0, len(batch))


def _commit(model: Model, events: list[DomainEvent]) -> None:
    for event in events:
        slot = event.aggregate_id.int - 1000
        model.versions[slot] = event.aggregate_version
        model.log.append(event)
    model.batches.append(events)


async def _check(store: EventStore, model: Model) -> None:
    everything = [s async for s in store.read_all()]
    assert [s.global_position for s in everything] == list(range(1, len(model.log) + 1))
    assert [s.event.event_id for s in everything] == [e.event_id for e in model.log]
    assert await store.get_global_position() == len(model.log)
    for slot in range(SLOTS):
        versions = [s.stream_position async for s in store.read_stream(stream_of(slot), "Cart")]
        assert versions == list(range(1, model.versions.get(slot, 0) + 1))
        assert await store.get_stream_version(stream_of(slot), "Cart") == model.versions.get(slot, 0)
    for tenants in ((ACME,), (GLOBEX,), (STRANGER,), (ACME, GLOBEX)):
        got = [s async for s in store.read_all(ReadOptions(tenant_ids=tenants))]
        assert all(s.event.tenant_id in tenants for s in got)
        assert [s.event.event_id for s in got] == [e.event_id for e in model.log if e.tenant_id in tenants]
        positions = [s.global_position for s in got]
        assert positions == sorted(positions)


class RandomAppendsContract(StoreContract):
    """Any sequence of appends keeps positions, versions and tenants straight, as the reference does."""

    @settings(
        max_examples=60,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.differing_executors],
    )
    @given(ops=operations, owners=stream_tenants)
    def test_random_appends_keep_positions_versions_and_tenants_straight(
        self, ops: list[tuple[object, ...]], owners: list[UUID | None]
    ) -> None:
        async def run(store: EventStore) -> None:
            model = Model(tenants=dict(enumerate(owners)))
            reference = self.reference_store()
            stores = [reference, store]
            for op in ops:
                await _apply(stores, model, op)
            for each in stores:
                await _check(each, model)
            mine = [(s.global_position, s.stream_id, s.stream_position, s.event) async for s in reference.read_all()]
            theirs = [(s.global_position, s.stream_id, s.stream_position, s.event) async for s in store.read_all()]
            assert theirs == mine

        self.run_with_stores(1, run)
