"""Erasure: what a tenant purge removes and the record it leaves (``EventStore.purge_tenant``).

A purge deletes every event of one tenant, its snapshots, its projection documents and the dead
letters of its events, in one transaction, and writes a ``PurgeRecord`` in the same
transaction. The record keeps the purged global positions, so ``verify`` can tell the holes a
purge left from a damaged log; no other event's position, id or bytes change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from esctl.timeutil import format_micros, to_micros


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class PurgeResult:
    """What a purge removed, or would remove (``dry_run``).

    Attributes:
        tenant_id: The purged tenant.
        events: Events removed.
        streams: Streams those events made up.
        snapshots: Snapshots removed.
        documents: Projection documents of the tenant removed (every projection's).
        dead_letters: Projection dead letters of the tenant's events removed.
        first_position: Global position of the first event removed (``None``: none).
        last_position: Global position of the last event removed.
        dry_run: True when nothing was changed.
        purged_at: When the purge ran (UTC).
        esctl_version: The esctl version that ran it.
        notes: What the store could not erase or wants the operator to know (its backups, a
            WAL the server keeps, a checkpoint that readers held up).
    """

    tenant_id: UUID
    events: int
    streams: int
    snapshots: int
    documents: int
    dead_letters: int = 0
    first_position: int | None = None
    last_position: int | None = None
    dry_run: bool = False
    purged_at: datetime = field(default_factory=_now)
    esctl_version: str = ""
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Return the result as JSON-ready values (``esctl purge`` and ``esctl purges`` print it)."""
        return {
            "tenant_id": str(self.tenant_id),
            "purged_at": format_micros(to_micros(self.purged_at)),
            "events": self.events,
            "streams": self.streams,
            "snapshots": self.snapshots,
            "documents": self.documents,
            "dead_letters": self.dead_letters,
            "first_position": self.first_position,
            "last_position": self.last_position,
            "esctl_version": self.esctl_version,
            "dry_run": self.dry_run,
        }


def esctl_version() -> str:
    """Return this esctl's version, for purge records."""
    from esctl import __version__

    return __version__
