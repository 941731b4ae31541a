"""What a store can say about itself: streams, tenants, statistics, and a verification report.

The result types live here, with the generic way of computing each from ``read_all`` (what
``EventStore`` does by default); the SQLite store computes the same results with SQL.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Collection, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

from esctl.errors import EsctlError
from esctl.events import GenericEvent, StoredEvent, stream_id
from esctl.registry import EventRegistry
from esctl.timeutil import format_micros, to_micros

MICROS_PER_DAY = 86_400_000_000


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else format_micros(to_micros(moment))


def _text(value: UUID | None) -> str | None:
    return None if value is None else str(value)


@dataclass(frozen=True, slots=True)
class StreamInfo:
    """One stream (aggregate) in a store.

    Attributes:
        aggregate_type: The stream's aggregate type.
        aggregate_id: The stream's aggregate id.
        tenant_id: The tenant the stream belongs to (``None``: no tenant).
        version: The stream's current version.
        events: How many events it holds.
        first_position: Global position of its first event.
        last_position: Global position of its last event.
        first_occurred_at: ``occurred_at`` of its earliest event.
        last_occurred_at: ``occurred_at`` of its latest event.
    """

    aggregate_type: str
    aggregate_id: UUID
    tenant_id: UUID | None
    version: int
    events: int
    first_position: int
    last_position: int
    first_occurred_at: datetime
    last_occurred_at: datetime

    @property
    def stream_id(self) -> str:
        """``"<aggregate_type>:<aggregate_id>"``."""
        return stream_id(self.aggregate_type, self.aggregate_id)

    def to_json(self) -> dict[str, Any]:
        """Return the JSON-ready form (what ``esctl streams`` prints)."""
        return {
            "stream_id": self.stream_id,
            "aggregate_type": self.aggregate_type,
            "aggregate_id": str(self.aggregate_id),
            "tenant_id": _text(self.tenant_id),
            "version": self.version,
            "events": self.events,
            "first_position": self.first_position,
            "last_position": self.last_position,
            "first_occurred_at": _iso(self.first_occurred_at),
            "last_occurred_at": _iso(self.last_occurred_at),
        }


@dataclass(frozen=True, slots=True)
class TenantInfo:
    """One tenant in a store (``tenant_id`` ``None`` gathers the events that have no tenant).

    Attributes:
        tenant_id: The tenant.
        events: How many events it has.
        streams: How many streams it has.
        first_occurred_at: ``occurred_at`` of its earliest event.
        last_occurred_at: ``occurred_at`` of its latest event.
    """

    tenant_id: UUID | None
    events: int
    streams: int
    first_occurred_at: datetime
    last_occurred_at: datetime

    def to_json(self) -> dict[str, Any]:
        """Return the JSON-ready form (what ``esctl tenants`` prints)."""
        return {
            "tenant_id": _text(self.tenant_id),
            "events": self.events,
            "streams": self.streams,
            "first_occurred_at": _iso(self.first_occurred_at),
            "last_occurred_at": _iso(self.last_occurred_at),
        }


FILLED_DAYS = 732
"""The longest span of days (two years) whose empty days ``StoreStats.per_day`` lists as zeros."""


@dataclass(frozen=True, slots=True)
class StoreStats:
    """Counts over the events a read selects.

    Attributes:
        events: How many events.
        streams: How many distinct streams they belong to.
        first_occurred_at: The earliest ``occurred_at`` (``None`` when there are no events).
        last_occurred_at: The latest ``occurred_at``.
        by_type: Events per event type, most frequent first.
        by_tenant: Events per tenant (``None``: no tenant), most frequent first.
        per_day: Events per UTC day of ``occurred_at``: every day from the first to the last
            (days without events count 0) when they span fewer than ``FILLED_DAYS`` days,
            else only the days that have events.
    """

    events: int
    streams: int
    first_occurred_at: datetime | None
    last_occurred_at: datetime | None
    by_type: dict[str, int] = field(default_factory=dict)
    by_tenant: dict[UUID | None, int] = field(default_factory=dict)
    per_day: list[tuple[date, int]] = field(default_factory=list)

    def rows(self) -> list[dict[str, Any]]:
        """Return the counts as rows of ``{"dimension", "value", "events"}`` (for NDJSON/CSV).

        ``dimension`` is ``total``, ``event_type``, ``tenant_id`` or ``day``.
        """
        rows: list[dict[str, Any]] = [{"dimension": "total", "value": None, "events": self.events}]
        rows += [{"dimension": "event_type", "value": k, "events": v} for k, v in self.by_type.items()]
        rows += [{"dimension": "tenant_id", "value": _text(k), "events": v} for k, v in self.by_tenant.items()]
        rows += [{"dimension": "day", "value": d.isoformat(), "events": v} for d, v in self.per_day]
        return rows

    def to_json(self) -> dict[str, Any]:
        """Return the JSON-ready form (what ``esctl stats --format json`` prints)."""
        return {
            "events": self.events,
            "streams": self.streams,
            "first_occurred_at": _iso(self.first_occurred_at),
            "last_occurred_at": _iso(self.last_occurred_at),
            "by_type": dict(self.by_type),
            "by_tenant": {_text(k) or "": v for k, v in self.by_tenant.items()},
            "per_day": [{"day": d.isoformat(), "events": v} for d, v in self.per_day],
        }


def build_stats(
    counts: Iterable[tuple[str, UUID | None, int, int]],
    *,
    streams: int,
    first: datetime | None,
    last: datetime | None,
) -> StoreStats:
    """Assemble ``StoreStats`` from ``(event_type, tenant_id, day_number, count)`` groups.

    ``day_number`` counts UTC days since 1970-01-01.
    """
    by_type: Counter[str] = Counter()
    by_tenant: Counter[UUID | None] = Counter()
    by_day: Counter[int] = Counter()
    total = 0
    for event_type, tenant, day, count in counts:
        by_type[event_type] += count
        by_tenant[tenant] += count
        by_day[day] += count
        total += count
    epoch = date(1970, 1, 1)
    if by_day and max(by_day) - min(by_day) < FILLED_DAYS:
        days: Iterable[int] = range(min(by_day), max(by_day) + 1)
    else:
        # Filling every empty day between 1970 and 9999 made millions of rows from three events:
        # a long span lists only the days that have events.
        days = sorted(by_day)
    per_day = [(epoch + timedelta(days=d), by_day.get(d, 0)) for d in days]
    return StoreStats(
        events=total,
        streams=streams,
        first_occurred_at=first,
        last_occurred_at=last,
        by_type=dict(sorted(by_type.items(), key=lambda kv: (-kv[1], kv[0]))),
        by_tenant=dict(sorted(by_tenant.items(), key=lambda kv: (-kv[1], str(kv[0] or "")))),
        per_day=per_day,
    )


def day_number(moment: datetime) -> int:
    """Return the UTC day of ``moment`` as days since 1970-01-01."""
    return to_micros(moment) // MICROS_PER_DAY


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem ``verify`` found.

    Attributes:
        check: Which check: ``integrity``, ``positions``, ``versions``, ``tenant`` or ``payload``.
        message: What is wrong.
        position: The global position concerned, when there is one.
        stream_id: The stream concerned, when there is one.
    """

    check: str
    message: str
    position: int | None = None
    stream_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Return the JSON-ready form (what ``esctl verify`` prints)."""
        return {"check": self.check, "position": self.position, "stream_id": self.stream_id, "message": self.message}


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """What ``verify`` checked and found.

    Attributes:
        events: Events checked.
        findings: The problems found (at most the ``max_findings`` asked for).
        omitted: Further findings not listed.
        unregistered_types: Event types with no registered class, and how many events each has:
            their payloads were decoded but not validated.
    """

    events: int
    findings: list[Finding] = field(default_factory=list)
    omitted: int = 0
    unregistered_types: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when nothing was found."""
        return not self.findings


