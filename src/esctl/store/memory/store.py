"""An event store in process memory: the reference semantics every other store must match."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Collection, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime
from typing import TypeVar
from uuid import UUID

from esctl.events import DomainEvent, StoredEvent, stream_id
from esctl.store.documents import DocumentTables, MemoryProjectionStorage
from esctl.store.interface import EventStore
from esctl.store.memory.snapshots import InMemorySnapshotStore
from esctl.store.readmodel import ProjectionStorage
from esctl.store.rules import plan_append
from esctl.store.types import AppendResult, Expected, ReadOptions, StreamHead, StreamKey

_T = TypeVar("_T")


class InMemoryEventStore(EventStore):
    """Keeps events in a list. Fast, and gone when the process ends.

    It is a product, not a test double: its behaviour is the contract the SQLite store is
    tested against. It is safe within one event loop, not across threads.

    Example:
        >>> store = InMemoryEventStore()
    """

    def __init__(self) -> None:
        self._events: list[StoredEvent] = []
        self._by_id: dict[UUID, StoredEvent] = {}
        self._heads: dict[StreamKey, StreamHead] = {}
        self._streams: dict[StreamKey, list[StoredEvent]] = {}  # each stream's events, version order
        self._snapshots = InMemorySnapshotStore()

    # -- the classic API's helpers ------------------------------------------------------------

    def clear(self) -> None:
        """Forget every event, snapshot, read model and checkpoint (for tests)."""
        self._events.clear()
        self._by_id.clear()
        self._heads.clear()
        self._streams.clear()
        self._snapshots.clear()
        self._projection_tables = None

    def get_all_events(self) -> list[DomainEvent]:
        """Return every stored event, in position order."""
        return [stored.event for stored in self._events]

    def get_event_count(self) -> int:
        """Return how many events are stored."""
        return len(self._events)

    def get_aggregate_ids(self) -> list[UUID]:
        """Return the id of every aggregate with events, in the order of their first event."""
        return list(dict.fromkeys(aggregate_id for _, aggregate_id in self._heads))

    def snapshot_store(self) -> InMemorySnapshotStore:
        """This store's snapshots (in memory, like its events)."""
        return self._snapshots

    async def append_batch(
        self,
        events: Sequence[DomainEvent],
        *,
        expected_versions: Mapping[StreamKey, Expected] | None = None,
        auto_version: Collection[int] = (),
    ) -> AppendResult:
        """Append events of any streams atomically; see ``EventStore.append_batch``."""
        keys = {(e.aggregate_type, e.aggregate_id) for e in events}
        plan = plan_append(
            events,
            heads={key: self._heads[key] for key in keys if key in self._heads},
            existing={e.event_id: self._by_id[e.event_id].event for e in events if e.event_id in self._by_id},
            expected_versions=expected_versions,
            auto_version=auto_version,
        )
        stored_at = datetime.now(UTC)
        first = len(self._events) + 1
        for event in plan.events:
            stored = StoredEvent(
                event=event,
                stream_id=stream_id(event.aggregate_type, event.aggregate_id),
                stream_position=event.aggregate_version,
                global_position=len(self._events) + 1,
                stored_at=stored_at,
            )
            self._events.append(stored)
            self._by_id[event.event_id] = stored
            key = (event.aggregate_type, event.aggregate_id)
            self._heads[key] = StreamHead(event.aggregate_version, event.tenant_id)
            self._streams.setdefault(key, []).append(stored)
        appended = len(plan.events)
        return AppendResult(
            appended=appended,
            skipped=plan.skipped,
            first_position=first if appended else None,
            last_position=first + appended - 1 if appended else None,
            stream_versions=plan.stream_versions,
        )

    async def read_all(self, options: ReadOptions | None = None) -> AsyncIterator[StoredEvent]:
        """Stream stored events in ``options``' direction, filtered by ``options``."""
        options = options or ReadOptions()
        head = len(self._events)
        start = max(options.from_position, 0)
        if options.to_position is not None:
            head = max(min(head, options.to_position), start)
        # Indexes, not a slice: a copy of the whole log per read would not keep memory flat.
        indexes = range(head - 1, start - 1, -1) if options.backward else range(start, head)
        returned = 0
        for index in indexes:
            if options.limit is not None and returned >= options.limit:
                return
            stored = self._events[index]
            if options.matches(stored):
                returned += 1
                yield stored

    async def _read_stream(
        self, aggregate_id: UUID, aggregate_type: str | None, after_version: int, options: ReadOptions
    ) -> AsyncIterator[StoredEvent]:
        """``read_stream`` from the stream's own list: a load from a snapshot skips the rest."""
        if aggregate_type is None:  # several streams may share the id: the generic scan
            async for stored in super()._read_stream(aggregate_id, aggregate_type, after_version, options):
                yield stored
            return
        events = self._streams.get((aggregate_type, aggregate_id), [])
        head = len(events)  # versions are 1..head, at indexes 0..head-1
        start = min(max(after_version, 0), head)
        indexes = range(head - 1, start - 1, -1) if options.backward else range(start, head)
        within = replace(options, from_position=0, to_position=None, limit=None)
        returned = 0
        for index in indexes:
            if options.limit is not None and returned >= options.limit:
                return
            stored = events[index]
            if within.matches(stored):
                returned += 1
                yield stored

    async def get_global_position(self) -> int:
        """Return the position of the newest event (0 when empty)."""
        return len(self._events)

    async def event_exists(self, event_id: UUID) -> bool:
        """True when an event with this id is stored."""
        return event_id in self._by_id

    async def get_stream_version(self, aggregate_id: UUID, aggregate_type: str) -> int:
        """Return the stream's version (0 when it has no events)."""
        head = self._heads.get((aggregate_type, aggregate_id))
        return 0 if head is None else head.version

    # -- projections ------------------------------------------------------------------------

    _projection_tables: DocumentTables | None = None
    """Persisted projections' documents and checkpoints (created on first use)."""

    async def run_projection_transaction(self, work: Callable[[ProjectionStorage], _T], *, write: bool = True) -> _T:
        """Run ``work`` on a copy of the read models and checkpoints; keep the copy if it returns.

        See ``EventStore.run_projection_transaction``. Documents only: no SQL read models.
        """
        working = (self._projection_tables or DocumentTables()).copy()
        result = work(MemoryProjectionStorage(working, self._events))
        if write:
            self._projection_tables = working
        return result

    @asynccontextmanager
    async def scratch_projection_storage(self) -> AsyncIterator[ProjectionStorage]:
        """Give throwaway document storage that reads this store's events as they are."""
        yield MemoryProjectionStorage(DocumentTables(), self._events)
