"""Tenant purges of the in-memory store: the reference semantics of ``EventStore.purge_tenant``."""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

from esctl.events import StoredEvent
from esctl.store.documents import DocumentTables
from esctl.store.erasure import PurgeResult, esctl_version
from esctl.store.memory.snapshots import InMemorySnapshotStore


def plan_purge(
    events: Iterable[StoredEvent],
    tenant_id: UUID,
    snapshots: InMemorySnapshotStore,
    tables: DocumentTables | None,
    *,
    dry_run: bool,
) -> tuple[PurgeResult, list[int]]:
    """Return what purging ``tenant_id`` removes, and the positions of its events (in order)."""
    positions: list[int] = []
    streams: set[tuple[str, UUID]] = set()
    for stored in events:
        event = stored.event
        if event.tenant_id == tenant_id:
            positions.append(stored.global_position)
            streams.add((event.aggregate_type, event.aggregate_id))
    tenant = str(tenant_id)
    documents = 0
    dead = 0
    purged = set(positions)
    if tables is not None:
        documents = sum(1 for docs in tables.documents.values() for key in docs if key[0] == tenant)
        dead = sum(1 for letters in tables.dead_letters.values() for position in letters if position in purged)
    result = PurgeResult(
        tenant_id=tenant_id,
        events=len(positions),
        streams=len(streams),
        snapshots=snapshots.count_tenant(tenant_id),
        documents=documents,
        dead_letters=dead,
        first_position=positions[0] if positions else None,
        last_position=positions[-1] if positions else None,
        dry_run=dry_run,
        esctl_version=esctl_version(),
    )
    return result, positions


def drop_tenant_documents(tables: DocumentTables, tenant_id: UUID, purged: set[int]) -> None:
    """Remove the tenant's documents from every namespace and the dead letters of its events."""
    tenant = str(tenant_id)
    for docs in tables.documents.values():
        for key in [key for key in docs if key[0] == tenant]:
            del docs[key]
    for letters in tables.dead_letters.values():
        for position in [position for position in letters if position in purged]:
            del letters[position]
