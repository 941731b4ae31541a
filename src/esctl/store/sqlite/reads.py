"""Reading events a page at a time: plain functions on a connection, no models, no event loop.

``SQLiteEventStore`` steps ``pages`` on its connection's thread, one page per round trip; the
CLI's quick ``dump`` (``esctl.cli.quick``) steps it directly. Both therefore select, order and
bound their rows with the same code.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import TypeVar

from esctl.rows import ROW_COLUMNS, Row
from esctl.store.sqlite.filters import where_clause, window_positions
from esctl.store.types import ReadOptions

READ_BATCH = 1000
"""Rows fetched per page."""

COLUMNS = ", ".join(ROW_COLUMNS)
"""The select list of a full event row."""

R = TypeVar("R")


def pages(conn: sqlite3.Connection, options: ReadOptions, convert: Callable[[list[Row]], list[R]]) -> Iterator[list[R]]:
    """Yield the rows ``options`` selects, in its direction, ``READ_BATCH`` at a time, converted.

    Keyset pagination: each page is its own query (no cursor stays open between pages, so the
    caller may do anything in between), bounded by the head position read before the first
    page, so the read is a consistent snapshot of an append-only log. A backward read walks
    the same range down from its top. Nothing runs until the first page is asked for.
    """
    after, upper = _bounds(conn, options)
    remaining = options.limit
    backward = options.backward
    while after < upper and (remaining is None or remaining > 0):
        size = READ_BATCH if remaining is None else min(READ_BATCH, remaining)
        rows = conn.execute(*_select(options, after, upper, size, backward=backward)).fetchall()
        if not rows:
            return
        if backward:
            upper = int(rows[-1][0]) - 1
        else:
            after = int(rows[-1][0])
        if remaining is not None:
            remaining -= len(rows)
        yield convert(rows)


def stream_pages(
    conn: sqlite3.Connection,
    aggregate_id: str,
    aggregate_type: str | None,
    after_version: int,
    options: ReadOptions,
    convert: Callable[[list[Row]], list[R]],
) -> Iterator[list[R]]:
    """Yield one stream's rows after ``after_version``, ``READ_BATCH`` at a time, converted.

    Walks the stream's unique index ``(aggregate_id, aggregate_type, aggregate_version)``, so a
    read from a late version (a snapshot's) touches only the rows after it. ``options`` adds its
    tenant and time filters, direction and limit; its positions are not used.
    """
    stream = replace(options, aggregate_id=None, aggregate_type=None, from_position=0, to_position=None, limit=None)
    where, params = where_clause(stream)
    # Within one stream the version order is the position order; with no type, several streams
    # may share the id, so the pages go by position.
    key = "aggregate_version" if aggregate_type is not None else "position"
    kind = "AND aggregate_type = ?" if aggregate_type is not None else ""
    fixed: list[object] = [aggregate_id] if aggregate_type is None else [aggregate_id, aggregate_type]
    backward = options.backward
    order = "DESC" if backward else ""
    column = ROW_COLUMNS.index(key)
    # Keyset: a forward read moves the lower bound up, a backward read the upper bound down.
    lower, upper = 0, None
    remaining = options.limit
    while remaining is None or remaining > 0:
        size = READ_BATCH if remaining is None else min(READ_BATCH, remaining)
        keyset = f"{key} > ?" if upper is None else f"{key} > ? AND {key} < ?"
        values: list[object] = [lower] if upper is None else [lower, upper]
        sql = (
            f"SELECT {COLUMNS} FROM events WHERE aggregate_id = ? {kind} AND aggregate_version > ?"
            f" AND {keyset} AND {where} ORDER BY {key} {order} LIMIT {int(size)}"
        )
        rows = conn.execute(sql, [*fixed, after_version, *values, *params]).fetchall()
        if not rows:
            return
        if backward:
            upper = int(rows[-1][column])
        else:
            lower = int(rows[-1][column])
        if remaining is not None:
            remaining -= len(rows)
        yield convert(rows)
        if len(rows) < size:
            return


def global_position(conn: sqlite3.Connection) -> int:
    """Return the newest event's position (0 when the store is empty)."""
    row = conn.execute("SELECT MAX(position) FROM events").fetchone()
    return int(row[0] or 0)


def _select(options: ReadOptions, after: int, upper: int, size: int, *, backward: bool) -> tuple[str, list[object]]:
    where, params = where_clause(options, ordered=True)
    order = "DESC" if backward else ""
    sql = (
        f"SELECT {COLUMNS} FROM events WHERE position > ? AND position <= ? AND {where}"
        f" ORDER BY position {order} LIMIT {int(size)}"
    )
    return sql, [after, upper, *params]


def _bounds(conn: sqlite3.Connection, options: ReadOptions) -> tuple[int, int]:
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
