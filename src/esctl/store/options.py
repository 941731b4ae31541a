"""``ReadOptions``: which events a read returns.

Its own module, free of pydantic and the store classes, so that the CLI's quick ``dump``
(``esctl.cli.quick``) can select events without importing the models.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

from esctl.timeutil import ensure_aware_utc

if TYPE_CHECKING:
    from esctl.events import StoredEvent


@dataclass(frozen=True, slots=True, kw_only=True)
class ReadOptions:
    """Which events a read returns. Every filter given must match; results are in position order.

    Attributes:
        from_position: First global position to return (inclusive).
        to_position: Last global position to return (inclusive).
        limit: Return at most this many events.
        tenant_id: Only this tenant's events (events without a tenant never match).
        tenant_ids: Only these tenants' events (combined with ``tenant_id``).
        aggregate_type: Only streams of this type.
        aggregate_id: Only this aggregate's events.
        event_types: Only these event types.
        from_timestamp: ``occurred_at`` at or after this moment (inclusive).
        to_timestamp: ``occurred_at`` before this moment (exclusive).
    """

    from_position: int | None = None
    to_position: int | None = None
    limit: int | None = None
    tenant_id: UUID | None = None
    tenant_ids: tuple[UUID, ...] = ()
    aggregate_type: str | None = None
    aggregate_id: UUID | None = None
    event_types: tuple[str, ...] = ()
    from_timestamp: datetime | None = None
    to_timestamp: datetime | None = None

    def __post_init__(self) -> None:
        # A naive datetime is refused, not guessed at: read as UTC or as local time it would
        # silently move the window (DomainEvent.occurred_at follows the same rule).
        for name in ("from_timestamp", "to_timestamp"):
            value = getattr(self, name)
            if value is not None:
                ensure_aware_utc(value, field=name)

    @property
    def tenants(self) -> tuple[UUID, ...]:
        """All tenants the read is limited to (empty: no tenant filter)."""
        if self.tenant_id is None:
            return self.tenant_ids
        return (self.tenant_id, *(t for t in self.tenant_ids if t != self.tenant_id))

    def matches(self, stored: StoredEvent) -> bool:
        """True when ``stored`` passes every filter except ``limit``."""
        event = stored.event
        tenants = self.tenants
        return (
            (self.from_position is None or stored.global_position >= self.from_position)
            and (self.to_position is None or stored.global_position <= self.to_position)
            and (not tenants or event.tenant_id in tenants)
            and (self.aggregate_type is None or event.aggregate_type == self.aggregate_type)
            and (self.aggregate_id is None or event.aggregate_id == self.aggregate_id)
            and (not self.event_types or event.event_type in self.event_types)
            and (self.from_timestamp is None or event.occurred_at >= self.from_timestamp)
            and (self.to_timestamp is None or event.occurred_at < self.to_timestamp)
        )
