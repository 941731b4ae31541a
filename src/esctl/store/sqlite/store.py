"""``SQLiteEventStore``: the event store in one SQLite file."""

from __future__ import annotations

import operator
import os
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

from esctl import codec
from esctl.errors import InvalidInputError
from esctl.events import DomainEvent, StoredEvent
from esctl.registry import EventRegistry, default_registry
from esctl.rows import Row, row_to_json_line
from esctl.store.base import (
    AppendChunk,
    AppendResult,
    EventStore,
    Expected,
    ExpectedVersion,
    StreamHead,
    StreamKey,
    batch_index,
    plan_append,
)
from esctl.store.options import ReadOptions
from esctl.store.readmodel import ProjectionStorage
from esctl.store.sqlite import reads, schema
from esctl.store.sqlite.driver import default_busy_timeout, in_transaction
from esctl.store.sqlite.projections import run_projection_work, scratch_storage
from esctl.store.sqlite.worker import Worker
from esctl.timeutil import now_micros

if TYPE_CHECKING:
    from types import ModuleType

    from esctl.store.inspection import StoreStats, StreamInfo, TenantInfo, VerifyReport
    from esctl.store.sqlite.inspect import SchemaStatus

_INSERT = (
    f"INSERT INTO events ({', '.join(codec.INSERT_COLUMNS)}) VALUES ({', '.join('?' * len(codec.INSERT_COLUMNS))})"
)
_HEAD = (
    "SELECT aggregate_version, tenant_id FROM events"
    " WHERE aggregate_id = ? AND aggregate_type = ? ORDER BY aggregate_version DESC LIMIT 1"
)
_IN_CHUNK = 500
SHORT_APPEND = 128
"""Appends of at most this many events may run on the event loop's thread (``Worker.run_short``):
~1-3 ms of work here, where the round trip to the connection's thread costs ~0.1 ms."""
R = TypeVar("R")


