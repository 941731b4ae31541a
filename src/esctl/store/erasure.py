"""Erasure: what a tenant purge removes and the record it leaves (``EventStore.purge_tenant``).

A purge deletes every event of one tenant, its snapshots, its projection documents and the dead
letters of its events, in one transaction, and writes a ``PurgeRecord`` in the same
transaction. The record keeps the purged global positions, so ``verify`` can tell the holes a
purge left from a damaged log; no other event's position, id or bytes change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from esctl.timeutil import format_micros, to_micros

if TYPE_CHECKING:
    from esctl.events import DomainEvent, StoredEvent
    from esctl.registry import EventRegistry


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class PurgeResult:
    """What a purge removed, or would remove (``dry_run``).

    Attributes:
        tenant_id: The purged tenant.
        events: Events removed.
        streams: Streams those events made up.
        snapshots: Snapshots removed.
        documents: Projection documents of the tenant removed (every projection's).
        dead_letters: Projection dead letters of the tenant's events removed.
        first_position: Global position of the first event removed (``None``: none).
        last_position: Global position of the last event removed.
        dry_run: True when nothing was changed.
        purged_at: When the purge ran (UTC).
        esctl_version: The esctl version that ran it.
        notes: What the store could not erase or wants the operator to know (its backups, a
            WAL the server keeps, a checkpoint that readers held up).
    """

    tenant_id: UUID
    events: int
    streams: int
    snapshots: int
    documents: int
    dead_letters: int = 0
    first_position: int | None = None
    last_position: int | None = None
    dry_run: bool = False
    purged_at: datetime = field(default_factory=_now)
    esctl_version: str = ""
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Return the result as JSON-ready values (``esctl purge`` and ``esctl purges`` print it)."""
        return {
            "tenant_id": str(self.tenant_id),
            "purged_at": format_micros(to_micros(self.purged_at)),
            "events": self.events,
            "streams": self.streams,
            "snapshots": self.snapshots,
            "documents": self.documents,
            "dead_letters": self.dead_letters,
            "first_position": self.first_position,
            "last_position": self.last_position,
            "esctl_version": self.esctl_version,
            "dry_run": self.dry_run,
        }


def esctl_version() -> str:
    """Return this esctl's version, for purge records."""
    from esctl import __version__

    return __version__


@dataclass(frozen=True, slots=True)
class RedactResult:
    """What a redaction overwrote, or would overwrite (``dry_run``).

    Attributes:
        selection: Which events were selected (``aggregate_id=…`` or ``tenant_id=… actor_id=…``).
        events: Events whose personal fields were overwritten (already redacted ones are not
            counted again).
        streams: Streams those events belong to.
        snapshots: Snapshots of those aggregates dropped.
        fields: Per event type, the personal fields overwritten.
        first_position: Global position of the first event changed (``None``: none).
        last_position: Global position of the last.
        dry_run: True when nothing was changed.
        redacted_at: When the redaction ran (UTC).
        esctl_version: The esctl version that ran it.
    """

    selection: str
    events: int
    streams: int
    snapshots: int
    fields: dict[str, list[str]] = field(default_factory=dict)
    first_position: int | None = None
    last_position: int | None = None
    dry_run: bool = False
    redacted_at: datetime = field(default_factory=_now)
    esctl_version: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Return the result as JSON-ready values (``esctl redact`` prints it)."""
        return {
            "selection": self.selection,
            "redacted_at": format_micros(to_micros(self.redacted_at)),
            "events": self.events,
            "streams": self.streams,
            "snapshots": self.snapshots,
            "fields": self.fields,
            "first_position": self.first_position,
            "last_position": self.last_position,
            "esctl_version": self.esctl_version,
            "dry_run": self.dry_run,
        }


@dataclass(frozen=True, slots=True)
class Rewrite:
    """One event's redacted form: its position, its new payload bytes and its new model."""

    position: int
    payload: bytes
    event: DomainEvent


@dataclass(frozen=True, slots=True)
class RedactionPlan:
    """What ``EventStore.redact`` hands its backend to write in one transaction."""

    result: RedactResult
    rewrites: list[Rewrite]
    aggregates: list[tuple[str, UUID]]


def plan_redaction(
    selected: list[StoredEvent], registry: EventRegistry, selection: str, *, dry_run: bool
) -> RedactionPlan:
    """Work out the redacted payload of each selected event, or refuse.

    Raises:
        UsageError: Some selected events are of types whose personal fields are not declared
            (no class registered, or a class with no ``Annotated[str, Personal]`` field); the
            message names those types, and nothing is planned.
    """
    from esctl import codec
    from esctl.errors import UsageError
    from esctl.personal import REDACTED, personal_fields
    from esctl.rows import ROW_COLUMNS

    payload_column = ROW_COLUMNS.index("payload")
    declared: dict[str, tuple[str, ...]] = {}
    for stored in selected:
        name = stored.event.event_type
        if name not in declared:
            cls = registry.get_or_none(name)
            declared[name] = personal_fields(cls) if cls is not None else ()
    unjudged = sorted(name for name, names in declared.items() if not names)
    if unjudged:
        raise UsageError(
            f"cannot tell which fields are personal in event type{'s' if len(unjudged) > 1 else ''} "
            f"{', '.join(unjudged)}: nothing redacted",
            hint="load their classes with --app and mark personal fields Annotated[str, Personal]",
        )
    rewrites: list[Rewrite] = []
    fields: dict[str, list[str]] = {}
    for stored in selected:
        names = declared[stored.event.event_type]
        payload = codec.loads(codec.stored_event_to_row(stored)[payload_column])
        changed = [n for n in names if payload.get(n) not in (None, REDACTED)]
        if not changed:
            continue
        for name in changed:
            payload[name] = REDACTED
        touched = fields.setdefault(stored.event.event_type, [])
        touched.extend(n for n in changed if n not in touched)
        event = stored.event.model_copy(update=dict.fromkeys(changed, REDACTED))
        rewrites.append(Rewrite(stored.global_position, codec.dumps(payload), event))
    aggregates = list(dict.fromkeys((r.event.aggregate_type, r.event.aggregate_id) for r in rewrites))
    result = RedactResult(
        selection=selection,
        events=len(rewrites),
        streams=len(aggregates),
        snapshots=0,
        fields=fields,
        first_position=rewrites[0].position if rewrites else None,
        last_position=rewrites[-1].position if rewrites else None,
        dry_run=dry_run,
        esctl_version=esctl_version(),
    )
    return RedactionPlan(result, rewrites, aggregates)


def redaction_from_row(row: tuple[Any, ...]) -> RedactResult:
    """Return a redaction record from its stored row (``selection, redacted_at, events, streams,
    snapshots, fields, first_position, last_position, esctl_version``)."""
    from esctl.codec import loads
    from esctl.timeutil import from_micros

    selection, at, events, streams, snapshots, fields, first, last, version = row
    return RedactResult(
        selection=selection,
        redacted_at=from_micros(int(at)),
        events=int(events),
        streams=int(streams),
        snapshots=int(snapshots),
        fields=loads(bytes(fields)),
        first_position=None if first is None else int(first),
        last_position=None if last is None else int(last),
        esctl_version=version,
    )
