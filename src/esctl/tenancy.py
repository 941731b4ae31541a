"""Tenancy: the current tenant as a context variable, and a repository that enforces it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Generic, TypeVar
from uuid import UUID

from esctl.aggregates import AggregateRoot
from esctl.errors import TenantMismatchError
from esctl.repository import AggregateRepository, EventPublisher
from esctl.store.interface import EventStore

_current_tenant: ContextVar[UUID | None] = ContextVar("esctl_current_tenant", default=None)

A = TypeVar("A", bound=AggregateRoot)  # type: ignore[type-arg]


def get_current_tenant() -> UUID | None:
    """Return the tenant of the current context, or ``None``."""
    return _current_tenant.get()


def set_current_tenant(tenant_id: UUID | None) -> None:
    """Set the tenant of the current context (``None`` clears it)."""
    _current_tenant.set(tenant_id)


def require_tenant() -> UUID:
    """Return the current tenant.

    Raises:
        ValueError: No tenant is set.
    """
    tenant_id = _current_tenant.get()
    if not tenant_id:
        raise ValueError("Tenant context not set")
    return tenant_id


@contextmanager
def tenant_scope(tenant_id: UUID | None) -> Iterator[UUID | None]:
    """Set the current tenant for a ``with`` block and restore the previous one after.

    Example:
        >>> from uuid import uuid4
        >>> acme = uuid4()
        >>> with tenant_scope(acme):
        ...     assert get_current_tenant() == acme
        >>> get_current_tenant() is None
        True
    """
    token = _current_tenant.set(tenant_id)
    try:
        yield tenant_id
    finally:
        _current_tenant.reset(token)


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