class SQLiteEventStore(EventStore):
    """An event store in one SQLite file (WAL mode), safe for several processes at once.

    Built synchronously; connects on first use. Its SQLite work runs on the connection's own
    thread, except that a short append (``SHORT_APPEND``) on an idle connection runs on the
    caller's thread when no lock is to be waited for (``Worker.run_short``). Writes run in
    ``BEGIN IMMEDIATE`` transactions and wait up to ``busy_timeout`` seconds for another writer.
    The schema is created or migrated on first use unless ``readonly``; a read-only store never
    creates a file.

    Args:
        path: The database file.
        registry: Where event classes are looked up when reading (default: the global one).
        readonly: Open with ``mode=ro``: a missing file is ``DatabaseNotFoundError``.
        busy_timeout: Seconds to wait for the write lock (default: ``ESCTL_BUSY_TIMEOUT`` or 5).

    Example:
        >>> # async with SQLiteEventStore("events.db") as store:
        >>> #     await store.append_events(order_id, "Order", [created])
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        registry: EventRegistry | None = None,
        readonly: bool = False,
        busy_timeout: float | None = None,
    ) -> None:
        self.path = Path(path)
        self.readonly = readonly
        self.registry = registry if registry is not None else default_registry
        self._worker = Worker(
            self.path,
            schema.check_readable if readonly else schema.migrate,
            readonly=readonly,
            busy_timeout=default_busy_timeout() if busy_timeout is None else busy_timeout,
        )

    async def close(self) -> None:
        """Close the connection. Safe to call more than once."""
        await self._worker.close()

    # -- writing ---------------------------------------------------------------------------

    async def append_batch(
        self,
        events: Sequence[DomainEvent],
        *,
        expected_versions: Mapping[StreamKey, Expected] | None = None,
        auto_version: Collection[int] = (),
    ) -> AppendResult:
        """Append events of any streams in one transaction; see ``EventStore.append_batch``."""
        if not events:
            return AppendResult(appended=0)
        rows = _encoded(events)
        run = self._worker.run_short if len(events) <= SHORT_APPEND else self._worker.run
        return await run(_append, list(events), rows, expected_versions, auto_version, self.registry)

    async def append_events(
        self,
        aggregate_id: UUID,
        aggregate_type: str,
        events: Sequence[DomainEvent],
        expected_version: Expected = ExpectedVersion.ANY,
    ) -> AppendResult:
        """Append events to one stream; see ``EventStore.append_events``.

        The same checks, made on the rows the append writes anyway rather than on the models.
        """
        rows = _encoded(events) if events else None
        if rows is None or set(map(_STREAM_OF, rows)) != {(aggregate_type, str(aggregate_id))}:
            # Nothing to write, or something to refuse: the generic version words it.
            return await super().append_events(aggregate_id, aggregate_type, events, expected_version)
        expected = {(aggregate_type, aggregate_id): expected_version}
        run = self._worker.run_short if len(events) <= SHORT_APPEND else self._worker.run
        return await run(_append, list(events), rows, expected, (), self.registry)

    async def append_chunks(self, chunks: Iterable[AppendChunk]) -> AppendResult:
        """Append several chunks in ONE transaction; see ``EventStore.append_chunks``.

        The whole append is one call on the connection's thread, which reads ``chunks`` there
        and writes each before reading the next: the write lock is held from the first chunk
        to the commit, and no other call of this store runs in between. Events that arrive
        encoded (``row``) are written without building their models.
        """
        stop = threading.Event()
        try:
            return await self._worker.run(_append_chunks, iter(chunks), stop, self.registry)
        except BaseException:
            stop.set()  # a cancelled caller: the thread stops before the next chunk and rolls back
            raise

    # -- reading ---------------------------------------------------------------------------

    async def read_all(self, options: ReadOptions | None = None) -> AsyncIterator[StoredEvent]:
        """Stream stored events in position order, ``reads.READ_BATCH`` rows per round trip."""
        async for rows in self.read_rows(options):
            for stored in rows:
                yield stored

    async def read_rows(self, options: ReadOptions | None = None) -> AsyncIterator[list[StoredEvent]]:
        """Like ``read_all``, a batch at a time."""
        registry = self.registry
        async for batch in self._pages(options, lambda rows: [codec.row_to_stored_event(r, registry) for r in rows]):
            yield batch

    async def read_json_lines(self, options: ReadOptions | None = None) -> AsyncIterator[list[bytes]]:
        """Stream events as NDJSON lines (batches of bytes), without building models."""
        async for batch in self._pages(options, lambda rows: [row_to_json_line(r) for r in rows]):
            yield batch

    async def _pages(
        self, options: ReadOptions | None, convert: Callable[[list[Row]], list[R]]
    ) -> AsyncIterator[list[R]]:
        """Stream the matching rows a page per round trip, converted on the connection's thread.

        ``reads.pages`` runs there, one step per await; see it for how the pages are cut.
        """
        pages = await self._worker.run(reads.pages, options or ReadOptions(), convert)
        while (page := await self._worker.run(_next_page, pages)) is not None:
            yield page

    async def get_global_position(self) -> int:
        """Return the newest event's position (0 when empty)."""
        return await self._worker.run(reads.global_position)

    async def event_exists(self, event_id: UUID) -> bool:
        """True when an event with this id is stored."""
        return await self._worker.run(_event_exists, str(event_id))

    async def get_stream_version(self, aggregate_id: UUID, aggregate_type: str) -> int:
        """Return the stream's version (0 when it has no events)."""
        heads = await self._worker.run(_heads, [(aggregate_type, aggregate_id)])
        head = heads.get((aggregate_type, aggregate_id))
        return 0 if head is None else head.version

    # -- inspection (SQL in store/sqlite/inspect.py) ------------------------------------------

    async def count_events(self, options: ReadOptions | None = None) -> int:
        """Return how many events ``options`` selects, ignoring its ``limit``."""
        return await self._worker.run(_inspect().count_events, options)

    async def _list_streams(
        self, tenant_ids: tuple[UUID, ...], aggregate_type: str | None, limit: int | None
    ) -> AsyncIterator[StreamInfo]:
        """``list_streams``, a page per round trip."""
        inspect = _inspect()
        after: tuple[str, str] | None = None
        remaining = limit
        while remaining is None or remaining > 0:
            size = inspect.PAGE if remaining is None else min(inspect.PAGE, remaining)
            page = await self._worker.run(inspect.streams_page, after, tenant_ids, aggregate_type, size)
            for info in page:
                yield info
            if len(page) < size:
                return
            after = (str(page[-1].aggregate_id), page[-1].aggregate_type)
            if remaining is not None:
                remaining -= len(page)

    async def list_tenants(self) -> list[TenantInfo]:
        """Return every tenant with its counts, most events first (``None``: no tenant)."""
        return await self._worker.run(_inspect().tenants)

    async def stats(self, options: ReadOptions | None = None) -> StoreStats:
        """Return counts by event type, tenant and UTC day over the events ``options`` selects."""
        return await self._worker.run(_inspect().stats, options)

    async def verify(self, registry: EventRegistry | None = None, *, max_findings: int = 1000) -> VerifyReport:
        """Check the file and the log: SQLite's integrity check, gapless positions, contiguous
        versions, one tenant per stream, and every payload decoding and validating.

        Args:
            registry: The event classes to validate against (default: the store's registry).
            max_findings: List at most this many findings (the rest are counted).
        """
        from esctl.store.inspection import FindingList, VerifyReport

        inspect = _inspect()
        chosen = registry if registry is not None else self.registry
        found = FindingList(max_findings)
        for check in (
            inspect.integrity_findings,
            inspect.position_findings,
            inspect.version_findings,
            inspect.tenant_findings,
        ):
            for finding in await self._worker.run(check, max_findings + 1):
                found.add(finding)
        events = 0
        unregistered: dict[str, int] = {}
        after = 0
        while (page := await self._worker.run(inspect.payload_page, after, chosen)) is not None:
            events += page.events
            after = page.last_position
            for finding in page.findings:
                found.add(finding)
            for name, count in page.unregistered.items():
                unregistered[name] = unregistered.get(name, 0) + count
        return VerifyReport(events, found.items, found.omitted, dict(sorted(unregistered.items())))

    async def schema_status(self) -> SchemaStatus:
        """Return the file's schema version and the one this esctl writes, migrating nothing.

        Raises:
            DatabaseNotFoundError: The file does not exist.
            DatabaseUnusableError: It is not an SQLite database.
        """
        inspect = _inspect()
        worker = Worker(self.path, inspect.no_setup, readonly=True, busy_timeout=default_busy_timeout())
        try:
            return await worker.run(inspect.schema_status)
        finally:
            await worker.close()

    async def migrate(self) -> tuple[int, int]:
        """Create the schema or run pending migrations (what ``esctl init`` does).

        Returns:
            The schema version before (0 for a new file) and after.

        Raises:
            DatabaseUnusableError: The file is not SQLite, or the store is read-only.
        """
        before = (await self.schema_status()).version if self.path.exists() else 0
        await self._worker.run(_inspect().no_setup)  # connecting runs the migrations
        return before, schema.SCHEMA_VERSION

    # -- projections ------------------------------------------------------------------------

    async def run_projection_transaction(self, work: Callable[[ProjectionStorage], R], *, write: bool = True) -> R:
        """Run ``work`` on the connection's thread in one transaction (one round trip).

        ``BEGIN IMMEDIATE`` when ``write``, else a plain ``BEGIN`` (a consistent snapshot, fine
        on a read-only store). See ``EventStore.run_projection_transaction``.
        """
        return await self._worker.run(run_projection_work, work, write, self.registry, self.path)

    def scratch_projection_storage(self) -> AbstractContextManager[ProjectionStorage]:
        """Return throwaway projection storage in a private in-memory SQLite database."""
        return scratch_storage(self.registry)


