"""The PostgreSQL store's append transactions: one batch, or an import in chunks, all or nothing.

Positions come from the counter row (``esctl_position``): an append takes them with one
``UPDATE … RETURNING`` inside its transaction, so they are gapless and follow commit order. That
row lock serialises appends, so it is taken as late as possible: a plain batch (fresh ids,
versions following their heads, expected versions holding — ``plain_versions`` (``esctl.store.plain``), the SQLite
store's decision) plans from the heads first, then takes its positions, inserts and commits. The
unique indexes on ``(stream, version)`` and ``event_id`` make that optimism safe: a concurrent
append to the same stream, or a stored id, fails the insert, and the batch is planned again from
scratch under the full rules (``esctl.store.rules.plan_append``) holding the counter lock first.
Each append ends with ``pg_notify`` so that ``catch-up --follow`` wakes at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from typing import Any, TypeVar
from uuid import UUID

import psycopg
from psycopg import errors as pg_errors

from esctl import codec
from esctl.errors import ConcurrencyError, EsctlError, InvalidInputError
from esctl.events import DomainEvent
from esctl.registry import EventRegistry
from esctl.store.plain import plain_versions
from esctl.store.postgres.reads import COLUMNS
from esctl.store.rules import plan_append
from esctl.store.types import AppendChunk, AppendResult, Expected, StreamHead, StreamKey

Conn = psycopg.Connection[tuple[Any, ...]]
T = TypeVar("T")

CHANNEL = "esctl_events"
"""The ``LISTEN`` channel every append notifies (a wake-up hint; the checkpoint is the truth)."""

STORED_AT = codec.STORED_AT
_PAYLOAD = codec.INSERT_COLUMNS.index("payload")
_METADATA = codec.INSERT_COLUMNS.index("metadata")
_INSERT_COLUMNS = ("position", *codec.INSERT_COLUMNS)
INSERT = f"INSERT INTO events ({', '.join(_INSERT_COLUMNS)}) VALUES ({', '.join(['%s'] * len(_INSERT_COLUMNS))})"
COPY = f"COPY events ({', '.join(_INSERT_COLUMNS)}) FROM STDIN"
HEAD = (
    "SELECT aggregate_version, tenant_id FROM events"
    " WHERE aggregate_id = %s AND aggregate_type = %s ORDER BY aggregate_version DESC LIMIT 1"
)
# stored_at is the server's clock read holding the counter lock: it rises with the position, also
# across hosts whose clocks differ.
_NOW = "(extract(epoch FROM clock_timestamp()) * 1000000)::bigint"
TAKE = f"UPDATE esctl_position SET last = last + %s WHERE id = 1 RETURNING last, {_NOW}"
LOCK = f"SELECT last, {_NOW} FROM esctl_position WHERE id = 1 FOR UPDATE"
NOTIFY = f"SELECT pg_notify('{CHANNEL}', %s)"
_COPY_FROM = 64
"""Rows from which a chunk goes in by COPY rather than one multi-row INSERT."""


class StoredIdsFound(Exception):
    """The insert hit a unique index: plan again under the full rules."""


class Stopped(Exception):
    """The caller of ``append_chunks`` was cancelled: roll back."""


def encode(events: list[DomainEvent]) -> list[codec.InsertRow] | None:
    """Encode a batch's rows on the caller's thread; ``None`` when one does not encode (the full
    rules then plan first and word the error)."""
    try:
        return codec.events_to_rows(events, 0)
    except InvalidInputError:
        return None


def transaction(conn: Conn, function: Callable[[], T]) -> T:
    """Run ``function`` in one transaction: commit after it, roll back if it raises."""
    try:
        result = function()
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    return result


def append(
    conn: Conn,
    events: list[DomainEvent],
    rows: list[codec.InsertRow] | None,
    expected_versions: Mapping[StreamKey, Expected] | None,
    auto_version: Collection[int],
    registry: EventRegistry,
) -> AppendResult:
    """Append one batch (see ``EventStore.append_batch``): optimistic first, full rules on a clash."""
    if rows is not None:
        try:
            result = transaction(conn, lambda: _write_plain(conn, rows, expected_versions, auto_version))
        except StoredIdsFound:
            result = None
        if result is not None:
            return result
    return transaction(conn, lambda: _write_full(conn, events, expected_versions, auto_version, registry))


def _write_plain(
    conn: Conn,
    rows: list[codec.InsertRow],
    expected_versions: Mapping[StreamKey, Expected] | None,
    auto_version: Collection[int],
) -> AppendResult | None:
    versions = plain_versions(rows, expected_versions, auto_version, lambda i, t: _head(conn, i, t))
    if versions is None:
        return None
    if len(rows) < _COPY_FROM or _rls_applies(conn):
        last = _write_at_once(conn, rows)
    else:
        # Larger batches go faster by COPY (measured: batches of 100, 0.5x raw executemany as one
        # statement, 1.25x by COPY), at the price of holding the counter lock a round trip longer.
        first, stored_at = _take(conn, len(rows))
        _insert(conn, first, rows, stored_at)
        last = first + len(rows) - 1
        conn.execute(NOTIFY, (str(last),))
    first = last - len(rows) + 1
    return AppendResult(
        appended=len(rows),
        skipped=0,
        first_position=first,
        last_position=last,
        stream_versions={(kind, UUID(aggregate_id)): version for (kind, aggregate_id), version in versions.items()},
    )


def _write_full(
    conn: Conn,
    events: list[DomainEvent],
    expected_versions: Mapping[StreamKey, Expected] | None,
    auto_version: Collection[int],
    registry: EventRegistry,
) -> AppendResult:
    locked = conn.execute(LOCK).fetchone()  # first: the heads and ids read next stay true to the commit
    assert locked is not None
    try:
        result = _write(conn, events, expected_versions, auto_version, registry, int(locked[1]))
    except StoredIdsFound:
        # Holding the lock, the rules saw every stored row this role may see: the clash is with
        # rows row-level security hides from it (another tenant's stream or event id).
        raise ConcurrencyError(
            "an event id or stream version of this append is already stored, in rows this role cannot see",
            hint="row-level security hides another tenant's events; event ids and stream ids must be unique",
        ) from None
    if result.last_position is not None:
        conn.execute(NOTIFY, (str(result.last_position),))
    return result


def _write(
    conn: Conn,
    events: list[DomainEvent],
    expected_versions: Mapping[StreamKey, Expected] | None,
    auto_version: Collection[int],
    registry: EventRegistry,
    stored_at: int,
) -> AppendResult:
    """Write a batch under the full rules, holding the counter lock (``LOCK``)."""
    plan = plan_append(
        events,
        heads=heads(conn, _streams(events)),
        existing=_existing(conn, [e.event_id for e in events], registry),
        expected_versions=expected_versions,
        auto_version=auto_version,
    )
    if not plan.events:
        return AppendResult(appended=0, skipped=plan.skipped, stream_versions=plan.stream_versions)
    first, _ = _take(conn, len(plan.events))
    _insert(conn, first, codec.events_to_rows(plan.events, stored_at), stored_at)
    appended = len(plan.events)
    return AppendResult(
        appended=appended,
        skipped=plan.skipped,
        first_position=first,
        last_position=first + appended - 1,
        stream_versions=plan.stream_versions,
    )


_ARRAYS = {
    "event_id": "uuid",
    "event_type": "text",
    "event_version": "integer",
    "aggregate_type": "text",
    "aggregate_id": "uuid",
    "aggregate_version": "integer",
    "tenant_id": "uuid",
    "occurred_at": "bigint",
    "correlation_id": "uuid",
    "causation_id": "uuid",
    "actor_id": "text",
    "payload": "json",
    "metadata": "json",
}
_GIVEN = [codec.INSERT_COLUMNS.index(column) for column in _ARRAYS]
_SELECTED = ["clock.at" if column == "stored_at" else f"r.{column}" for column in codec.INSERT_COLUMNS]
AT_ONCE = (
    "WITH taken AS (UPDATE esctl_position SET last = last + %(count)s WHERE id = 1 RETURNING last),"
    # The server's clock, read holding the counter lock: stored_at rises with the position, also
    # across hosts whose clocks differ.
    " clock AS (SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint AS at FROM taken),"
    f" written AS (INSERT INTO events ({', '.join(_INSERT_COLUMNS)})"
    f" SELECT taken.last - %(count)s + r.ord, {', '.join(_SELECTED)}"
    " FROM taken, clock, unnest("
    + ", ".join(f"%({column})s::{kind}[]" for column, kind in _ARRAYS.items())
    + f") WITH ORDINALITY AS r({', '.join(_ARRAYS)}, ord) RETURNING 1)"
    f" SELECT taken.last, pg_notify('{CHANNEL}', taken.last::text), (SELECT count(*) FROM written) FROM taken"
)
"""A plain batch in ONE statement: take the positions, insert, notify. The counter row is locked
from this statement to the commit that follows it, two round trips; separate statements held it
for four, and every other append waits that long."""


def _write_at_once(conn: Conn, rows: list[codec.InsertRow]) -> int:
    """Write a plain batch with ``AT_ONCE``; return its last position.

    Raises:
        StoredIdsFound: A unique index refused a row (nothing of the batch is written).
    """
    params: dict[str, Any] = {"count": len(rows)}
    for column, index in zip(_ARRAYS, _GIVEN, strict=True):
        if column in ("payload", "metadata"):
            params[column] = [bytes(row[index]).decode() for row in rows]
        else:
            params[column] = [row[index] for row in rows]
    try:
        found = conn.execute(AT_ONCE, params).fetchone()
    except pg_errors.UniqueViolation:
        raise StoredIdsFound from None
    assert found is not None
    return int(found[0])


def _take(conn: Conn, count: int) -> tuple[int, int]:
    """Take ``count`` positions from the counter row; return the first, and the server's clock."""
    row = conn.execute(TAKE, (count,)).fetchone()
    assert row is not None
    return int(row[0]) - count + 1, int(row[1])


