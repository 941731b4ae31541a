"""The SQLite side of persisted projections: checkpoints, documents, read-model tables, swaps.

``run_projection_work`` runs a runner's function on the store's connection thread inside one
transaction (``BEGIN IMMEDIATE`` to write, a plain ``BEGIN`` for a consistent read), handing it a
``SQLiteProjectionStorage``. A rebuild's swap is ``DROP`` + ``ALTER TABLE … RENAME`` (or a
per-tenant ``DELETE`` + ``INSERT … SELECT``) inside that same transaction, so readers see the old
read model or the new one, never a half-built one.
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

from esctl.errors import UsageError
from esctl.registry import EventRegistry
from esctl.store.readmodel import (
    EVENT_COLUMNS,
    Checkpoint,
    DeadLetter,
    Document,
    ProjectionFailure,
    ProjectionStorage,
    Row,
    without_bounds,
)
from esctl.store.sqlite import schema
from esctl.store.sqlite.driver import in_transaction, translate_error
from esctl.store.sqlite.filters import where_clause, window_positions
from esctl.store.types import ReadOptions

T = TypeVar("T")

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Primary result codes that are the database's trouble, not the statement's: BUSY, LOCKED, NOMEM,
# READONLY, IOERR, CORRUPT, FULL, CANTOPEN, NOTADB.
_INFRASTRUCTURE = frozenset({5, 6, 7, 8, 10, 11, 13, 14, 26})
_CHECKPOINT_COLUMNS = (
    "name, position, updated_at, status, generation, error_position, error_event_id, error_message, error_at"
)
LOCK_PAUSE_CAP = 0.05
"""The longest pause, in seconds, after a projection's write transaction (see ``run_projection_work``)."""
_PROJECTION_MIGRATION = 1
"""The index in ``schema.MIGRATIONS`` of the migration that creates the projection tables."""


def run_projection_work(
    conn: sqlite3.Connection,
    work: Callable[[ProjectionStorage], T],
    write: bool,
    registry: EventRegistry,
    path: Path,
) -> T:
    """Run ``work`` in one transaction on ``conn``: ``BEGIN IMMEDIATE`` if ``write``, else ``BEGIN``.

    Returns:
        What ``work`` returned, after the commit.
    """
    storage = SQLiteProjectionStorage(conn, registry, path)
    if write:
        started = time.monotonic()
        result = in_transaction(conn, lambda _: work(storage))
        # SQLite keeps no queue of waiting writers: each polls now and then within its busy
        # timeout, and a runner that takes the lock again at once after every commit leaves a
        # poll almost no chance to find it free. Leaving it free for a third of the time it was
        # held gives a waiting writer a fair chance at every poll.
        time.sleep(min(LOCK_PAUSE_CAP, (time.monotonic() - started) / 3))
        return result
    # A deferred transaction: every read inside sees one snapshot of the database.
    conn.execute("BEGIN")
    try:
        result = work(storage)
    finally:
        if conn.in_transaction:
            conn.execute("COMMIT")
    return result


def open_scratch(_conn: sqlite3.Connection, registry: EventRegistry) -> SQLiteProjectionStorage:
    """Open projection storage in a private in-memory database (replay), on the calling thread.

    Called through the store's worker like every other function here (the store's own
    connection, the first argument, is not used): the scratch database lives on that thread.
    """
    conn = sqlite3.connect(":memory:", isolation_level=None)
    try:
        for statement in schema.MIGRATIONS[_PROJECTION_MIGRATION]:
            conn.execute(statement)
    except BaseException:
        conn.close()
        raise
    return SQLiteProjectionStorage(conn, registry, Path(":memory:"))


def close_scratch(_conn: sqlite3.Connection, scratch: SQLiteProjectionStorage) -> None:
    """Close a database ``open_scratch`` opened; what it held is gone."""
    scratch.close()


