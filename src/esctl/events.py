"""Events: the immutable facts an application stores, and how they come back from a store."""

from __future__ import annotations

import inspect
import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID, uuid4

from pydantic import BaseModel, ConfigDict, Field, field_validator

from esctl.store.types import stream_id as stream_id  # re-exported: esctl.events.stream_id
from esctl.timeutil import ensure_aware_utc


def uuid7() -> UUID:
    """Return a new time-ordered UUID (version 7, RFC 9562).

    Event ids are v7 because a unique index fed random (v4) ids slows inserts by more than
    half; v7 ids arrive in index order.
    """
    millis = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (millis & 0xFFFF_FFFF_FFFF) << 80
    value |= 0x7 << 76  # version
    value |= ((rand >> 64) & 0xFFF) << 64  # rand_a, 12 bits
    value |= 0b10 << 62  # variant
    value |= rand & 0x3FFF_FFFF_FFFF_FFFF  # rand_b, 62 bits
    return UUID(int=value)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class DomainEvent(BaseModel):
    """Base class of every event: an immutable, validated fact about one aggregate.

    Subclasses add payload fields and usually fix ``event_type`` and ``aggregate_type``.
    ``event_type`` defaults to the class name.

    ``occurred_at`` must be timezone-aware: a naive datetime is rejected rather than guessed
    at, because reading it as local time or as UTC would silently move events in time.

    Example:
        >>> from uuid import uuid4
        >>> class OrderCreated(DomainEvent):
        ...     aggregate_type: str = "Order"
        ...     customer_name: str
        >>> OrderCreated(aggregate_id=uuid4(), customer_name="Alice").event_type
        'OrderCreated'
    """

    # defer_build: a class's validator is built when it first validates, not when the class is
    # defined. A command that only moves rows (an append of unregistered types, a dump) then
    # never builds one: ~50 ms of a one-event `esctl append` went to building this class and
    # GenericEvent. Subclasses inherit it; registering a class builds it (registry.register),
    # so a registered class pydantic cannot build still fails where it is defined.
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    event_id: UUID = Field(default_factory=uuid7)
    event_type: str = "DomainEvent"
    event_version: Annotated[int, Field(ge=1, strict=True)] = 1
    occurred_at: datetime = Field(default_factory=_utc_now)
    aggregate_id: UUID
    aggregate_type: str
    aggregate_version: Annotated[int, Field(ge=1, strict=True)] = 1
    tenant_id: UUID | None = Field(default=None, description="Tenant this event belongs to")
    actor_id: str | None = None
    correlation_id: UUID = Field(default_factory=uuid4)
    causation_id: UUID | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if "event_type" not in inspect.get_annotations(cls):
            cls.model_fields["event_type"].default = cls.__name__
            cls.model_rebuild(force=True)

    @field_validator("occurred_at")
    @classmethod
    def _occurred_at_is_aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("occurred_at must be timezone-aware (e.g. 2026-11-01T08:00:00Z)")
        try:
            return ensure_aware_utc(value)
        except OverflowError:  # 0001-01-01T00:00:00+01:00 is before the first moment UTC can hold
            raise ValueError("occurred_at is out of range in UTC") from None

    @property
    def payload(self) -> dict[str, Any]:
        """The fields a subclass adds, as JSON-ready values."""
        return self.model_dump(mode="json", exclude=set(ENVELOPE_FIELDS))


ENVELOPE_FIELDS: tuple[str, ...] = tuple(DomainEvent.model_fields)
"""Fields every event has; everything else an event carries is its payload."""

RESERVED_FIELDS = frozenset({"position", "stored_at"})
"""Names a dump adds to each event line; no payload field may use them."""


class GenericEvent(DomainEvent):
    """An event whose type no registered class has: its payload is kept as given.

    Reading a store never fails because one event type is unknown; such events come back as
    ``GenericEvent`` with ``event_type`` as stored and the payload in ``payload``.
    """

    model_config = ConfigDict(frozen=True, extra="allow", defer_build=True)

    event_type: str = "GenericEvent"

    @property
    def payload(self) -> dict[str, Any]:
        """The stored payload, unvalidated."""
        return dict(self.model_extra or {})


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event as read back from a store, with where it sits there.

    Attributes:
        event: The event.
        stream_id: ``"<aggregate_type>:<aggregate_id>"``.
        stream_position: The event's version within its stream (1-based).
        global_position: The event's position in the whole store (1-based, gapless).
        stored_at: When the store accepted the event (UTC).
    """

    event: DomainEvent
    stream_id: str
    stream_position: int
    global_position: int
    stored_at: datetime


@dataclass(slots=True)
class EventStream:
    """The events of one aggregate, in version order.

    Attributes:
        aggregate_id: The aggregate's id.
        aggregate_type: The aggregate's type, or ``None`` when it was not asked for.
        events: The events.
        version: The version of the last event (0 when there is none).
    """

    aggregate_id: UUID
    aggregate_type: str | None
    events: list[DomainEvent] = field(default_factory=list)
    version: int = 0

    @property
    def is_empty(self) -> bool:
        """True when the stream has no events."""
        return not self.events
