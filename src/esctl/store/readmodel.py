"""What a store offers projections: one transaction holding events, read models and checkpoints.

A persisted projection keeps its read model in the same database as the events, so each batch
of read-model changes commits together with the projection's checkpoint (exactly-once, also
across crashes). The runner never touches a database directly: it hands a function to
``EventStore.run_projection_transaction`` and the store runs it inside one transaction, passing
a ``ProjectionStorage`` — the unit of work below. SQLite runs the whole function on its
connection's thread in one ``BEGIN IMMEDIATE`` transaction (one hop per batch); a PostgreSQL
store can offer the same with one connection and one ``BEGIN``.

Read models come in two shapes, both living here:

- **documents**: ``(namespace, tenant, key) -> JSON bytes``; portable across stores.
- **SQL tables** that a projection declares and writes with ``execute``; the store renames and
  copies them when a rebuild swaps fresh tables in.

A *namespace* is where one projection's documents live: its name for the live read model, or
another name for the fresh one a rebuild fills before the swap.
"""

from __future__ import annotations

import abc
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any
from uuid import UUID

from esctl.errors import UsageError
from esctl.rows import ROW_COLUMNS

if TYPE_CHECKING:
    from esctl.events import StoredEvent
    from esctl.registry import EventRegistry
    from esctl.store.types import ReadOptions

Row = tuple[Any, ...]
"""A stored event as a tuple of column values, in the order the reader asked for."""

EVENT_COLUMNS: tuple[str, ...] = ROW_COLUMNS
"""Every column a row read can ask for: ``rows.ROW_COLUMNS`` (ids as text, times as µs)."""

NO_TENANT = ""
"""The ``tenant`` of documents that belong to no tenant."""


def without_bounds(options: ReadOptions | None) -> ReadOptions | None:
    """Return ``options`` without its own position bounds and limit (``read_rows`` takes them apart)."""
    if options is None:
        return None
    return replace(options, from_position=0, to_position=None, limit=None)


