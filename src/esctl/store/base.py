"""The event store interface and the append rules every store shares (``ReadOptions``: ``options``)."""

from __future__ import annotations

import abc
import dataclasses
import enum
from bisect import bisect_right
from collections.abc import AsyncIterator, Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, Self, TypeVar
from uuid import UUID

from esctl.errors import DuplicateEventError, InvalidInputError, OptimisticLockError, TenantMismatchError
from esctl.events import DomainEvent, EventStream, StoredEvent, stream_id
from esctl.store.options import ReadOptions

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from esctl.registry import EventRegistry
    from esctl.store.inspection import StoreStats, StreamInfo, TenantInfo, VerifyReport
    from esctl.store.readmodel import ProjectionStorage

StreamKey = tuple[str, UUID]
"""A stream's identity: ``(aggregate_type, aggregate_id)``."""

_IntKey = tuple[str, int]
"""A stream's identity with the aggregate id as its integer (cheap to hash)."""


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


@dataclass(frozen=True, slots=True)
class AppendResult:
    """What an append did.

    Attributes:
        appended: Events written.
        skipped: Events already stored with the same id and content (idempotent re-appends).
        first_position: Global position of the first written event, or ``None``.
        last_position: Global position of the last written event, or ``None``.
        stream_versions: Each touched stream's version after the append.
    """

    appended: int
    skipped: int = 0
    first_position: int | None = None
    last_position: int | None = None
    stream_versions: Mapping[StreamKey, int] = field(default_factory=dict)

    @property
    def new_version(self) -> int:
        """The stream's version after the append, when one stream was touched (else 0)."""
        if len(self.stream_versions) != 1:
            return 0
        return next(iter(self.stream_versions.values()))


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
        auto_version: Indexes of events whose ``aggregate_version`` is to be assigned.

    Returns:
        The plan.

    Raises:
        DuplicateEventError: An ``event_id`` is already used by other content.
        OptimisticLockError: An expected version does not hold, or a version does not follow
            its stream's head.
        TenantMismatchError: An event's tenant differs from its stream's.
    """
    expected_versions = expected_versions or {}
    auto = frozenset(auto_version)
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
                raise _at(
                    DuplicateEventError(
                        f"event_id {event.event_id} is already used by an event with other content",
                        field="event_id",
                        hint="give the event a new event_id, or send the stored event unchanged",
                    ),
                    index,
                )
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
            raise _at(
                TenantMismatchError(
                    f"stream {stream_id(*state.stream)} belongs to tenant {state.tenant or 'none'}, "
                    f"the event to tenant {event.tenant_id or 'none'}",
                    field="tenant_id",
                    hint="a stream keeps the tenant of its first event for life",
                ),
                index,
            )
        if is_auto:
            event = event.model_copy(update={"aggregate_version": current + 1})
        elif event.aggregate_version != current + 1:
            raise _at(
                OptimisticLockError(
                    f"stream {stream_id(*state.stream)} is at version {current}; "
                    f"event {event.event_id} has version {event.aggregate_version}, expected {current + 1}",
                    aggregate_id=event.aggregate_id,
                    expected=current + 1,
                    actual=current,
                ),
                index,
            )
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


def _check_expected(expected: Expected, current: int, key: StreamKey, index: int) -> None:
    if expected is ExpectedVersion.ANY:
        return
    if expected is ExpectedVersion.NO_STREAM:
        ok, wanted = current == 0, "no stream"
    elif expected is ExpectedVersion.STREAM_EXISTS:
        ok, wanted = current > 0, "an existing stream"
    else:
        ok, wanted = current == expected, f"version {expected}"
    if not ok:
        raise _at(
            OptimisticLockError(
                f"stream {stream_id(*key)} is at version {current}, expected {wanted}",
                aggregate_id=key[1],
                expected=expected,
                actual=current,
            ),
            index,
        )


_T = TypeVar("_T")
_Err = TypeVar("_Err", bound=Exception)


def _at(error: _Err, index: int) -> _Err:
    error.batch_index = index  # type: ignore[attr-defined]
    return error


class EventStore(abc.ABC):
    """Where events live. ``InMemoryEventStore`` and ``SQLiteEventStore`` implement it.

    Subclasses implement ``append_batch``, ``read_all``, ``get_global_position``,
    ``event_exists`` and ``get_stream_version``; everything else is built on those.
    Stores are async context managers; ``close()`` releases what they hold.
    """

    @abc.abstractmethod
    async def append_batch(
        self,
        events: Sequence[DomainEvent],
        *,
        expected_versions: Mapping[StreamKey, Expected] | None = None,
        auto_version: Collection[int] = (),
    ) -> AppendResult:
        """Append events of any streams atomically, in the given order.

        Args:
            events: The events; each carries its stream and version.
            expected_versions: Per stream, what the writer expects (default: no check).
            auto_version: Indexes of events whose ``aggregate_version`` the store assigns.

        Returns:
            What was written; re-appending stored events writes nothing and counts them skipped.

        Raises:
            OptimisticLockError: An expected version does not hold.
            DuplicateEventError: An ``event_id`` is already stored with other content.
            TenantMismatchError: An event's tenant differs from its stream's.
        """

    async def append_chunks(self, chunks: Iterable[AppendChunk]) -> AppendResult:
        """Append the events of several chunks as ONE atomic batch: all of them, or none.

        The result is what one ``append_batch`` of all the events in order would give; the chunks
        only let a store write while the rest is still being read (an import of a large file),
        so that memory stays flat. The iterable is read as the append goes, possibly on another
        thread (the SQLite store reads it on its connection's thread, holding its write lock):
        it must be plain, synchronous code. Whatever it raises aborts the append and propagates.

        The default reads every chunk, then makes one ``append_batch``.

        Args:
            chunks: The parts, in order.

        Returns:
            What was written, summed over the chunks.

        Raises:
            OptimisticLockError: An expected version does not hold.
            DuplicateEventError: An ``event_id`` is already stored with other content.
            TenantMismatchError: An event's tenant differs from its stream's.

            An error about one event names its chunk (``batch_chunk(error)``) and its index there
            (``batch_index(error)``).

        Example:
            >>> # await store.append_chunks(AppendChunk(part) for part in parts)
        """
        held = [chunk for chunk in chunks if chunk.events]
        events: list[DomainEvent] = []
        starts: list[int] = []
        expected: dict[StreamKey, Expected] = {}
        auto: list[int] = []
        seen: set[_IntKey] = set()
        for chunk in held:
            start = len(events)
            starts.append(start)
            events.extend(item.event for item in chunk.events)
            auto.extend(start + index for index in chunk.auto_version)
            touched = {(e.aggregate_type, e.aggregate_id.int) for e in events[start:]}
            for key, value in (chunk.expected_versions or {}).items():
                int_key = (key[0], key[1].int)
                if int_key in touched and int_key not in seen:
                    expected[key] = value
            seen |= touched
        if not events:
            return AppendResult(appended=0)
        try:
            return await self.append_batch(events, expected_versions=expected, auto_version=auto)
        except Exception as error:
            index = batch_index(error)
            if index is not None:
                number = bisect_right(starts, index) - 1
                error.batch_index = index - starts[number]  # type: ignore[attr-defined]
                error.batch_chunk = held[number]  # type: ignore[attr-defined]
            raise

    async def append_events(
        self,
        aggregate_id: UUID,
        aggregate_type: str,
        events: Sequence[DomainEvent],
        expected_version: Expected = ExpectedVersion.ANY,
    ) -> AppendResult:
        """Append events to one stream, atomically, checking its version first.

        Args:
            aggregate_id: The stream's aggregate id.
            aggregate_type: The stream's aggregate type.
            events: Events of that aggregate, versions following the stream's head.
            expected_version: ``ExpectedVersion.ANY``/``NO_STREAM``/``STREAM_EXISTS`` or a version.

        Returns:
            What was written.

        Raises:
            OptimisticLockError: The stream is not at the expected version.
            InvalidInputError: An event belongs to another aggregate.

        Example:
            >>> # await store.append_events(order_id, "Order", [created], ExpectedVersion.NO_STREAM)
        """
        # ``.int`` is what UUID equality compares; comparing it directly skips ``UUID.__eq__``'s
        # Python code for every event.
        wanted = aggregate_id.int
        for index, event in enumerate(events):
            if event.aggregate_id.int != wanted or event.aggregate_type != aggregate_type:
                raise _at(
                    InvalidInputError(
                        f"event {event.event_id} belongs to {stream_id(event.aggregate_type, event.aggregate_id)}, "
                        f"not to {stream_id(aggregate_type, aggregate_id)}",
                        field="aggregate_id",
                    ),
                    index,
                )
        if not events:
            return AppendResult(appended=0)
        return await self.append_batch(events, expected_versions={(aggregate_type, aggregate_id): expected_version})

    @abc.abstractmethod
    def read_all(self, options: ReadOptions | None = None) -> AsyncIterator[StoredEvent]:
        """Stream stored events in global-position order, filtered by ``options``.

        Example:
            >>> # async for stored in store.read_all(ReadOptions(tenant_id=acme)):
            >>> #     print(stored.global_position, stored.event.event_type)
        """

    def read_stream(
        self, aggregate_id: UUID, aggregate_type: str | None = None, from_version: int = 0
    ) -> AsyncIterator[StoredEvent]:
        """Stream one aggregate's events after ``from_version``, in version order."""
        return self._read_stream(aggregate_id, aggregate_type, from_version)

    async def _read_stream(
        self, aggregate_id: UUID, aggregate_type: str | None, from_version: int
    ) -> AsyncIterator[StoredEvent]:
        options = ReadOptions(aggregate_id=aggregate_id, aggregate_type=aggregate_type)
        async for stored in self.read_all(options):
            if stored.stream_position > from_version:
                yield stored

    async def get_events(
        self,
        aggregate_id: UUID,
        aggregate_type: str | None = None,
        from_version: int = 0,
        from_timestamp: datetime | None = None,
        to_timestamp: datetime | None = None,
    ) -> EventStream:
        """Return one aggregate's events after ``from_version`` within the time window.

        Returns:
            The stream; ``version`` is the stream's current version, whatever the filters.

        Raises:
            InvalidInputError: A timestamp is naive.
        """
        ReadOptions(from_timestamp=from_timestamp, to_timestamp=to_timestamp)  # refuses naive datetimes
        events: list[DomainEvent] = []
        version = 0
        async for stored in self.read_stream(aggregate_id, aggregate_type, 0):
            version = stored.stream_position
            event = stored.event
            if (
                stored.stream_position > from_version
                and (from_timestamp is None or event.occurred_at >= from_timestamp)
                and (to_timestamp is None or event.occurred_at < to_timestamp)
            ):
                events.append(event)
        return EventStream(aggregate_id=aggregate_id, aggregate_type=aggregate_type, events=events, version=version)

    async def get_events_by_type(
        self,
        aggregate_type: str,
        tenant_id: UUID | None = None,
        from_timestamp: datetime | None = None,
        to_timestamp: datetime | None = None,
    ) -> list[DomainEvent]:
        """Return every event of streams of ``aggregate_type``, optionally one tenant's, in order.

        Example:
            >>> # await store.get_events_by_type("Order", tenant_id=acme, from_timestamp=since)
        """
        options = ReadOptions(
            aggregate_type=aggregate_type,
            tenant_id=tenant_id,
            from_timestamp=from_timestamp,
            to_timestamp=to_timestamp,
        )
        return [stored.event async for stored in self.read_all(options)]

    @abc.abstractmethod
    async def get_global_position(self) -> int:
        """Return the position of the newest event (0 for an empty store)."""

    @abc.abstractmethod
    async def event_exists(self, event_id: UUID) -> bool:
        """True when an event with this id is stored."""

    @abc.abstractmethod
    async def get_stream_version(self, aggregate_id: UUID, aggregate_type: str) -> int:
        """Return the stream's current version (0 when it has no events)."""

    async def close(self) -> None:  # noqa: B027 - stores without resources need no close
        """Release what the store holds. The store may not be used afterwards."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    # -- inspection (generic versions from read_all; stores may answer faster) ----------------

    async def count_events(self, options: ReadOptions | None = None) -> int:
        """Return how many events ``options`` selects, ignoring its ``limit``.

        Example:
            >>> # await store.count_events(ReadOptions(tenant_id=acme, event_types=("OrderPlaced",)))
        """
        options = _without_limit(options)
        return sum([1 async for _ in self.read_all(options)])

    def list_streams(
        self,
        *,
        tenant_ids: Sequence[UUID] = (),
        aggregate_type: str | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[StreamInfo]:
        """Stream the store's streams, ordered by aggregate id then type.

        Args:
            tenant_ids: Only streams of these tenants.
            aggregate_type: Only streams of this aggregate type.
            limit: At most this many streams.

        Example:
            >>> # async for info in store.list_streams(tenant_ids=[acme]):
            >>> #     print(info.stream_id, info.version)
        """
        return self._list_streams(tuple(tenant_ids), aggregate_type, limit)

    async def _list_streams(
        self, tenant_ids: tuple[UUID, ...], aggregate_type: str | None, limit: int | None
    ) -> AsyncIterator[StreamInfo]:
        from esctl.store.inspection import StreamInfo

        streams: dict[StreamKey, StreamInfo] = {}
        options = ReadOptions(tenant_ids=tenant_ids, aggregate_type=aggregate_type)
        async for stored in self.read_all(options):
            event = stored.event
            key = (event.aggregate_type, event.aggregate_id)
            known = streams.get(key)
            if known is None:
                streams[key] = StreamInfo(
                    aggregate_type=event.aggregate_type,
                    aggregate_id=event.aggregate_id,
                    tenant_id=event.tenant_id,
                    version=stored.stream_position,
                    events=1,
                    first_position=stored.global_position,
                    last_position=stored.global_position,
                    first_occurred_at=event.occurred_at,
                    last_occurred_at=event.occurred_at,
                )
            else:
                streams[key] = dataclasses.replace(
                    known,
                    version=stored.stream_position,
                    events=known.events + 1,
                    last_position=stored.global_position,
                    first_occurred_at=min(known.first_occurred_at, event.occurred_at),
                    last_occurred_at=max(known.last_occurred_at, event.occurred_at),
                )
        ordered = sorted(streams.values(), key=lambda info: (str(info.aggregate_id), info.aggregate_type))
        for info in ordered[:limit] if limit is not None else ordered:
            yield info

    async def list_tenants(self) -> list[TenantInfo]:
        """Return every tenant with its counts, most events first; ``tenant_id`` ``None`` holds
        the events that have no tenant.

        Example:
            >>> # for tenant in await store.list_tenants(): print(tenant.tenant_id, tenant.events)
        """
        from esctl.store.inspection import TenantInfo

        events: dict[UUID | None, int] = {}
        streams: dict[UUID | None, set[StreamKey]] = {}
        first: dict[UUID | None, datetime] = {}
        last: dict[UUID | None, datetime] = {}
        async for stored in self.read_all():
            event = stored.event
            tenant = event.tenant_id
            events[tenant] = events.get(tenant, 0) + 1
            streams.setdefault(tenant, set()).add((event.aggregate_type, event.aggregate_id))
            first[tenant] = min(first.get(tenant, event.occurred_at), event.occurred_at)
            last[tenant] = max(last.get(tenant, event.occurred_at), event.occurred_at)
        tenants = [TenantInfo(t, events[t], len(streams[t]), first[t], last[t]) for t in events]
        return sorted(tenants, key=lambda info: (-info.events, str(info.tenant_id or "")))

    async def stats(self, options: ReadOptions | None = None) -> StoreStats:
        """Return counts by event type, tenant and UTC day over the events ``options`` selects.

        Example:
            >>> # stats = await store.stats(ReadOptions(from_timestamp=week_ago))
        """
        from esctl.store.inspection import build_stats, day_number

        groups: dict[tuple[str, UUID | None, int], int] = {}
        streams: set[StreamKey] = set()
        first: datetime | None = None
        last: datetime | None = None
        async for stored in self.read_all(_without_limit(options)):
            event = stored.event
            key = (event.event_type, event.tenant_id, day_number(event.occurred_at))
            groups[key] = groups.get(key, 0) + 1
            streams.add((event.aggregate_type, event.aggregate_id))
            first = event.occurred_at if first is None else min(first, event.occurred_at)
            last = event.occurred_at if last is None else max(last, event.occurred_at)
        counts = [(t, tenant, day, n) for (t, tenant, day), n in groups.items()]
        return build_stats(counts, streams=len(streams), first=first, last=last)

    async def verify(self, registry: EventRegistry | None = None, *, max_findings: int = 1000) -> VerifyReport:
        """Check the store: gapless positions, contiguous stream versions, one tenant per stream,
        and every event of a registered type valid against its class.

        Args:
            registry: The event classes to validate against (default: the global registry).
            max_findings: List at most this many findings (the rest are counted).

        Returns:
            The report; ``report.ok`` is True when nothing was found.

        Example:
            >>> # report = await store.verify()
            >>> # assert report.ok, report.findings
        """
        from esctl.registry import default_registry
        from esctl.store.inspection import verify_events

        chosen = registry if registry is not None else default_registry
        return await verify_events(self.read_all(), chosen, max_findings=max_findings)

    # -- projections (esctl.projections.runner) -------------------------------------------------

    async def run_projection_transaction(self, work: Callable[[ProjectionStorage], _T], *, write: bool = True) -> _T:
        """Run ``work`` in one transaction over the events, read models and checkpoints.

        This is how the projection runner changes a read model and its checkpoint together
        (exactly-once). ``work`` is a plain function: a store may run it on another thread (the
        SQLite store runs it on its connection's thread, one round trip per call), and it must
        not await.

        Args:
            work: Called once with the transaction's ``ProjectionStorage``.
            write: False for a read-only snapshot (works on read-only stores).

        Returns:
            What ``work`` returned, after the commit; if it raised, nothing is kept.

        Raises:
            UsageError: This store keeps no projections.

        Example:
            >>> # position = await store.run_projection_transaction(lambda tx: tx.head(), write=False)
        """
        from esctl.errors import UsageError

        raise UsageError(f"{type(self).__name__} keeps no projections")

    def scratch_projection_storage(self) -> AbstractContextManager[ProjectionStorage]:
        """Return a context manager giving throwaway projection storage (``esctl replay``).

        It holds read models only (no events); whatever is written is gone on exit. The default
        keeps documents in memory.
        """
        from contextlib import nullcontext

        from esctl.store.readmodel import DocumentTables, MemoryProjectionStorage

        return nullcontext(MemoryProjectionStorage(DocumentTables()))


def _without_limit(options: ReadOptions | None) -> ReadOptions:
    if options is None:
        return ReadOptions()
    if options.limit is None:
        return options
    return dataclasses.replace(options, limit=None)


def batch_index(error: BaseException) -> int | None:
    """Return the index within its batch of the event an append error is about, if known."""
    value: Any = getattr(error, "batch_index", None)
    return value if isinstance(value, int) else None


def batch_chunk(error: BaseException) -> AppendChunk | None:
    """Return the chunk holding the event an ``append_chunks`` error is about, if known."""
    value: Any = getattr(error, "batch_chunk", None)
    return value if isinstance(value, AppendChunk) else None
