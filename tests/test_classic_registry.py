"""The classic registry API, and a private registry's rename that leaves the class alone."""

from __future__ import annotations

from uuid import uuid4

import pytest

from esctl import (
    DomainEvent,
    DuplicateEventTypeError,
    EventRegistrationError,
    EventRegistry,
    EventTypeNotFoundError,
    InMemoryEventStore,
    get_event_class,
    get_event_class_or_none,
    is_event_registered,
    list_registered_events,
    register_event,
)
from esctl.codec import row_to_stored_event, stored_event_to_row


class Opened(DomainEvent):
    event_type: str = "Opened"  # declared: no registration renames it
    aggregate_type: str = "Account"


class Closed(DomainEvent):
    event_type: str = "Closed"
    aggregate_type: str = "Account"


def test_register_returns_the_class_and_works_as_a_decorator() -> None:
    registry = EventRegistry()
    assert registry.register(Opened) is Opened
    decorated = registry.register(Closed, event_type="acct.Closed")
    assert decorated is Closed
    assert registry.get("acct.Closed") is Closed


def test_lookups() -> None:
    registry = EventRegistry()
    assert not len(registry)
    assert bool(registry)
    registry.register(Opened)
    registry.register(Closed)
    assert registry.get("Opened") is Opened
    assert registry.get_or_none("Nope") is None
    assert registry.contains("Closed")
    assert "Closed" in registry
    assert "Nope" not in registry
    assert registry.list_types() == ["Closed", "Opened"]
    assert registry.list_classes() == [Closed, Opened]
    with pytest.raises(EventTypeNotFoundError) as caught:
        registry.get("Nope")
    assert caught.value.event_type == "Nope"
    assert caught.value.available_types == ["Closed", "Opened"]
    with pytest.raises(KeyError):
        registry.get("Nope")
    assert registry.unregister("Opened") is True
    assert registry.unregister("Opened") is False
    assert len(registry) == 1
    registry.clear()
    assert len(registry) == 0
    assert registry.list_types() == []


def test_a_clash_is_a_duplicate_event_type_error() -> None:
    registry = EventRegistry()
    registry.register(Opened)
    with pytest.raises(DuplicateEventTypeError) as caught:
        registry.register(Closed, event_type="Opened")
    error = caught.value
    assert (error.event_type, error.existing_class, error.new_class) == ("Opened", Opened, Closed)
    assert isinstance(error, ValueError)
    assert isinstance(error, EventRegistrationError)
    assert registry.get("Opened") is Opened


def test_module_functions_use_the_default_registry() -> None:
    @register_event(event_type="test_classic_registry.Pinged")
    class Pinged(DomainEvent):
        aggregate_type: str = "Probe"

    assert get_event_class("test_classic_registry.Pinged") is Pinged
    assert get_event_class_or_none("test_classic_registry.Nope") is None
    assert is_event_registered("test_classic_registry.Pinged")
    assert not is_event_registered("test_classic_registry.Nope")
    assert "test_classic_registry.Pinged" in list_registered_events()
    with pytest.raises(EventTypeNotFoundError):
        get_event_class("test_classic_registry.Nope")
    private = EventRegistry()
    private.register(Opened)
    assert get_event_class("Opened", registry=private) is Opened
    assert list_registered_events(registry=private) == ["Opened"]


def test_a_rename_in_a_private_registry_leaves_a_named_class_alone() -> None:
    @register_event
    class Renamed(DomainEvent):
        aggregate_type: str = "Account"

    class Declared(DomainEvent):
        event_type: str = "acct.Declared"
        aggregate_type: str = "Account"

    private = EventRegistry()
    private.register(Renamed, event_type="legacy.Renamed")
    private.register(Declared, event_type="legacy.Declared")
    # The classes, and so every other registry and every event built from them, are unchanged.
    assert Renamed(aggregate_id=uuid4()).event_type == "Renamed"
    assert Declared(aggregate_id=uuid4()).event_type == "acct.Declared"
    other = EventRegistry()
    other.register(Renamed)
    other.register(Declared)
    assert other.list_types() == ["Renamed", "acct.Declared"]
    assert private.get("legacy.Renamed") is Renamed
    assert private.get("legacy.Declared") is Declared


def test_the_first_registration_names_an_unnamed_class() -> None:
    class Fresh(DomainEvent):
        aggregate_type: str = "Account"

    first, second = EventRegistry(), EventRegistry()
    first.register(Fresh, event_type="billing.Fresh")
    second.register(Fresh, event_type="old.Fresh")
    assert Fresh(aggregate_id=uuid4()).event_type == "billing.Fresh"
    assert second.get("old.Fresh") is Fresh


async def test_a_registry_reads_an_event_under_the_name_it_registered() -> None:
    @register_event
    class Renamed2(DomainEvent):
        aggregate_type: str = "Account"

    private = EventRegistry()
    private.register(Renamed2, event_type="legacy.Renamed2")
    store = InMemoryEventStore()
    event = Renamed2(aggregate_id=uuid4(), event_type="legacy.Renamed2")
    await store.append_events(event.aggregate_id, "Account", [event])
    (stored,) = [s async for s in store.read_all()]
    back = row_to_stored_event(stored_event_to_row(stored), private).event
    assert type(back) is Renamed2
    assert back.event_type == "legacy.Renamed2"
