"""``PostgresEventStore``: the event store in a PostgreSQL database (psycopg 3).

Same model as the SQLite store: built synchronously, connects on first use, and runs every
database call on its connection's own thread, one hop per transaction or page.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

from esctl.rows import Row, row_to_json_line
from esctl.store.interface import EventStore
from esctl.store.postgres import reads, schema
from esctl.store.postgres.worker import Conn, Worker
from esctl.store.types import AppendChunk, AppendResult, Expected, ReadOptions, SchemaStatus, StreamKey

if TYPE_CHECKING:
    from types import ModuleType

    from esctl.events import DomainEvent, StoredEvent
    from esctl.registry import EventRegistry
    from esctl.store.erasure import PurgeResult, RedactionPlan, RedactResult
    from esctl.store.inspection import StoreStats, StreamInfo, TenantInfo, VerifyReport
    from esctl.store.postgres.listener import Listener
    from esctl.store.postgres.snapshots import PostgresSnapshotStore
    from esctl.store.readmodel import ProjectionStorage

R = TypeVar("R")


class PostgresEventStore(EventStore):
    """An event store in a PostgreSQL database, safe for many processes on many hosts at once.

    Built synchronously; connects on first use. Everything lives in the connection's current
    schema (``search_path``), so one database may hold several stores. Positions are gapless
    and in commit order (a counter row taken inside each append); statements wait up to
    ``busy_timeout`` seconds for a lock, then fail busy (exit 6).

    Args:
        target: A ``postgresql://`` (or ``postgres://``) URL, as libpq reads it.
        registry: Where event classes are looked up when reading (default: the global one).
        readonly: Every transaction read-only; the schema must exist and be current.
        busy_timeout: Seconds to wait for a lock (default: ``ESCTL_BUSY_TIMEOUT`` or 5).
        create: Create the schema when the database (schema) holds no store; when False that is
            ``DatabaseNotFoundError``.

    Example:
        >>> # async with PostgresEventStore("postgresql://app@db/events") as store:
        >>> #     await store.append_events(order_id, "Order", [created])
    """

    def __init__(
        self,
        target: str,
        *,
        registry: EventRegistry | None = None,
        readonly: bool = False,
        busy_timeout: float | None = None,
        create: bool = True,
    ) -> None:
        from esctl.store.busy import default_busy_timeout

        self.target = target
        self.readonly = readonly
        self._registry = registry
        self._busy_timeout = default_busy_timeout() if busy_timeout is None else busy_timeout
        self._create = create
        self._worker = Worker(target, self._setup, readonly=readonly, busy_timeout=self._busy_timeout)
        self._listener: Listener | None = None

    def _setup(self, conn: Conn) -> None:
        if self.readonly:
            schema.check_readable(conn, self.target)
        else:
            schema.migrate(conn, self.target, create=self._create)

    @property
    def registry(self) -> EventRegistry:
        """Where event classes are looked up when reading (the global registry unless given)."""
        if self._registry is None:
            from esctl.registry import default_registry

            self._registry = default_registry
        return self._registry

    async def close(self) -> None:
        """Close the connections. Safe to call more than once."""
        if self._listener is not None:
            await self._listener.close()
            self._listener = None
        await self._worker.close()

    async def wait_for_appends(self, timeout: float) -> None:
        """Return when an append commits (its ``NOTIFY`` arrives), or after ``timeout`` seconds.

        Listens on a connection and thread of its own; see ``EventStore.wait_for_appends``.
        """
        if self._listener is None:
            from esctl.store.postgres.listener import Listener

            self._listener = Listener(self.target, self._busy_timeout)
        await self._listener.wait(timeout)

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
        from esctl.store.rules import implicit_versions

        append = _append()
        batch = list(events)
        rows = append.encode(batch)
        auto = implicit_versions(batch, auto_version)  # events built without a version get the stream's next
        return await self._worker.run(append.append, batch, rows, expected_versions, auto, self.registry)

    async def append_chunks(self, chunks: Iterable[AppendChunk]) -> AppendResult:
        """Append several chunks in ONE transaction; see ``EventStore.append_chunks``.

        One call on the connection's thread reads the chunks there and writes each (by COPY
        when plain) before reading the next, holding the counter lock to the commit.
        """
        stop = threading.Event()
        try:
            return await self._worker.run(_append().append_chunks, iter(chunks), stop, self.registry)
        except BaseException:
            stop.set()
            raise

    # -- reading ---------------------------------------------------------------------------

    async def read_all(self, options: ReadOptions | None = None) -> AsyncIterator[StoredEvent]:
        """Stream stored events in position order, ``reads.READ_BATCH`` rows per round trip."""
        from esctl.codec import row_to_stored_event

        registry = self.registry
        async for batch in self._pages(options, lambda rows: [row_to_stored_event(r, registry) for r in rows]):
            for stored in batch:
                yield stored

    async def read_json_lines(self, options: ReadOptions | None = None) -> AsyncIterator[list[bytes]]:
        """Stream events as NDJSON lines (batches of bytes), without building models."""
        async for batch in self._pages(options, lambda rows: [row_to_json_line(r) for r in rows]):
            yield batch

    def export_json_lines(self, options: ReadOptions | None = None) -> Iterator[list[bytes]]:
        """Stream events as NDJSON lines on the calling thread; see ``EventStore.export_json_lines``.

        Reads on a read-only connection of its own, in keyset pages, without models or asyncio.
        """
        import psycopg

        from esctl.store.interface import refuse_on_event_loop
        from esctl.store.postgres.driver import connect, translate_error

        refuse_on_event_loop("export_json_lines")
        try:
            conn = connect(self.target, readonly=True, busy_timeout=self._busy_timeout)
            try:
                schema.check_readable(conn, self.target)
                yield from reads.pages(conn, options or ReadOptions(), lambda rows: [row_to_json_line(r) for r in rows])
            finally:
                conn.close()
        except psycopg.Error as error:
            raise translate_error(error, self.target) from None

    async def _pages(
        self, options: ReadOptions | None, convert: Callable[[list[Row]], list[R]]
    ) -> AsyncIterator[list[R]]:
        pages = await self._worker.run(reads.pages, options or ReadOptions(), convert)
        while (page := await self._worker.run(_next_page, pages)) is not None:
            yield page

    async def get_global_position(self) -> int:
        """Return the newest committed event's position (0 when empty)."""
        return await self._worker.run_again_if_lost(reads.global_position)

    async def event_exists(self, event_id: UUID) -> bool:
        """True when an event with this id is stored."""
        return await self._worker.run_again_if_lost(_event_exists, str(event_id))

    async def get_stream_version(self, aggregate_id: UUID, aggregate_type: str) -> int:
        """Return the stream's version (0 when it has no events)."""
        found = await self._worker.run_again_if_lost(_append().heads, [(aggregate_type, aggregate_id)])
        head = found.get((aggregate_type, aggregate_id))
        return 0 if head is None else int(head.version)

    # -- inspection (SQL in store/postgres/inspect.py) ----------------------------------------

    async def count_events(self, options: ReadOptions | None = None) -> int:
        """Return how many events ``options`` selects, ignoring its ``limit``."""
        return await self._worker.run_again_if_lost(_inspect().count_events, options)

    async def _list_streams(
        self, tenant_ids: tuple[UUID, ...], aggregate_type: str | None, limit: int | None
    ) -> AsyncIterator[StreamInfo]:
        inspect = _inspect()
        after: tuple[str, str] | None = None
        remaining = limit
        while remaining is None or remaining > 0:
            size = inspect.PAGE if remaining is None else min(inspect.PAGE, remaining)
            page = await self._worker.run_again_if_lost(inspect.streams_page, after, tenant_ids, aggregate_type, size)
            for info in page:
                yield info
            if len(page) < size:
                return
            after = (str(page[-1].aggregate_id), page[-1].aggregate_type)
            if remaining is not None:
                remaining -= len(page)

    async def list_tenants(self) -> list[TenantInfo]:
        """Return every tenant with its counts, most events first (``None``: no tenant)."""
        return await self._worker.run_again_if_lost(_inspect().tenants)

    async def stats(self, options: ReadOptions | None = None) -> StoreStats:
        """Return counts by event type, tenant and UTC day over the events ``options`` selects."""
        return await self._worker.run_again_if_lost(_inspect().stats, options)

    async def verify(self, registry: EventRegistry | None = None, *, max_findings: int = 1000) -> VerifyReport:
        """Check the log as the SQLite store does (the same findings, worded the same): gapless
        positions, contiguous versions, one tenant per stream, every payload decoding and
        validating (a page per round trip).

        Args:
            registry: The event classes to validate against (default: the store's registry).
            max_findings: List at most this many findings (the rest are counted).
        """
        from esctl.store.inspection import FindingList, VerifyReport

        inspect = _inspect()
        chosen = registry if registry is not None else self.registry
        found = FindingList(max_findings)
        for check in (inspect.position_findings, inspect.version_findings, inspect.tenant_findings):
            for finding in await self._worker.run_again_if_lost(check, max_findings + 1):
                found.add(finding)
        events = 0
        unregistered: dict[str, int] = {}
        after = 0
        while (page := await self._worker.run_again_if_lost(inspect.payload_page, after, chosen)) is not None:
            events += page.events
            after = page.last_position
            for finding in page.findings:
                found.add(finding)
            for name, count in page.unregistered.items():
                unregistered[name] = unregistered.get(name, 0) + count
        return VerifyReport(events, found.items, found.omitted, dict(sorted(unregistered.items())))

    async def schema_status(self) -> SchemaStatus:
        """Return the store's schema version and the one this esctl writes, migrating nothing.

        Raises:
            DatabaseNotFoundError: The database (schema) holds no store.
            DatabaseUnusableError: The server cannot be used, or the schema is someone else's.
        """
        worker = Worker(self.target, _no_setup, readonly=True, busy_timeout=self._busy_timeout)
        try:
            version, latest = await worker.run(schema.status, self.target)
        finally:
            await worker.close()
        return SchemaStatus(version, latest)

    async def migrate(self) -> tuple[int, int]:
        """Create the schema or run pending migrations (what ``esctl init`` does).

        Returns:
            The schema version before (0 for a new store) and after.
        """
        worker = Worker(self.target, _no_setup, readonly=False, busy_timeout=self._busy_timeout)
        try:
            return await worker.run(schema.migrate, self.target)
        finally:
            await worker.close()

    async def enable_row_level_security(self) -> str:
        """Turn on row-level security keyed on the tenant context (``esctl init --rls``).

        Returns:
            What the application must do to be held by it (the role to connect as, its grants).
        """
        await self.migrate()
        worker = Worker(self.target, _no_setup, readonly=False, busy_timeout=self._busy_timeout)
        try:
            return await worker.run(schema.enable_rls, self.target)
        finally:
            await worker.close()

    async def run_on_connection(self, function: Callable[..., R], *args: object) -> R:
        """Run ``function(connection, *args)`` on the store's connection thread (one hop).

        For this backend's own modules (its snapshot store); driver errors become esctl errors.
        """
        return await self._worker.run(function, *args)

    def snapshot_store(self) -> PostgresSnapshotStore:
        """This store's snapshots, beside its events (table ``snapshots``)."""
        from esctl.store.postgres.snapshots import PostgresSnapshotStore

        return PostgresSnapshotStore(self)

    # -- erasure (SQL in store/postgres/erasure.py) --------------------------------------------

    async def purge_tenant(self, tenant_id: UUID, *, dry_run: bool = False, compact: bool = False) -> PurgeResult:
        """Remove the tenant in one transaction, then vacuum the tables it touched.

        See ``EventStore.purge_tenant`` and ``esctl.store.postgres.erasure``.
        """
        from esctl.store.postgres import erasure

        return await self._worker.run(erasure.purge_tenant, tenant_id, dry_run, compact)

    async def purges(self) -> list[PurgeResult]:
        """Return the purge records, oldest first."""
        from esctl.store.postgres import erasure

        return await self._worker.run_again_if_lost(erasure.purges)

    async def _apply_redaction(self, plan: RedactionPlan) -> RedactResult:
        """Overwrite the payloads in one transaction, then vacuum; see ``EventStore.redact``."""
        from esctl.store.postgres import erasure

        return await self._worker.run(erasure.apply_redaction, plan)

    async def redactions(self) -> list[RedactResult]:
        """Return the redaction records, oldest first."""
        from esctl.store.postgres import erasure

        return await self._worker.run_again_if_lost(erasure.redactions)

    # -- projections ------------------------------------------------------------------------

    async def run_projection_transaction(self, work: Callable[[ProjectionStorage], R], *, write: bool = True) -> R:
        """Run ``work`` on the connection's thread in one transaction (one round trip).

        With ``write``, projection transactions of this store take one advisory lock first, so
        two runners (on any hosts) never apply the same batch twice; appends do not wait for it.
        Without, ``work`` sees one snapshot (``REPEATABLE READ``, read-only). See
        ``EventStore.run_projection_transaction``.
        """
        from esctl.store.postgres.projections import run_projection_work

        return await self._worker.run_again_if_lost(run_projection_work, work, write, self.registry, self.target)

    @asynccontextmanager
    async def scratch_projection_storage(self) -> AsyncIterator[ProjectionStorage]:
        """Give throwaway projection storage: temporary tables on a private connection.

        It is opened, used (inside ``run_projection_transaction``'s work) and closed on the
        store's own thread; the server drops its tables when the connection closes.
        """
        from esctl.store.postgres.projections import close_scratch, open_scratch

        scratch = await self._worker.run(open_scratch, self.registry, self.target, self._busy_timeout)
        try:
            yield scratch
        finally:
            await self._worker.run(close_scratch, scratch)


def _append() -> ModuleType:
    # The append transactions need the event models (pydantic): imported on first append.
    from esctl.store.postgres import append

    return append


def _inspect() -> ModuleType:
    from esctl.store.postgres import inspect

    return inspect


def _no_setup(conn: Conn) -> Any:
    return None


def _event_exists(conn: Conn, event_id: str) -> bool:
    return conn.execute("SELECT 1 FROM events WHERE event_id = %s", (event_id,)).fetchone() is not None


def _next_page(conn: Conn, pages: Iterator[list[R]]) -> list[R] | None:
    return next(pages, None)
