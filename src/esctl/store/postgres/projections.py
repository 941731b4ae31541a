"""The PostgreSQL side of persisted projections: checkpoints, documents, read-model tables, swaps.

``run_projection_work`` runs a runner's function on the store's connection thread inside one
transaction, handing it a ``PostgresProjectionStorage``. Writing transactions take one advisory
lock first: two runners of a projection, on any hosts, never read the same checkpoint and apply
the same batch twice (the SQLite store gets that from ``BEGIN IMMEDIATE``); appends never wait
for it. A rebuild's swap renames the fresh tables in, which needs an ACCESS EXCLUSIVE lock on the
live one: it waits briefly (``SET LOCAL lock_timeout``) and retries, so that readers queued
behind a waiting swap are never held long.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from typing import Any, TypeVar
from uuid import UUID

import psycopg
from psycopg import errors as pg_errors

from esctl.errors import DatabaseBusyError, UsageError
from esctl.registry import EventRegistry
from esctl.store import describe
from esctl.store.postgres import schema
from esctl.store.postgres.driver import connect, translate_error
from esctl.store.postgres.reads import global_position, where_clause, window_positions
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
from esctl.store.types import ReadOptions

Conn = psycopg.Connection[tuple[Any, ...]]
T = TypeVar("T")

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_LOCK = "SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.esctl.projections'))"
_CHECKPOINT_COLUMNS = (
    "name, position, updated_at, status, generation, error_position, error_event_id, error_message, error_at"
)
_PROJECTION_MIGRATION = 1
"""The index in ``schema.MIGRATIONS`` of the migration that creates the projection tables."""
_SWAP_WAIT_MS = 200
"""How long one try of a swap waits for the live table's lock before it lets readers through."""
# SQLSTATE classes of the database's trouble, not the statement's: connection, resources,
# operator intervention, system errors; and lock timeouts, deadlocks, serialization failures.
_INFRASTRUCTURE_CLASSES = frozenset({"08", "53", "57", "58", "XX", "40"})
_INFRASTRUCTURE_STATES = frozenset({"55P03"})


def run_projection_work(
    conn: Conn, work: Callable[[ProjectionStorage], T], write: bool, registry: EventRegistry, target: str
) -> T:
    """Run ``work`` in one transaction on ``conn``; commit after it, roll back if it raises.

    Returns:
        What ``work`` returned, after the commit.
    """
    storage = PostgresProjectionStorage(conn, registry, target)
    try:
        if write:
            conn.execute(_LOCK)
        else:
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        result = work(storage)
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    return result


def open_scratch(_conn: Conn, registry: EventRegistry, target: str, busy_timeout: float) -> PostgresProjectionStorage:
    """Open projection storage in temporary tables of a private connection (replay).

    Called through the store's worker: the connection lives on that thread. Its ``search_path``
    is ``pg_temp``, so the projection's own tables are temporary too; the server drops them all
    when the connection closes.
    """
    conn = connect(target, readonly=False, busy_timeout=busy_timeout)
    try:
        conn.autocommit = True
        conn.execute("SET search_path = pg_temp")
        for statement in schema.MIGRATIONS[_PROJECTION_MIGRATION]:
            conn.execute(statement)
    except BaseException:
        conn.close()
        raise
    return PostgresProjectionStorage(conn, registry, target)


def close_scratch(_conn: Conn, scratch: PostgresProjectionStorage) -> None:
    """Close a connection ``open_scratch`` opened; what it held is gone."""
    scratch.close()


