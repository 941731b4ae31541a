"""The SQL behind ``streams``, ``tenants``, ``stats``, ``verify`` and ``init``: each function runs
on the store's connection thread (one ``Worker.run`` call) and returns plain results.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from esctl import codec
from esctl.registry import EventRegistry
from esctl.rows import ROW_COLUMNS
from esctl.store.inspection import MICROS_PER_DAY, Finding, StoreStats, StreamInfo, TenantInfo, build_stats
from esctl.store.sqlite import schema
from esctl.store.sqlite.filters import where_clause
from esctl.store.types import ReadOptions, SchemaStatus
from esctl.timeutil import from_micros

PAGE = 1000
"""Rows per round trip for the paged walks (streams, verify)."""

# Floor division that stays right before 1970 (SQLite's `/` truncates toward zero).
_DAY = f"((occurred_at - ((occurred_at % {MICROS_PER_DAY}) + {MICROS_PER_DAY}) % {MICROS_PER_DAY}) / {MICROS_PER_DAY})"


def _uuid(text: str | None) -> UUID | None:
    return None if text is None else UUID(text)


def count_events(conn: sqlite3.Connection, options: ReadOptions | None) -> int:
    """Count the events ``options`` selects (its ``limit`` ignored)."""
    where, params = where_clause(options)
    return int(conn.execute(f"SELECT COUNT(*) FROM events WHERE {where}", params).fetchone()[0])


def streams_page(
    conn: sqlite3.Connection,
    after: tuple[str, str] | None,
    tenant_ids: Sequence[UUID],
    aggregate_type: str | None,
    size: int,
) -> list[StreamInfo]:
    """Return up to ``size`` streams after ``(aggregate_id, aggregate_type)`` ``after``.

    Streams come in ``(aggregate_id, aggregate_type)`` order: the order of the unique index on
    ``(aggregate_id, aggregate_type, aggregate_version)``, so each page is an index range scan.
    """
    clauses = ["1"]
    params: list[object] = []
    if after is not None:
        clauses.append("(aggregate_id, aggregate_type) > (?, ?)")
        params.extend(after)
    if tenant_ids:
        clauses.append(f"tenant_id IN ({', '.join('?' * len(tenant_ids))})")
        params.extend(str(t) for t in tenant_ids)
    if aggregate_type is not None:
        clauses.append("aggregate_type = ?")
        params.append(aggregate_type)
    sql = (
        "SELECT aggregate_type, aggregate_id, MIN(tenant_id), MAX(aggregate_version), COUNT(*),"
        " MIN(position), MAX(position), MIN(occurred_at), MAX(occurred_at)"
        f" FROM events WHERE {' AND '.join(clauses)}"
        f" GROUP BY aggregate_id, aggregate_type ORDER BY aggregate_id, aggregate_type LIMIT {int(size)}"
    )
    return [
        StreamInfo(
            aggregate_type=row[0],
            aggregate_id=UUID(row[1]),
            tenant_id=_uuid(row[2]),
            version=row[3],
            events=row[4],
            first_position=row[5],
            last_position=row[6],
            first_occurred_at=from_micros(row[7]),
            last_occurred_at=from_micros(row[8]),
        )
        for row in conn.execute(sql, params)
    ]


def tenants(conn: sqlite3.Connection) -> list[TenantInfo]:
    """Return every tenant (``None``: events without one) with its counts, most events first."""
    sql = (
        "SELECT tenant_id, COUNT(*), COUNT(DISTINCT aggregate_type || ':' || aggregate_id),"
        " MIN(occurred_at), MAX(occurred_at) FROM events GROUP BY tenant_id"
    )
    infos = [
        TenantInfo(_uuid(row[0]), row[1], row[2], from_micros(row[3]), from_micros(row[4])) for row in conn.execute(sql)
    ]
    return sorted(infos, key=lambda info: (-info.events, str(info.tenant_id or "")))


def stats(conn: sqlite3.Connection, options: ReadOptions | None) -> StoreStats:
    """Return counts by event type, tenant and UTC day over the events ``options`` selects."""
    where, params = where_clause(options)
    groups = conn.execute(
        f"SELECT event_type, tenant_id, {_DAY} AS day, COUNT(*) FROM events WHERE {where}"
        " GROUP BY event_type, tenant_id, day",
        params,
    ).fetchall()
    streams, first, last = conn.execute(
        "SELECT COUNT(DISTINCT aggregate_type || ':' || aggregate_id), MIN(occurred_at), MAX(occurred_at)"
        f" FROM events WHERE {where}",
        params,
    ).fetchone()
    return build_stats(
        ((row[0], _uuid(row[1]), row[2], row[3]) for row in groups),
        streams=int(streams),
        first=None if first is None else from_micros(first),
        last=None if last is None else from_micros(last),
    )


def integrity_findings(conn: sqlite3.Connection, limit: int) -> list[Finding]:
    """Run ``PRAGMA integrity_check`` and return its complaints."""
    rows = conn.execute(f"PRAGMA integrity_check({int(limit)})").fetchall()
    return [Finding("integrity", str(row[0])) for row in rows if row[0] != "ok"]


def position_findings(conn: sqlite3.Connection, limit: int) -> list[Finding]:
    """Return gaps in the global positions (which must run 1, 2, 3 …).

    Positions a tenant purge removed (``purged_positions``) fill the run: only other holes count.
    """
    sql = (
        "SELECT previous, position FROM ("
        " SELECT position, LAG(position, 1, 0) OVER (ORDER BY position) AS previous FROM ("
        "  SELECT position FROM events UNION ALL SELECT position FROM purged_positions))"
        f" WHERE position != previous + 1 LIMIT {int(limit)}"
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


def version_findings(conn: sqlite3.Connection, limit: int) -> list[Finding]:
    """Return events whose version is not the next of their stream, in position order."""
    sql = (
        "SELECT position, aggregate_type, aggregate_id, aggregate_version, expected FROM ("
        " SELECT position, aggregate_type, aggregate_id, aggregate_version,"
        "  ROW_NUMBER() OVER (PARTITION BY aggregate_type, aggregate_id ORDER BY position) AS expected"
        " FROM events"
        f") WHERE aggregate_version != expected ORDER BY position LIMIT {int(limit)}"
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


def tenant_findings(conn: sqlite3.Connection, limit: int) -> list[Finding]:
    """Return streams whose events name more than one tenant."""
    sql = (
        "SELECT aggregate_type, aggregate_id, COUNT(DISTINCT COALESCE(tenant_id, '')) FROM events"
        " GROUP BY aggregate_id, aggregate_type HAVING COUNT(DISTINCT COALESCE(tenant_id, '')) > 1"
        f" LIMIT {int(limit)}"
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


def payload_page(conn: sqlite3.Connection, after: int, registry: EventRegistry, size: int = PAGE) -> PayloadPage | None:
    """Decode and validate the events after position ``after`` (one page); ``None`` at the end."""
    columns = ", ".join(ROW_COLUMNS)
    rows = conn.execute(
        f"SELECT {columns} FROM events WHERE position > ? ORDER BY position LIMIT {int(size)}", (after,)
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


def schema_status(conn: sqlite3.Connection) -> SchemaStatus:
    """Return the database's schema version; reading it checks that the file is SQLite.

    Raises:
        SchemaTooNewError: The database is newer than this esctl.
        DatabaseUnusableError: It has tables of its own and no esctl schema (someone else's).
    """
    schema.pending_migrations(conn)
    version = schema.current_version(conn)
    if version == 0 and conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchone() is not None:
        raise schema.not_an_event_store("it has tables of its own and no esctl schema")
    return SchemaStatus(version, schema.SCHEMA_VERSION)


def no_setup(conn: sqlite3.Connection) -> Any:
    """A connection setup that does nothing (for looking at a file without migrating it)."""
    return None
