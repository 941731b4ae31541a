"""The event store interface: ``EventStore``, everything a caller (the library, the CLI) may ask of a store.

A backend subclasses ``EventStore`` and implements its abstract methods; the rest has generic
versions built on ``read_all`` that a backend may replace with faster ones. ``esctl.testing``
holds the contract suite every backend must pass.
"""

from __future__ import annotations

import abc
import dataclasses
import sys
from bisect import bisect_right
from collections.abc import AsyncIterator, Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Self, TypeVar
from uuid import UUID

from esctl.errors import EsctlError, InvalidInputError
from esctl.store.types import (
    AppendChunk,
    AppendResult,
    Expected,
    ExpectedVersion,
    ReadOptions,
    SchemaStatus,
    StreamKey,
    stream_id,
)

if TYPE_CHECKING:
    from contextlib import AbstractAsyncContextManager

    from esctl.events import DomainEvent, EventStream, StoredEvent
    from esctl.registry import EventRegistry
    from esctl.store.erasure import PurgeResult, RedactionPlan, RedactResult
    from esctl.store.inspection import StoreStats, StreamInfo, TenantInfo, VerifyReport
    from esctl.store.readmodel import ProjectionStorage
    from esctl.store.snapshots import SnapshotStore

_T = TypeVar("_T")
_IntKey = tuple[str, int]
_JSON_PAGE = 1000


