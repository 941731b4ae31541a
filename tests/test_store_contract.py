"""The event store contract: every test here runs against InMemoryEventStore and SQLiteEventStore.

The ``store`` fixture (conftest.py) is parametrized over both stores, so one behaviour is one
test and the two stores cannot drift apart.
"""

from __future__ import annotations

import itertools
import random
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from uuid import UUID, uuid4

import pytest

from conftest import T0, InvoiceIssued, ItemAdded, ItemRemoved, item
from esctl import (
    DomainEvent,
    DuplicateEventError,
    EventStore,
    ExpectedVersion,
    OptimisticLockError,
    ReadOptions,
    StoredEvent,
    TenantMismatchError,
    uuid7,
)

# -- round trip -------------------------------------------------------------------------------


async def test_empty_store(store: EventStore) -> None:
    assert await store.get_global_position() == 0
    assert [s async for s in store.read_all()] == []
    assert await store.get_stream_version(uuid4(), "Cart") == 0
    assert not await store.event_exists(uuid4())
    stream = await store.get_events(uuid4(), "Cart")
    assert stream.is_empty
    assert stream.version == 0


async def test_round_trip_keeps_every_envelope_field_and_the_payload(store: EventStore) -> None:
    cart, invoice, tenant = uuid4(), uuid4(), uuid4()
    plus_two = timezone(timedelta(hours=2))
    full = ItemAdded(
        event_id=uuid7(),
        event_version=2,
        occurred_at=datetime(2026, 11, 1, 9, 30, 15, 123456, tzinfo=plus_two),
        aggregate_id=cart,
        aggregate_version=1,
        tenant_id=tenant,
        actor_id="user:42",
        correlation_id=uuid4(),
        causation_id=uuid4(),
        metadata={"ip": "10.0.0.1", "nested": {"a": [1, 2, None], "ok": True}, "text": "é ✓ 漢"},
        sku="SKU-é-1",
        quantity=2**53,
        price=0.1,
        tags=["gift", "fragile"],
        note=None,
    )
    bare = ItemRemoved(aggregate_id=cart, aggregate_version=2, tenant_id=tenant, sku="SKU-é-1")
    other = InvoiceIssued(
        aggregate_id=invoice,
        amount_cents=-5,
        due=datetime(2027, 1, 1, 23, 59, 59, 999999, tzinfo=UTC),
        actor_id="",
    )
    before = datetime.now(UTC) - timedelta(seconds=1)
    await store.append_events(cart, "Cart", [full, bare], ExpectedVersion.NO_STREAM)
    await store.append_events(invoice, "Invoice", [other], ExpectedVersion.NO_STREAM)
    after = datetime.now(UTC) + timedelta(seconds=1)

    stored = [s async for s in store.read_all()]
    assert [s.event for s in stored] == [full, bare, other]
    for original, back in zip([full, bare, other], stored, strict=True):
        assert type(back.event) is type(original)
        assert back.event.model_dump() == original.model_dump()
        assert back.event.payload == original.payload
        assert back.event.occurred_at.utcoffset() == timedelta(0)
        assert before <= back.stored_at <= after
        assert back.stored_at.utcoffset() == timedelta(0)
    first = stored[0].event
    assert isinstance(first, ItemAdded)
    assert first.occurred_at == datetime(2026, 11, 1, 7, 30, 15, 123456, tzinfo=UTC)
    assert first.quantity == 2**53
    assert first.metadata["nested"] == {"a": [1, 2, None], "ok": True}
    assert first.event_version == 2
    assert [(s.stream_id, s.stream_position, s.global_position) for s in stored] == [
        (f"Cart:{cart}", 1, 1),
        (f"Cart:{cart}", 2, 2),
        (f"Invoice:{invoice}", 1, 3),
    ]
    assert stored[2].event.tenant_id is None
    assert stored[2].event.causation_id is None


async def test_append_result_reports_positions_and_versions(store: EventStore) -> None:
    cart = uuid4()
    first = await store.append_events(cart, "Cart", [item(cart, 1), item(cart, 2)], ExpectedVersion.NO_STREAM)
    assert (first.appended, first.skipped, first.first_position, first.last_position) == (2, 0, 1, 2)
    assert first.new_version == 2
    second = await store.append_events(cart, "Cart", [item(cart, 3)], 2)
    assert (second.first_position, second.last_position, second.new_version) == (3, 3, 3)
    assert dict(second.stream_versions) == {("Cart", cart): 3}