def _inspect() -> ModuleType:
    # The inspection SQL is imported on first use: appends and reads never need it.
    from esctl.store.sqlite import inspect

    return inspect


def _encoded(events: Sequence[DomainEvent]) -> list[codec.InsertRow] | None:
    """Encode a batch's rows on the caller's thread, before the hop to the connection's.

    The events were just made there, and reading them where they are hot measurably cheaper
    (~5% of an append of 100) than on the other thread, which then only runs SQLite. ``None``
    when an event does not encode: the append then plans first and encodes after, as the full
    rules do, so a refused event is still reported before unserializable metadata.
    """
    try:
        return codec.events_to_rows(events, 0)
    except InvalidInputError:
        return None


def _append(
    conn: sqlite3.Connection,
    events: list[DomainEvent],
    rows: list[codec.InsertRow] | None,
    expected_versions: Mapping[StreamKey, Expected] | None,
    auto_version: Collection[int],
    registry: EventRegistry,
) -> AppendResult:
    # Optimistic first: plan from the rows, as if no event id of the batch were stored, and let the
    # unique index on event_id say otherwise. A fresh batch (nearly every append) then skips
    # reading its ids back and the model-level rules. A batch that re-sends stored events fails
    # the insert and is redone, from scratch, with the full lookup.
    try:
        return in_transaction(conn, lambda c: _write_batch(c, events, rows, expected_versions, auto_version, registry))
    except _StoredIdsFound:
        return in_transaction(
            conn, lambda c: _write(c, events, expected_versions, auto_version, registry, now_micros())
        )


