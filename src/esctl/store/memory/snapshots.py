"""``InMemorySnapshotStore``: snapshots in a dict, gone with the process."""

from __future__ import annotations

from uuid import UUID

from esctl.store.snapshots import Snapshot, SnapshotGroup, SnapshotStore, group_snapshots


class InMemorySnapshotStore(SnapshotStore):
    """Keeps one snapshot per aggregate in memory (``InMemoryEventStore.snapshot_store()`` has one).

    Example:
        >>> snapshots = InMemorySnapshotStore()
    """

    def __init__(self) -> None:
        self._snapshots: dict[tuple[str, UUID], Snapshot] = {}

    async def save_snapshot(self, snapshot: Snapshot) -> None:
        """Keep ``snapshot`` unless a higher version is kept already."""
        key = (snapshot.aggregate_type, snapshot.aggregate_id)
        known = self._snapshots.get(key)
        if known is None or snapshot.version >= known.version:
            self._snapshots[key] = snapshot

    async def get_snapshot(self, aggregate_id: UUID, aggregate_type: str) -> Snapshot | None:
        """Return the aggregate's snapshot, or ``None``."""
        return self._snapshots.get((aggregate_type, aggregate_id))

    async def delete_snapshot(self, aggregate_id: UUID, aggregate_type: str) -> bool:
        """Drop the aggregate's snapshot; True when there was one."""
        return self._snapshots.pop((aggregate_type, aggregate_id), None) is not None

    async def delete_snapshots(self, *, aggregate_type: str | None = None, tenant_id: UUID | None = None) -> int:
        """Drop the snapshots of ``aggregate_type`` and ``tenant_id`` (``None``: any)."""
        doomed = [key for key, s in self._snapshots.items() if _selected(s, aggregate_type, tenant_id)]
        for key in doomed:
            del self._snapshots[key]
        return len(doomed)

    async def count_snapshots(self, *, aggregate_type: str | None = None, tenant_id: UUID | None = None) -> int:
        """Return how many snapshots the filters select."""
        return sum(1 for s in self._snapshots.values() if _selected(s, aggregate_type, tenant_id))

    async def list_snapshot_groups(self) -> list[SnapshotGroup]:
        """Return the snapshots summed up per aggregate type and tenant."""
        return group_snapshots(list(self._snapshots.values()))

    def count_tenant(self, tenant_id: UUID) -> int:
        """Return how many snapshots belong to the tenant (without awaiting: for a purge's plan)."""
        return sum(1 for s in self._snapshots.values() if s.tenant_id == tenant_id)

    def drop_tenant(self, tenant_id: UUID) -> None:
        """Drop the tenant's snapshots (without awaiting: inside a purge)."""
        for key in [key for key, s in self._snapshots.items() if s.tenant_id == tenant_id]:
            del self._snapshots[key]

    def clear(self) -> None:
        """Drop every snapshot."""
        self._snapshots.clear()


def _selected(snapshot: Snapshot, aggregate_type: str | None, tenant_id: UUID | None) -> bool:
    return (aggregate_type is None or snapshot.aggregate_type == aggregate_type) and (
        tenant_id is None or snapshot.tenant_id == tenant_id
    )
