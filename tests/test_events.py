"""Events, their ids and timestamps, the registry, upcasters, and events of unknown types."""

from __future__ import annotations

import itertools
import threading
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from pydantic import ValidationError

from conftest import REGISTRY, T0, ItemAdded, item
from esctl import (
    DomainEvent,
    EventRegistrationError,
    EventRegistry,
    GenericEvent,
    InvalidInputError,
    SQLiteEventStore,
    register_event,
    uuid7,
)
from esctl.codec import build_event

# -- uuid7 -------------------------------------------------------------------------------------


def test_uuid7_has_version_7_and_the_rfc_variant() -> None:
    for _ in range(100):
        value = uuid7()
        assert value.version == 7
        assert value.variant == "specified in RFC 4122"


def test_uuid7_carries_the_current_unix_milliseconds() -> None:
    before = time.time_ns() // 1_000_000
    value = uuid7()
    after = time.time_ns() // 1_000_000
    assert before <= value.int >> 80 <= after


def test_uuid7_ids_from_later_milliseconds_sort_after_earlier_ones() -> None:
    batches = []
    for _ in range(5):
        batches.append([uuid7() for _ in range(20)])
        time.sleep(0.002)
    for earlier, later in itertools.pairwise(batches):
        assert max(earlier) < min(later)


def test_uuid7_ids_are_unique() -> None:
    ids = {uuid7() for _ in range(20_000)}
    assert len(ids) == 20_000


def test_new_events_get_v7_ids_and_aware_utc_times() -> None:
    event = item(uuid4(), 1, occurred_at=None)
    fresh = ItemAdded(aggregate_id=uuid4(), sku="x", quantity=1, price=1.0)
    assert fresh.event_id.version == 7
    assert fresh.occurred_at.utcoffset() == timedelta(0)
    assert abs(fresh.occurred_at - datetime.now(UTC)) < timedelta(minutes=1)
    assert event.event_id != fresh.event_id
    assert fresh.correlation_id != ItemAdded(aggregate_id=uuid4(), sku="x", quantity=1, price=1.0).correlation_id


# -- the event model ---------------------------------------------------------------------------


def test_event_type_defaults_to_the_class_name() -> None:
    class Pinged(DomainEvent):
        aggregate_type: str = "Probe"

    assert Pinged(aggregate_id=uuid4()).event_type == "Pinged"
    assert ItemAdded(aggregate_id=uuid4(), sku="x", quantity=1, price=1.0).event_type == "test.ItemAdded"


def test_events_are_frozen() -> None:
    event = item(uuid4(), 1)
    with pytest.raises(ValidationError):
        event.sku = "changed"  # type: ignore[misc]


def test_events_refuse_unknown_fields() -> None:
    with pytest.raises(ValidationError, match="extra"):
        ItemAdded(aggregate_id=uuid4(), sku="x", quantity=1, price=1.0, colour="red")  # type: ignore[call-arg]


@pytest.mark.parametrize("version", [0, -1])
def test_versions_start_at_one(version: int) -> None:
    with pytest.raises(ValidationError):
        item(uuid4(), version)
    with pytest.raises(ValidationError):
        ItemAdded(aggregate_id=uuid4(), sku="x", quantity=1, price=1.0, event_version=version)


def test_payload_is_the_fields_a_subclass_adds() -> None:
    event = item(uuid4(), 1, tags=["a"], note="n")
    assert event.payload == {"sku": "SKU-1", "quantity": 1, "price": 9.5, "tags": ["a"], "note": "n"}


# -- naive datetimes are rejected, never read as UTC (or as local time) ------------------------


def test_naive_occurred_at_is_rejected() -> None:
    with pytest.raises(ValidationError, match="timezone"):
        item(uuid4(), 1, occurred_at=datetime(2026, 11, 1, 8, 0))