@dataclass(frozen=True, slots=True)
class ProjectionFailure:
    """Where and why a projection's handler failed.

    Attributes:
        position: Global position of the event the handler failed on.
        event_id: That event's id.
        message: What the handler raised (``Type: message``).
        at: When it failed (UTC epoch microseconds).
    """

    position: int
    event_id: str
    message: str
    at: int


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """How far a persisted projection has got.

    Attributes:
        name: The projection's name.
        position: Every event up to this global position has been applied (0: none).
        updated_at: When the checkpoint last moved (UTC epoch microseconds; 0: never).
        status: ``"ok"``, or ``"failed"`` when a handler raised at ``error.position``.
        generation: Bumped by every rebuild that swapped fresh storage in.
        error: The last failure, while ``status`` is ``"failed"``.
    """

    name: str
    position: int = 0
    updated_at: int = 0
    status: str = "ok"
    generation: int = 0
    error: ProjectionFailure | None = None

    def advanced(self, position: int, at: int) -> Checkpoint:
        """Return this checkpoint moved to ``position``, healthy again."""
        return replace(self, position=position, updated_at=at, status="ok", error=None)

    def failed(self, position: int, failure: ProjectionFailure) -> Checkpoint:
        """Return this checkpoint stopped at ``position`` by ``failure``."""
        return replace(self, position=position, updated_at=failure.at, status="failed", error=failure)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An event an operator told a projection to skip (``esctl catch-up NAME --skip``).

    Attributes:
        position: The event's global position.
        event_id: The event's id.
        message: The failure that made it a dead letter.
        at: When it was skipped (UTC epoch microseconds).
    """

    position: int
    event_id: str
    message: str
    at: int


@dataclass(frozen=True, slots=True)
class Document:
    """One document of a read model.

    Attributes:
        tenant: The tenant it belongs to, as text (``NO_TENANT`` for none).
        key: Its key within the tenant's part of the read model.
        body: Its JSON bytes.
    """

    tenant: str
    key: str
    body: bytes


class ProjectionStorage(abc.ABC):
    """The unit of work a store hands to ``run_projection_transaction``'s function.

    Everything done through it commits or rolls back together. It is only valid while that
    function runs.
    """

    registry: EventRegistry | None = None
    """The registry ``read_events`` builds events with (``None``: esctl's default)."""

    # -- events ---------------------------------------------------------------------------

    @abc.abstractmethod
    def head(self) -> int:
        """Return the newest event's global position (0 for an empty store)."""

    @abc.abstractmethod
    def read_rows(
        self,
        after: int,
        upper: int,
        limit: int,
        *,
        columns: Sequence[str] = EVENT_COLUMNS,
        options: ReadOptions | None = None,
        exclude_tenant: UUID | None = None,
    ) -> list[Row]:
        """Return up to ``limit`` events with ``after < position <= upper``, in position order.

        Args:
            after: Read after this position.
            upper: Read up to this position (inclusive).
            limit: At most this many rows.
            columns: Which ``EVENT_COLUMNS`` each row holds, in this order; the first must be
                ``position``.
            options: Further filters (tenant, event types, time window, aggregate); their own
                position bounds and limit are ignored.
            exclude_tenant: Leave out this tenant's events.

        Returns:
            The rows; ids are text, times integer microseconds, payload and metadata JSON bytes.
        """

    def event_range(self, after: int, upper: int, options: ReadOptions | None) -> tuple[int, int]:
        """Return ``(after, upper)`` narrowed to where ``options``' events can be.

        Called once before paging through a selection with ``read_rows``: a store that can
        locate some selections cheaply (SQLite: one tenant's time window) saves every page
        from walking the rest. Pages read within the narrowed range return the same rows.
        The default narrows nothing.

        Returns:
            ``(after, upper)`` with ``after >= upper`` when nothing can match.
        """
        return after, upper

    def read_events(
        self,
        after: int,
        upper: int,
        limit: int,
        *,
        options: ReadOptions | None = None,
        exclude_tenant: UUID | None = None,
    ) -> list[StoredEvent]:
        """Like ``read_rows``, but as validated events built with ``registry``."""
        rows = self.read_rows(after, upper, limit, options=options, exclude_tenant=exclude_tenant)
        return [self.decode(row) for row in rows]

    def decode(self, row: Row) -> StoredEvent:
        """Return the stored event of a full row (``EVENT_COLUMNS``), built with ``registry``.

        Raises:
            EventDecodeError: The row does not validate against its registered class.
        """
        from esctl import codec

        return codec.row_to_stored_event(row, self.registry)

    # -- checkpoints and dead letters -----------------------------------------------------

    @abc.abstractmethod
    def get_checkpoint(self, name: str) -> Checkpoint | None:
        """Return the projection's checkpoint, or ``None`` if it never ran."""

    @abc.abstractmethod
    def checkpoints(self) -> list[Checkpoint]:
        """Return every stored checkpoint, by name."""

    @abc.abstractmethod
    def put_checkpoint(self, checkpoint: Checkpoint) -> None:
        """Store ``checkpoint`` (insert or replace)."""

    @abc.abstractmethod
    def dead_letters(self, name: str) -> list[DeadLetter]:
        """Return the events the projection was told to skip, by position."""

    @abc.abstractmethod
    def add_dead_letter(self, name: str, letter: DeadLetter) -> None:
        """Record that the projection skips ``letter.position`` from now on."""

    # -- documents --------------------------------------------------------------------------

    @abc.abstractmethod
    def get_documents(self, namespace: str, *, tenants: Collection[str] | None = None) -> list[Document]:
        """Return the namespace's documents (only these tenants' if given), by tenant and key."""

    @abc.abstractmethod
    def put_documents(self, namespace: str, documents: Iterable[Document]) -> None:
        """Insert or replace documents."""

    @abc.abstractmethod
    def delete_documents(self, namespace: str, *, tenant: str | None = None) -> None:
        """Delete the namespace's documents (only one tenant's if given)."""

    @abc.abstractmethod
    def move_documents(self, source: str, target: str, *, tenant: str | None = None) -> None:
        """Replace ``target``'s documents (one tenant's if given) by ``source``'s, emptying ``source``."""

    # -- SQL tables -------------------------------------------------------------------------

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """Run one SQL statement of a projection's own and return its rows.

        Raises:
            UsageError: The store has no SQL read models.
        """
        raise self._no_sql()

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one SQL statement once per parameter row.

        Raises:
            UsageError: The store has no SQL read models.
        """
        raise self._no_sql()

    def table_columns(self, table: str) -> list[str]:
        """Return the column names of ``table`` (empty when it does not exist).

        Raises:
            UsageError: The store has no SQL read models.
        """
        raise self._no_sql()

    def table_rows(self, table: str, *, where: tuple[str, Any] | None = None) -> list[Row]:
        """Return every row of ``table`` (only those whose column ``where[0]`` equals ``where[1]``),
        in a stable order (by each column in turn).

        Raises:
            UsageError: The store has no SQL read models.
        """
        raise self._no_sql()

    def drop_table(self, table: str) -> None:
        """Drop ``table`` (and its indexes) if it exists.

        Raises:
            UsageError: The store has no SQL read models.
        """
        raise self._no_sql()

    def replace_table(self, source: str, target: str) -> None:
        """Make ``source`` the table called ``target``, dropping the old ``target``.

        Raises:
            UsageError: The store has no SQL read models.
        """
        raise self._no_sql()

    def replace_tenant_rows(self, source: str, target: str, *, column: str, tenant: str) -> None:
        """Replace ``target``'s rows whose ``column`` is ``tenant`` by ``source``'s rows; drop ``source``.

        Raises:
            UsageError: The store has no SQL read models.
        """
        raise self._no_sql()

    def _no_sql(self) -> UsageError:
        return UsageError(
            f"{type(self).__name__} has no SQL read models",
            hint="use a SQLite store for projections with tables, or keep the state in documents",
        )
