"""Loading and saving aggregates through an event store, optionally held to one tenant."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Generic, Protocol, TypeVar
from uuid import UUID

from esctl.aggregates import AggregateRoot
from esctl.errors import AggregateNotFoundError, TenantMismatchError
from esctl.events import DomainEvent
from esctl.store.interface import EventStore
from esctl.store.types import ExpectedVersion
from esctl.tenancy import require_tenant

A = TypeVar("A", bound=AggregateRoot)  # type: ignore[type-arg]


class EventPublisher(Protocol):
    """Anything with ``async publish(events)``, such as ``InMemoryEventBus``."""

    async def publish(self, events: Sequence[DomainEvent]) -> None: ...


class AggregateRepository(Generic[A]):
    """Loads aggregates from their events and saves their new events, optimistically.

    Args:
        event_store: Where the events live.
        aggregate_factory: Builds an empty aggregate for an id.
        aggregate_type: The stream type of the aggregates.
        event_publisher: Told about events after each successful save.

    Example:
        >>> # repo = AggregateRepository(store, lambda aid: Order(aid), "Order")
        >>> # order = await repo.load(order_id)
    """

    def __init__(
        self,
        event_store: EventStore,
        aggregate_factory: Callable[[UUID], A],
        aggregate_type: str,
        event_publisher: EventPublisher | None = None,
    ) -> None:
        self.event_store = event_store
        self.aggregate_factory = aggregate_factory
        self.aggregate_type = aggregate_type
        self.event_publisher = event_publisher

    def create_new(self, aggregate_id: UUID) -> A:
        """Return a new, empty aggregate (nothing is stored until ``save``)."""
        return self.aggregate_factory(aggregate_id)

    async def load(self, aggregate_id: UUID) -> A:
        """Rebuild the aggregate from its events.

        Raises:
            AggregateNotFoundError: The aggregate has no events.
        """
        aggregate = await self.get_or_none(aggregate_id)
        if aggregate is None:
            raise AggregateNotFoundError(f"{self.aggregate_type} {aggregate_id} not found")
        return aggregate

    async def get_or_none(self, aggregate_id: UUID) -> A | None:
        """Rebuild the aggregate from its events, or return ``None`` when it has none."""
        stream = await self.event_store.get_events(aggregate_id, self.aggregate_type)
        if stream.is_empty:
            return None
        aggregate = self.aggregate_factory(aggregate_id)
        aggregate.load_from_history(stream.events)
        return aggregate

    async def exists(self, aggregate_id: UUID) -> bool:
        """True when the aggregate has at least one stored event."""
        return await self.event_store.get_stream_version(aggregate_id, self.aggregate_type) > 0

    async def save(self, aggregate: A) -> None:
        """Append the aggregate's uncommitted events, expecting the version it was loaded at.

        Raises:
            OptimisticLockError: Someone else saved the aggregate since it was loaded.
        """
        events = aggregate.uncommitted_events
        if not events:
            return
        loaded_at = aggregate.version - len(events)
        expected = ExpectedVersion.NO_STREAM if loaded_at == 0 else loaded_at
        await self.event_store.append_events(aggregate.aggregate_id, self.aggregate_type, events, expected)
        aggregate.mark_events_as_committed()
        if self.event_publisher is not None:
            await self.event_publisher.publish(events)


class TenantAwareRepository(Generic[A]):
    """An ``AggregateRepository`` that refuses to touch another tenant's aggregates.

    The tenant is checked on ``save`` (every uncommitted event must carry it) and on ``load``
    (every stored event must carry it), so neither a bug nor a forged id crosses tenants.
    Without ``tenant_id`` the repository uses the current context's tenant at each call.

    Raises (from its methods):
        TenantMismatchError: A ``PermissionError``: the aggregate belongs to another tenant.

    Example:
        >>> # repo = TenantAwareRepository(store, Order, "Order", tenant_id=acme)
        >>> # await repo.load(globex_order_id)  # raises TenantMismatchError
    """

    def __init__(
        self,
        event_store: EventStore,
        aggregate_factory: Callable[[UUID], A],
        aggregate_type: str,
        tenant_id: UUID | None = None,
        event_publisher: EventPublisher | None = None,
    ) -> None:
        self._tenant_id = tenant_id
        self._inner = AggregateRepository(event_store, aggregate_factory, aggregate_type, event_publisher)

    @property
    def tenant_id(self) -> UUID:
        """The tenant this repository serves (fixed, or the current context's)."""
        return self._tenant_id if self._tenant_id is not None else require_tenant()

    def create_new(self, aggregate_id: UUID) -> A:
        """Return a new, empty aggregate."""
        return self._inner.create_new(aggregate_id)

    async def load(self, aggregate_id: UUID) -> A:
        """Load an aggregate of this tenant.

        Raises:
            AggregateNotFoundError: It has no events.
            TenantMismatchError: It belongs to another tenant (or to none).
        """
        tenant = self.tenant_id
        stream = await self._inner.event_store.get_events(aggregate_id, self._inner.aggregate_type)
        if stream.is_empty:
            return await self._inner.load(aggregate_id)  # raises AggregateNotFoundError
        for event in stream.events:
            if event.tenant_id != tenant:
                raise TenantMismatchError(f"{self._inner.aggregate_type} {aggregate_id} belongs to a different tenant")
        aggregate = self._inner.aggregate_factory(aggregate_id)
        aggregate.load_from_history(stream.events)
        return aggregate

    async def get_or_none(self, aggregate_id: UUID) -> A | None:
        """Load an aggregate of this tenant, or ``None`` when it has no events."""
        if not await self._inner.exists(aggregate_id):
            return None
        return await self.load(aggregate_id)

    async def save(self, aggregate: A) -> None:
        """Save an aggregate whose new events all carry this tenant.

        Raises:
            TenantMismatchError: An event carries another tenant (or none).
        """
        tenant = self.tenant_id
        for event in aggregate.uncommitted_events:
            if event.tenant_id != tenant:
                raise TenantMismatchError(
                    f"cannot save {self._inner.aggregate_type} {aggregate.aggregate_id} for a different tenant"
                )
        await self._inner.save(aggregate)