def test_naive_occurred_at_text_is_rejected_as_input() -> None:
    data = {
        "event_type": "test.ItemAdded",
        "aggregate_id": str(uuid4()),
        "aggregate_type": "Cart",
        "occurred_at": "2026-11-01T08:00:00",
        "sku": "x",
        "quantity": 1,
        "price": 1.0,
    }
    with pytest.raises(InvalidInputError) as caught:
        build_event(data, REGISTRY)
    assert caught.value.field == "occurred_at"
    data["occurred_at"] = "2026-11-01T09:00:00+01:00"
    assert build_event(data, REGISTRY).occurred_at == T0


def test_aware_times_in_any_offset_become_utc() -> None:
    local = datetime(2026, 11, 1, 3, 30, tzinfo=timezone(timedelta(hours=-4, minutes=-30)))
    event = item(uuid4(), 1, occurred_at=local)
    assert event.occurred_at == T0
    assert event.occurred_at.utcoffset() == timedelta(0)
    assert event.occurred_at.hour == 8


# -- the registry ------------------------------------------------------------------------------


def test_a_second_class_under_a_taken_name_is_an_error() -> None:
    registry = EventRegistry()

    @register_event(registry=registry)
    class OrderPlaced(DomainEvent):
        aggregate_type: str = "Order"

    with pytest.raises(EventRegistrationError, match="already registered"):

        @register_event(registry=registry, event_type="OrderPlaced")
        class Impostor(DomainEvent):
            aggregate_type: str = "Order"

    assert registry.get("OrderPlaced") is OrderPlaced


def test_two_classes_with_one_name_from_different_places_are_an_error() -> None:
    registry = EventRegistry()

    def define() -> type[DomainEvent]:
        class Shipped(DomainEvent):
            aggregate_type: str = "Order"

        return Shipped

    first = define()
    registry.register(first)
    second = define()  # same name, same module, another class object: the reload case
    registry.register(second)
    assert registry.get("Shipped") is second

    class Shipped(DomainEvent):  # same name, other qualified name: a real clash
        aggregate_type: str = "Order"

    with pytest.raises(EventRegistrationError):
        registry.register(Shipped)


def test_registering_the_same_class_again_is_harmless() -> None:
    registry = EventRegistry()
    registry.register(ItemAdded)
    registry.register(ItemAdded)
    assert len(registry) == 1
    assert "test.ItemAdded" in registry
    assert list(registry) == ["test.ItemAdded"]
    assert registry.items() == [("test.ItemAdded", ItemAdded)]


def test_register_event_under_a_given_name_sets_the_event_type() -> None:
    registry = EventRegistry()

    @register_event(event_type="billing.Paid", registry=registry)
    class Paid(DomainEvent):
        aggregate_type: str = "Invoice"

    assert Paid(aggregate_id=uuid4()).event_type == "billing.Paid"
    assert registry.get("billing.Paid") is Paid
    assert registry.get_or_none("Paid") is None


def test_a_class_pydantic_cannot_build_fails_when_registered_not_at_its_first_event() -> None:
    # Event classes defer building their validators; registering one builds it.
    from pydantic.errors import PydanticSchemaGenerationError

    class Locked(DomainEvent):
        event_type: str = "test.Locked"
        aggregate_type: str = "X"
        lock: threading.Lock

    with pytest.raises(PydanticSchemaGenerationError):
        EventRegistry().register(Locked)


@pytest.mark.parametrize("field", ["position", "stored_at"])
def test_payload_fields_may_not_use_names_a_dump_adds(field: str) -> None:
    namespace: dict[str, Any] = {"__annotations__": {field: "int", "aggregate_type": "str"}, "aggregate_type": "X"}
    cls = type("Clashing", (DomainEvent,), namespace)
    with pytest.raises(EventRegistrationError, match=field):
        EventRegistry().register(cls)


# -- upcasters -------------------------------------------------------------------------------