# -- expected versions ------------------------------------------------------------------------


async def _assert_nothing_written(store: EventStore, position: int, events: list[DomainEvent]) -> None:
    assert await store.get_global_position() == position
    for event in events:
        assert not await store.event_exists(event.event_id)


async def test_no_stream_accepts_a_new_stream_and_rejects_an_existing_one(store: EventStore) -> None:
    cart = uuid4()
    await store.append_events(cart, "Cart", [item(cart, 1)], ExpectedVersion.NO_STREAM)
    late = item(cart, 2)
    with pytest.raises(OptimisticLockError) as caught:
        await store.append_events(cart, "Cart", [late], ExpectedVersion.NO_STREAM)
    assert caught.value.actual == 1
    assert caught.value.aggregate_id == cart
    await _assert_nothing_written(store, 1, [late])


async def test_stream_exists_rejects_a_new_stream_and_accepts_an_existing_one(store: EventStore) -> None:
    cart = uuid4()
    first = item(cart, 1)
    with pytest.raises(OptimisticLockError) as caught:
        await store.append_events(cart, "Cart", [first], ExpectedVersion.STREAM_EXISTS)
    assert caught.value.actual == 0
    await _assert_nothing_written(store, 0, [first])
    await store.append_events(cart, "Cart", [first], ExpectedVersion.ANY)
    await store.append_events(cart, "Cart", [item(cart, 2)], ExpectedVersion.STREAM_EXISTS)
    assert await store.get_stream_version(cart, "Cart") == 2


async def test_exact_version_must_match_the_stream_head(store: EventStore) -> None:
    cart = uuid4()
    await store.append_events(cart, "Cart", [item(cart, 1)], 0)  # 0 means "no stream yet"
    await store.append_events(cart, "Cart", [item(cart, 2)], 1)
    for wrong in (0, 1, 3):
        late = item(cart, 3)
        with pytest.raises(OptimisticLockError) as caught:
            await store.append_events(cart, "Cart", [late], wrong)
        assert (caught.value.expected, caught.value.actual) == (wrong, 2)
        await _assert_nothing_written(store, 2, [late])
    await store.append_events(cart, "Cart", [item(cart, 3)], 2)
    assert await store.get_stream_version(cart, "Cart") == 3


async def test_any_skips_the_check_but_versions_must_still_follow_the_head(store: EventStore) -> None:
    cart = uuid4()
    await store.append_events(cart, "Cart", [item(cart, 1)], ExpectedVersion.ANY)
    await store.append_events(cart, "Cart", [item(cart, 2)], ExpectedVersion.ANY)
    for bad_version in (2, 4):
        bad = item(cart, bad_version)
        with pytest.raises(OptimisticLockError):
            await store.append_events(cart, "Cart", [bad], ExpectedVersion.ANY)
        await _assert_nothing_written(store, 2, [bad])


async def test_append_events_rejects_an_event_of_another_stream(store: EventStore) -> None:
    cart, other = uuid4(), uuid4()
    with pytest.raises(Exception, match="belongs to") as caught:
        await store.append_events(cart, "Cart", [item(cart, 1), item(other, 1)])
    assert caught.value.batch_index == 1
    assert await store.get_global_position() == 0


# -- atomic batches ---------------------------------------------------------------------------


async def test_batch_with_a_version_conflict_in_the_middle_writes_nothing(store: EventStore) -> None:
    a, b = uuid4(), uuid4()
    await store.append_events(b, "Cart", [item(b, 1)])
    batch: list[DomainEvent] = [item(a, 1), item(a, 2), item(b, 3), item(a, 3)]
    with pytest.raises(OptimisticLockError) as caught:
        await store.append_batch(batch)
    assert caught.value.batch_index == 2
    await _assert_nothing_written(store, 1, batch)
    assert await store.get_stream_version(a, "Cart") == 0


async def test_batch_with_a_failed_expected_version_in_the_middle_writes_nothing(store: EventStore) -> None:
    a, b = uuid4(), uuid4()
    await store.append_events(b, "Cart", [item(b, 1)])
    batch: list[DomainEvent] = [item(a, 1), item(b, 2), item(a, 2)]
    with pytest.raises(OptimisticLockError):
        await store.append_batch(
            batch, expected_versions={("Cart", a): ExpectedVersion.NO_STREAM, ("Cart", b): ExpectedVersion.NO_STREAM}
        )
    await _assert_nothing_written(store, 1, batch)