def _insert(conn: Conn, first: int, rows: list[codec.InsertRow], stored_at: int) -> None:
    """Insert ``rows`` at positions ``first``…; a unique index refusing one is ``StoredIdsFound``."""
    values = [_values(first + index, row, stored_at) for index, row in enumerate(rows)]
    try:
        # COPY FROM is refused on a table under row-level security, for roles it applies to.
        if len(values) >= _COPY_FROM and not _rls_applies(conn):
            with conn.cursor() as cursor, cursor.copy(COPY) as copy:
                for value in values:
                    copy.write_row(value)
        else:
            with conn.cursor() as cursor:
                cursor.executemany(INSERT, values)
    except pg_errors.UniqueViolation:
        raise StoredIdsFound from None


def _rls_applies(conn: Conn) -> bool:
    row = conn.execute(
        "SELECT relrowsecurity AND NOT pg_has_role(relowner, 'USAGE')"
        " AND NOT (SELECT rolbypassrls OR rolsuper FROM pg_roles WHERE rolname = current_user)"
        " FROM pg_class WHERE oid = 'events'::regclass"
    ).fetchone()
    return bool(row and row[0])


def _values(position: int, row: codec.InsertRow, stored_at: int) -> list[Any]:
    value = [position, *row]
    value[1 + STORED_AT] = stored_at
    # JSON goes in as text: psycopg would send bytes as bytea, which a json column refuses.
    value[1 + _PAYLOAD] = bytes(row[_PAYLOAD]).decode()
    value[1 + _METADATA] = bytes(row[_METADATA]).decode()
    return value