def _versioned_registries() -> tuple[EventRegistry, EventRegistry]:
    """An old registry (Paid v1 with ``amount`` in euros) and a new one (v3 with cents and currency)."""
    old, new = EventRegistry(), EventRegistry()

    @register_event(registry=old, event_type="Paid")
    class PaidV1(DomainEvent):
        aggregate_type: str = "Invoice"
        amount: float

    @register_event(registry=new, event_type="Paid")
    class PaidV3(DomainEvent):
        aggregate_type: str = "Invoice"
        event_version: int = 3
        amount_cents: int
        currency: str

    @new.register_upcaster("Paid", from_version=1)
    def to_cents(data: dict[str, Any]) -> dict[str, Any]:
        amount = data.pop("amount")
        return {**data, "amount_cents": round(amount * 100)}

    @new.register_upcaster("Paid", from_version=2)
    def add_currency(data: dict[str, Any]) -> dict[str, Any]:
        return {**data, "currency": "EUR"}

    return old, new


def test_upcasters_chain_from_the_stored_version_to_the_newest() -> None:
    _, new = _versioned_registries()
    event = build_event(
        {
            "event_type": "Paid",
            "event_version": 1,
            "aggregate_id": str(uuid4()),
            "aggregate_type": "Invoice",
            "amount": 12.5,
        },
        new,
    )
    assert event.event_version == 3
    assert event.payload == {"amount_cents": 1250, "currency": "EUR"}
    halfway = build_event(
        {
            "event_type": "Paid",
            "event_version": 2,
            "aggregate_id": str(uuid4()),
            "aggregate_type": "Invoice",
            "amount_cents": 5,
        },
        new,
    )
    assert halfway.payload == {"amount_cents": 5, "currency": "EUR"}
    assert new.has_upcasters("Paid")
    assert not new.has_upcasters("Other")


async def test_a_store_reads_old_events_through_the_upcasters(tmp_path: Path) -> None:
    old, new = _versioned_registries()
    invoice = uuid4()
    paid_v1 = old.get("Paid")
    assert paid_v1 is not None
    async with SQLiteEventStore(tmp_path / "e.db", registry=old) as store:
        await store.append_events(invoice, "Invoice", [paid_v1(aggregate_id=invoice, amount=3.2)])
    async with SQLiteEventStore(tmp_path / "e.db", registry=new) as store:
        (stored,) = [s async for s in store.read_all()]
    assert type(stored.event) is new.get("Paid")
    assert stored.event.event_version == 3
    assert stored.event.payload == {"amount_cents": 320, "currency": "EUR"}


# -- unknown event types ------------------------------------------------------------------------


async def test_an_unknown_type_reads_back_as_a_generic_event_with_its_payload(tmp_path: Path) -> None:
    cart, tenant = uuid4(), uuid4()
    known = item(cart, 1, tenant_id=tenant, tags=["a", "b"], note="keep me", metadata={"m": 1})
    async with SQLiteEventStore(tmp_path / "e.db", registry=REGISTRY) as store:
        await store.append_events(cart, "Cart", [known])
    async with SQLiteEventStore(tmp_path / "e.db", registry=EventRegistry(), readonly=True) as store:
        (stored,) = [s async for s in store.read_all()]
    event = stored.event
    assert isinstance(event, GenericEvent)
    assert event.event_type == "test.ItemAdded"
    assert event.payload == known.payload
    for name in (
        "event_id",
        "occurred_at",
        "aggregate_id",
        "aggregate_version",
        "tenant_id",
        "correlation_id",
        "metadata",
    ):
        assert getattr(event, name) == getattr(known, name), name


async def test_one_unknown_type_does_not_break_a_read_of_the_whole_store(tmp_path: Path) -> None:
    writer = EventRegistry()

    @register_event(registry=writer, event_type="legacy.Thing")
    class Thing(DomainEvent):
        aggregate_type: str = "Cart"
        size: int

    writer.register(ItemAdded)
    cart = uuid4()
    events: list[DomainEvent] = [item(cart, 1), Thing(aggregate_id=cart, aggregate_version=2, size=7), item(cart, 3)]
    async with SQLiteEventStore(tmp_path / "e.db", registry=writer) as store:
        await store.append_events(cart, "Cart", events)
    async with SQLiteEventStore(tmp_path / "e.db", registry=REGISTRY) as store:
        back = [s.event async for s in store.read_all()]
    assert [type(e) for e in back] == [ItemAdded, GenericEvent, ItemAdded]
    assert back[1].payload == {"size": 7}
    assert back[1].event_type == "legacy.Thing"


