"""An event store in process memory: the reference semantics every other store must match."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import AsyncIterator, Callable, Collection, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TypeVar
from uuid import UUID

from esctl.events import DomainEvent, StoredEvent, stream_id
from esctl.store.documents import DocumentTables, MemoryProjectionStorage
from esctl.store.erasure import PurgeResult, RedactionPlan, RedactResult
from esctl.store.interface import EventStore
from esctl.store.memory.erasure import drop_tenant_documents, plan_purge
from esctl.store.memory.snapshots import InMemorySnapshotStore
from esctl.store.readmodel import ProjectionStorage
from esctl.store.rules import plan_append
from esctl.store.types import AppendResult, Expected, ReadOptions, StreamHead, StreamKey

if TYPE_CHECKING:
    from esctl.registry import EventRegistry
    from esctl.store.inspection import VerifyReport

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
        self._last = 0  # the last position taken: a purge leaves holes, positions are never reused
        self._purges: list[tuple[PurgeResult, frozenset[int]]] = []
        self._redactions: list[RedactResult] = []

    # -- the classic API's helpers ------------------------------------------------------------

    def clear(self) -> None:
        """Forget every event, snapshot, read model and checkpoint (for tests)."""
        self._events.clear()
        self._by_id.clear()
        self._heads.clear()
        self._streams.clear()
        self._snapshots.clear()
        self._projection_tables = None
        self._last = 0
        self._purges.clear()

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
        first = self._last + 1
        for event in plan.events:
            self._last += 1
            stored = StoredEvent(
                event=event,
                stream_id=stream_id(event.aggregate_type, event.aggregate_id),
                stream_position=event.aggregate_version,
                global_position=self._last,
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
        # Indexes of the first event after from_position and past to_position: a purge leaves
        # holes, so a position is not its index + 1.
        start = bisect_right(self._events, max(options.from_position, 0), key=_position)
        head = len(self._events)
        if options.to_position is not None:
            head = max(bisect_right(self._events, options.to_position, key=_position), start)
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
        return self._events[-1].global_position if self._events else 0

    async def event_exists(self, event_id: UUID) -> bool:
        """True when an event with this id is stored."""
        return event_id in self._by_id

    async def get_stream_version(self, aggregate_id: UUID, aggregate_type: str) -> int:
        """Return the stream's version (0 when it has no events)."""
        head = self._heads.get((aggregate_type, aggregate_id))
        return 0 if head is None else head.version

    # -- erasure ------------------------------------------------------------------------------

    async def purge_tenant(self, tenant_id: UUID, *, dry_run: bool = False, compact: bool = False) -> PurgeResult:
        """Remove the tenant's events, snapshots and documents; see ``EventStore.purge_tenant``.

        Nothing is awaited in between, so no other task sees half a purge.
        """
        result, positions = plan_purge(
            self._events, tenant_id, self._snapshots, self._projection_tables, dry_run=dry_run
        )
        if dry_run or not positions:
            return result
        purged = frozenset(positions)
        self._events = [stored for stored in self._events if stored.global_position not in purged]
        for key in [key for key, head in self._heads.items() if head.tenant_id == tenant_id]:
            del self._heads[key]
            del self._streams[key]
        self._by_id = {event_id: s for event_id, s in self._by_id.items() if s.global_position not in purged}
        self._snapshots.drop_tenant(tenant_id)
        if self._projection_tables is not None:
            drop_tenant_documents(self._projection_tables, tenant_id, set(purged))
        self._purges.append((result, purged))
        return result

    async def purges(self) -> list[PurgeResult]:
        """Return the purge records, oldest first."""
        return [result for result, _ in self._purges]

    async def _apply_redaction(self, plan: RedactionPlan) -> RedactResult:
        """Swap in the redacted events and drop the aggregates' snapshots (the snapshot store never suspends)."""
        for rewrite in plan.rewrites:
            index = bisect_left(self._events, rewrite.position, key=_position)
            stored = replace(self._events[index], event=rewrite.event)
            self._events[index] = stored
            self._by_id[rewrite.event.event_id] = stored
            key = (rewrite.event.aggregate_type, rewrite.event.aggregate_id)
            self._streams[key][rewrite.event.aggregate_version - 1] = stored
        dropped = 0
        for kind, aggregate_id in plan.aggregates:
            dropped += await self._snapshots.delete_snapshot(aggregate_id, kind)
        result = replace(plan.result, snapshots=dropped)
        self._redactions.append(result)
        return result

    async def redactions(self) -> list[RedactResult]:
        """Return the redaction records, oldest first."""
        return list(self._redactions)

    async def verify(self, registry: EventRegistry | None = None, *, max_findings: int = 1000) -> VerifyReport:
        """Check the events (see ``EventStore.verify``); positions a purge removed are expected holes."""
        from esctl.registry import default_registry
        from esctl.store.inspection import verify_events

        purged: set[int] = set()
        for _, positions in self._purges:
            purged |= positions
        chosen = registry if registry is not None else default_registry
        return await verify_events(self.read_all(), chosen, max_findings=max_findings, purged=purged)

    # -- projections ------------------------------------------------------------------------

    _projection_tables: DocumentTables | None = None
    """Persisted projections' documents and checkpoints (created on first use)."""

    async def run_projection_transaction(self, work: Callable[[ProjectionStorage], _T], *, write: bool = True) -> _T:
        """Run ``work`` on a copy of the read models and checkpoints; keep the copy if it returns.

        See ``EventStore.run_projection_transaction``. Documents only: no SQL read models.
        """
        tables = self._projection_tables or DocumentTables()
        if not write:  # nothing to keep or roll back: no copy (replay reads a page per call)
            return work(MemoryProjectionStorage(tables, self._events))
        working = tables.copy()
        result = work(MemoryProjectionStorage(working, self._events))
        self._projection_tables = working
        return result

    @asynccontextmanager
    async def scratch_projection_storage(self) -> AsyncIterator[ProjectionStorage]:
        """Give throwaway document storage that reads this store's events as they are."""
        yield MemoryProjectionStorage(DocumentTables(), self._events)


def _position(stored: StoredEvent) -> int:
    return stored.global_position