class SQLiteProjectionStorage(ProjectionStorage):
    """``ProjectionStorage`` on one SQLite connection, inside the caller's transaction.

    Args:
        conn: The connection (already in a transaction, unless it is a scratch database).
        registry: Where event classes are looked up by ``read_events``.
        path: The database file, for error messages.
    """

    def __init__(self, conn: sqlite3.Connection, registry: EventRegistry, path: Path) -> None:
        self._conn = conn
        self.registry = registry
        self._path = path

    def close(self) -> None:
        """Close the connection (only for a scratch database this storage owns)."""
        self._conn.close()

    # -- events ---------------------------------------------------------------------------

    def head(self) -> int:
        """Return the newest event's position."""
        row = self._conn.execute("SELECT MAX(position) FROM events").fetchone()
        return int(row[0] or 0)

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
        """Return matching events as rows (see ``ProjectionStorage.read_rows``)."""
        unknown = set(columns) - set(EVENT_COLUMNS)
        if unknown:
            raise UsageError(f"unknown event columns: {sorted(unknown)}")
        # The shared builder, in page order: a list of values (IN) never drives an index, which
        # would hand rows back out of position order and make SQLite sort every page.
        where, params = where_clause(without_bounds(options), ordered=True)
        if exclude_tenant is not None:
            where += " AND tenant_id IS NOT ?"
            params.append(str(exclude_tenant))
        sql = (
            f"SELECT {', '.join(columns)} FROM events WHERE position > ? AND position <= ? AND {where}"
            f" ORDER BY position LIMIT {int(limit)}"
        )
        return self._conn.execute(sql, [after, upper, *params]).fetchall()

    def event_range(self, after: int, upper: int, options: ReadOptions | None) -> tuple[int, int]:
        """Narrow ``(after, upper]`` to one tenant's time window (see ``ProjectionStorage.event_range``)."""
        if options is None or len(options.tenants) != 1 or options.aggregate_id is not None:
            return after, upper
        if options.from_timestamp is None and options.to_timestamp is None:
            return after, upper
        window = window_positions(self._conn, options)
        if window is None:
            return after, after
        return max(after, window[0] - 1), min(upper, window[1])

    # -- checkpoints and dead letters -----------------------------------------------------

    def get_checkpoint(self, name: str) -> Checkpoint | None:
        """Return the projection's checkpoint, if any."""
        row = self._conn.execute(
            f"SELECT {_CHECKPOINT_COLUMNS} FROM projection_checkpoints WHERE name = ?", (name,)
        ).fetchone()
        return None if row is None else _checkpoint(row)

    def checkpoints(self) -> list[Checkpoint]:
        """Return every checkpoint, by name."""
        rows = self._conn.execute(f"SELECT {_CHECKPOINT_COLUMNS} FROM projection_checkpoints ORDER BY name")
        return [_checkpoint(row) for row in rows]

    def put_checkpoint(self, checkpoint: Checkpoint) -> None:
        """Store ``checkpoint``."""
        error = checkpoint.error
        self._conn.execute(
            f"INSERT OR REPLACE INTO projection_checkpoints ({_CHECKPOINT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                checkpoint.name,
                checkpoint.position,
                checkpoint.updated_at,
                checkpoint.status,
                checkpoint.generation,
                None if error is None else error.position,
                None if error is None else error.event_id,
                None if error is None else error.message,
                None if error is None else error.at,
            ),
        )

    def dead_letters(self, name: str) -> list[DeadLetter]:
        """Return the projection's dead letters, by position."""
        rows = self._conn.execute(
            "SELECT position, event_id, message, skipped_at FROM projection_dead_letters"
            " WHERE name = ? ORDER BY position",
            (name,),
        )
        return [DeadLetter(*row) for row in rows]

    def add_dead_letter(self, name: str, letter: DeadLetter) -> None:
        """Record a dead letter."""
        self._conn.execute(
            "INSERT OR REPLACE INTO projection_dead_letters (name, position, event_id, message, skipped_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (name, letter.position, letter.event_id, letter.message, letter.at),
        )

    # -- documents --------------------------------------------------------------------------

    def get_documents(self, namespace: str, *, tenants: Collection[str] | None = None) -> list[Document]:
        """Return the namespace's documents, by tenant and key."""
        sql = "SELECT tenant, key, body FROM projection_documents WHERE namespace = ?"
        if tenants is None:
            rows = self._conn.execute(sql + " ORDER BY tenant, key", (namespace,)).fetchall()
        else:
            wanted = sorted(set(tenants))
            rows = []
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                marks = ", ".join("?" * len(chunk))
                rows.extend(
                    self._conn.execute(f"{sql} AND tenant IN ({marks}) ORDER BY tenant, key", (namespace, *chunk))
                )
        return [Document(tenant, key, bytes(body)) for tenant, key, body in rows]

    def put_documents(self, namespace: str, documents: Iterable[Document]) -> None:
        """Insert or replace documents."""
        self._conn.executemany(
            "INSERT OR REPLACE INTO projection_documents (namespace, tenant, key, body) VALUES (?, ?, ?, ?)",
            ((namespace, doc.tenant, doc.key, doc.body) for doc in documents),
        )

    def delete_documents(self, namespace: str, *, tenant: str | None = None) -> None:
        """Delete the namespace's documents (one tenant's if given)."""
        if tenant is None:
            self._conn.execute("DELETE FROM projection_documents WHERE namespace = ?", (namespace,))
        else:
            self._conn.execute(
                "DELETE FROM projection_documents WHERE namespace = ? AND tenant = ?", (namespace, tenant)
            )

    def move_documents(self, source: str, target: str, *, tenant: str | None = None) -> None:
        """Replace ``target``'s documents (one tenant's if given) by ``source``'s."""
        self.delete_documents(target, tenant=tenant)
        self._conn.execute("UPDATE projection_documents SET namespace = ? WHERE namespace = ?", (target, source))

    # -- SQL tables -------------------------------------------------------------------------

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """Run one statement of a projection and return its rows.

        Errors of the database itself (locked, full, corrupt) become esctl errors; errors of the
        statement (a typo, a constraint) stay ``sqlite3`` errors, which the runner records as the
        handler's failure.
        """
        try:
            return self._conn.execute(sql, params).fetchall()
        except sqlite3.Error as error:
            raise self._classify(error) from error

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one statement once per parameter row."""
        try:
            self._conn.executemany(sql, rows)
        except sqlite3.Error as error:
            raise self._classify(error) from error

    def table_columns(self, table: str) -> list[str]:
        """Return ``table``'s column names (empty when it does not exist)."""
        return [str(row[1]) for row in self._conn.execute(f"PRAGMA table_info({_quote(table)})")]

    def table_rows(self, table: str, *, where: tuple[str, Any] | None = None) -> list[Row]:
        """Return ``table``'s rows (those with ``where[0] = where[1]`` if given), ordered by every column."""
        count = len(self.table_columns(table))
        if not count:
            return []
        order = ", ".join(str(i) for i in range(1, count + 1))
        if where is None:
            return self._conn.execute(f"SELECT * FROM {_quote(table)} ORDER BY {order}").fetchall()
        column, value = where
        sql = f"SELECT * FROM {_quote(table)} WHERE {_quote(column)} = ? ORDER BY {order}"
        return self._conn.execute(sql, (value,)).fetchall()

    def drop_table(self, table: str) -> None:
        """Drop ``table`` and its indexes, if it exists."""
        self._conn.execute(f"DROP TABLE IF EXISTS {_quote(table)}")

    def replace_table(self, source: str, target: str) -> None:
        """Make ``source`` the table called ``target``, dropping the old ``target``."""
        self._conn.execute(f"DROP TABLE IF EXISTS {_quote(target)}")
        self._conn.execute(f"ALTER TABLE {_quote(source)} RENAME TO {_quote(target)}")

    def replace_tenant_rows(self, source: str, target: str, *, column: str, tenant: str) -> None:
        """Replace ``target``'s rows of ``tenant`` by ``source``'s rows, then drop ``source``."""
        try:
            self._conn.execute(f"DELETE FROM {_quote(target)} WHERE {_quote(column)} = ?", (tenant,))
            self._conn.execute(f"INSERT INTO {_quote(target)} SELECT * FROM {_quote(source)}")
        except sqlite3.IntegrityError as error:
            raise UsageError(
                f"cannot swap tenant {tenant}'s rows into {target}: {error}",
                hint="a per-tenant table's keys must not clash across tenants (include the tenant id in the key)",
            ) from None
        self._conn.execute(f"DROP TABLE {_quote(source)}")

    def _classify(self, error: sqlite3.Error) -> Exception:
        code = getattr(error, "sqlite_errorcode", None)
        if isinstance(code, int) and code & 0xFF in _INFRASTRUCTURE:
            return translate_error(error, self._path)
        return error


def _quote(identifier: str) -> str:
    if not _IDENTIFIER.match(identifier):
        raise UsageError(f"{identifier!r} is not a usable table or column name")
    return f'"{identifier}"'


def _checkpoint(row: Row) -> Checkpoint:
    name, position, updated_at, status, generation, error_position, event_id, message, error_at = row
    failure = None
    if error_position is not None:
        failure = ProjectionFailure(int(error_position), str(event_id), str(message), int(error_at or 0))
    return Checkpoint(
        name=name,
        position=int(position),
        updated_at=int(updated_at),
        status=str(status),
        generation=int(generation),
        error=failure,
    )