class _StoredIdsFound(Exception):
    """The optimistic insert hit a unique index: an event id already stored, or the first version of
    a stream that was expected to be new."""


class _Stopped(Exception):
    """The caller of ``append_chunks`` was cancelled: roll back."""


def _write_batch(
    conn: sqlite3.Connection,
    events: list[DomainEvent],
    rows: list[codec.InsertRow] | None,
    expected_versions: Mapping[StreamKey, Expected] | None,
    auto_version: Collection[int],
    registry: EventRegistry,
) -> AppendResult:
    stored_at = now_micros()  # taken holding the write lock: stored_at rises with the position
    if rows is not None:
        for row in rows:
            row[_STORED_AT] = stored_at
        result = _write_rows(conn, rows, expected_versions, auto_version)
        if result is not None:
            return result
    # Not the plain case: the full rules decide.
    return _write(conn, events, expected_versions, auto_version, registry, stored_at)


def _append_chunks(
    conn: sqlite3.Connection, chunks: Iterator[AppendChunk], stop: threading.Event, registry: EventRegistry
) -> AppendResult:
    first = _next_chunk(chunks, stop)  # read before taking the write lock
    if first is None:
        return AppendResult(appended=0)
    return in_transaction(conn, lambda c: _write_chunks(c, first, chunks, stop, registry))


def _next_chunk(chunks: Iterator[AppendChunk], stop: threading.Event) -> AppendChunk | None:
    while True:
        if stop.is_set():
            raise _Stopped
        chunk = next(chunks, None)
        if stop.is_set():
            raise _Stopped
        if chunk is None or chunk.events:
            return chunk


def _write_chunks(
    conn: sqlite3.Connection,
    first: AppendChunk,
    chunks: Iterator[AppendChunk],
    stop: threading.Event,
    registry: EventRegistry,
) -> AppendResult:
    stored_at = now_micros()  # one append, one moment, as for append_batch
    seen: set[StreamKey] = set()
    appended = skipped = 0
    first_position: int | None = None
    last_position: int | None = None
    versions: dict[StreamKey, int] = {}
    chunk: AppendChunk | None = first
    while chunk is not None:
        try:
            result = _write_chunk(conn, chunk, seen, stored_at, registry)
        except Exception as error:
            if batch_index(error) is not None:
                error.batch_chunk = chunk  # type: ignore[attr-defined]
            raise
        appended += result.appended
        skipped += result.skipped
        if first_position is None:
            first_position = result.first_position
        last_position = result.last_position if result.last_position is not None else last_position
        versions.update(result.stream_versions)
        chunk = _next_chunk(chunks, stop)
    return AppendResult(appended, skipped, first_position, last_position, versions)


def _write_chunk(
    conn: sqlite3.Connection,
    chunk: AppendChunk,
    seen: set[StreamKey],
    stored_at: int,
    registry: EventRegistry,
) -> AppendResult:
    """Write one chunk of ``append_chunks``: as ``_append`` does a batch, inside the open transaction."""
    items = chunk.events
    given = [item.row for item in items]
    # Copies: an item keeps its row as read, the copy gets the store's values.
    if None in given:
        encoded = iter(codec.events_to_rows([item.event for item in items if item.row is None], stored_at))
        ready = [next(encoded) if row is None else row.copy() for row in given]
    else:
        ready = list(map(list.copy, given))  # type: ignore[arg-type]  # no None left
    for row in ready:
        row[_STORED_AT] = stored_at
    # An expected version counts where its stream first appears in the whole append.
    expected = {key: value for key, value in (chunk.expected_versions or {}).items() if key not in seen}
    before = conn.total_changes
    try:
        result = _write_rows(conn, ready, expected, chunk.auto_version)
    except _StoredIdsFound:
        # The rows before the refused one went in as planned, and rightly: each was new and
        # followed its stream. The rest is planned again under the full rules, which see those
        # rows, the stored ids and the heads (no savepoint to roll back to: those cost ~3%).
        result = _write_rest(conn, chunk, ready, conn.total_changes - before, expected, registry, stored_at)
    if result is None:  # not the plain case: the full rules decide
        events = [item.event for item in items]
        result = _write(conn, events, expected, chunk.auto_version, registry, stored_at)
    seen.update(result.stream_versions)  # every stream the chunk touched, written or skipped
    return result