def _head(conn: Conn, aggregate_id: str, aggregate_type: str) -> tuple[int, str | None] | None:
    found = conn.execute(HEAD, (aggregate_id, aggregate_type)).fetchone()
    return None if found is None else (int(found[0]), found[1])


def _streams(events: list[DomainEvent]) -> Iterable[StreamKey]:
    return {(e.aggregate_type, e.aggregate_id.int): (e.aggregate_type, e.aggregate_id) for e in events}.values()


def heads(conn: Conn, keys: Iterable[StreamKey]) -> dict[StreamKey, StreamHead]:
    """Return each stored stream's version and tenant."""
    found: dict[StreamKey, StreamHead] = {}
    for aggregate_type, aggregate_id in keys:
        head = _head(conn, str(aggregate_id), aggregate_type)
        if head is not None:
            found[(aggregate_type, aggregate_id)] = StreamHead(head[0], None if head[1] is None else UUID(head[1]))
    return found


def _existing(conn: Conn, event_ids: list[UUID], registry: EventRegistry) -> dict[UUID, DomainEvent]:
    found: dict[UUID, DomainEvent] = {}
    rows = conn.execute(
        f"SELECT {COLUMNS} FROM events WHERE event_id = ANY(%s::uuid[])",
        ([str(i) for i in event_ids],),
    ).fetchall()
    for row in rows:
        stored = codec.row_to_stored_event(row, registry)
        found[stored.event.event_id] = stored.event
    return found


