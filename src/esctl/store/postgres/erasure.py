"""Tenant purges in PostgreSQL: one transaction, then ``VACUUM`` of the tables it touched.

The purge holds the position counter's row lock, so no append commits while it runs (an append
takes that lock first): the positions it records and the rows it deletes are the same set. A
``DELETE`` leaves dead tuples in the table files until a vacuum reclaims them; the purge runs
``VACUUM`` on each table it touched afterwards (``VACUUM FULL`` with ``compact``, which rewrites
them and gives the space back). What the server keeps beyond its tables — WAL segments not yet
recycled, WAL archives, replicas, base backups — esctl cannot reach; the result says so.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from uuid import UUID

import psycopg

from esctl.codec import dumps
from esctl.store.erasure import PurgeResult, RedactionPlan, RedactResult, esctl_version, redaction_from_row
from esctl.timeutil import from_micros, now_micros, to_micros

Conn = psycopg.Connection[tuple[Any, ...]]

_COUNTS = """
    SELECT COUNT(*), MIN(position), MAX(position),
           (SELECT COUNT(*) FROM (SELECT DISTINCT aggregate_type, aggregate_id FROM events
             WHERE tenant_id = %(t)s) AS streams),
           (SELECT COUNT(*) FROM snapshots WHERE tenant_id = %(t)s),
           (SELECT COUNT(*) FROM projection_documents WHERE tenant = %(t)s::text),
           (SELECT COUNT(*) FROM projection_dead_letters
             WHERE position IN (SELECT position FROM events WHERE tenant_id = %(t)s))
    FROM events WHERE tenant_id = %(t)s
"""
_RECORD_COLUMNS = (
    "tenant_id, purged_at, events, streams, snapshots, documents, dead_letters,"
    " first_position, last_position, esctl_version"
)
_TABLES = ("events", "snapshots", "projection_documents", "projection_dead_letters")
SERVER_KEEPS = (
    "PostgreSQL keeps copies esctl cannot reach: WAL segments until they are recycled, any WAL archive "
    "(archive_command), streaming replicas' own files until they replay the purge, and base backups"
)
"""The note every PostgreSQL purge carries (the README's erasure section says the same)."""


def purge_tenant(conn: Conn, tenant_id: UUID, dry_run: bool, compact: bool) -> PurgeResult:
    """Purge (or count, ``dry_run``) one tenant; see ``EventStore.purge_tenant``."""
    tenant = {"t": str(tenant_id)}
    if dry_run:
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        result = _plan(conn, tenant, tenant_id, dry_run=True)
        conn.rollback()
        return result
    conn.execute("SELECT last FROM esctl_position WHERE id = 1 FOR UPDATE")
    result = _plan(conn, tenant, tenant_id, dry_run=False)
    if not (result.events or result.snapshots or result.documents):
        conn.rollback()
        return result
    purge_id = conn.execute(
        f"INSERT INTO purges ({_RECORD_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (
            str(tenant_id),
            to_micros(result.purged_at),
            result.events,
            result.streams,
            result.snapshots,
            result.documents,
            result.dead_letters,
            result.first_position,
            result.last_position,
            result.esctl_version,
        ),
    ).fetchone()
    assert purge_id is not None
    conn.execute(
        "DELETE FROM projection_dead_letters WHERE position IN (SELECT position FROM events WHERE tenant_id = %(t)s)",
        tenant,
    )
    conn.execute(
        "WITH gone AS (DELETE FROM events WHERE tenant_id = %(t)s RETURNING position)"
        " INSERT INTO purged_positions (position, purge_id) SELECT position, %(id)s FROM gone",
        {**tenant, "id": purge_id[0]},
    )
    conn.execute("DELETE FROM snapshots WHERE tenant_id = %(t)s", tenant)
    conn.execute("DELETE FROM projection_documents WHERE tenant = %(t)s::text", tenant)
    conn.commit()
    _vacuum(conn, full=compact)
    return replace(result, notes=(SERVER_KEEPS,))


def purges(conn: Conn) -> list[PurgeResult]:
    """Return the purge records, oldest first."""
    rows = conn.execute(f"SELECT {_RECORD_COLUMNS} FROM purges ORDER BY id").fetchall()
    conn.rollback()
    return [
        PurgeResult(
            tenant_id=UUID(str(tenant)),
            purged_at=from_micros(int(at)),
            events=int(events),
            streams=int(streams),
            snapshots=int(snapshots),
            documents=int(documents),
            dead_letters=int(dead),
            first_position=None if first is None else int(first),
            last_position=None if last is None else int(last),
            esctl_version=version,
        )
        for tenant, at, events, streams, snapshots, documents, dead, first, last, version in rows
    ]


def _plan(conn: Conn, tenant: dict[str, str], tenant_id: UUID, *, dry_run: bool) -> PurgeResult:
    row = conn.execute(_COUNTS, tenant).fetchone()
    assert row is not None
    events, first, last, streams, snapshots, documents, dead = row
    return PurgeResult(
        tenant_id=tenant_id,
        events=int(events),
        streams=int(streams),
        snapshots=int(snapshots),
        documents=int(documents),
        dead_letters=int(dead),
        first_position=None if first is None else int(first),
        last_position=None if last is None else int(last),
        dry_run=dry_run,
        purged_at=from_micros(now_micros()),
        esctl_version=esctl_version(),
    )


def _vacuum(conn: Conn, *, full: bool, tables: tuple[str, ...] = _TABLES) -> None:
    # VACUUM cannot run inside a transaction block: autocommit for these statements only.
    conn.autocommit = True
    try:
        for table in tables:
            conn.execute(f"VACUUM {'FULL ' if full else ''}{table}")
    finally:
        conn.autocommit = False


_REDACTION_COLUMNS = (
    "selection, redacted_at, events, streams, snapshots, fields, first_position, last_position, esctl_version"
)


def apply_redaction(conn: Conn, plan: RedactionPlan) -> RedactResult:
    """Write a redaction in one transaction, then vacuum the tables it touched."""
    with conn.cursor() as cursor:
        cursor.executemany(
            "UPDATE events SET payload = %s::json WHERE position = %s",
            [(rewrite.payload.decode(), rewrite.position) for rewrite in plan.rewrites],
        )
    dropped = 0
    for kind, aggregate_id in plan.aggregates:
        dropped += conn.execute(
            "DELETE FROM snapshots WHERE aggregate_type = %s AND aggregate_id = %s", (kind, str(aggregate_id))
        ).rowcount
    result = replace(plan.result, snapshots=dropped)
    conn.execute(
        f"INSERT INTO redactions ({_REDACTION_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            result.selection,
            to_micros(result.redacted_at),
            result.events,
            result.streams,
            result.snapshots,
            dumps(result.fields),
            result.first_position,
            result.last_position,
            result.esctl_version,
        ),
    )
    conn.commit()
    _vacuum(conn, full=False, tables=("events", "snapshots"))
    return result


def redactions(conn: Conn) -> list[RedactResult]:
    """Return the redaction records, oldest first."""
    rows = conn.execute(f"SELECT {_REDACTION_COLUMNS} FROM redactions ORDER BY id").fetchall()
    conn.rollback()
    return [redaction_from_row(row) for row in rows]
