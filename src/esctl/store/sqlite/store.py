"""``SQLiteEventStore``: the event store in one SQLite file.

Only what opening a store and reading pages need is imported here: the modules that need the
event models (appends, projections, inspection) load on first use, so that ``esctl dump``
(``export_json_lines``) starts without pydantic or asyncio.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar
from uuid import UUID

from esctl.rows import Row, row_to_json_line
from esctl.store.busy import default_busy_timeout
from esctl.store.interface import EventStore
from esctl.store.rules import implicit_versions
from esctl.store.sqlite import reads, schema
from esctl.store.sqlite.driver import MEMORY
from esctl.store.sqlite.worker import Worker
from esctl.store.types import AppendChunk, AppendResult, Expected, ExpectedVersion, ReadOptions, StreamKey

if TYPE_CHECKING:
    import sqlite3
    from types import ModuleType

    from esctl.events import DomainEvent, StoredEvent
    from esctl.registry import EventRegistry
    from esctl.store.erasure import PurgeResult, RedactionPlan, RedactResult
    from esctl.store.inspection import StoreStats, StreamInfo, TenantInfo, VerifyReport
    from esctl.store.readmodel import ProjectionStorage
    from esctl.store.sqlite.snapshots import SQLiteSnapshotStore
    from esctl.store.types import SchemaStatus

R = TypeVar("R")


class SQLiteEventStore(EventStore):
    """An event store in one SQLite file (WAL mode), safe for several processes at once.

    Built synchronously; connects on first use (or ``await initialize()``). All of its SQLite
    work runs on the connection's own thread, one hop per transaction or page, never on the
    caller's event loop. Writes run in ``BEGIN IMMEDIATE`` transactions and wait up to
    ``busy_timeout`` milliseconds for another writer. The schema is created or migrated on first
    use unless ``readonly``; a read-only store never creates a file.

    Args:
        database: The database file, or ``":memory:"`` for a private in-memory database that
            lives until ``close()`` (for tests; WAL does not apply to it).
        event_registry: Where event classes are looked up when reading (default: the global
            one). ``registry=`` is the same, by esctl's earlier name.
        wal_mode: Switch the file to WAL (the default; readers then never block the writer).
        busy_timeout: Milliseconds to wait for the write lock, as in the classic API (default:
            ``ESCTL_BUSY_TIMEOUT``, which the command line reads in seconds, else 5000).
        readonly: Open with ``mode=ro``: a missing file is ``DatabaseNotFoundError``.
        create: Create the file and schema when missing; when False, a missing file is
            ``DatabaseNotFoundError`` and a database without esctl's schema is refused unchanged.

    Example:
        >>> # async with SQLiteEventStore("events.db") as store:
        >>> #     await store.append_events(order_id, "Order", [created])
    """

    def __init__(
        self,
        database: str | os.PathLike[str],
        event_registry: EventRegistry | None = None,
        *,
        registry: EventRegistry | None = None,
        wal_mode: bool = True,
        busy_timeout: float | None = None,
        readonly: bool = False,
        create: bool = True,
    ) -> None:
        self.path = Path(database)
        self.readonly = readonly
        self.in_memory = os.fspath(database) == MEMORY
        self._registry = event_registry if event_registry is not None else registry
        seconds = default_busy_timeout() if busy_timeout is None else busy_timeout / 1000
        self._busy_timeout = seconds
        setup: Callable[[sqlite3.Connection], object]
        if readonly:
            setup = schema.check_readable
        elif create:
            setup = schema.migrate
        else:
            setup = schema.migrate_existing
        self._worker = Worker(self.path, setup, readonly=readonly, busy_timeout=seconds, create=create, wal=wal_mode)

    @property
    def is_connected(self) -> bool:
        """True while the store holds an open connection (after first use, before ``close()``)."""
        return self._worker.connected

    async def initialize(self) -> None:
        """Connect now, creating or migrating the schema (otherwise done on first use)."""
        await self._worker.run(_connected)

    async def run_on_connection(self, function: Callable[..., R], *args: object) -> R:
        """Run ``function(connection, *args)`` on the store's connection thread (one hop).

        For this backend's own modules (its snapshot store); driver errors become esctl errors.
        """
        return await self._worker.run(function, *args)

    def snapshot_store(self) -> SQLiteSnapshotStore:
        """This store's snapshots, in its own file (table ``snapshots``)."""
        from esctl.store.sqlite.snapshots import SQLiteSnapshotStore

        return SQLiteSnapshotStore(self)

    @property
    def registry(self) -> EventRegistry:
        """Where event classes are looked up when reading (the global registry unless given)."""
        if self._registry is None:
            from esctl.registry import default_registry

            self._registry = default_registry
        return self._registry

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
        append = _append()
        rows = append.encode(events)
        auto = implicit_versions(events, auto_version)
        return await self._worker.run(append.append, list(events), rows, expected_versions, auto, self.registry)

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
        from esctl.store.plain import STREAM_OF

        append = _append()
        rows = append.encode(events) if events else None
        if rows is None or set(map(STREAM_OF, rows)) != {(aggregate_type, str(aggregate_id))}:
            # Nothing to write, or something to refuse: the generic version words it.
            return await super().append_events(aggregate_id, aggregate_type, events, expected_version)
        expected = {(aggregate_type, aggregate_id): expected_version}
        auto = implicit_versions(events)
        return await self._worker.run(append.append, list(events), rows, expected, auto, self.registry)

    async def append_chunks(self, chunks: Iterable[AppendChunk]) -> AppendResult:
        """Append several chunks in ONE transaction; see ``EventStore.append_chunks``.

        The whole append is one call on the connection's thread, which reads ``chunks`` there
        and writes each before reading the next: the write lock is held from the first chunk
        to the commit, and no other call of this store runs in between. Events that arrive
        encoded (``row``) are written without building their models.
        """
        import threading  # here: ``esctl dump`` never appends, and pays nothing for it

        stop = threading.Event()
        try:
            return await self._worker.run(_append().append_chunks, iter(chunks), stop, self.registry)
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
        from esctl.codec import row_to_stored_event

        registry = self.registry
        async for batch in self._pages(options, lambda rows: [row_to_stored_event(r, registry) for r in rows]):
            yield batch

    async def read_json_lines(self, options: ReadOptions | None = None) -> AsyncIterator[list[bytes]]:
        """Stream events as NDJSON lines (batches of bytes), without building models."""
        async for batch in self._pages(options, lambda rows: [row_to_json_line(r) for r in rows]):
            yield batch

    def export_json_lines(self, options: ReadOptions | None = None) -> Iterator[list[bytes]]:
        """Stream events as NDJSON lines on the calling thread; see ``EventStore.export_json_lines``.

        Reads on a read-only connection of its own (never the worker's), without models.
        """
        import sqlite3

        from esctl.store.interface import refuse_on_event_loop
        from esctl.store.sqlite.driver import connect, translate_error

        refuse_on_event_loop("export_json_lines")
        if self.in_memory:  # no other connection can see a private in-memory database
            yield from super().export_json_lines(options)
            return
        try:
            conn = connect(self.path, schema.check_readable, readonly=True, busy_timeout=self._busy_timeout)
            try:
                yield from reads.pages(conn, options or ReadOptions(), lambda rows: [row_to_json_line(r) for r in rows])
            finally:
                conn.close()
        except sqlite3.Error as error:
            raise translate_error(error, self.path) from error

    async def _read_stream(
        self, aggregate_id: UUID, aggregate_type: str | None, after_version: int, options: ReadOptions
    ) -> AsyncIterator[StoredEvent]:
        """``read_stream`` on the stream's index: a page per round trip, only rows after the version."""
        from esctl.codec import row_to_stored_event

        registry = self.registry
        pages = await self._worker.run(
            reads.stream_pages,
            str(aggregate_id),
            aggregate_type,
            after_version,
            options,
            lambda rows: [row_to_stored_event(r, registry) for r in rows],
        )
        while (page := await self._worker.run(_next_page, pages)) is not None:
            for stored in page:
                yield stored

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
        heads = await self._worker.run(_append().heads, [(aggregate_type, aggregate_id)])
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

    async def verify(
        self,
        registry: EventRegistry | None = None,
        *,
        max_findings: int = 1000,
        progress: Callable[[int, int], None] | None = None,
    ) -> VerifyReport:
        """Check the file and the log: SQLite's integrity check, gapless positions, contiguous
        versions, one tenant per stream, and every payload decoding and validating.

        Args:
            registry: The event classes to validate against (default: the store's registry).
            max_findings: List at most this many findings (the rest are counted).
            progress: Called after each page of payloads with the position reached and the head.
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
        head = await self.get_global_position() if progress is not None else 0
        while (page := await self._worker.run(inspect.payload_page, after, chosen)) is not None:
            events += page.events
            after = page.last_position
            if progress is not None:
                progress(after, head)
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
        if self.in_memory:
            return await self._worker.run(inspect.schema_status)
        worker = Worker(self.path, inspect.no_setup, readonly=True, busy_timeout=self._busy_timeout)
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
        before = (await self.schema_status()).version if self.path.exists() and not self.in_memory else 0
        await self._worker.run(_inspect().no_setup)  # connecting runs the migrations
        return before, schema.SCHEMA_VERSION

    # -- erasure (SQL in store/sqlite/erasure.py) ----------------------------------------------

    async def purge_tenant(self, tenant_id: UUID, *, dry_run: bool = False, compact: bool = False) -> PurgeResult:
        """Remove the tenant in one transaction with secure deletion, then checkpoint the WAL.

        See ``EventStore.purge_tenant`` and ``esctl.store.sqlite.erasure``.
        """
        from esctl.store.sqlite import erasure

        return await self._worker.run(erasure.purge_tenant, tenant_id, dry_run, compact)

    async def purges(self) -> list[PurgeResult]:
        """Return the purge records, oldest first."""
        from esctl.store.sqlite import erasure

        return await self._worker.run(erasure.purges)

    async def _apply_redaction(self, plan: RedactionPlan) -> RedactResult:
        """Overwrite the payloads in one transaction with secure deletion; see ``EventStore.redact``."""
        from esctl.store.sqlite import erasure

        return await self._worker.run(erasure.apply_redaction, plan)

    async def redactions(self) -> list[RedactResult]:
        """Return the redaction records, oldest first."""
        from esctl.store.sqlite import erasure

        return await self._worker.run(erasure.redactions)

    # -- projections ------------------------------------------------------------------------

    async def run_projection_transaction(self, work: Callable[[ProjectionStorage], R], *, write: bool = True) -> R:
        """Run ``work`` on the connection's thread in one transaction (one round trip).

        ``BEGIN IMMEDIATE`` when ``write``, else a plain ``BEGIN`` (a consistent snapshot, fine
        on a read-only store). See ``EventStore.run_projection_transaction``.
        """
        from esctl.store.sqlite.projections import run_projection_work

        return await self._worker.run(run_projection_work, work, write, self.registry, self.path)

    @asynccontextmanager
    async def scratch_projection_storage(self) -> AsyncIterator[ProjectionStorage]:
        """Give throwaway projection storage in a private in-memory SQLite database.

        The database is opened, used (inside ``run_projection_transaction``'s work) and closed
        on the store's own thread, like everything else of this store.
        """
        from esctl.store.sqlite.projections import close_scratch, open_scratch

        scratch = await self._worker.run(open_scratch, self.registry)
        try:
            yield scratch
        finally:
            await self._worker.run(close_scratch, scratch)


def _append() -> ModuleType:
    # The append transactions need the event models (pydantic): imported on first append.
    from esctl.store.sqlite import append

    return append


def _inspect() -> ModuleType:
    # The inspection SQL is imported on first use: appends and reads never need it.
    from esctl.store.sqlite import inspect

    return inspect


def _connected(conn: sqlite3.Connection) -> None:
    """Nothing: running it makes the worker connect (and migrate)."""


def _event_exists(conn: sqlite3.Connection, event_id: str) -> bool:
    return conn.execute("SELECT 1 FROM events WHERE event_id = ?", (event_id,)).fetchone() is not None


def _next_page(conn: sqlite3.Connection, pages: Iterator[list[R]]) -> list[R] | None:
    # ``pages`` already holds the connection it was made with (this worker's only one).
    return next(pages, None)
