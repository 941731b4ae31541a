"""``PostgresSnapshotStore``: snapshots beside the events (table ``snapshots``, migration 3).

Every call is one hop to the store's connection thread, like the rest of the PostgreSQL store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from uuid import UUID

import psycopg

from esctl.codec import dumps, loads
from esctl.store.snapshots import Snapshot, SnapshotGroup, SnapshotStore
from esctl.timeutil import from_micros, to_micros

if TYPE_CHECKING:
    from esctl.store.postgres.store import PostgresEventStore

Conn = psycopg.Connection[tuple[Any, ...]]

_UPSERT = """
    INSERT INTO snapshots (aggregate_type, aggregate_id, tenant_id, version, schema_version, state, created_at)
    VALUES (%s, %s, %s, %s, %s, %s, %s)
    ON CONFLICT (aggregate_type, aggregate_id) DO UPDATE SET
        tenant_id = excluded.tenant_id, version = excluded.version, schema_version = excluded.schema_version,
        state = excluded.state, created_at = excluded.created_at
    WHERE excluded.version >= snapshots.version
"""
_COLUMNS = "aggregate_type, aggregate_id, tenant_id, version, schema_version, state, created_at"


class PostgresSnapshotStore(SnapshotStore):
    """The snapshots of one ``PostgresEventStore``, in its schema, on its connection's thread.

    Args:
        store: The event store whose schema holds the snapshots (``store.snapshot_store()``).
    """

    def __init__(self, store: PostgresEventStore) -> None:
        self._store = store

    async def save_snapshot(self, snapshot: Snapshot) -> None:
        """Keep ``snapshot`` unless a higher version is kept already (one short transaction)."""
        row = (
            snapshot.aggregate_type,
            str(snapshot.aggregate_id),
            None if snapshot.tenant_id is None else str(snapshot.tenant_id),
            snapshot.version,
            snapshot.schema_version,
            dumps(snapshot.state),
            to_micros(snapshot.created_at),
        )
        await self._store.run_on_connection(_save, row)

    async def get_snapshot(self, aggregate_id: UUID, aggregate_type: str) -> Snapshot | None:
        """Return the aggregate's snapshot, or ``None``."""
        return await self._store.run_on_connection(_get, str(aggregate_id), aggregate_type)

    async def delete_snapshot(self, aggregate_id: UUID, aggregate_type: str) -> bool:
        """Drop the aggregate's snapshot; True when there was one."""
        where = "aggregate_type = %s AND aggregate_id = %s"
        return bool(await self._store.run_on_connection(_delete, where, [aggregate_type, str(aggregate_id)]))

    async def delete_snapshots(self, *, aggregate_type: str | None = None, tenant_id: UUID | None = None) -> int:
        """Drop the snapshots of ``aggregate_type`` and ``tenant_id`` (``None``: any); return how many."""
        where, params = _filters(aggregate_type, tenant_id)
        return int(await self._store.run_on_connection(_delete, where, params))

    async def count_snapshots(self, *, aggregate_type: str | None = None, tenant_id: UUID | None = None) -> int:
        """Return how many snapshots the filters select."""
        where, params = _filters(aggregate_type, tenant_id)
        return int(await self._store.run_on_connection(_count, where, params))

    async def list_snapshot_groups(self) -> list[SnapshotGroup]:
        """Return the snapshots summed up per aggregate type and tenant."""
        return await self._store.run_on_connection(_groups)


def _filters(aggregate_type: str | None, tenant_id: UUID | None) -> tuple[str, list[object]]:
    clauses: list[str] = ["TRUE"]
    params: list[object] = []
    if aggregate_type is not None:
        clauses.append("aggregate_type = %s")
        params.append(aggregate_type)
    if tenant_id is not None:
        clauses.append("tenant_id = %s")
        params.append(str(tenant_id))
    return " AND ".join(clauses), params


def _save(conn: Conn, row: tuple[object, ...]) -> None:
    conn.execute(_UPSERT, row)
    conn.commit()


def _get(conn: Conn, aggregate_id: str, aggregate_type: str) -> Snapshot | None:
    found = conn.execute(
        f"SELECT {_COLUMNS} FROM snapshots WHERE aggregate_type = %s AND aggregate_id = %s",
        (aggregate_type, aggregate_id),
    ).fetchone()
    if found is None:
        return None
    kind, ident, tenant, version, schema_version, state, created_at = found
    return Snapshot(
        aggregate_id=UUID(ident),
        aggregate_type=kind,
        version=int(version),
        state=loads(bytes(state)),
        schema_version=int(schema_version),
        tenant_id=None if tenant is None else UUID(tenant),
        created_at=from_micros(int(created_at)),
    )


def _delete(conn: Conn, where: str, params: list[object]) -> int:
    deleted = conn.execute(f"DELETE FROM snapshots WHERE {where}", params).rowcount
    conn.commit()
    return int(deleted)


def _count(conn: Conn, where: str, params: list[object]) -> int:
    row = conn.execute(f"SELECT COUNT(*) FROM snapshots WHERE {where}", params).fetchone()
    return 0 if row is None else int(row[0])


def _groups(conn: Conn) -> list[SnapshotGroup]:
    rows = conn.execute(
        "SELECT aggregate_type, tenant_id, COUNT(*), MIN(version), MAX(version), MAX(created_at)"
        " FROM snapshots GROUP BY aggregate_type, tenant_id"
        ' ORDER BY aggregate_type COLLATE "C", COALESCE(tenant_id::text, \'\') COLLATE "C"'
    )
    return [
        SnapshotGroup(
            aggregate_type=kind,
            tenant_id=None if tenant is None else UUID(tenant),
            snapshots=int(count),
            min_version=int(low),
            max_version=int(high),
            last_created_at=from_micros(int(created)),
        )
        for kind, tenant, count, low, high, created in rows
    ]
