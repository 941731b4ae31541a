"""Snapshots: an aggregate's state at one version, so that a load replays only the events after it.

A snapshot is a cache. It is always rebuildable from the events, so dropping snapshots loses
nothing (``esctl snapshots drop``), and a snapshot that no longer fits is ignored: one whose
``schema_version`` is not the aggregate class's, or one the stream has not reached.

``SnapshotStore`` is what a backend implements (``EventStore.snapshot_store()`` returns its own);
``esctl.repository.AggregateRepository`` uses it with ``snapshot_every=N``.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """An aggregate's state as of ``version``.

    Attributes:
        aggregate_id: The aggregate's id.
        aggregate_type: Its stream type.
        version: The version of the last event folded into ``state``.
        state: The state as JSON-ready values (what ``AggregateRoot._snapshot_state`` returns).
        schema_version: The aggregate class's ``schema_version`` when the snapshot was taken.
        tenant_id: The stream's tenant (``None``: no tenant).
        created_at: When the snapshot was taken (UTC).
    """

    aggregate_id: UUID
    aggregate_type: str
    version: int
    state: Any
    schema_version: int = 1
    tenant_id: UUID | None = None
    created_at: datetime = field(default_factory=_now)


@dataclass(frozen=True, slots=True)
class SnapshotGroup:
    """The snapshots of one aggregate type and tenant, summed up (``esctl snapshots``).

    Attributes:
        aggregate_type: The aggregate type.
        tenant_id: The tenant (``None``: aggregates without a tenant).
        snapshots: How many aggregates have a snapshot.
        min_version: The lowest snapshot version among them.
        max_version: The highest.
        last_created_at: When the newest of them was taken.
    """

    aggregate_type: str
    tenant_id: UUID | None
    snapshots: int
    min_version: int
    max_version: int
    last_created_at: datetime


class SnapshotStore(abc.ABC):
    """Where snapshots live: one per aggregate, the newest saved.

    Each backend (in memory, SQLite, PostgreSQL) implements its abstract methods, and each
    store's ``snapshot_store()`` gives its own.
    """

    @abc.abstractmethod
    async def save_snapshot(self, snapshot: Snapshot) -> None:
        """Keep ``snapshot`` as the aggregate's, unless one of a higher version is kept already."""

    @abc.abstractmethod
    async def get_snapshot(self, aggregate_id: UUID, aggregate_type: str) -> Snapshot | None:
        """Return the aggregate's snapshot, or ``None``."""

    @abc.abstractmethod
    async def delete_snapshot(self, aggregate_id: UUID, aggregate_type: str) -> bool:
        """Drop the aggregate's snapshot; True when there was one."""

    @abc.abstractmethod
    async def delete_snapshots(self, *, aggregate_type: str | None = None, tenant_id: UUID | None = None) -> int:
        """Drop every snapshot of ``aggregate_type`` and ``tenant_id`` (``None``: any); return how many."""

    @abc.abstractmethod
    async def count_snapshots(self, *, aggregate_type: str | None = None, tenant_id: UUID | None = None) -> int:
        """Return how many snapshots ``delete_snapshots`` with the same filters would drop."""

    @abc.abstractmethod
    async def list_snapshot_groups(self) -> list[SnapshotGroup]:
        """Return the snapshots summed up per aggregate type and tenant, by type then tenant."""


def group_snapshots(snapshots: list[Snapshot]) -> list[SnapshotGroup]:
    """Sum ``snapshots`` up per aggregate type and tenant (for stores that hold them as objects)."""
    groups: dict[tuple[str, UUID | None], list[Snapshot]] = {}
    for snapshot in snapshots:
        groups.setdefault((snapshot.aggregate_type, snapshot.tenant_id), []).append(snapshot)
    summed = [
        SnapshotGroup(
            aggregate_type=kind,
            tenant_id=tenant,
            snapshots=len(members),
            min_version=min(s.version for s in members),
            max_version=max(s.version for s in members),
            last_created_at=max(s.created_at for s in members),
        )
        for (kind, tenant), members in groups.items()
    ]
    return sorted(summed, key=lambda g: (g.aggregate_type, str(g.tenant_id or "")))