def qmark_to_format(sql: str) -> str:
    """Return ``sql`` with qmark (``?``) placeholders as psycopg's ``%s`` and literal ``%`` doubled.

    Text inside quotes ('…', "…") and comments is left alone.

    Example:
        >>> qmark_to_format("UPDATE t SET n = ? WHERE k LIKE 'a?%' AND v % 2 = ?")
        "UPDATE t SET n = %s WHERE k LIKE 'a?%%' AND v %% 2 = %s"
    """
    out: list[str] = []
    index, size = 0, len(sql)
    while index < size:
        char = sql[index]
        if char in "'\"":
            end = index + 1
            while end < size:
                if sql[end] == char:
                    if end + 1 < size and sql[end + 1] == char:  # a doubled quote inside
                        end += 2
                        continue
                    break
                end += 1
            out.append(sql[index : end + 1].replace("%", "%%"))
            index = end + 1
            continue
        if sql.startswith("--", index):
            end = sql.find("\n", index)
            end = size if end < 0 else end
            out.append(sql[index:end].replace("%", "%%"))
            index = end
            continue
        if sql.startswith("/*", index):
            end = sql.find("*/", index + 2)
            end = size if end < 0 else end + 2
            out.append(sql[index:end].replace("%", "%%"))
            index = end
            continue
        out.append("%s" if char == "?" else "%%" if char == "%" else char)
        index += 1
    return "".join(out)