def refuse_on_event_loop(name: str) -> None:
    """Raise ``UsageError`` when called on a thread that runs an event loop.

    For the few blocking store methods: on the loop's thread they would stall every other task.
    Cheap when asyncio was never imported (the command line's quick path).
    """
    asyncio = sys.modules.get("asyncio")
    if asyncio is not None and asyncio.events._get_running_loop() is not None:
        from esctl.errors import UsageError

        raise UsageError(f"{name} blocks: call it where no event loop runs, or use its async form")


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

            An error about one event names its chunk (``error.batch_chunk``) and its index there
            (``error.batch_index``).

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
        except EsctlError as error:
            index = error.batch_index
            if index is not None:
                number = bisect_right(starts, index) - 1
                error.batch_index = index - starts[number]
                error.batch_chunk = held[number]
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
            events: Events of that aggregate, versions following the stream's head; an event
                built without an ``aggregate_version`` gets the stream's next one.
            expected_version: ``ExpectedVersion.ANY``/``NO_STREAM``/``STREAM_EXISTS`` or a version.

        Returns:
            What was written; ``result.success`` and ``result.new_version`` as in the classic
            API. Appending no events returns ``new_version == expected_version``.

        Raises:
            OptimisticLockError: The stream is not at the expected version, or an explicitly set
                ``aggregate_version`` does not follow the stream's head.
            InvalidInputError: An event belongs to another aggregate.

        Example:
            >>> # await store.append_events(order_id, "Order", [created], ExpectedVersion.NO_STREAM)
        """
        # ``.int`` is what UUID equality compares; comparing it directly skips ``UUID.__eq__``'s
        # Python code for every event.
        wanted = aggregate_id.int
        for index, event in enumerate(events):
            if event.aggregate_id.int != wanted or event.aggregate_type != aggregate_type:
                raise (
                    InvalidInputError(
                        f"event {event.event_id} belongs to {stream_id(event.aggregate_type, event.aggregate_id)}, "
                        f"not to {stream_id(aggregate_type, aggregate_id)}",
                        field="aggregate_id",
                    )
                ).in_batch(index)
        if not events:
            return await self.empty_append_result(aggregate_id, aggregate_type, expected_version)
        return await self.append_batch(events, expected_versions={(aggregate_type, aggregate_id): expected_version})

    async def empty_append_result(
        self, aggregate_id: UUID, aggregate_type: str, expected_version: Expected
    ) -> AppendResult:
        """What appending no events returns: ``new_version`` is the expected version (an int),
        else the stream's current version. Nothing is checked or written."""
        if isinstance(expected_version, int):
            return AppendResult(appended=0, new_version=expected_version)
        if expected_version is ExpectedVersion.NO_STREAM:
            return AppendResult(appended=0, new_version=0)
        return AppendResult(appended=0, new_version=await self.get_stream_version(aggregate_id, aggregate_type))

    @abc.abstractmethod
    def read_all(self, options: ReadOptions | None = None) -> AsyncIterator[StoredEvent]:
        """Stream stored events in global-position order, filtered by ``options``.

        Example:
            >>> # async for stored in store.read_all(ReadOptions(tenant_id=acme)):
            >>> #     print(stored.global_position, stored.event.event_type)
        """

    def read_stream(
        self,
        stream: UUID | str,
        aggregate_type: str | ReadOptions | None = None,
        from_version: int = 0,
        *,
        options: ReadOptions | None = None,
    ) -> AsyncIterator[StoredEvent]:
        """Stream one aggregate's events after ``from_version``, in version order.

        Called as esctl does, ``read_stream(aggregate_id, aggregate_type=None, from_version=0)``,
        or as the classic API does, ``read_stream(stream_id, options=None)``, where ``stream_id``
        is ``"<aggregate_id>:<aggregate_type>"`` (esctl's own ``"<aggregate_type>:<aggregate_id>"``,
        ``StoredEvent.stream_id``, works too).

        Within the stream, ``options.from_position`` is a stream version (events after it),
        and ``direction``, ``limit``, ``tenant_id`` and the time window apply as in ``read_all``.

        Raises:
            InvalidInputError: ``stream`` is text that names no aggregate id.

        Example:
            >>> # async for stored in store.read_stream(f"{order_id}:Order", ReadOptions(limit=10)): ...
        """
        if isinstance(aggregate_type, ReadOptions):
            options, aggregate_type = aggregate_type, None
        if isinstance(stream, str):
            aggregate_id, parsed_type = parse_stream_id(stream)
            aggregate_type = aggregate_type or parsed_type
        else:
            aggregate_id = stream
        options = options or ReadOptions()
        after = max(from_version, options.from_position)
        return self._read_stream(aggregate_id, aggregate_type, after, options)

    async def _read_stream(
        self, aggregate_id: UUID, aggregate_type: str | None, after_version: int, options: ReadOptions
    ) -> AsyncIterator[StoredEvent]:
        """``read_stream``, generic: the aggregate's events from ``read_all``, filtered here."""
        selected = dataclasses.replace(
            options, aggregate_id=aggregate_id, aggregate_type=aggregate_type, from_position=0, limit=None
        )
        returned = 0
        async for stored in self.read_all(selected):
            if options.limit is not None and returned >= options.limit:
                return
            if stored.stream_position > after_version:
                returned += 1
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
        from esctl.events import EventStream

        ReadOptions(from_timestamp=from_timestamp, to_timestamp=to_timestamp)  # refuses naive datetimes
        events: list[DomainEvent] = []
        version = 0
        async for stored in self.read_stream(aggregate_id, aggregate_type):
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

    async def wait_for_appends(self, timeout: float) -> None:
        """Return once events may have been appended since the previous call, or after ``timeout`` s.

        A wake-up hint for followers (``catch-up --follow``): returning says nothing for sure,
        and a follower reads from its checkpoint either way. The generic version sleeps; the
        PostgreSQL store returns as soon as an append's ``NOTIFY`` arrives.
        """
        import asyncio

        await asyncio.sleep(timeout)

    async def enable_row_level_security(self) -> str:
        """Make the database itself keep tenants apart (``esctl init --rls``), where it can.

        Returns:
            What the application must do for it to hold (the PostgreSQL store: which role to
            connect as).

        Raises:
            UsageError: The store has no row-level security (only the PostgreSQL store has).
        """
        from esctl.errors import UsageError

        raise UsageError(
            f"{type(self).__name__} has no row-level security",
            hint="--rls is for a PostgreSQL store (--db postgresql://…); tenant filters apply on every store",
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    # -- what the command line needs besides events (generic versions; stores may do better) -----

    async def read_json_lines(self, options: ReadOptions | None = None) -> AsyncIterator[list[bytes]]:
        """Stream the selected events as NDJSON lines (``esctl dump``'s bytes), a page at a time.

        The generic version encodes what ``read_all`` returns; a store that keeps rows may send
        them without building models.
        """
        from esctl.codec import stored_event_to_row
        from esctl.rows import row_to_json_line

        page: list[bytes] = []
        async for stored in self.read_all(options):
            page.append(row_to_json_line(stored_event_to_row(stored)))
            if len(page) == _JSON_PAGE:
                yield page
                page = []
        if page:
            yield page

    def export_json_lines(self, options: ReadOptions | None = None) -> Iterator[list[bytes]]:
        """Like ``read_json_lines``, but blocking: for callers with no event loop (``esctl dump``).

        Never call it from async code: it does its I/O on the calling thread. The generic
        version runs ``read_json_lines`` on a private event loop; the SQLite store reads on a
        connection of its own, so a dump needs neither asyncio nor the event models.

        Raises:
            UsageError: Called from a running event loop.
        """
        refuse_on_event_loop("export_json_lines")
        import asyncio

        loop = asyncio.new_event_loop()
        pages = aiter(self.read_json_lines(options))
        try:
            while True:
                try:
                    yield loop.run_until_complete(anext(pages))
                except StopAsyncIteration:
                    return
        finally:
            close = getattr(pages, "aclose", None)
            if close is not None:
                loop.run_until_complete(close())
            loop.close()

    async def schema_status(self) -> SchemaStatus:
        """Return the store's schema version and the one this esctl writes, migrating nothing.

        The generic version: a store without a schema of its own is always current.
        """
        return SchemaStatus(1, 1)

    async def migrate(self) -> tuple[int, int]:
        """Create the schema or run pending migrations (what ``esctl init`` does).

        Returns:
            The schema version before (0 for a new store) and after.
        """
        status = await self.schema_status()
        return status.version, status.latest

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
        (exactly-once). The transaction model every backend must provide:

        - ``work`` is a plain, synchronous function, called once with a ``ProjectionStorage``
          bound to one open transaction; it must not await, and it may run on another thread.
        - The backend runs the whole of ``work`` — its reads, the projection's handlers and its
          writes — as ONE hop to the thread that owns the connection, and commits after it
          returns (or rolls back everything if it raises). Never a hop per statement or row:
          a backend on a synchronous driver (``sqlite3``; psycopg 3's sync API) runs ``work``
          on its own connection thread exactly as it is, with no async bridge.
        - With ``write`` the transaction holds the write lock for events and read models from
          its start (SQLite ``BEGIN IMMEDIATE``; a server database locks what it writes); without
          it, ``work`` sees one consistent snapshot and works on a read-only store.
        - ``ProjectionStorage.execute`` takes SQL with qmark (``?``) placeholders, whatever the
          backend; a backend whose driver uses another style translates them.

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

    # -- erasure (esctl.store.erasure) -----------------------------------------------------------

    async def purge_tenant(self, tenant_id: UUID, *, dry_run: bool = False, compact: bool = False) -> PurgeResult:
        """Remove every trace of one tenant from the store, in ONE transaction.

        Deletes the tenant's events, its snapshots, its projection documents (every projection's
        part for that tenant) and the dead letters of its events, and records the purge (with
        the purged positions) in the store's audit table, which ``purges`` lists. Every other
        event keeps its id, version, position, times and bytes; the holes left in the global
        positions are explained by the record, so ``verify`` does not report them. A store
        that keeps bytes on disk also makes sure the deleted content is gone from its files
        (SQLite: secure deletion and a WAL checkpoint).

        Projections whose read model is not kept per tenant (SQL tables, global documents)
        are not corrected here: the store cannot run projection code. ``esctl purge`` rebuilds
        them afterwards.

        Args:
            tenant_id: The tenant to remove.
            dry_run: Count what would be removed and change nothing.
            compact: Also give the freed space back (SQLite ``VACUUM``, PostgreSQL ``VACUUM FULL``).

        Returns:
            What was (or would be) removed; a purge of a tenant with nothing stored removes
            nothing and records nothing.

        Raises:
            UsageError: This store cannot purge (the generic version).

        Example:
            >>> # result = await store.purge_tenant(acme, dry_run=True)
            >>> # print(result.events, result.streams)
        """
        from esctl.errors import UsageError

        raise UsageError(f"{type(self).__name__} cannot purge tenants")

    async def purges(self) -> list[PurgeResult]:
        """Return the store's purge records, oldest first (the generic version: none).

        Example:
            >>> # for record in await store.purges(): print(record.tenant_id, record.events)
        """
        return []

    async def redact(
        self,
        *,
        aggregate_id: UUID | None = None,
        tenant_id: UUID | None = None,
        actor_id: str | None = None,
        registry: EventRegistry | None = None,
        dry_run: bool = False,
    ) -> RedactResult:
        """Overwrite the personal fields of the selected events with ``esctl.personal.REDACTED``.

        Selects one aggregate's events (``aggregate_id``), or one actor's within a tenant
        (``tenant_id`` and ``actor_id``). Each event keeps its id, type, versions, position,
        times, tenant and other fields; only the fields its class declares
        ``Annotated[str, Personal]`` change. The snapshots of the aggregates touched are
        dropped, and a redaction record is written, in the same transaction. Redacting again
        changes nothing.

        Args:
            aggregate_id: Redact this aggregate's events.
            tenant_id: With ``actor_id``: redact this actor's events in this tenant.
            actor_id: The actor (``DomainEvent.actor_id``) whose events to redact.
            registry: Where the event classes are (default: the global registry).
            dry_run: Count what would change and change nothing.

        Returns:
            What was (or would be) overwritten.

        Raises:
            UsageError: Neither selection is given, or some selected events are of types whose
                personal fields are not declared (named in the message): nothing is changed.

        Example:
            >>> # result = await store.redact(tenant_id=acme, actor_id="user-42", dry_run=True)
        """
        from esctl.errors import UsageError
        from esctl.registry import default_registry
        from esctl.store.erasure import plan_redaction

        if aggregate_id is not None:
            selection = f"aggregate_id={aggregate_id}"
            options = ReadOptions(aggregate_id=aggregate_id)
        elif tenant_id is not None and actor_id is not None:
            selection = f"tenant_id={tenant_id} actor_id={actor_id}"
            options = ReadOptions(tenant_id=tenant_id)
        else:
            raise UsageError("redact needs an aggregate id, or a tenant and an actor id")
        selected = [s async for s in self.read_all(options) if actor_id is None or s.event.actor_id == actor_id]
        chosen = registry if registry is not None else default_registry
        plan = plan_redaction(selected, chosen, selection, dry_run=dry_run)
        if not plan.rewrites:
            return plan.result
        if dry_run:
            snapshots = self.snapshot_store()
            count = sum([await snapshots.get_snapshot(aid, kind) is not None for kind, aid in plan.aggregates])
            return dataclasses.replace(plan.result, snapshots=count)
        return await self._apply_redaction(plan)

    async def _apply_redaction(self, plan: RedactionPlan) -> RedactResult:
        """Write ``plan`` in one transaction: payloads, snapshots dropped, the record; return the
        result with the snapshots counted. Backends implement it; the generic version refuses."""
        from esctl.errors import UsageError

        raise UsageError(f"{type(self).__name__} cannot redact events")

    async def redactions(self) -> list[RedactResult]:
        """Return the store's redaction records, oldest first (the generic version: none)."""
        return []

    def snapshot_store(self) -> SnapshotStore:
        """Return this store's snapshots (``esctl.store.snapshots``), kept beside its events.

        Raises:
            UsageError: This store keeps no snapshots (the generic version).

        Example:
            >>> # repo = AggregateRepository(store, Order, snapshot_store=store.snapshot_store(), snapshot_every=100)
        """
        from esctl.errors import UsageError

        raise UsageError(f"{type(self).__name__} keeps no snapshots")

    def scratch_projection_storage(self) -> AbstractAsyncContextManager[ProjectionStorage]:
        """Return an async context manager giving throwaway projection storage (``esctl replay``).

        It holds read models only; whatever is written is gone on exit. Use it only inside work
        handed to ``run_projection_transaction``: it lives where the store runs that work (the
        SQLite store: a private in-memory database on its own thread). The generic version
        keeps documents in memory.
        """
        from esctl.store.documents import DocumentTables, MemoryProjectionStorage

        return _given(MemoryProjectionStorage(DocumentTables()))


def parse_stream_id(text: str) -> tuple[UUID, str | None]:
    """Return the aggregate id and type a stream id names.

    Both forms are read: the classic ``"<aggregate_id>:<aggregate_type>"`` and esctl's
    ``"<aggregate_type>:<aggregate_id>"``; a bare aggregate id names the id only.

    Raises:
        InvalidInputError: No part of ``text`` is a UUID.
    """
    head, _, tail = text.partition(":")
    rest, _, last = text.rpartition(":")
    for id_text, type_text in ((head, tail), (last, rest)):
        try:
            return UUID(id_text), type_text or None
        except ValueError:
            continue
    raise InvalidInputError(
        f"stream id {text!r} names no aggregate id",
        field="stream_id",
        hint="write '<aggregate_id>:<aggregate_type>'",
    )


@asynccontextmanager
async def _given(storage: ProjectionStorage) -> AsyncIterator[ProjectionStorage]:
    yield storage


def _without_limit(options: ReadOptions | None) -> ReadOptions:
    if options is None:
        return ReadOptions()
    if options.limit is None:
        return options
    return dataclasses.replace(options, limit=None)
