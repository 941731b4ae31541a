"""Loading and saving aggregates through an event store, optionally from snapshots, optionally
held to one tenant."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any, Generic, Protocol, TypeVar
from uuid import UUID

from esctl.aggregates import AggregateRoot
from esctl.errors import AggregateNotFoundError, EsctlError, TenantMismatchError, UsageError
from esctl.events import DomainEvent
from esctl.store.interface import EventStore
from esctl.store.snapshots import Snapshot, SnapshotStore
from esctl.store.types import ExpectedVersion
from esctl.tenancy import require_tenant

A = TypeVar("A", bound=AggregateRoot)  # type: ignore[type-arg]


class EventPublisher(Protocol):
    """Anything with ``async publish(events)``, such as ``InMemoryEventBus``."""

    async def publish(self, events: Sequence[DomainEvent]) -> None: ...


class AggregateRepository(Generic[A]):
    """Loads aggregates from their events and saves their new events, optimistically.

    With a ``snapshot_store`` and ``snapshot_every=N``, ``save`` also stores a snapshot each
    time an aggregate's version reaches a multiple of N, and loads start from the latest
    snapshot and read only the events after it. A snapshot never changes what a load returns:
    one whose ``schema_version`` is not the aggregate class's, that does not restore, or that
    the stream has not reached is ignored, and the aggregate is replayed from its first event.

    Args:
        event_store: Where the events live.
        aggregate_factory: Builds an empty aggregate for an id (usually the aggregate class).
        aggregate_type: The stream type of the aggregates (default: the factory's
            ``aggregate_type``, when the factory is an aggregate class).
        event_publisher: Told about events after each successful save.
        snapshot_store: Where snapshots are kept (``event_store.snapshot_store()``, say).
        snapshot_every: Take a snapshot every this many events (needs ``snapshot_store``).

    Raises:
        UsageError: No ``aggregate_type`` given and none to infer, or ``snapshot_every`` is not
            a positive number.

    Example:
        >>> # repo = AggregateRepository(store, Order, snapshot_store=store.snapshot_store(), snapshot_every=100)
        >>> # order = await repo.load(order_id)
    """

    def __init__(
        self,
        event_store: EventStore,
        aggregate_factory: Callable[[UUID], A],
        aggregate_type: str | None = None,
        event_publisher: EventPublisher | None = None,
        *,
        snapshot_store: SnapshotStore | None = None,
        snapshot_every: int | None = None,
    ) -> None:
        if aggregate_type is None:
            inferred = getattr(aggregate_factory, "aggregate_type", None)
            if not isinstance(inferred, str) or not inferred:
                raise UsageError(
                    "AggregateRepository needs an aggregate_type",
                    hint="pass aggregate_type=..., or a factory class that sets aggregate_type",
                )
            aggregate_type = inferred
        if snapshot_every is not None and (snapshot_every < 1 or snapshot_store is None):
            raise UsageError(
                f"snapshot_every={snapshot_every} needs a snapshot_store and a number of at least 1",
                hint="e.g. snapshot_store=store.snapshot_store(), snapshot_every=100",
            )
        self.event_store = event_store
        self.aggregate_factory = aggregate_factory
        self.aggregate_type = aggregate_type
        self.event_publisher = event_publisher
        self.snapshot_store = snapshot_store
        self.snapshot_every = snapshot_every

    def create_new(self, aggregate_id: UUID) -> A:
        """Return a new, empty aggregate (nothing is stored until ``save``)."""
        return self.aggregate_factory(aggregate_id)

    async def load(self, aggregate_id: UUID) -> A:
        """Rebuild the aggregate from its snapshot (if any) and events.

        Raises:
            AggregateNotFoundError: The aggregate has no events.
        """
        aggregate = await self.get_or_none(aggregate_id)
        if aggregate is None:
            raise AggregateNotFoundError(aggregate_id, self.aggregate_type)
        return aggregate

    async def get_or_raise(self, aggregate_id: UUID) -> A:
        """``load``, by its classic name."""
        return await self.load(aggregate_id)

    async def get_or_none(self, aggregate_id: UUID) -> A | None:
        """Rebuild the aggregate, or return ``None`` when it has no events."""
        loaded = await self.load_with_tenants(aggregate_id)
        return None if loaded is None else loaded[0]

    async def load_or_create(self, aggregate_id: UUID) -> A:
        """Load the aggregate, or return a new, empty one when it has no events."""
        aggregate = await self.get_or_none(aggregate_id)
        return aggregate if aggregate is not None else self.create_new(aggregate_id)

    async def exists(self, aggregate_id: UUID) -> bool:
        """True when the aggregate has at least one stored event."""
        return await self.get_version(aggregate_id) > 0

    async def get_version(self, aggregate_id: UUID) -> int:
        """Return the aggregate's stored version (0 when it has no events), without loading it."""
        return await self.event_store.get_stream_version(aggregate_id, self.aggregate_type)

    async def load_with_tenants(self, aggregate_id: UUID) -> tuple[A, set[UUID | None]] | None:
        """Rebuild the aggregate; also return the tenants of what it was built from.

        The tenants are those of the snapshot used and of every event read (a stream has one
        tenant for life, so this is one tenant unless the store was tampered with).

        Returns:
            ``(aggregate, tenants)``, or ``None`` when the aggregate has no events.
        """
        aggregate = self.aggregate_factory(aggregate_id)
        tenants: set[UUID | None] = set()
        snapshot = await self._usable_snapshot(aggregate)
        after = 0
        if snapshot is not None:
            tenants.add(snapshot.tenant_id)
            after = snapshot.version
        events = [s.event async for s in self.event_store.read_stream(aggregate_id, self.aggregate_type, after)]
        if snapshot is not None and not events:
            # Nothing after the snapshot: make sure the stream did reach it (a snapshot left
            # from a store that was replaced must not bring back events that are gone).
            head = await self.event_store.get_stream_version(aggregate_id, self.aggregate_type)
            if head != snapshot.version:
                return await self._replay(aggregate_id)
        if snapshot is None and not events:
            return None
        tenants.update(event.tenant_id for event in events)
        aggregate.load_from_history(events)
        return aggregate, tenants

    async def _replay(self, aggregate_id: UUID) -> tuple[A, set[UUID | None]] | None:
        aggregate = self.aggregate_factory(aggregate_id)
        events = [s.event async for s in self.event_store.read_stream(aggregate_id, self.aggregate_type)]
        if not events:
            return None
        aggregate.load_from_history(events)
        return aggregate, {event.tenant_id for event in events}

    async def _usable_snapshot(self, aggregate: A) -> Snapshot | None:
        """Restore ``aggregate`` from its snapshot when there is a usable one; return it."""
        if self.snapshot_store is None:
            return None
        snapshot = await self.snapshot_store.get_snapshot(aggregate.aggregate_id, self.aggregate_type)
        if snapshot is None or snapshot.schema_version != aggregate.schema_version:
            return None
        try:
            aggregate.restore_snapshot(snapshot.state, snapshot.version)
        except (ValueError, TypeError, KeyError):
            # The state no longer fits the class (a shape change without a schema_version bump):
            # replay instead. pydantic's ValidationError is a ValueError.
            return None
        return snapshot

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
        if (
            self.snapshot_every is not None
            and aggregate.version // self.snapshot_every > loaded_at // self.snapshot_every
        ):
            await self._take_snapshot(aggregate, events[-1].tenant_id)
        if self.event_publisher is not None:
            await self.event_publisher.publish(events)

    async def _take_snapshot(self, aggregate: A, tenant_id: UUID | None) -> None:
        assert self.snapshot_store is not None  # checked in __init__ with snapshot_every
        try:
            state: Any = aggregate.snapshot_state()
            snapshot = Snapshot(
                aggregate_id=aggregate.aggregate_id,
                aggregate_type=self.aggregate_type,
                version=aggregate.version,
                state=state,
                schema_version=aggregate.schema_version,
                tenant_id=tenant_id,
            )
            await self.snapshot_store.save_snapshot(snapshot)
        except (EsctlError, ValueError, TypeError) as error:
            # The events are stored: the save succeeded. A snapshot is only a cache, so one
            # that cannot be taken is reported, not raised.
            warnings.warn(f"no snapshot of {self.aggregate_type} {aggregate.aggregate_id}: {error}", stacklevel=3)


