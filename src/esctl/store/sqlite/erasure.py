"""Tenant purges in the SQLite file: one transaction, then the deleted bytes made unreadable.

A ``DELETE`` alone leaves the rows' bytes in free pages of the file and in the WAL until they
happen to be overwritten. So the purge runs with ``PRAGMA secure_delete`` on (SQLite zeroes the
content it deletes and the pages it frees), and afterwards a ``wal_checkpoint(TRUNCATE)`` copies
those zeroed pages over the old ones in the main file and empties the WAL, whose older frames
still hold the rows as they were appended. ``compact`` adds a ``VACUUM`` to give the space back.
"""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from uuid import UUID

from esctl.codec import dumps
from esctl.store.erasure import PurgeResult, RedactionPlan, RedactResult, esctl_version, redaction_from_row
from esctl.timeutil import from_micros, now_micros, to_micros

_COUNTS = """
    SELECT COUNT(*), MIN(position), MAX(position),
           (SELECT COUNT(*) FROM (SELECT DISTINCT aggregate_type, aggregate_id FROM events WHERE tenant_id = :t)),
           (SELECT COUNT(*) FROM snapshots WHERE tenant_id = :t),
           (SELECT COUNT(*) FROM projection_documents WHERE tenant = :t),
           (SELECT COUNT(*) FROM projection_dead_letters
             WHERE position IN (SELECT position FROM events WHERE tenant_id = :t))
    FROM events WHERE tenant_id = :t
"""
_RECORD_COLUMNS = (
    "tenant_id, purged_at, events, streams, snapshots, documents, dead_letters,"
    " first_position, last_position, esctl_version"
)


def purge_tenant(conn: sqlite3.Connection, tenant_id: UUID, dry_run: bool, compact: bool) -> PurgeResult:
    """Purge (or count, ``dry_run``) one tenant; see ``EventStore.purge_tenant``."""
    if dry_run:
        conn.execute("BEGIN")  # one consistent snapshot for the counts, on a read-only file too
        try:
            return _plan(conn, tenant_id, dry_run=True)
        finally:
            conn.execute("COMMIT")
    secure = int(conn.execute("PRAGMA secure_delete").fetchone()[0])
    conn.execute("PRAGMA secure_delete = ON")
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = _plan(conn, tenant_id, dry_run=False)
            if result.events or result.snapshots or result.documents:
                _remove(conn, result)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    finally:
        conn.execute(f"PRAGMA secure_delete = {secure}")
    # Checkpoint even when nothing was found: a purge the readers kept from checkpointing is
    # completed by running it again.
    notes: list[str] = []
    if not conn.in_transaction and conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
        busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if busy:
            notes.append(
                "a reader held the write-ahead log open: the purged rows' old copies stay in the -wal file "
                "until the next checkpoint (run `esctl purge` again for the tenant, or close the readers)"
            )
    if compact:
        conn.execute("VACUUM")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    if notes:
        result = replace(result, notes=tuple(notes))
    return result


def purges(conn: sqlite3.Connection) -> list[PurgeResult]:
    """Return the purge records, oldest first."""
    rows = conn.execute(f"SELECT {_RECORD_COLUMNS} FROM purges ORDER BY id").fetchall()
    return [
        PurgeResult(
            tenant_id=UUID(tenant),
            purged_at=from_micros(int(at)),
            events=int(events),
            streams=int(streams),
            snapshots=int(snapshots),
            documents=int(documents),
            dead_letters=int(dead),
            first_position=first,
            last_position=last,
            esctl_version=version,
        )
        for tenant, at, events, streams, snapshots, documents, dead, first, last, version in rows
    ]


def _plan(conn: sqlite3.Connection, tenant_id: UUID, *, dry_run: bool) -> PurgeResult:
    events, first, last, streams, snapshots, documents, dead = conn.execute(_COUNTS, {"t": str(tenant_id)}).fetchone()
    return PurgeResult(
        tenant_id=tenant_id,
        events=int(events),
        streams=int(streams),
        snapshots=int(snapshots),
        documents=int(documents),
        dead_letters=int(dead),
        first_position=first,
        last_position=last,
        dry_run=dry_run,
        purged_at=from_micros(now_micros()),
        esctl_version=esctl_version(),
    )


def _remove(conn: sqlite3.Connection, result: PurgeResult) -> None:
    tenant = {"t": str(result.tenant_id)}
    purge_id = conn.execute(
        f"INSERT INTO purges ({_RECORD_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            str(result.tenant_id),
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
    ).lastrowid
    conn.execute(
        "INSERT INTO purged_positions (position, purge_id) SELECT position, :id FROM events WHERE tenant_id = :t",
        {**tenant, "id": purge_id},
    )
    conn.execute(
        "DELETE FROM projection_dead_letters WHERE position IN (SELECT position FROM events WHERE tenant_id = :t)",
        tenant,
    )
    conn.execute("DELETE FROM events WHERE tenant_id = :t", tenant)
    conn.execute("DELETE FROM snapshots WHERE tenant_id = :t", tenant)
    conn.execute("DELETE FROM projection_documents WHERE tenant = :t", tenant)


_REDACTION_COLUMNS = (
    "selection, redacted_at, events, streams, snapshots, fields, first_position, last_position, esctl_version"
)


def apply_redaction(conn: sqlite3.Connection, plan: RedactionPlan) -> RedactResult:
    """Write a redaction in one transaction with secure deletion, then checkpoint the WAL."""
    secure = int(conn.execute("PRAGMA secure_delete").fetchone()[0])
    conn.execute("PRAGMA secure_delete = ON")
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(
                "UPDATE events SET payload = ? WHERE position = ?",
                [(rewrite.payload, rewrite.position) for rewrite in plan.rewrites],
            )
            dropped = 0
            for kind, aggregate_id in plan.aggregates:
                dropped += conn.execute(
                    "DELETE FROM snapshots WHERE aggregate_type = ? AND aggregate_id = ?", (kind, str(aggregate_id))
                ).rowcount
            result = replace(plan.result, snapshots=dropped)
            conn.execute(
                f"INSERT INTO redactions ({_REDACTION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                _redaction_row(result),
            )
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    finally:
        conn.execute(f"PRAGMA secure_delete = {secure}")
    if conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return result


def redactions(conn: sqlite3.Connection) -> list[RedactResult]:
    """Return the redaction records, oldest first."""
    rows = conn.execute(f"SELECT {_REDACTION_COLUMNS} FROM redactions ORDER BY id").fetchall()
    return [redaction_from_row(row) for row in rows]


def _redaction_row(result: RedactResult) -> tuple[object, ...]:
    return (
        result.selection,
        to_micros(result.redacted_at),
        result.events,
        result.streams,
        result.snapshots,
        dumps(result.fields),
        result.first_position,
        result.last_position,
        result.esctl_version,
    )
