"""The append contract: round trips, expected versions, atomic batches, idempotency, versions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from uuid import uuid4

import pytest

from esctl.errors import (
    DuplicateEventError,
    InvalidInputError,
    OptimisticLockError,
    TenantMismatchError,
)
from esctl.events import DomainEvent, uuid7
from esctl.store.interface import EventStore
from esctl.store.types import ExpectedVersion
from esctl.testing.base import StoreContract
from esctl.testing.events import T0, InvoiceIssued, ItemAdded, ItemRemoved, item

UNSERIALIZABLE = {"handle": object()}
"""Metadata no store can encode."""


async def assert_nothing_written(store: EventStore, position: int, events: list[DomainEvent]) -> None:
    """Assert that the store is still at ``position`` and holds none of ``events``."""
    assert await store.get_global_position() == position
    for event in events:
        assert not await store.event_exists(event.event_id)


class AppendContract(StoreContract):
    """Appending: what is stored comes back unchanged, and the append rules hold on every store."""

    # -- round trip -------------------------------------------------------------------------------

    @pytest.mark.asyncio
    async def test_round_trip_keeps_every_envelope_field_and_the_payload(self, store: EventStore) -> None:
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

    @pytest.mark.asyncio
    async def test_append_result_reports_positions_and_versions(self, store: EventStore) -> None:
        cart = uuid4()
        first = await store.append_events(cart, "Cart", [item(cart, 1), item(cart, 2)], ExpectedVersion.NO_STREAM)
        assert (first.appended, first.skipped, first.first_position, first.last_position) == (2, 0, 1, 2)
        assert first.new_version == 2
        second = await store.append_events(cart, "Cart", [item(cart, 3)], 2)
        assert (second.first_position, second.last_position, second.new_version) == (3, 3, 3)
        assert dict(second.stream_versions) == {("Cart", cart): 3}

    @pytest.mark.asyncio
    async def test_appending_nothing_writes_nothing(self, store: EventStore) -> None:
        cart = uuid4()
        assert (await store.append_batch([])).appended == 0
        assert (await store.append_events(cart, "Cart", [], ExpectedVersion.STREAM_EXISTS)).appended == 0
        assert await store.get_global_position() == 0

    # -- expected versions ------------------------------------------------------------------------

    @pytest.mark.asyncio
    async def test_no_stream_accepts_a_new_stream_and_rejects_an_existing_one(self, store: EventStore) -> None:
        cart = uuid4()
        await store.append_events(cart, "Cart", [item(cart, 1)], ExpectedVersion.NO_STREAM)
        late = item(cart, 2)
        with pytest.raises(OptimisticLockError) as caught:
            await store.append_events(cart, "Cart", [late], ExpectedVersion.NO_STREAM)
        assert caught.value.actual == 1
        assert caught.value.aggregate_id == cart
        await assert_nothing_written(store, 1, [late])

    @pytest.mark.asyncio
    async def test_stream_exists_rejects_a_new_stream_and_accepts_an_existing_one(self, store: EventStore) -> None:
        cart = uuid4()
        first = item(cart, 1)
        with pytest.raises(OptimisticLockError) as caught:
            await store.append_events(cart, "Cart", [first], ExpectedVersion.STREAM_EXISTS)
        assert caught.value.actual == 0
        await assert_nothing_written(store, 0, [first])
        await store.append_events(cart, "Cart", [first], ExpectedVersion.ANY)
        await store.append_events(cart, "Cart", [item(cart, 2)], ExpectedVersion.STREAM_EXISTS)
        assert await store.get_stream_version(cart, "Cart") == 2

    @pytest.mark.asyncio
    async def test_exact_version_must_match_the_stream_head(self, store: EventStore) -> None:
        cart = uuid4()
        await store.append_events(cart, "Cart", [item(cart, 1)], 0)  # 0 means "no stream yet"
        await store.append_events(cart, "Cart", [item(cart, 2)], 1)
        for wrong in (0, 1, 3):
            late = item(cart, 3)
            with pytest.raises(OptimisticLockError) as caught:
                await store.append_events(cart, "Cart", [late], wrong)
            assert (caught.value.expected, caught.value.actual) == (wrong, 2)
            await assert_nothing_written(store, 2, [late])
        await store.append_events(cart, "Cart", [item(cart, 3)], 2)
        assert await store.get_stream_version(cart, "Cart") == 3

    @pytest.mark.asyncio
    async def test_any_skips_the_check_but_versions_must_still_follow_the_head(self, store: EventStore) -> None:
        cart = uuid4()
        await store.append_events(cart, "Cart", [item(cart, 1)], ExpectedVersion.ANY)
        await store.append_events(cart, "Cart", [item(cart, 2)], ExpectedVersion.ANY)
        for bad_version in (2, 4):
            bad = item(cart, bad_version)
            with pytest.raises(OptimisticLockError):
                await store.append_events(cart, "Cart", [bad], ExpectedVersion.ANY)
            await assert_nothing_written(store, 2, [bad])

    @pytest.mark.asyncio
    async def test_append_events_rejects_an_event_of_another_stream(self, store: EventStore) -> None:
        cart, other = uuid4(), uuid4()
        with pytest.raises(Exception, match="belongs to") as caught:
            await store.append_events(cart, "Cart", [item(cart, 1), item(other, 1)])
        assert isinstance(caught.value, InvalidInputError)
        assert caught.value.batch_index == 1
        assert await store.get_global_position() == 0

    # -- which refusal a batch with several faults reports ------------------------------------------

    @pytest.mark.asyncio
    async def test_a_version_conflict_is_reported_before_unserializable_metadata(self, store: EventStore) -> None:
        cart = uuid4()
        await store.append_events(cart, "Cart", [item(cart, 1)])
        with pytest.raises(OptimisticLockError) as caught:
            await store.append_events(cart, "Cart", [item(cart, 2), item(cart, 4, metadata=UNSERIALIZABLE)])
        assert caught.value.batch_index == 1
        with pytest.raises(OptimisticLockError):
            await store.append_batch([item(cart, 3, metadata=UNSERIALIZABLE)])
        assert await store.get_global_position() == 1

    @pytest.mark.asyncio
    async def test_an_event_of_another_stream_is_reported_before_unserializable_metadata(
        self, store: EventStore
    ) -> None:
        cart, other = uuid4(), uuid4()
        with pytest.raises(InvalidInputError, match="belongs to") as caught:
            await store.append_events(cart, "Cart", [item(cart, 1, metadata=UNSERIALIZABLE), item(other, 1)])
        assert caught.value.field == "aggregate_id"
        assert caught.value.batch_index == 1
        with pytest.raises(InvalidInputError, match="belongs to"):
            await store.append_events(cart, "Invoice", [item(cart, 1)])

    # -- atomic batches ---------------------------------------------------------------------------

    @pytest.mark.asyncio
    async def test_batch_with_a_version_conflict_in_the_middle_writes_nothing(self, store: EventStore) -> None:
        a, b = uuid4(), uuid4()
        await store.append_events(b, "Cart", [item(b, 1)])
        batch: list[DomainEvent] = [item(a, 1), item(a, 2), item(b, 3), item(a, 3)]
        with pytest.raises(OptimisticLockError) as caught:
            await store.append_batch(batch)
        assert caught.value.batch_index == 2
        await assert_nothing_written(store, 1, batch)
        assert await store.get_stream_version(a, "Cart") == 0

    @pytest.mark.asyncio
    async def test_batch_with_a_failed_expected_version_in_the_middle_writes_nothing(self, store: EventStore) -> None:
        a, b = uuid4(), uuid4()
        await store.append_events(b, "Cart", [item(b, 1)])
        batch: list[DomainEvent] = [item(a, 1), item(b, 2), item(a, 2)]
        with pytest.raises(OptimisticLockError):
            await store.append_batch(
                batch,
                expected_versions={("Cart", a): ExpectedVersion.NO_STREAM, ("Cart", b): ExpectedVersion.NO_STREAM},
            )
        await assert_nothing_written(store, 1, batch)

    @pytest.mark.asyncio
    async def test_batch_reusing_a_stored_event_id_with_other_content_writes_nothing(self, store: EventStore) -> None:
        a, b = uuid4(), uuid4()
        stored = item(a, 1, sku="ORIGINAL")
        await store.append_events(a, "Cart", [stored])
        forged = item(b, 2, sku="CHANGED").model_copy(update={"event_id": stored.event_id})
        batch: list[DomainEvent] = [item(b, 1), forged, item(b, 3)]
        with pytest.raises(DuplicateEventError) as caught:
            await store.append_batch(batch)
        assert caught.value.batch_index == 1
        assert caught.value.field == "event_id"
        await assert_nothing_written(store, 1, [batch[0], batch[2]])
        back = [s.event async for s in store.read_all()]
        assert back == [stored]

    @pytest.mark.asyncio
    async def test_batch_repeating_an_event_id_with_other_content_writes_nothing(self, store: EventStore) -> None:
        a = uuid4()
        first = item(a, 1, sku="ONE")
        clash = item(a, 2, sku="TWO").model_copy(update={"event_id": first.event_id})
        with pytest.raises(DuplicateEventError):
            await store.append_batch([first, clash])
        await assert_nothing_written(store, 0, [first])

    @pytest.mark.asyncio
    async def test_batch_with_a_tenant_mismatch_in_the_middle_writes_nothing(self, store: EventStore) -> None:
        a, b, acme, globex = uuid4(), uuid4(), uuid4(), uuid4()
        await store.append_events(b, "Cart", [item(b, 1, tenant_id=acme)])
        batch: list[DomainEvent] = [item(a, 1, tenant_id=globex), item(b, 2, tenant_id=globex), item(a, 2)]
        with pytest.raises(TenantMismatchError):
            await store.append_batch(batch)
        await assert_nothing_written(store, 1, batch)

    @pytest.mark.asyncio
    async def test_batch_spanning_streams_is_written_in_the_given_order(self, store: EventStore) -> None:
        a, b = uuid4(), uuid4()
        batch: list[DomainEvent] = [item(a, 1), item(b, 1), item(a, 2), item(b, 2), item(b, 3)]
        result = await store.append_batch(batch)
        assert result.appended == 5
        assert dict(result.stream_versions) == {("Cart", a): 2, ("Cart", b): 3}
        assert [s.event.event_id async for s in store.read_all()] == [e.event_id for e in batch]

    # -- idempotency ------------------------------------------------------------------------------

    @pytest.mark.asyncio
    async def test_reappending_the_same_events_is_a_no_op(self, store: EventStore) -> None:
        cart = uuid4()
        events: list[DomainEvent] = [item(cart, 1), item(cart, 2), item(cart, 3)]
        await store.append_events(cart, "Cart", events, ExpectedVersion.NO_STREAM)
        # The same call again, as after a crash that hid whether the first one committed.
        again = await store.append_events(cart, "Cart", events, ExpectedVersion.NO_STREAM)
        assert (again.appended, again.skipped, again.first_position, again.last_position) == (0, 3, None, None)
        assert again.new_version == 3
        assert await store.get_global_position() == 3

    @pytest.mark.asyncio
    async def test_reappending_events_read_back_from_the_store_is_a_no_op(self, store: EventStore) -> None:
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

    @pytest.mark.asyncio
    async def test_reappending_with_new_events_appends_only_the_new_ones(self, store: EventStore) -> None:
        cart = uuid4()
        events: list[DomainEvent] = [item(cart, 1), item(cart, 2)]
        await store.append_events(cart, "Cart", events, ExpectedVersion.NO_STREAM)
        more = [*events, item(cart, 3)]
        result = await store.append_events(cart, "Cart", more, ExpectedVersion.NO_STREAM)
        assert (result.appended, result.skipped, result.first_position) == (1, 2, 3)
        assert [s.event.event_id async for s in store.read_all()] == [e.event_id for e in more]

    @pytest.mark.asyncio
    async def test_an_event_repeated_within_a_batch_is_stored_once(self, store: EventStore) -> None:
        cart = uuid4()
        first = item(cart, 1)
        result = await store.append_batch([first, first, item(cart, 2)])
        assert (result.appended, result.skipped) == (2, 1)
        assert await store.get_stream_version(cart, "Cart") == 2

    @pytest.mark.asyncio
    async def test_auto_version_assigns_versions_after_the_head(self, store: EventStore) -> None:
        cart = uuid4()
        await store.append_events(cart, "Cart", [item(cart, 1)])
        batch: list[DomainEvent] = [item(cart, 1), item(cart, 1)]
        result = await store.append_batch(batch, auto_version=range(2))
        assert result.new_version == 3
        assert [s.stream_position async for s in store.read_stream(cart, "Cart")] == [1, 2, 3]
        again = await store.append_batch(batch, auto_version=range(2))
        assert (again.appended, again.skipped) == (0, 2)