# -- an import in chunks: one transaction ------------------------------------------------------


def append_chunks(
    conn: Conn, chunks: Iterator[AppendChunk], stop: threading.Event, registry: EventRegistry
) -> AppendResult:
    """Append every chunk in ONE transaction (see ``EventStore.append_chunks``).

    The counter lock is taken first and held to the commit (an import is one append: its
    positions are contiguous), and each chunk is written as it is read, by COPY when plain. A
    chunk that hits a stored id rolls back to its savepoint and is planned again under the full
    rules, which see the chunks written before it.
    """
    first = _next_chunk(chunks, stop)  # read before taking the lock
    if first is None:
        return AppendResult(appended=0)
    return transaction(conn, lambda: _write_chunks(conn, first, chunks, stop, registry))


def _next_chunk(chunks: Iterator[AppendChunk], stop: threading.Event) -> AppendChunk | None:
    while True:
        if stop.is_set():
            raise Stopped
        chunk = next(chunks, None)
        if stop.is_set():
            raise Stopped
        if chunk is None or chunk.events:
            return chunk


def _write_chunks(
    conn: Conn, first: AppendChunk, chunks: Iterator[AppendChunk], stop: threading.Event, registry: EventRegistry
) -> AppendResult:
    locked = conn.execute(LOCK).fetchone()
    assert locked is not None
    stored_at = int(locked[1])  # one append, one moment
    seen: set[StreamKey] = set()
    appended = skipped = 0
    first_position: int | None = None
    last_position: int | None = None
    versions: dict[StreamKey, int] = {}
    chunk: AppendChunk | None = first
    while chunk is not None:
        try:
            result = _write_chunk(conn, chunk, seen, stored_at, registry)
        except EsctlError as error:
            if error.batch_index is not None:
                error.batch_chunk = chunk
            raise
        appended += result.appended
        skipped += result.skipped
        if first_position is None:
            first_position = result.first_position
        last_position = result.last_position if result.last_position is not None else last_position
        versions.update(result.stream_versions)
        chunk = _next_chunk(chunks, stop)
    if last_position is not None:
        conn.execute(NOTIFY, (str(last_position),))
    return AppendResult(appended, skipped, first_position, last_position, versions)


def _write_chunk(
    conn: Conn, chunk: AppendChunk, seen: set[StreamKey], stored_at: int, registry: EventRegistry
) -> AppendResult:
    items = chunk.events
    given = [item.row for item in items]
    if None in given:
        encoded = iter(codec.events_to_rows([item.event for item in items if item.row is None], stored_at))
        ready = [next(encoded) if row is None else row.copy() for row in given]
    else:
        ready = list(map(list.copy, given))  # type: ignore[arg-type]  # no None left
    expected = {key: value for key, value in (chunk.expected_versions or {}).items() if key not in seen}
    result: AppendResult | None = None
    conn.execute("SAVEPOINT esctl_chunk")
    try:
        versions = plain_versions(ready, expected, chunk.auto_version, lambda i, t: _head(conn, i, t))
        if versions is not None:
            first, _ = _take(conn, len(ready))
            _insert(conn, first, ready, stored_at)
            result = AppendResult(
                len(ready),
                0,
                first,
                first + len(ready) - 1,
                {(kind, UUID(aggregate_id)): version for (kind, aggregate_id), version in versions.items()},
            )
    except StoredIdsFound:
        conn.execute("ROLLBACK TO SAVEPOINT esctl_chunk")
    if result is None:
        result = _write(conn, [item.event for item in items], expected, chunk.auto_version, registry, stored_at)
    conn.execute("RELEASE SAVEPOINT esctl_chunk")
    seen.update(result.stream_versions)
    return result
