"""The SQL behind ``streams``, ``tenants``, ``stats`` and ``count``: each function runs on the
store's connection thread (one ``Worker.run`` call) and returns plain results, the same as the
SQLite store's (text ordered bytewise, ``COLLATE "C"``, as SQLite orders it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import psycopg

from esctl.store.inspection import MICROS_PER_DAY, StoreStats, StreamInfo, TenantInfo, build_stats
from esctl.store.postgres.reads import where_clause
from esctl.store.types import ReadOptions
from esctl.timeutil import from_micros

Conn = psycopg.Connection[tuple[Any, ...]]

PAGE = 1000
"""Streams per round trip."""

# Floor division that stays right before 1970 (``/`` on bigint truncates toward zero).
_DAY = (
    f"((occurred_at - ((occurred_at %% {MICROS_PER_DAY}) + {MICROS_PER_DAY}) %% {MICROS_PER_DAY}) / {MICROS_PER_DAY})"
)


def _uuid(text: str | None) -> UUID | None:
    return None if text is None else UUID(text)


def count_events(conn: Conn, options: ReadOptions | None) -> int:
    """Count the events ``options`` selects (its ``limit`` ignored)."""
    where, params = where_clause(options)
    row = conn.execute(f"SELECT COUNT(*) FROM events WHERE {where}", params).fetchone()
    return 0 if row is None else int(row[0])


def streams_page(
    conn: Conn, after: tuple[str, str] | None, tenant_ids: Sequence[UUID], aggregate_type: str | None, size: int
) -> list[StreamInfo]:
    """Return up to ``size`` streams after ``(aggregate_id, aggregate_type)`` ``after``, in that order."""
    clauses = ["TRUE"]
    params: list[object] = []
    if after is not None:
        clauses.append('(aggregate_id, aggregate_type COLLATE "C") > (%s::uuid, %s COLLATE "C")')
        params.extend(after)
    if tenant_ids:
        clauses.append("tenant_id = ANY(%s::uuid[])")
        params.append([str(t) for t in tenant_ids])
    if aggregate_type is not None:
        clauses.append("aggregate_type = %s")
        params.append(aggregate_type)
    sql = (
        "SELECT aggregate_type, aggregate_id, MIN(tenant_id::text), MAX(aggregate_version), COUNT(*),"
        " MIN(position), MAX(position), MIN(occurred_at), MAX(occurred_at)"
        f" FROM events WHERE {' AND '.join(clauses)}"
        ' GROUP BY aggregate_id, aggregate_type ORDER BY aggregate_id, aggregate_type COLLATE "C"'
        f" LIMIT {int(size)}"
    )
    return [
        StreamInfo(
            aggregate_type=row[0],
            aggregate_id=UUID(row[1]),
            tenant_id=_uuid(row[2]),
            version=int(row[3]),
            events=int(row[4]),
            first_position=int(row[5]),
            last_position=int(row[6]),
            first_occurred_at=from_micros(int(row[7])),
            last_occurred_at=from_micros(int(row[8])),
        )
        for row in conn.execute(sql, params)
    ]


def tenants(conn: Conn) -> list[TenantInfo]:
    """Return every tenant (``None``: events without one) with its counts, most events first."""
    sql = (
        "SELECT tenant_id, COUNT(*), COUNT(DISTINCT (aggregate_type, aggregate_id)),"
        " MIN(occurred_at), MAX(occurred_at) FROM events GROUP BY tenant_id"
    )
    infos = [
        TenantInfo(_uuid(row[0]), int(row[1]), int(row[2]), from_micros(int(row[3])), from_micros(int(row[4])))
        for row in conn.execute(sql)
    ]
    return sorted(infos, key=lambda info: (-info.events, str(info.tenant_id or "")))


def stats(conn: Conn, options: ReadOptions | None) -> StoreStats:
    """Return counts by event type, tenant and UTC day over the events ``options`` selects."""
    where, params = where_clause(options)
    groups = conn.execute(
        f"SELECT event_type, tenant_id, {_DAY} AS day, COUNT(*) FROM events WHERE {where}"
        " GROUP BY event_type, tenant_id, day",
        params,
    ).fetchall()
    row = conn.execute(
        "SELECT COUNT(DISTINCT (aggregate_type, aggregate_id)), MIN(occurred_at), MAX(occurred_at)"
        f" FROM events WHERE {where}",
        params,
    ).fetchone()
    assert row is not None
    streams, first, last = row
    return build_stats(
        ((r[0], _uuid(r[1]), int(r[2]), int(r[3])) for r in groups),
        streams=int(streams),
        first=None if first is None else from_micros(int(first)),
        last=None if last is None else from_micros(int(last)),
    )