class FindingList:
    """Collects findings up to a limit, counting the rest."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.items: list[Finding] = []
        self.omitted = 0

    def add(self, finding: Finding) -> None:
        """Keep ``finding``, or count it when the list is full."""
        if len(self.items) < self.limit:
            self.items.append(finding)
        else:
            self.omitted += 1


async def verify_events(
    events: AsyncIterator[StoredEvent],
    registry: EventRegistry,
    *,
    max_findings: int = 1000,
    purged: Collection[int] = (),
) -> VerifyReport:
    """Verify a store from its events: the generic ``EventStore.verify``.

    Checks that positions run 1, 2, 3 … without a gap (positions in ``purged``, which a tenant
    purge removed, are expected holes), that each stream's versions run 1, 2, 3 … in position
    order, that a stream keeps one tenant, and that every event of a registered type validates
    against its class.
    """
    from esctl import codec

    found = FindingList(max_findings)
    versions: dict[tuple[str, UUID], tuple[int, UUID | None]] = {}
    unregistered: Counter[str] = Counter()
    expected_position = 1
    count = 0
    try:
        async for stored in events:
            count += 1
            event = stored.event
            while expected_position in purged and expected_position < stored.global_position:
                expected_position += 1
            if stored.global_position != expected_position:
                found.add(
                    Finding(
                        "positions",
                        f"position {stored.global_position} follows {expected_position - 1}",
                        stored.global_position,
                    )
                )
            expected_position = stored.global_position + 1
            key = (event.aggregate_type, event.aggregate_id)
            version, tenant = versions.get(key, (0, event.tenant_id))
            if stored.stream_position != version + 1:
                found.add(
                    Finding(
                        "versions",
                        f"version {stored.stream_position} follows version {version}",
                        stored.global_position,
                        stored.stream_id,
                    )
                )
            if tenant != event.tenant_id:
                found.add(
                    Finding(
                        "tenant",
                        f"tenant {event.tenant_id or 'none'} in a stream of tenant {tenant or 'none'}",
                        stored.global_position,
                        stored.stream_id,
                    )
                )
            versions[key] = (stored.stream_position, tenant)
            if event.event_type not in registry:
                unregistered[event.event_type] += 1
            elif isinstance(event, GenericEvent) or type(event) is not registry.get_or_none(event.event_type):
                try:
                    codec.build_event(event.model_dump(mode="json"), registry)
                except EsctlError as error:
                    found.add(Finding("payload", error.message, stored.global_position, stored.stream_id))
    except EsctlError as error:  # an event that cannot even be read back ends the walk
        found.add(Finding("payload", error.message, expected_position))
    return VerifyReport(count, found.items, found.omitted, dict(sorted(unregistered.items())))
