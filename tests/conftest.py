"""Shared fixtures: the store every contract test runs against, and the events the tests write.

The test events live in their own ``EventRegistry`` (``REGISTRY``), not in esctl's default one,
so they never clash with the event classes of the examples or of other test modules that share
the pytest process.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from pydantic import Field

from esctl import DomainEvent, EventRegistry, EventStore, InMemoryEventStore, SQLiteEventStore, register_event

REGISTRY = EventRegistry()
"""The registry of the test event classes below; SQLite stores in tests read with it."""

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
"""A fixed moment the tests' ``occurred_at`` values count from."""


@register_event(registry=REGISTRY)
class ItemAdded(DomainEvent):
    """A cart got an item (payload of several JSON types)."""

    event_type: str = "test.ItemAdded"
    aggregate_type: str = "Cart"
    sku: str
    quantity: int
    price: float
    tags: list[str] = Field(default_factory=list)
    note: str | None = None


@register_event(registry=REGISTRY)
class ItemRemoved(DomainEvent):
    """A cart lost an item."""

    event_type: str = "test.ItemRemoved"
    aggregate_type: str = "Cart"
    sku: str


@register_event(registry=REGISTRY)
class InvoiceIssued(DomainEvent):
    """An invoice was issued (a second aggregate type)."""

    event_type: str = "test.InvoiceIssued"
    aggregate_type: str = "Invoice"
    amount_cents: int
    due: datetime


STORE_KINDS = ("memory", "sqlite")


def make_store(kind: str, tmp_path: Path, registry: EventRegistry = REGISTRY) -> EventStore:
    """Return a new, empty store of ``kind`` ("memory" or "sqlite", a file in ``tmp_path``)."""
    if kind == "memory":
        return InMemoryEventStore()
    return SQLiteEventStore(tmp_path / "events.db", registry=registry)


@pytest.fixture(params=STORE_KINDS)
def store_kind(request: pytest.FixtureRequest) -> str:
    """The kind of store a test runs against."""
    kind: str = request.param
    return kind


@pytest.fixture
async def store(store_kind: str, tmp_path: Path) -> AsyncIterator[EventStore]:
    """An empty store of each kind in turn, closed after the test."""
    event_store = make_store(store_kind, tmp_path)
    try:
        yield event_store
    finally:
        await event_store.close()


def item(
    aggregate_id: UUID,
    version: int,
    *,
    tenant_id: UUID | None = None,
    sku: str = "SKU-1",
    occurred_at: datetime | None = None,
    **fields: Any,
) -> ItemAdded:
    """Return an ``ItemAdded`` for ``aggregate_id`` at ``version``."""
    return ItemAdded(
        aggregate_id=aggregate_id,
        aggregate_version=version,
        tenant_id=tenant_id,
        sku=sku,
        quantity=fields.pop("quantity", 1),
        price=fields.pop("price", 9.5),
        occurred_at=occurred_at if occurred_at is not None else T0 + timedelta(seconds=version),
        **fields,
    )