async def test_batch_reusing_a_stored_event_id_with_other_content_writes_nothing(store: EventStore) -> None:
    a, b = uuid4(), uuid4()
    stored = item(a, 1, sku="ORIGINAL")
    await store.append_events(a, "Cart", [stored])
    forged = item(b, 2, sku="CHANGED").model_copy(update={"event_id": stored.event_id})
    batch: list[DomainEvent] = [item(b, 1), forged, item(b, 3)]
    with pytest.raises(DuplicateEventError) as caught:
        await store.append_batch(batch)
    assert caught.value.batch_index == 1
    assert caught.value.field == "event_id"
    await _assert_nothing_written(store, 1, [batch[0], batch[2]])
    back = [s.event async for s in store.read_all()]
    assert back == [stored]


async def test_batch_repeating_an_event_id_with_other_content_writes_nothing(store: EventStore) -> None:
    a = uuid4()
    first = item(a, 1, sku="ONE")
    clash = item(a, 2, sku="TWO").model_copy(update={"event_id": first.event_id})
    with pytest.raises(DuplicateEventError):
        await store.append_batch([first, clash])
    await _assert_nothing_written(store, 0, [first])


async def test_batch_with_a_tenant_mismatch_in_the_middle_writes_nothing(store: EventStore) -> None:
    a, b, acme, globex = uuid4(), uuid4(), uuid4(), uuid4()
    await store.append_events(b, "Cart", [item(b, 1, tenant_id=acme)])
    batch: list[DomainEvent] = [item(a, 1, tenant_id=globex), item(b, 2, tenant_id=globex), item(a, 2)]
    with pytest.raises(TenantMismatchError):
        await store.append_batch(batch)
    await _assert_nothing_written(store, 1, batch)


async def test_batch_spanning_streams_is_written_in_the_given_order(store: EventStore) -> None:
    a, b = uuid4(), uuid4()
    batch: list[DomainEvent] = [item(a, 1), item(b, 1), item(a, 2), item(b, 2), item(b, 3)]
    result = await store.append_batch(batch)
    assert result.appended == 5
    assert dict(result.stream_versions) == {("Cart", a): 2, ("Cart", b): 3}
    assert [s.event.event_id async for s in store.read_all()] == [e.event_id for e in batch]


# -- idempotency ------------------------------------------------------------------------------


async def test_reappending_the_same_events_is_a_no_op(store: EventStore) -> None:
    cart = uuid4()
    events: list[DomainEvent] = [item(cart, 1), item(cart, 2), item(cart, 3)]
    await store.append_events(cart, "Cart", events, ExpectedVersion.NO_STREAM)
    # The same call again, as after a crash that hid whether the first one committed.
    again = await store.append_events(cart, "Cart", events, ExpectedVersion.NO_STREAM)
    assert (again.appended, again.skipped, again.first_position, again.last_position) == (0, 3, None, None)
    assert again.new_version == 3
    assert await store.get_global_position() == 3


async def test_reappending_events_read_back_from_the_store_is_a_no_op(store: EventStore) -> None:
    cart, invoice = uuid4(), uuid4()
    await store.append_batch(
        [
            item(cart, 1, occurred_at=datetime(2026, 1, 1, 1, 2, 3, 456789, tzinfo=timezone(timedelta(hours=-5)))),
            InvoiceIssued(aggregate_id=invoice, amount_cents=1, due=T0, metadata={"k": [1.5, "x"]}),
        ]
    )
    back = [s.event async for s in store.read_all()]
    result = await store.append_batch(back)
    assert (result.appended, result.skipped) == (0, 2)
    assert await store.get_global_position() == 2


async def test_reappending_with_new_events_appends_only_the_new_ones(store: EventStore) -> None:
    cart = uuid4()
    events: list[DomainEvent] = [item(cart, 1), item(cart, 2)]
    await store.append_events(cart, "Cart", events, ExpectedVersion.NO_STREAM)
    more = [*events, item(cart, 3)]
    result = await store.append_events(cart, "Cart", more, ExpectedVersion.NO_STREAM)
    assert (result.appended, result.skipped, result.first_position) == (1, 2, 3)
    assert [s.event.event_id async for s in store.read_all()] == [e.event_id for e in more]


async def test_an_event_repeated_within_a_batch_is_stored_once(store: EventStore) -> None:
    cart = uuid4()
    first = item(cart, 1)
    result = await store.append_batch([first, first, item(cart, 2)])
    assert (result.appended, result.skipped) == (2, 1)
    assert await store.get_stream_version(cart, "Cart") == 2


