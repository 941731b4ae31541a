"""Reading events a page at a time: plain functions on a connection, no models, no event loop.

``SQLiteEventStore`` steps ``pages`` on its connection's thread, one page per round trip; the
CLI's quick ``dump`` (``esctl.cli.quick``) steps it directly. Both therefore select, order and
bound their rows with the same code.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
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
    """Yield the rows ``options`` selects, in position order, ``READ_BATCH`` at a time, converted.

    Keyset pagination: each page is its own query (no cursor stays open between pages, so the
    caller may do anything in between), bounded by the head position read before the first
    page, so the read is a consistent snapshot of an append-only log. Nothing runs until the
    first page is asked for.
    """
    after, upper = _bounds(conn, options)
    remaining = options.limit
    while after < upper and (remaining is None or remaining > 0):
        size = READ_BATCH if remaining is None else min(READ_BATCH, remaining)
        rows = conn.execute(*_select(options, after, upper, size)).fetchall()
        if not rows:
            return
        after = int(rows[-1][0])
        if remaining is not None:
            remaining -= len(rows)
        yield convert(rows)


def global_position(conn: sqlite3.Connection) -> int:
    """Return the newest event's position (0 when the store is empty)."""
    row = conn.execute("SELECT MAX(position) FROM events").fetchone()
    return int(row[0] or 0)


def _select(options: ReadOptions, after: int, upper: int, size: int) -> tuple[str, list[object]]:
    where, params = where_clause(options, ordered=True)
    sql = (
        f"SELECT {COLUMNS} FROM events WHERE position > ? AND position <= ? AND {where}"
        f" ORDER BY position LIMIT {int(size)}"
    )
    return sql, [after, upper, *params]


def _bounds(conn: sqlite3.Connection, options: ReadOptions) -> tuple[int, int]:
    """Return ``(after, upper)``: the read's position range, as narrow as the filters allow."""
    after = max((options.from_position or 1) - 1, 0)
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
