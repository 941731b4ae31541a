"""The store's value types: what a read selects, what an append expects and returns.

Free of pydantic and of the store classes, so that the CLI's quick ``dump`` (``esctl.cli.quick``)
can select events without importing the models.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, overload
from uuid import UUID

from esctl.timeutil import ensure_aware_utc

if TYPE_CHECKING:
    from esctl.events import DomainEvent, StoredEvent

StreamKey = tuple[str, UUID]
"""A stream's identity: ``(aggregate_type, aggregate_id)``."""


def stream_id(aggregate_type: str, aggregate_id: UUID | str) -> str:
    """Return the stream id for an aggregate: ``"<aggregate_type>:<aggregate_id>"``."""
    return f"{aggregate_type}:{aggregate_id}"


class ReadDirection(enum.Enum):
    """The order a read returns events in."""

    FORWARD = "forward"
    """Oldest first (ascending global position)."""
    BACKWARD = "backward"
    """Newest first (descending global position)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ReadOptions:
    """Which events a read returns, and in which order. Every filter given must match.

    Attributes:
        direction: ``ReadDirection.FORWARD`` (oldest first, the default) or ``BACKWARD``.
        from_position: Return only events AFTER this global position (exclusive: 0 reads from
            the start; a checkpoint's position resumes without repeating its event).
        to_position: Last global position to return (inclusive).
        limit: Return at most this many events (counted in the read's direction).
        tenant_id: Only this tenant's events (events without a tenant never match).
        tenant_ids: Only these tenants' events (combined with ``tenant_id``).
        aggregate_type: Only streams of this type.
        aggregate_id: Only this aggregate's events.
        event_types: Only these event types.
        from_timestamp: ``occurred_at`` at or after this moment (inclusive).
        to_timestamp: ``occurred_at`` before this moment (exclusive).
    """

    direction: ReadDirection = ReadDirection.FORWARD
    from_position: int = 0
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
        if self.from_position is None:  # callers written for the inclusive, optional form passed None
            object.__setattr__(self, "from_position", 0)

    @property
    def backward(self) -> bool:
        """True when the read returns the newest events first."""
        return self.direction is ReadDirection.BACKWARD

    @property
    def tenants(self) -> tuple[UUID, ...]:
        """All tenants the read is limited to (empty: no tenant filter)."""
        if self.tenant_id is None:
            return self.tenant_ids
        return (self.tenant_id, *(t for t in self.tenant_ids if t != self.tenant_id))

    def matches(self, stored: StoredEvent) -> bool:
        """True when ``stored`` passes every filter (``limit`` and ``direction`` aside)."""
        event = stored.event
        tenants = self.tenants
        return (
            stored.global_position > self.from_position
            and (self.to_position is None or stored.global_position <= self.to_position)
            and (not tenants or event.tenant_id in tenants)
            and (self.aggregate_type is None or event.aggregate_type == self.aggregate_type)
            and (self.aggregate_id is None or event.aggregate_id == self.aggregate_id)
            and (not self.event_types or event.event_type in self.event_types)
            and (self.from_timestamp is None or event.occurred_at >= self.from_timestamp)
            and (self.to_timestamp is None or event.occurred_at < self.to_timestamp)
        )


class ExpectedVersion(enum.Enum):
    """What a writer expects of a stream besides an exact version number."""

    ANY = "any"
    """No check."""
    NO_STREAM = "no_stream"
    """The stream must not exist yet."""
    STREAM_EXISTS = "stream_exists"
    """The stream must have at least one event."""


Expected = ExpectedVersion | int
"""An expected stream version: one of ``ExpectedVersion`` or an exact version (0 = no stream)."""


@dataclass(frozen=True, slots=True, init=False)
class AppendResult:
    """What an append did.

    Built as the classic API does, ``AppendResult(success, new_version, global_position=0,
    conflict=False)`` (or ``successful``/``conflicted``), or as esctl's stores do, with keywords
    (``appended=…, stream_versions=…``). A first positional argument that is a ``bool`` is
    ``success``; otherwise positional arguments are esctl's (``appended``, ``skipped``,
    ``first_position``, ``last_position``, ``stream_versions``).

    Attributes:
        success: True unless the append was refused for a conflict.
        new_version: The stream's version after the append (an append to one stream; else 0).
        global_position: Global position of the last written event (0 when none was written).
        conflict: True when the expected version did not hold.
        appended: Events written.
        skipped: Events already stored with the same id and content (idempotent re-appends).
        first_position: Global position of the first written event, or ``None``.
        last_position: Global position of the last written event, or ``None``.
        stream_versions: Each touched stream's version after the append.
    """

    success: bool
    new_version: int
    global_position: int
    conflict: bool
    appended: int
    skipped: int
    first_position: int | None
    last_position: int | None
    stream_versions: Mapping[StreamKey, int]

    @overload
    def __init__(self, success: bool, new_version: int, global_position: int = 0, conflict: bool = False) -> None: ...

    @overload
    def __init__(
        self,
        appended: int = 0,
        skipped: int = 0,
        first_position: int | None = None,
        last_position: int | None = None,
        stream_versions: Mapping[StreamKey, int] | None = None,
        *,
        new_version: int | None = None,
    ) -> None: ...

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        classic = (args and type(args[0]) is bool) or ("success" in kwargs or "conflict" in kwargs)
        if classic:
            names: tuple[str, ...] = ("success", "new_version", "global_position", "conflict")
        else:
            names = ("appended", "skipped", "first_position", "last_position", "stream_versions")
        if len(args) > len(names):
            raise TypeError(f"AppendResult takes at most {len(names)} positional arguments")
        values: dict[str, Any] = dict(zip(names, args, strict=False))
        for key, value in kwargs.items():
            if key in values:
                raise TypeError(f"AppendResult got two values for {key!r}")
            values[key] = value
        unknown = values.keys() - _APPEND_RESULT_FIELDS
        if unknown:
            raise TypeError(f"AppendResult got unexpected arguments {sorted(unknown)}")
        versions: Mapping[StreamKey, int] = values.get("stream_versions") or {}
        last = values.get("last_position")
        new_version = values.get("new_version")
        if new_version is None:
            new_version = next(iter(versions.values())) if len(versions) == 1 else 0
        global_position = values.get("global_position")
        if global_position is None:
            global_position = last or 0
        conflict = bool(values.get("conflict", False))
        setter = object.__setattr__
        setter(self, "success", bool(values.get("success", not conflict)))
        setter(self, "new_version", int(new_version))
        setter(self, "global_position", int(global_position))
        setter(self, "conflict", conflict)
        setter(self, "appended", int(values.get("appended", 0)))
        setter(self, "skipped", int(values.get("skipped", 0)))
        setter(self, "first_position", values.get("first_position"))
        setter(self, "last_position", last)
        setter(self, "stream_versions", versions)

    @classmethod
    def successful(cls, new_version: int, global_position: int = 0) -> AppendResult:
        """A successful append that left the stream at ``new_version``."""
        return cls(True, new_version, global_position)

    @classmethod
    def conflicted(cls, current_version: int) -> AppendResult:
        """An append refused because the stream is at ``current_version``, not the expected one."""
        return cls(False, current_version, 0, True)


_APPEND_RESULT_FIELDS = frozenset(AppendResult.__slots__)


class EncodedEvent(Protocol):
    """An event on its way into a store, maybe already encoded as the row a store writes.

    ``esctl.ingest.InputEvent`` is one. ``row`` (``codec.INSERT_COLUMNS`` order, with
    ``stored_at`` and, for an auto-versioned event, ``aggregate_version`` left ``None``) lets a
    store that writes such rows skip the model; ``event`` is the model, which may be built on
    first use, for stores and rules that need it.
    """

    @property
    def event(self) -> DomainEvent:
        """The event's model."""
        ...

    @property
    def row(self) -> list[Any] | None:
        """The event's insert row, or ``None`` when only the model exists."""
        ...


@dataclass(frozen=True, slots=True)
class AppendChunk:
    """A part of an atomic append made of several parts (``EventStore.append_chunks``).

    Attributes:
        events: The part's events, in order.
        expected_versions: Per stream, what the writer expects before the stream's first event
            in the whole append. An entry counts in the chunk where its stream first appears
            and is ignored anywhere else.
        auto_version: Indexes (within ``events``) of events whose version the store assigns.
    """

    events: Sequence[EncodedEvent]
    expected_versions: Mapping[StreamKey, Expected] | None = None
    auto_version: Collection[int] = ()


class StreamHead(NamedTuple):
    """A stream's current version and the tenant it belongs to."""

    version: int
    tenant_id: UUID | None


@dataclass(frozen=True, slots=True)
class SchemaStatus:
    """A database's schema version against the one this esctl writes.

    Attributes:
        version: The database's schema version (0: no schema yet).
        latest: The version this esctl writes.
    """

    version: int
    latest: int

    @property
    def pending(self) -> int:
        """Migrations not yet applied."""
        return max(self.latest - self.version, 0)
