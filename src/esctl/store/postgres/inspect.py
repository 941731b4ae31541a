"""The SQL behind ``streams``, ``tenants``, ``stats``, ``count`` and ``verify``: each function runs on the
store's connection thread (one ``Worker.run`` call) and returns plain results, the same as the
SQLite store's (text ordered bytewise, ``COLLATE "C"``, as SQLite orders it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import psycopg

from esctl import codec
from esctl.registry import EventRegistry
from esctl.store.inspection import MICROS_PER_DAY, Finding, StoreStats, StreamInfo, TenantInfo, build_stats
from esctl.store.postgres.reads import COLUMNS, where_clause
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


# -- verify: the SQLite store's checks, in PostgreSQL's SQL, so that findings read the same -----


def position_findings(conn: Conn, limit: int) -> list[Finding]:
    """Return gaps in the global positions (which must run 1, 2, 3 …).

    Positions a tenant purge removed (``purged_positions``) fill the run: only other holes count.
    """
    sql = (
        "SELECT previous, position FROM ("
        " SELECT position, LAG(position, 1, 0::bigint) OVER (ORDER BY position) AS previous FROM ("
        "  SELECT position FROM events UNION ALL SELECT position FROM purged_positions"
        f" ) AS logged) AS steps WHERE position != previous + 1 ORDER BY position LIMIT {int(limit)}"
    )
    return [
        Finding("positions", f"position {position} follows {previous}: {_missing(previous, position)}", position)
        for previous, position in conn.execute(sql)
    ]


def _missing(previous: int, position: int) -> str:
    if position <= previous:
        return "positions out of order"
    if position == previous + 2:
        return f"position {previous + 1} is missing"
    return f"positions {previous + 1}–{position - 1} are missing"


def version_findings(conn: Conn, limit: int) -> list[Finding]:
    """Return events whose version is not the next of their stream, in position order."""
    sql = (
        "SELECT position, aggregate_type, aggregate_id, aggregate_version, expected FROM ("
        " SELECT position, aggregate_type, aggregate_id, aggregate_version,"
        "  ROW_NUMBER() OVER (PARTITION BY aggregate_type, aggregate_id ORDER BY position) AS expected"
        " FROM events"
        f") AS stepped WHERE aggregate_version != expected ORDER BY position LIMIT {int(limit)}"
    )
    return [
        Finding(
            "versions",
            f"version {version} where version {expected} was due",
            position,
            f"{aggregate_type}:{aggregate_id}",
        )
        for position, aggregate_type, aggregate_id, version, expected in conn.execute(sql)
    ]


def tenant_findings(conn: Conn, limit: int) -> list[Finding]:
    """Return streams whose events name more than one tenant."""
    sql = (
        "SELECT aggregate_type, aggregate_id, COUNT(DISTINCT COALESCE(tenant_id::text, '')) FROM events"
        " GROUP BY aggregate_id, aggregate_type HAVING COUNT(DISTINCT COALESCE(tenant_id::text, '')) > 1"
        f' ORDER BY aggregate_id, aggregate_type COLLATE "C" LIMIT {int(limit)}'
    )
    return [
        Finding("tenant", f"the stream's events name {n} different tenants", None, f"{aggregate_type}:{aggregate_id}")
        for aggregate_type, aggregate_id, n in conn.execute(sql)
    ]


@dataclass(frozen=True, slots=True)
class PayloadPage:
    """One page of the payload check."""

    last_position: int
    events: int
    findings: list[Finding]
    unregistered: dict[str, int]


def payload_page(conn: Conn, after: int, registry: EventRegistry, size: int = PAGE) -> PayloadPage | None:
    """Decode and validate the events after position ``after`` (one page); ``None`` at the end."""
    rows = conn.execute(
        f"SELECT {COLUMNS} FROM events WHERE position > %s ORDER BY position LIMIT {int(size)}", (after,)
    ).fetchall()
    if not rows:
        return None
    findings: list[Finding] = []
    unregistered: dict[str, int] = {}
    for row in rows:
        event_type = row[2]
        if event_type not in registry:
            unregistered[event_type] = unregistered.get(event_type, 0) + 1
        try:
            codec.row_to_stored_event(row, registry)
        except Exception as error:  # a corrupt payload may fail in JSON decoding as well as validation
            message = getattr(error, "message", None) or f"event at position {row[0]} cannot be decoded: {error}"
            findings.append(Finding("payload", message, row[0], f"{row[4]}:{row[5]}"))
    return PayloadPage(int(rows[-1][0]), len(rows), findings, unregistered)
