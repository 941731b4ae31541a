"""The append rules every store shares, as pure functions: no I/O, no store state.

A store reads the heads of the streams a batch touches and the stored events whose ids it
carries, asks ``plan_append`` what to write, and writes exactly that, all or nothing.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from uuid import UUID

from esctl.errors import DuplicateEventError, OptimisticLockError, TenantMismatchError
from esctl.store.types import Expected, ExpectedVersion, StreamHead, StreamKey, stream_id

if TYPE_CHECKING:
    from esctl.events import DomainEvent

_IntKey = tuple[str, int]
"""A stream's identity with the aggregate id as its integer (cheap to hash)."""


def implicit_versions(events: Sequence[DomainEvent], given: Collection[int] = ()) -> frozenset[int]:
    """Return the indexes of the events whose ``aggregate_version`` the store assigns.

    Those in ``given`` (an import line without a version), and every event built without an
    explicit ``aggregate_version`` (pydantic's ``model_fields_set``): the classic API lets code
    append such events and has the store stamp the stream's next version. A version set
    explicitly is checked, never replaced.
    """
    implicit = [index for index, event in enumerate(events) if "aggregate_version" not in event.model_fields_set]
    if not implicit:
        return given if isinstance(given, frozenset) else frozenset(given)
    return frozenset(given).union(implicit)


@dataclass(slots=True)
class AppendPlan:
    """The events an append will write, after the shared rules of ``plan_append``."""

    events: list[DomainEvent]
    skipped: int
    stream_versions: dict[StreamKey, int]


def plan_append(
    events: Sequence[DomainEvent],
    *,
    heads: Mapping[StreamKey, StreamHead],
    existing: Mapping[UUID, DomainEvent],
    expected_versions: Mapping[StreamKey, Expected] | None = None,
    auto_version: Collection[int] = (),
) -> AppendPlan:
    """Apply the append rules every store shares, and say what to write.

    The rules: an ``event_id`` already stored (or earlier in the batch) with the same content is
    skipped, with other content it is an error; each stream's expected version is checked once;
    every stream's versions continue from its head with no gap; a stream keeps the tenant of its
    first event. The caller writes the returned events in order, all or none.

    Args:
        events: The batch, in the order to store it.
        heads: The current head of each stream the batch touches that exists.
        existing: Stored events whose ids occur in the batch.
        expected_versions: Per stream, what the writer expects (default: no check).
        auto_version: Indexes of events whose ``aggregate_version`` is to be assigned, besides
            those built without one (``implicit_versions``).

    Returns:
        The plan.

    Raises:
        DuplicateEventError: An ``event_id`` is already used by other content.
        OptimisticLockError: An expected version does not hold, or a version does not follow
            its stream's head.
        TenantMismatchError: An event's tenant differs from its stream's.
    """
    expected_versions = expected_versions or {}
    auto = implicit_versions(events, auto_version)
    # Streams and ids are keyed by the UUIDs' integers: ``UUID.__hash__`` is Python code, and
    # hashing every event's keys several times cost as much as SQLite's insert. ``uuid.int`` is
    # what UUID equality compares, so the rules are unchanged. Each stream's state is one record
    # found once per event (and reused while the batch stays on one stream, the usual case).
    initial = {(aggregate_type, aggregate_id.int): head for (aggregate_type, aggregate_id), head in heads.items()}
    streams: dict[_IntKey, _StreamState] = {}
    accepted: dict[int, DomainEvent] = {}
    planned: list[DomainEvent] = []
    skipped = 0
    last_id: UUID | None = None
    last_type: str | None = None
    state: _StreamState | None = None
    for index, event in enumerate(events):
        if state is None or event.aggregate_id is not last_id or event.aggregate_type is not last_type:
            last_id, last_type = event.aggregate_id, event.aggregate_type
            key = (last_type, last_id.int)
            state = streams.get(key)
            if state is None:
                state = streams[key] = _StreamState((last_type, last_id), initial.get(key))
        is_auto = index in auto
        known = accepted.get(event.event_id.int) or (existing.get(event.event_id) if existing else None)
        if known is not None:
            if not same_event(known, event, ignore_version=is_auto):
                raise (
                    DuplicateEventError(
                        f"event_id {event.event_id} is already used by an event with other content",
                        field="event_id",
                        hint="give the event a new event_id, or send the stored event unchanged",
                    )
                ).in_batch(index)
            skipped += 1
            state.resumed = True
            continue
        current = state.version
        if not state.checked:
            state.checked = True
            if not state.resumed:
                _check_expected(expected_versions.get(state.stream, ExpectedVersion.ANY), current, state.stream, index)
        if not state.has_tenant:
            state.tenant, state.has_tenant = event.tenant_id, True
        elif state.tenant is not event.tenant_id and state.tenant != event.tenant_id:
            raise (
                TenantMismatchError(
                    f"stream {stream_id(*state.stream)} belongs to tenant {state.tenant or 'none'}, "
                    f"the event to tenant {event.tenant_id or 'none'}",
                    field="tenant_id",
                    hint="a stream keeps the tenant of its first event for life",
                )
            ).in_batch(index)
        if is_auto:
            event = event.model_copy(update={"aggregate_version": current + 1})
        elif event.aggregate_version != current + 1:
            raise (
                OptimisticLockError(
                    f"stream {stream_id(*state.stream)} is at version {current}; "
                    f"event {event.event_id} has version {event.aggregate_version}, expected {current + 1}",
                    aggregate_id=event.aggregate_id,
                    expected=current + 1,
                    actual=current,
                )
            ).in_batch(index)
        state.version = current + 1
        accepted[event.event_id.int] = event
        planned.append(event)
    return AppendPlan(planned, skipped, {s.stream: s.version for s in streams.values()})


class _StreamState:
    """What ``plan_append`` knows of one stream while it walks a batch."""

    __slots__ = ("checked", "has_tenant", "resumed", "stream", "tenant", "version")

    def __init__(self, stream: StreamKey, head: StreamHead | None) -> None:
        self.stream = stream
        self.version = 0 if head is None else head.version
        self.tenant = None if head is None else head.tenant_id
        self.has_tenant = head is not None
        self.checked = False
        self.resumed = False


def same_event(a: DomainEvent, b: DomainEvent, *, ignore_version: bool = False) -> bool:
    """True when two events carry the same content (optionally ignoring ``aggregate_version``)."""
    left, right = a.model_dump(mode="json"), b.model_dump(mode="json")
    if ignore_version:
        left.pop("aggregate_version", None)
        right.pop("aggregate_version", None)
    return left == right


def expected_holds(expected: Expected, current: int) -> bool:
    """True when a stream at version ``current`` is what the writer ``expected``."""
    if expected is ExpectedVersion.ANY:
        return True
    if expected is ExpectedVersion.NO_STREAM:
        return current == 0
    if expected is ExpectedVersion.STREAM_EXISTS:
        return current > 0
    return current == expected


def _check_expected(expected: Expected, current: int, key: StreamKey, index: int) -> None:
    if expected_holds(expected, current):
        return
    if expected is ExpectedVersion.NO_STREAM:
        wanted = "no stream"
    elif expected is ExpectedVersion.STREAM_EXISTS:
        wanted = "an existing stream"
    else:
        wanted = f"version {expected}"
    raise (
        OptimisticLockError(
            f"stream {stream_id(*key)} is at version {current}, expected {wanted}",
            aggregate_id=key[1],
            expected=expected,
            actual=current,
        )
    ).in_batch(index)