async def test_auto_version_assigns_versions_after_the_head(store: EventStore) -> None:
    cart = uuid4()
    await store.append_events(cart, "Cart", [item(cart, 1)])
    batch: list[DomainEvent] = [item(cart, 1), item(cart, 1)]
    result = await store.append_batch(batch, auto_version=range(2))
    assert result.new_version == 3
    assert [s.stream_position async for s in store.read_stream(cart, "Cart")] == [1, 2, 3]
    again = await store.append_batch(batch, auto_version=range(2))
    assert (again.appended, again.skipped) == (0, 2)


# -- the read API -----------------------------------------------------------------------------


async def _cart_with_five_events(store: EventStore, tenant: UUID | None = None) -> tuple[UUID, list[ItemAdded]]:
    cart = uuid4()
    events = [item(cart, v, tenant_id=tenant, occurred_at=T0 + timedelta(seconds=v)) for v in range(1, 6)]
    await store.append_events(cart, "Cart", events, ExpectedVersion.NO_STREAM)
    return cart, events


async def test_get_events_returns_the_stream_with_its_version(store: EventStore) -> None:
    noise = uuid4()
    await store.append_events(noise, "Cart", [item(noise, 1)])
    cart, events = await _cart_with_five_events(store)
    stream = await store.get_events(cart, "Cart")
    assert (stream.aggregate_id, stream.aggregate_type, stream.version) == (cart, "Cart", 5)
    assert stream.events == events
    after_two = await store.get_events(cart, "Cart", from_version=2)
    assert (after_two.events, after_two.version) == (events[2:], 5)
    assert (await store.get_events(cart)).events == events
    assert (await store.get_events(cart, "Invoice")).is_empty


async def test_get_events_time_window_is_half_open(store: EventStore) -> None:
    cart, events = await _cart_with_five_events(store)
    window = await store.get_events(
        cart, "Cart", from_timestamp=T0 + timedelta(seconds=2), to_timestamp=T0 + timedelta(seconds=4)
    )
    assert window.events == events[1:3]
    assert window.version == 5


async def test_get_events_by_type_filters_by_tenant_and_time(store: EventStore) -> None:
    acme, globex = uuid4(), uuid4()
    _, acme_events = await _cart_with_five_events(store, acme)
    _, globex_events = await _cart_with_five_events(store, globex)
    invoice = uuid4()
    await store.append_events(
        invoice, "Invoice", [InvoiceIssued(aggregate_id=invoice, tenant_id=acme, amount_cents=1, due=T0)]
    )
    assert await store.get_events_by_type("Cart") == [*acme_events, *globex_events]
    assert await store.get_events_by_type("Cart", tenant_id=acme) == acme_events
    since = T0 + timedelta(seconds=4)
    assert (
        await store.get_events_by_type(aggregate_type="Cart", tenant_id=globex, from_timestamp=since)
        == globex_events[3:]
    )
    assert await store.get_events_by_type("Cart", tenant_id=acme, to_timestamp=since) == acme_events[:3]
    assert await store.get_events_by_type("Cart", tenant_id=uuid4()) == []


async def test_read_stream_yields_stored_events_after_a_version(store: EventStore) -> None:
    cart, events = await _cart_with_five_events(store)
    other, _ = await _cart_with_five_events(store)
    stored = [s async for s in store.read_stream(cart, "Cart", from_version=3)]
    assert [s.event for s in stored] == events[3:]
    assert [(s.stream_position, s.global_position) for s in stored] == [(4, 4), (5, 5)]
    assert all(s.stream_id == f"Cart:{cart}" for s in stored)
    assert [s.event async for s in store.read_stream(other)] != []
    assert [s async for s in store.read_stream(cart, "Invoice")] == []


async def test_event_exists_stream_version_and_global_position(store: EventStore) -> None:
    cart, events = await _cart_with_five_events(store)
    assert await store.event_exists(events[0].event_id)
    assert not await store.event_exists(uuid7())
    assert await store.get_stream_version(cart, "Cart") == 5
    assert await store.get_stream_version(cart, "Invoice") == 0
    assert await store.get_global_position() == 5