def _write_rest(
    conn: sqlite3.Connection,
    chunk: AppendChunk,
    rows: list[codec.InsertRow],
    done: int,
    expected_versions: Mapping[StreamKey, Expected],
    registry: EventRegistry,
    stored_at: int,
) -> AppendResult:
    """Finish a chunk whose first ``done`` rows are written: the rest under the full rules."""
    written = rows[:done]
    streams = {(row[_AGGREGATE_TYPE], row[_AGGREGATE_ID]): row[_VERSION] for row in written}
    expected = {key: value for key, value in expected_versions.items() if (key[0], str(key[1])) not in streams}
    auto = [index - done for index in chunk.auto_version if index >= done]
    try:
        rest = _write(conn, [item.event for item in chunk.events[done:]], expected, auto, registry, stored_at)
    except Exception as error:
        index = batch_index(error)
        if index is not None:
            error.batch_index = index + done  # type: ignore[attr-defined]
        raise
    if not done:
        return rest
    # Positions are contiguous within the transaction: the written rows', then the rest's.
    last = rest.last_position
    if last is None:
        last = int(conn.execute("SELECT last_insert_rowid()").fetchone()[0])
    appended = done + rest.appended
    versions = {(kind, UUID(aggregate_id)): version for (kind, aggregate_id), version in streams.items()}
    versions.update(rest.stream_versions)
    return AppendResult(appended, rest.skipped, last - appended + 1, last, versions)


_EVENT_ID = codec.INSERT_COLUMNS.index("event_id")
_AGGREGATE_TYPE = codec.INSERT_COLUMNS.index("aggregate_type")
_AGGREGATE_ID = codec.INSERT_COLUMNS.index("aggregate_id")
_TENANT_ID = codec.INSERT_COLUMNS.index("tenant_id")
_VERSION = codec.AGGREGATE_VERSION
_STORED_AT = codec.STORED_AT
_STREAM_OF = operator.itemgetter(_AGGREGATE_TYPE, _AGGREGATE_ID)
_EVENT_ID_OF = operator.itemgetter(_EVENT_ID)


def _write_rows(
    conn: sqlite3.Connection,
    rows: list[codec.InsertRow],
    expected_versions: Mapping[StreamKey, Expected] | None,
    auto_version: Collection[int],
) -> AppendResult | None:
    """Insert ``rows`` when the batch is plain, else return ``None`` having written nothing.

    Plain: no event id twice in the batch, every expected version holds, every stream's
    versions follow its head, every event has its stream's tenant. That is when ``plan_append``
    (with no stored duplicates) would accept the batch as it is, so the rows go in unchanged,
    except that auto-versioned ones get their versions. Anything else is for ``plan_append``:
    it decides, and it words the errors.

    Raises:
        _StoredIdsFound: An event id is already stored, or a stream expected to be new is not
            (rows before it may have been inserted).
    """
    if len(set(map(_EVENT_ID_OF, rows))) != len(rows):
        return None
    expected = {(kind, str(aggregate_id)): value for (kind, aggregate_id), value in (expected_versions or {}).items()}
    auto = auto_version if isinstance(auto_version, (set, frozenset)) else frozenset(auto_version)
    streams: dict[tuple[str, str], list[Any]] = {}  # [version, tenant]
    last_type = last_id = None
    state: list[Any] = []
    for index, row in enumerate(rows):
        if row[_AGGREGATE_ID] != last_id or row[_AGGREGATE_TYPE] != last_type:
            last_type, last_id = row[_AGGREGATE_TYPE], row[_AGGREGATE_ID]
            key = (last_type, last_id)
            known = streams.get(key)
            if known is None:
                wanted = expected.get(key, ExpectedVersion.ANY)
                if wanted is ExpectedVersion.NO_STREAM or wanted == 0:
                    # A new stream is written from version 1 on; if the stream exists, its
                    # version 1 does too and the unique index on the stream's versions refuses
                    # the insert (then the full rules word the conflict). No head to read.
                    known = [0, row[_TENANT_ID]]
                else:
                    head = conn.execute(_HEAD, (last_id, last_type)).fetchone()
                    known = [0, row[_TENANT_ID]] if head is None else [head[0], head[1]]
                    if not _expected_holds(wanted, known[0]):
                        return None
                streams[key] = known
            state = known
        if row[_TENANT_ID] != state[1]:
            return None
        version = state[0] + 1
        if index in auto:
            row[_VERSION] = version
        elif row[_VERSION] != version:
            return None
        state[0] = version
    try:
        conn.executemany(_INSERT, rows)
    except sqlite3.IntegrityError:
        raise _StoredIdsFound from None
    last = int(conn.execute("SELECT last_insert_rowid()").fetchone()[0])
    return AppendResult(
        appended=len(rows),
        skipped=0,
        first_position=last - len(rows) + 1,
        last_position=last,
        stream_versions={(kind, UUID(aggregate_id)): state[0] for (kind, aggregate_id), state in streams.items()},
    )


