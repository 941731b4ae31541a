"""The ``WHERE`` clause for ``ReadOptions``, shared by paged reads, counts and stats."""

from __future__ import annotations

import sqlite3

from esctl.store.types import ReadOptions
from esctl.timeutil import to_micros


def where_clause(options: ReadOptions | None, *, ordered: bool = False) -> tuple[str, list[object]]:
    """Return the condition (never empty) and parameters selecting ``options``' events.

    ``limit`` is not part of it.

    Args:
        options: The filters.
        ordered: The query reads in position order, a page at a time. SQLite has no statistics
            here, so the clause steers it: a column written ``+col`` cannot drive an index. A
            stream read (``aggregate_id``) goes through the stream's unique index, not through a
            wider one that merely avoids sorting; a list of values (IN) never drives an index,
            which would return rows out of position order and make SQLite sort every remaining
            match again for each page (quadratic, and memory grows with it).
    """
    options = options or ReadOptions()
    aside = "+" if ordered and options.aggregate_id is not None else ""
    listed = "+" if ordered else ""
    clauses: list[str] = ["1"]
    params: list[object] = []
    if options.from_position:
        clauses.append("position > ?")
        params.append(options.from_position)
    if options.to_position is not None:
        clauses.append("position <= ?")
        params.append(options.to_position)
    tenants = options.tenants
    if len(tenants) == 1:
        clauses.append(f"{aside}tenant_id = ?")
        params.append(str(tenants[0]))
    elif tenants:
        clauses.append(f"{listed}tenant_id IN ({', '.join('?' * len(tenants))})")
        params.extend(str(t) for t in tenants)
    if options.aggregate_type is not None:
        clauses.append(f"{aside}aggregate_type = ?")
        params.append(options.aggregate_type)
    if options.aggregate_id is not None:
        clauses.append("aggregate_id = ?")
        params.append(str(options.aggregate_id))
    if len(options.event_types) == 1:
        clauses.append(f"{aside}event_type = ?")
        params.append(options.event_types[0])
    elif options.event_types:
        clauses.append(f"{listed}event_type IN ({', '.join('?' * len(options.event_types))})")
        params.extend(options.event_types)
    _add_time_window(options, clauses, params)
    return " AND ".join(clauses), params


def window_positions(conn: sqlite3.Connection, options: ReadOptions) -> tuple[int, int] | None:
    """Return the first and last position of one tenant's events in a time window, or ``None``.

    Used before a paged read of one tenant's time window: ``events_tenant_occurred`` finds the
    window's positions from index entries alone, and the pages then walk only that stretch of
    ``events_tenant_position`` instead of the tenant's whole history.

    Returns:
        ``(first, last)``, or ``None`` when no event of the tenant falls in the window.
    """
    clauses = ["tenant_id = ?"]
    params: list[object] = [str(options.tenants[0])]
    _add_time_window(options, clauses, params)
    where = " AND ".join(clauses)
    sql = f"SELECT MIN(position), MAX(position) FROM events INDEXED BY events_tenant_occurred WHERE {where}"
    first, last = conn.execute(sql, params).fetchone()
    return None if first is None else (int(first), int(last))


def _add_time_window(options: ReadOptions, clauses: list[str], params: list[object]) -> None:
    """Add the half-open ``occurred_at`` window: ``from_timestamp`` inclusive, ``to_timestamp`` exclusive."""
    if options.from_timestamp is not None:
        clauses.append("occurred_at >= ?")
        params.append(to_micros(options.from_timestamp))
    if options.to_timestamp is not None:
        clauses.append("occurred_at < ?")
        params.append(to_micros(options.to_timestamp))