class PostgresProjectionStorage(ProjectionStorage):
    """``ProjectionStorage`` on one PostgreSQL connection, inside the caller's transaction.

    Args:
        conn: The connection (in a transaction, unless it is a scratch connection).
        registry: Where event classes are looked up by ``read_events``.
        target: The store's URL, for error messages (shown with its password masked).
    """

    def __init__(self, conn: Conn, registry: EventRegistry, target: str) -> None:
        self._conn = conn
        self.registry = registry
        self._target = target

    def close(self) -> None:
        """Close the connection (only for a scratch connection this storage owns)."""
        self._conn.close()

    # -- events ---------------------------------------------------------------------------

    def head(self) -> int:
        """Return the newest committed event's position."""
        return global_position(self._conn)

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
        where, params = where_clause(without_bounds(options))
        if exclude_tenant is not None:
            where += " AND tenant_id IS DISTINCT FROM %s::uuid"
            params.append(str(exclude_tenant))
        sql = (
            f"SELECT {', '.join(columns)} FROM events WHERE position > %s AND position <= %s AND {where}"
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
            f"SELECT {_CHECKPOINT_COLUMNS} FROM projection_checkpoints WHERE name = %s",
            (name,),
        ).fetchone()
        return None if row is None else _checkpoint(row)

    def checkpoints(self) -> list[Checkpoint]:
        """Return every checkpoint, by name."""
        rows = self._conn.execute(f'SELECT {_CHECKPOINT_COLUMNS} FROM projection_checkpoints ORDER BY name COLLATE "C"')
        return [_checkpoint(row) for row in rows]

    def put_checkpoint(self, checkpoint: Checkpoint) -> None:
        """Store ``checkpoint``."""
        error = checkpoint.error
        self._conn.execute(
            f"INSERT INTO projection_checkpoints ({_CHECKPOINT_COLUMNS})"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (name) DO UPDATE SET"
            " position = EXCLUDED.position, updated_at = EXCLUDED.updated_at, status = EXCLUDED.status,"
            " generation = EXCLUDED.generation, error_position = EXCLUDED.error_position,"
            " error_event_id = EXCLUDED.error_event_id, error_message = EXCLUDED.error_message,"
            " error_at = EXCLUDED.error_at",
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
            " WHERE name = %s ORDER BY position",
            (name,),
        )
        return [DeadLetter(int(row[0]), row[1], row[2], int(row[3])) for row in rows]

    def add_dead_letter(self, name: str, letter: DeadLetter) -> None:
        """Record a dead letter."""
        self._conn.execute(
            "INSERT INTO projection_dead_letters (name, position, event_id, message, skipped_at)"
            " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (name, position) DO UPDATE SET"
            " event_id = EXCLUDED.event_id, message = EXCLUDED.message, skipped_at = EXCLUDED.skipped_at",
            (name, letter.position, letter.event_id, letter.message, letter.at),
        )

    # -- documents --------------------------------------------------------------------------

    def get_documents(self, namespace: str, *, tenants: Collection[str] | None = None) -> list[Document]:
        """Return the namespace's documents, by tenant and key."""
        sql = "SELECT tenant, key, body FROM projection_documents WHERE namespace = %s"
        order = ' ORDER BY tenant COLLATE "C", key COLLATE "C"'
        if tenants is None:
            rows = self._conn.execute(sql + order, (namespace,)).fetchall()
        else:
            rows = self._conn.execute(
                sql + " AND tenant = ANY(%s::text[])" + order,
                (namespace, sorted(set(tenants))),
            ).fetchall()
        return [Document(tenant, key, bytes(body)) for tenant, key, body in rows]

    def put_documents(self, namespace: str, documents: Iterable[Document]) -> None:
        """Insert or replace documents."""
        with self._conn.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO projection_documents (namespace, tenant, key, body) VALUES (%s, %s, %s, %s)"
                " ON CONFLICT (namespace, tenant, key) DO UPDATE SET body = EXCLUDED.body",
                [(namespace, doc.tenant, doc.key, doc.body) for doc in documents],
            )

    def delete_documents(self, namespace: str, *, tenant: str | None = None) -> None:
        """Delete the namespace's documents (one tenant's if given)."""
        if tenant is None:
            self._conn.execute("DELETE FROM projection_documents WHERE namespace = %s", (namespace,))
        else:
            self._conn.execute(
                "DELETE FROM projection_documents WHERE namespace = %s AND tenant = %s", (namespace, tenant)
            )

    def move_documents(self, source: str, target: str, *, tenant: str | None = None) -> None:
        """Replace ``target``'s documents (one tenant's if given) by ``source``'s."""
        self.delete_documents(target, tenant=tenant)
        self._conn.execute("UPDATE projection_documents SET namespace = %s WHERE namespace = %s", (target, source))

    # -- SQL tables -------------------------------------------------------------------------

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """Run one statement of a projection (qmark placeholders) and return its rows.

        Errors of the database itself (connection lost, lock timeout) become esctl errors;
        errors of the statement (a typo, a constraint) stay psycopg errors, which the runner
        records as the handler's failure.
        """
        try:
            with self._conn.cursor() as cursor:
                cursor.execute(qmark_to_format(sql), params)
                return cursor.fetchall() if cursor.description is not None else []
        except psycopg.Error as error:
            raise self._classify(error) from error

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one statement once per parameter row."""
        try:
            with self._conn.cursor() as cursor:
                cursor.executemany(qmark_to_format(sql), list(rows))
        except psycopg.Error as error:
            raise self._classify(error) from error

    def table_columns(self, table: str) -> list[str]:
        """Return ``table``'s column names (empty when it does not exist)."""
        rows = self._conn.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attnum > 0"
            " AND NOT attisdropped ORDER BY attnum",
            (_name(table),),
        )
        return [str(row[0]) for row in rows]

    def table_rows(self, table: str, *, where: tuple[str, Any] | None = None) -> list[Row]:
        """Return ``table``'s rows (those with ``where[0] = where[1]`` if given), ordered by every column."""
        columns = self.table_columns(table)
        if not columns:
            return []
        order = ", ".join(str(i) for i in range(1, len(columns) + 1))
        if where is None:
            return self._conn.execute(f"SELECT * FROM {_name(table)} ORDER BY {order}").fetchall()
        column, value = where
        sql = f"SELECT * FROM {_name(table)} WHERE {_name(column)} = %s ORDER BY {order}"
        return self._conn.execute(sql, (value,)).fetchall()

    def drop_table(self, table: str) -> None:
        """Drop ``table`` and its indexes, if it exists."""
        self._conn.execute(f"DROP TABLE IF EXISTS {_name(table)}")

    def replace_table(self, source: str, target: str) -> None:
        """Make ``source`` the table called ``target``, dropping the old ``target``.

        The fresh table's indexes are renamed after the live ones (``{target}_…`` instead of
        ``{source}_…``), so names stay stable across rebuilds. Renaming needs an ACCESS
        EXCLUSIVE lock on the live table, and every query on it queues behind a waiting swap:
        each try waits at most ``_SWAP_WAIT_MS``, then steps back (to a savepoint) and tries
        again, up to the store's busy timeout.

        Raises:
            DatabaseBusyError: Readers held the live table past the busy timeout.
        """
        old, new = _name(source), _name(target)
        self._retry_swap(lambda: self._swap_tables(old, new), f"swapping the rebuilt {new} in")

    def _swap_tables(self, old: str, new: str) -> None:
        self._conn.execute(f"DROP TABLE IF EXISTS {new}")
        self._conn.execute(f"ALTER TABLE {old} RENAME TO {new}")
        indexes = self._conn.execute(
            "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename = %s", (new,)
        ).fetchall()
        for (index,) in indexes:
            if str(index).startswith(old):
                renamed = new + str(index)[len(old) :]
                self._conn.execute(f"ALTER INDEX {index} RENAME TO {renamed}")

    def _retry_swap(self, swap: Callable[[], None], what: str) -> None:
        timeout = self._conn.execute("SELECT current_setting('lock_timeout')").fetchone()
        deadline = time.monotonic() + _milliseconds(str(timeout[0] if timeout else "0")) / 1000
        pause = 0.01
        while True:
            self._conn.execute("SAVEPOINT esctl_swap")
            self._conn.execute(f"SET LOCAL lock_timeout = {_SWAP_WAIT_MS}")
            try:
                swap()
            except pg_errors.LockNotAvailable:
                self._conn.execute("ROLLBACK TO SAVEPOINT esctl_swap")
                if time.monotonic() >= deadline:
                    raise DatabaseBusyError(
                        f"{what}: readers held it past the busy timeout in {describe(self._target)}",
                        hint="retry later, or raise the timeout with ESCTL_BUSY_TIMEOUT (seconds)",
                    ) from None
                time.sleep(pause)
                pause = min(pause * 2, 0.5)
                continue
            self._conn.execute("RELEASE SAVEPOINT esctl_swap")
            return

    def replace_tenant_rows(self, source: str, target: str, *, column: str, tenant: str) -> None:
        """Replace ``target``'s rows of ``tenant`` by ``source``'s rows, then drop ``source``."""
        old, new = _name(source), _name(target)
        self._conn.execute("SAVEPOINT esctl_tenant_swap")
        try:
            self._conn.execute(f"DELETE FROM {new} WHERE {_name(column)} = %s", (tenant,))
            self._conn.execute(f"INSERT INTO {new} SELECT * FROM {old}")
        except pg_errors.UniqueViolation as error:
            self._conn.execute("ROLLBACK TO SAVEPOINT esctl_tenant_swap")
            raise UsageError(
                f"cannot swap tenant {tenant}'s rows into {target}: {error.diag.message_primary}",
                hint="a per-tenant table's keys must not clash across tenants (include the tenant id in the key)",
            ) from None
        self._conn.execute("RELEASE SAVEPOINT esctl_tenant_swap")
        self._conn.execute(f"DROP TABLE {old}")

    def _classify(self, error: psycopg.Error) -> Exception:
        state = error.sqlstate or ""
        if not state or state[:2] in _INFRASTRUCTURE_CLASSES or state in _INFRASTRUCTURE_STATES:
            return translate_error(error, self._target)
        return error


def _name(identifier: str) -> str:
    """An identifier as SQL may name it unquoted (folded to lower case, as unquoted DDL names are)."""
    if not _IDENTIFIER.match(identifier):
        raise UsageError(f"{identifier!r} is not a usable table or column name")
    return identifier.lower()


def _milliseconds(setting: str) -> float:
    """``lock_timeout`` as the server shows it (``5s``, ``200ms``, ``0``) in milliseconds."""
    match = re.fullmatch(r"(\d+)\s*(ms|s|min)?", setting.strip())
    if match is None:
        return 0.0
    scale = {"ms": 1, "s": 1000, "min": 60000, None: 1}[match.group(2)]
    return float(match.group(1)) * scale


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