async def test_read_all_is_in_position_order_and_gapless(store: EventStore) -> None:
    streams = [uuid4() for _ in range(4)]
    rng = random.Random(3)
    versions = dict.fromkeys(streams, 0)
    for _ in range(30):
        batch: list[DomainEvent] = []
        for cart in rng.sample(streams, 2):
            versions[cart] += 1
            batch.append(item(cart, versions[cart]))
        await store.append_batch(batch)
    positions = [s.global_position async for s in store.read_all()]
    assert positions == list(range(1, 61))


async def test_store_works_as_an_async_context_manager_and_closes_twice(store: EventStore) -> None:
    def store_threads() -> int:
        return sum(t.name.startswith("esctl-sqlite") for t in threading.enumerate())

    before = store_threads()
    async with store as same:
        assert same is store
        cart = uuid4()
        await same.append_events(cart, "Cart", [item(cart, 1)])
        await same.get_global_position()  # on the SQLite store's own thread
    assert store_threads() == before  # leaving the block closed the store (and its thread)
    await store.close()


# -- filters against a brute-force filter -----------------------------------------------------


@dataclass(frozen=True)
class Written:
    """An event as the test wrote it, with the position the append reported."""

    position: int
    event: DomainEvent


@dataclass(frozen=True)
class Dataset:
    """Events across tenants, aggregate types, streams, types and times."""

    written: list[Written]
    tenants: list[UUID]
    streams: list[tuple[str, UUID, UUID | None]]


BOUNDARY_FROM = T0 + timedelta(minutes=30)
BOUNDARY_TO = T0 + timedelta(minutes=60)


async def _write_dataset(store: EventStore) -> Dataset:
    rng = random.Random(20261101)
    tenants = [uuid4(), uuid4(), uuid4()]
    owners: list[UUID | None] = [*tenants, None]
    streams = [(kind, uuid4(), owners[i % 4]) for i, kind in enumerate(["Cart", "Invoice"] * 4)]
    versions: dict[UUID, int] = {}
    offsets = [UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-7, minutes=-30))]
    # The first events sit exactly on the window boundaries the queries use.
    minutes = [30, 60, 30, 60, *(rng.randrange(0, 120) for _ in range(76))]
    pending: list[DomainEvent] = []
    written: list[Written] = []
    for minute in minutes:
        kind, aggregate_id, tenant = streams[rng.randrange(len(streams))]
        version = versions[aggregate_id] = versions.get(aggregate_id, 0) + 1
        when = (T0 + timedelta(minutes=minute, microseconds=rng.choice([0, 0, 1, 999_999]))).astimezone(
            rng.choice(offsets)
        )
        common = {"aggregate_id": aggregate_id, "aggregate_version": version, "tenant_id": tenant, "occurred_at": when}
        event: DomainEvent
        if kind == "Invoice":
            event = InvoiceIssued(amount_cents=minute, due=when, **common)
        elif rng.random() < 0.6:
            event = ItemAdded(sku=f"S{minute}", quantity=1, price=1.0, **common)
        else:
            event = ItemRemoved(sku=f"S{minute}", **common)
        pending.append(event)
        if len(pending) >= rng.randint(1, 6):
            result = await store.append_batch(pending)
            assert result.first_position is not None
            written.extend(Written(result.first_position + i, e) for i, e in enumerate(pending))
            pending = []
    if pending:
        result = await store.append_batch(pending)
        assert result.first_position is not None
        written.extend(Written(result.first_position + i, e) for i, e in enumerate(pending))
    return Dataset(written, tenants, [(kind, aid, tenant) for kind, aid, tenant in streams])


def _brute_force(
    written: list[Written],
    *,
    from_position: int | None,
    to_position: int | None,
    tenant_id: UUID | None,
    tenant_ids: tuple[UUID, ...],
    aggregate_type: str | None,
    aggregate_id: UUID | None,
    event_types: tuple[str, ...],
    from_timestamp: datetime | None,
    to_timestamp: datetime | None,
    limit: int | None,
) -> list[tuple[int, UUID]]:
    """Filter everything written by hand: the reference the stores' filters are held to."""
    wanted_tenants = set(tenant_ids) | ({tenant_id} if tenant_id is not None else set())
    hits = []
    for w in sorted(written, key=lambda w: w.position):
        e = w.event
        if from_position is not None and w.position < from_position:
            continue
        if to_position is not None and w.position > to_position:
            continue
        if wanted_tenants and (e.tenant_id is None or e.tenant_id not in wanted_tenants):
            continue
        if aggregate_type is not None and e.aggregate_type != aggregate_type:
            continue
        if aggregate_id is not None and e.aggregate_id != aggregate_id:
            continue
        if event_types and e.event_type not in event_types:
            continue
        if from_timestamp is not None and e.occurred_at < from_timestamp:
            continue
        if to_timestamp is not None and e.occurred_at >= to_timestamp:
            continue
        hits.append((w.position, e.event_id))
    return hits if limit is None else hits[:limit]