def _expected_holds(expected: Expected, current: int) -> bool:
    if expected is ExpectedVersion.ANY:
        return True
    if expected is ExpectedVersion.NO_STREAM:
        return current == 0
    if expected is ExpectedVersion.STREAM_EXISTS:
        return current > 0
    return current == expected


def _write(
    conn: sqlite3.Connection,
    events: list[DomainEvent],
    expected_versions: Mapping[StreamKey, Expected] | None,
    auto_version: Collection[int],
    registry: EventRegistry,
    stored_at: int,
) -> AppendResult:
    """Write a batch under the full rules (``plan_append``), its stored ids looked up first."""
    plan = plan_append(
        events,
        heads=_heads(conn, _streams(events)),
        existing=_existing(conn, [e.event_id for e in events], registry),
        expected_versions=expected_versions,
        auto_version=auto_version,
    )
    if not plan.events:
        return AppendResult(appended=0, skipped=plan.skipped, stream_versions=plan.stream_versions)
    conn.executemany(_INSERT, codec.events_to_rows(plan.events, stored_at))
    last = int(conn.execute("SELECT last_insert_rowid()").fetchone()[0])
    appended = len(plan.events)
    return AppendResult(
        appended=appended,
        skipped=plan.skipped,
        first_position=last - appended + 1,
        last_position=last,
        stream_versions=plan.stream_versions,
    )


def _streams(events: list[DomainEvent]) -> Iterable[StreamKey]:
    first = events[0]
    if all(e.aggregate_id is first.aggregate_id and e.aggregate_type == first.aggregate_type for e in events):
        return [(first.aggregate_type, first.aggregate_id)]  # one stream: the usual append
    # Deduplicated by the id's integer: hashing a UUID runs Python code, hashing an int does not.
    return {(e.aggregate_type, e.aggregate_id.int): (e.aggregate_type, e.aggregate_id) for e in events}.values()


def _heads(conn: sqlite3.Connection, keys: Iterable[StreamKey]) -> dict[StreamKey, StreamHead]:
    heads: dict[StreamKey, StreamHead] = {}
    for aggregate_type, aggregate_id in keys:
        row = conn.execute(_HEAD, (str(aggregate_id), aggregate_type)).fetchone()
        if row is not None:
            heads[(aggregate_type, aggregate_id)] = StreamHead(row[0], None if row[1] is None else UUID(row[1]))
    return heads


def _existing(conn: sqlite3.Connection, event_ids: list[UUID], registry: EventRegistry) -> dict[UUID, DomainEvent]:
    found: dict[UUID, DomainEvent] = {}
    texts = [str(i) for i in event_ids]
    for start in range(0, len(texts), _IN_CHUNK):
        chunk = texts[start : start + _IN_CHUNK]
        marks = ", ".join("?" * len(chunk))
        for row in conn.execute(f"SELECT {reads.COLUMNS} FROM events WHERE event_id IN ({marks})", chunk):
            stored = codec.row_to_stored_event(row, registry)
            found[stored.event.event_id] = stored.event
    return found


def _event_exists(conn: sqlite3.Connection, event_id: str) -> bool:
    return conn.execute("SELECT 1 FROM events WHERE event_id = ?", (event_id,)).fetchone() is not None


def _next_page(conn: sqlite3.Connection, pages: Iterator[list[R]]) -> list[R] | None:
    # ``pages`` already holds the connection it was made with (this worker's only one).
    return next(pages, None)
