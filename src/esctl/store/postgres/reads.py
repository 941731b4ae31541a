"""Reading events a page at a time, and the ``WHERE`` clause for ``ReadOptions``: plain functions on
a connection, no models, no event loop.

Pages are keyset pages (``position > last ORDER BY position LIMIT n``), each its own statement,
bounded by the head read before the first: memory stays flat, and no cursor or transaction stays
open between pages. Rows come back as the SQLite store's do: ids as canonical text, times as
integer microseconds, payload and metadata as JSON bytes (``driver`` registers those loaders).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import psycopg

from esctl.rows import ROW_COLUMNS, Row
from esctl.store.types import ReadOptions
from esctl.timeutil import to_micros

Conn = psycopg.Connection[tuple[Any, ...]]
R = TypeVar("R")

READ_BATCH = 1000
"""Rows fetched per page."""

COLUMNS = ", ".join(ROW_COLUMNS)
"""The select list of a full event row."""


def where_clause(options: ReadOptions | None) -> tuple[str, list[object]]:
    """Return the condition (never empty) and parameters (``%s`` style) selecting ``options``' events.

    ``limit`` is not part of it. Ids are passed as text: psycopg sends text untyped, and the
    server reads it as the column's ``uuid``.
    """
    options = options or ReadOptions()
    clauses: list[str] = ["TRUE"]
    params: list[object] = []
    if options.from_position:
        clauses.append("position > %s")
        params.append(options.from_position)
    if options.to_position is not None:
        clauses.append("position <= %s")
        params.append(options.to_position)
    tenants = options.tenants
    if len(tenants) == 1:
        clauses.append("tenant_id = %s")
        params.append(str(tenants[0]))
    elif tenants:
        clauses.append("tenant_id = ANY(%s::uuid[])")
        params.append([str(t) for t in tenants])
    if options.aggregate_type is not None:
        clauses.append("aggregate_type = %s")
        params.append(options.aggregate_type)
    if options.aggregate_id is not None:
        clauses.append("aggregate_id = %s")
        params.append(str(options.aggregate_id))
    if len(options.event_types) == 1:
        clauses.append("event_type = %s")
        params.append(options.event_types[0])
    elif options.event_types:
        clauses.append("event_type = ANY(%s::text[])")
        params.append(list(options.event_types))
    add_time_window(options, clauses, params)
    return " AND ".join(clauses), params


def add_time_window(options: ReadOptions, clauses: list[str], params: list[object]) -> None:
    """Add the half-open ``occurred_at`` window: ``from_timestamp`` inclusive, ``to_timestamp`` exclusive."""
    if options.from_timestamp is not None:
        clauses.append("occurred_at >= %s")
        params.append(to_micros(options.from_timestamp))
    if options.to_timestamp is not None:
        clauses.append("occurred_at < %s")
        params.append(to_micros(options.to_timestamp))


def window_positions(conn: Conn, options: ReadOptions) -> tuple[int, int] | None:
    """Return the first and last position of one tenant's events in a time window, or ``None``.

    ``events_tenant_occurred`` holds the position too, so this is an index-only range scan; the
    pages then walk only that stretch of ``events_tenant_position``.
    """
    clauses = ["tenant_id = %s"]
    params: list[object] = [str(options.tenants[0])]
    add_time_window(options, clauses, params)
    # ``position + 0``: a bare MIN(position) lets the planner walk the primary key from one end
    # until a row of the tenant's window turns up (the whole log, for a late window).
    sql = f"SELECT MIN(position + 0), MAX(position + 0) FROM events WHERE {' AND '.join(clauses)}"
    row = conn.execute(sql, params).fetchone()
    if row is None or row[0] is None:
        return None
    return int(row[0]), int(row[1])


def global_position(conn: Conn) -> int:
    """Return the newest committed event's position (0 when the store is empty).

    The counter row holds the last position taken; a position is only taken inside the append
    transaction that inserts it, so the committed value is the newest committed event's.
    """
    row = conn.execute("SELECT last FROM esctl_position WHERE id = 1").fetchone()
    return 0 if row is None else int(row[0])


def bounds(conn: Conn, options: ReadOptions) -> tuple[int, int]:
    """Return ``(after, upper)``: the read's position range, as narrow as the filters allow."""
    after = max(options.from_position, 0)
    upper = global_position(conn)
    if options.to_position is not None:
        upper = min(upper, options.to_position)
    timed = options.from_timestamp is not None or options.to_timestamp is not None
    if timed and len(options.tenants) == 1 and options.aggregate_id is None:
        window = window_positions(conn, options)
        if window is None:
            return after, after
        after, upper = max(after, window[0] - 1), min(upper, window[1])
    return after, upper


def page_query(options: ReadOptions, after: int, upper: int, size: int) -> tuple[str, list[object]]:
    """The statement reading one page of ``options``' events after ``after``, up to ``upper``
    (from ``upper`` down for a backward read)."""
    where, params = where_clause(options)
    order = "DESC" if options.backward else ""
    sql = (
        f"SELECT {COLUMNS} FROM events WHERE position > %s AND position <= %s AND {where}"
        f" ORDER BY position {order} LIMIT {int(size)}"
    )
    return sql, [after, upper, *params]


def pages(conn: Conn, options: ReadOptions, convert: Callable[[list[Row]], list[R]]) -> Iterator[list[R]]:
    """Yield the rows ``options`` selects, in its direction, ``READ_BATCH`` at a time, converted.

    A backward read walks the same range down from its top. Each step is its own short
    transaction (rolled back: it only reads), so the caller may do
    anything between pages. Nothing runs until the first page is asked for.
    """
    after, upper = bounds(conn, options)
    conn.rollback()
    remaining = options.limit
    while after < upper and (remaining is None or remaining > 0):
        size = READ_BATCH if remaining is None else min(READ_BATCH, remaining)
        rows = conn.execute(*page_query(options, after, upper, size)).fetchall()
        conn.rollback()
        if not rows:
            return
        if options.backward:
            upper = int(rows[-1][0]) - 1
        else:
            after = int(rows[-1][0])
        if remaining is not None:
            remaining -= len(rows)
        yield convert(rows)