class TenantAwareRepository(Generic[A]):
    """An ``AggregateRepository`` that refuses to touch another tenant's aggregates.

    The tenant is checked on ``save`` (every uncommitted event must carry it) and on ``load``
    (every stored event, and the snapshot, must carry it), so neither a bug nor a forged id
    crosses tenants. Without ``tenant_id`` the repository uses the current context's tenant at
    each call.

    Built as esctl does, ``TenantAwareRepository(event_store, factory, aggregate_type,
    tenant_id=None, event_publisher=None)``, or as the classic API does, around a repository:
    ``TenantAwareRepository(repository, enforce_on_load=True, validate_on_save=True)``.

    Raises (from its methods):
        TenantMismatchError: A ``PermissionError``: the aggregate belongs to another tenant.
        TenantContextNotSetError: No ``tenant_id`` was given and the context has none.

    Example:
        >>> # repo = TenantAwareRepository(store, Order, "Order", tenant_id=acme)
        >>> # repo = TenantAwareRepository(AggregateRepository(store, Order))  # the context's tenant
        >>> # await repo.load(globex_order_id)  # raises TenantMismatchError
    """

    def __init__(
        self,
        event_store: EventStore | AggregateRepository[A],
        aggregate_factory: Callable[[UUID], A] | None = None,
        aggregate_type: str | None = None,
        tenant_id: UUID | None = None,
        event_publisher: EventPublisher | None = None,
        *,
        enforce_on_load: bool = True,
        validate_on_save: bool = True,
    ) -> None:
        self._tenant_id = tenant_id
        self.enforce_on_load = enforce_on_load
        self.validate_on_save = validate_on_save
        if isinstance(event_store, AggregateRepository):
            self._inner: AggregateRepository[A] = event_store
        else:
            if aggregate_factory is None:
                raise UsageError("TenantAwareRepository(event_store, ...) needs an aggregate_factory")
            self._inner = AggregateRepository(event_store, aggregate_factory, aggregate_type, event_publisher)

    @property
    def repository(self) -> AggregateRepository[A]:
        """The repository this one guards."""
        return self._inner

    @property
    def aggregate_type(self) -> str:
        """The stream type of the aggregates."""
        return self._inner.aggregate_type

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
        aggregate = await self.get_or_none(aggregate_id)
        if aggregate is None:
            raise AggregateNotFoundError(aggregate_id, self.aggregate_type)
        return aggregate

    async def get_or_none(self, aggregate_id: UUID) -> A | None:
        """Load an aggregate of this tenant, or ``None`` when it has no events.

        Raises:
            TenantMismatchError: It belongs to another tenant (or to none).
        """
        tenant = self.tenant_id if self.enforce_on_load else None
        loaded = await self._inner.load_with_tenants(aggregate_id)
        if loaded is None:
            return None
        aggregate, tenants = loaded
        if self.enforce_on_load and tenants != {tenant}:
            found = next((t for t in tenants if t != tenant), None)
            raise TenantMismatchError(
                f"{self.aggregate_type} {aggregate_id} belongs to tenant {found or 'none'}, not to {tenant}"
            )
        return aggregate

    async def load_or_create(self, aggregate_id: UUID) -> A:
        """Load an aggregate of this tenant, or return a new one when it has no events."""
        aggregate = await self.get_or_none(aggregate_id)
        return aggregate if aggregate is not None else self.create_new(aggregate_id)

    async def exists(self, aggregate_id: UUID) -> bool:
        """True when the aggregate has at least one stored event (whatever its tenant)."""
        return await self._inner.exists(aggregate_id)

    async def save(self, aggregate: A) -> None:
        """Save an aggregate whose new events all carry this tenant.

        Raises:
            TenantMismatchError: An event carries another tenant (or none).
        """
        if self.validate_on_save:
            tenant = self.tenant_id
            wrong = [event.event_id for event in aggregate.uncommitted_events if event.tenant_id != tenant]
            if wrong:
                raise TenantMismatchError(
                    f"cannot save {self.aggregate_type} {aggregate.aggregate_id} for a different tenant: "
                    f"{len(wrong)} event(s) do not carry tenant {tenant}"
                )
        await self._inner.save(aggregate)