async def test_filters_return_exactly_what_a_brute_force_filter_returns(store: EventStore) -> None:
    data = await _write_dataset(store)
    assert [w.position for w in data.written] == list(range(1, len(data.written) + 1))
    a, b, c = data.tenants
    cart_of_a = next(aid for kind, aid, tenant in data.streams if kind == "Cart" and tenant == a)
    plus_two = timezone(timedelta(hours=2))
    choices: dict[str, list[object]] = {
        "tenant_id": [None, a, uuid4()],
        "tenant_ids": [(), (b, c), (a,)],
        "aggregate_type": [None, "Cart", "Invoice"],
        "aggregate_id": [None, cart_of_a],
        "event_types": [(), ("test.ItemAdded",), ("test.ItemRemoved", "test.InvoiceIssued")],
        "positions": [(None, None), (10, None), (None, 25), (10, 25), (30, 29)],
        "window": [
            (None, None),
            (BOUNDARY_FROM, None),
            (None, BOUNDARY_TO),
            (BOUNDARY_FROM.astimezone(plus_two), BOUNDARY_TO.astimezone(plus_two)),
        ],
        "limit": [None, 0, 3],
    }
    combos = list(itertools.product(*choices.values()))
    rng = random.Random(5)
    sample = rng.sample(combos, 300)
    # The single-filter queries, always.
    sample += [combo for combo in combos if sum(v not in (None, (), (None, None)) for v in combo) <= 1]
    nonempty = 0
    for tenant_id, tenant_ids, aggregate_type, aggregate_id, event_types, positions, window, limit in sample:
        kwargs = {
            "from_position": positions[0],
            "to_position": positions[1],
            "tenant_id": tenant_id,
            "tenant_ids": tenant_ids,
            "aggregate_type": aggregate_type,
            "aggregate_id": aggregate_id,
            "event_types": event_types,
            "from_timestamp": window[0],
            "to_timestamp": window[1],
            "limit": limit,
        }
        expected = _brute_force(data.written, **kwargs)  # type: ignore[arg-type]
        got = [(s.global_position, s.event.event_id) async for s in store.read_all(ReadOptions(**kwargs))]  # type: ignore[arg-type]
        assert got == expected, kwargs
        nonempty += bool(expected)
    # Many combinations are empty by design (an unknown tenant, limit 0, to < from); the rest
    # must find something, or the comparison above proves little.
    assert nonempty > 50


async def test_time_window_boundaries_are_from_inclusive_to_exclusive(store: EventStore) -> None:
    cart = uuid4()
    at_from = item(cart, 1, occurred_at=BOUNDARY_FROM)
    just_before_to = item(cart, 2, occurred_at=BOUNDARY_TO - timedelta(microseconds=1))
    at_to = item(cart, 3, occurred_at=BOUNDARY_TO)
    just_before_from = item(cart, 4, occurred_at=BOUNDARY_FROM - timedelta(microseconds=1))
    await store.append_events(cart, "Cart", [at_from, just_before_to, at_to, just_before_from])
    options = ReadOptions(from_timestamp=BOUNDARY_FROM, to_timestamp=BOUNDARY_TO)
    assert [s.event async for s in store.read_all(options)] == [at_from, just_before_to]


async def test_limit_counts_matching_events_only(store: EventStore) -> None:
    acme = uuid4()
    for _ in range(3):
        noise = uuid4()
        await store.append_events(noise, "Cart", [item(noise, 1)])
    _, events = await _cart_with_five_events(store, acme)
    got = [s.event async for s in store.read_all(ReadOptions(tenant_id=acme, limit=2))]
    assert got == events[:2]


async def test_read_all_stops_where_the_caller_stops(store: EventStore) -> None:
    _, events = await _cart_with_five_events(store)
    seen: list[StoredEvent] = []
    async for stored in store.read_all():
        seen.append(stored)
        if len(seen) == 2:
            break
    assert [s.event for s in seen] == events[:2]
    assert [s.event async for s in store.read_all(ReadOptions(from_position=4))] == events[3:]
