"""Events: the immutable facts an application stores, and how they come back from a store."""

from __future__ import annotations

import inspect
import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, Self
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

    @field_validator("occurred_at", mode="before")
    @classmethod
    def _occurred_at_is_not_a_number(cls, value: Any) -> Any:
        # Pydantic reads 1733000000 (and "1733000000") as seconds, 1733000000000 as milliseconds:
        # a guess that silently moves events if it is wrong. Time is text with an offset.
        is_number = isinstance(value, int | float) and not isinstance(value, bool)
        if is_number or (isinstance(value, str) and value.strip().lstrip("-").replace(".", "", 1).isdigit()):
            raise ValueError(f"{value!r} is a number, not a time: use ISO 8601 with an offset (2026-11-01T08:00:00Z)")
        return value

    @field_validator("occurred_at")
    @classmethod
    def _occurred_at_is_aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("occurred_at must be timezone-aware (e.g. 2026-11-01T08:00:00Z)")
        # 0001-01-01T00:00:00+01:00 is before the first moment UTC can hold: an error naming the field.
        return ensure_aware_utc(value, field="occurred_at")

    @property
    def payload(self) -> dict[str, Any]:
        """The fields a subclass adds, as JSON-ready values."""
        return self.model_dump(mode="json", exclude=set(ENVELOPE_FIELDS))

    # -- the classic API's helpers ----------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Return the event as JSON-ready values (UUIDs and datetimes as strings).

        Example:
            >>> from uuid import uuid4
            >>> DomainEvent(aggregate_id=uuid4(), aggregate_type="Order").to_dict()["event_type"]
            'DomainEvent'
        """
        return self.model_dump(mode="json")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        """Build an event of this class from ``to_dict``'s output (validated).

        Raises:
            pydantic.ValidationError: ``data`` does not fit the class.
        """
        return cls.model_validate(data)

    def with_causation(self, event: DomainEvent) -> Self:
        """Return a copy caused by ``event``: its ``causation_id`` is ``event``'s id and it
        joins ``event``'s correlation."""
        return self._changed(causation_id=event.event_id, correlation_id=event.correlation_id)

    def with_metadata(self, **metadata: Any) -> Self:
        """Return a copy whose ``metadata`` also holds ``metadata`` (new keys win)."""
        return self._changed(metadata={**self.metadata, **metadata})

    def with_aggregate_version(self, version: int) -> Self:
        """Return a copy at ``version`` (validated: an int of at least 1)."""
        return self._changed(aggregate_version=version)

    def is_caused_by(self, event: DomainEvent) -> bool:
        """True when ``event`` is this event's cause (``causation_id``)."""
        return self.causation_id is not None and self.causation_id == event.event_id

    def is_correlated_with(self, event: DomainEvent) -> bool:
        """True when both events share a ``correlation_id``."""
        return self.correlation_id == event.correlation_id

    def _changed(self, **update: Any) -> Self:
        # Validated, unlike ``model_copy(update=...)``: a copy must obey the rules the original
        # did (aggregate_version >= 1, aware timestamps). The fields set stay the original's plus
        # the changed ones, so a version the store was to assign stays unset.
        data = self.model_dump()
        data.update(update)
        copy = type(self).model_validate(data)
        object.__setattr__(copy, "__pydantic_fields_set__", set(self.model_fields_set) | set(update))
        return copy


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


class TenantDomainEvent(DomainEvent):
    """An event that must belong to a tenant: ``tenant_id`` is required (not ``None``).

    Example:
        >>> from uuid import uuid4
        >>> class InvoiceSent(TenantDomainEvent):
        ...     aggregate_type: str = "Invoice"
        >>> InvoiceSent(aggregate_id=uuid4(), tenant_id=uuid4()).tenant_id is not None
        True
    """

    tenant_id: UUID = Field(description="Tenant this event belongs to")


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