async def test_a_generic_event_copies_into_another_store_and_reads_back_typed(tmp_path: Path) -> None:
    cart = uuid4()
    original = item(cart, 1, tags=["t"])
    async with SQLiteEventStore(tmp_path / "a.db", registry=REGISTRY) as store:
        await store.append_events(cart, "Cart", [original])
    async with SQLiteEventStore(tmp_path / "a.db", registry=EventRegistry()) as store:
        generic = [s.event async for s in store.read_all()]
    async with SQLiteEventStore(tmp_path / "b.db", registry=EventRegistry()) as store:
        await store.append_batch(generic)
        assert (await store.append_batch(generic)).skipped == 1  # idempotent as a generic event too
    async with SQLiteEventStore(tmp_path / "b.db", registry=REGISTRY) as store:
        (back,) = [s.event async for s in store.read_all()]
    assert back == original


def test_strict_building_refuses_unknown_types() -> None:
    data = {"event_type": "nope.Unknown", "aggregate_id": str(uuid4()), "aggregate_type": "X", "x": 1}
    assert isinstance(build_event(data, EventRegistry()), GenericEvent)
    with pytest.raises(InvalidInputError) as caught:
        build_event(data, EventRegistry(), strict=True)
    assert caught.value.field == "event_type"


@pytest.mark.parametrize("missing", ["event_type", "aggregate_id", "aggregate_type"])
def test_building_an_event_names_a_missing_envelope_field(missing: str) -> None:
    data: dict[str, Any] = {"event_type": "test.ItemAdded", "aggregate_id": str(uuid4()), "aggregate_type": "Cart"}
    data.update(sku="x", quantity=1, price=1.0)
    del data[missing]
    with pytest.raises(InvalidInputError) as caught:
        build_event(data, REGISTRY)
    assert caught.value.field == missing


def test_building_an_event_names_a_bad_payload_field() -> None:
    data = {"event_type": "test.ItemAdded", "aggregate_id": str(uuid4()), "aggregate_type": "Cart", "sku": "x"}
    data.update(quantity="many", price=1.0)
    with pytest.raises(InvalidInputError) as caught:
        build_event(data, REGISTRY)
    assert caught.value.field == "quantity"


def test_building_an_event_ignores_the_fields_a_dump_adds() -> None:
    event = item(uuid4(), 1)
    data = {**event.model_dump(mode="json"), "position": 7, "stored_at": "2026-11-01T08:00:00Z"}
    assert build_event(data, REGISTRY) == event


def test_bad_uuid_is_invalid_input() -> None:
    data = {"event_type": "test.ItemAdded", "aggregate_id": "not-a-uuid", "aggregate_type": "Cart"}
    with pytest.raises(InvalidInputError) as caught:
        build_event({**data, "sku": "x", "quantity": 1, "price": 1.0}, REGISTRY)
    assert caught.value.field == "aggregate_id"


def test_generic_event_reports_an_unregistered_type_unchanged() -> None:
    event = GenericEvent(event_type="x.Y", aggregate_id=uuid4(), aggregate_type="Z", anything={"deep": [1]})  # type: ignore[call-arg]
    assert event.payload == {"anything": {"deep": [1]}}
    assert isinstance(event.aggregate_id, UUID)


# -- the public facade --------------------------------------------------------------------------


def test_every_public_name_imports_from_esctl() -> None:
    import esctl

    missing = [name for name in esctl.__all__ if getattr(esctl, name, None) is None]
    assert missing == []
    assert set(esctl.__all__) - {"__version__"} == set(esctl._EXPORTS)
