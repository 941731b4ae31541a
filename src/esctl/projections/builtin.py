"""Projections that need no user code, so ``esctl`` is useful on any store.

- ``tenant-stats``: per tenant, events by type, streams, first and last event time.
- ``stream-index``: per stream, aggregate type, tenant, version, last event type and time.

Both read raw rows of a few columns — no event models are built, no payload is decoded — and
keep one document per tenant (``tenant-stats``) or per stream (``stream-index``), partitioned by
tenant so one tenant's part can be rebuilt alone. They work on every store, in-memory included.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from esctl import codec
from esctl.projections.persisted import Applier, PersistedProjection, ReadModel
from esctl.store.readmodel import NO_TENANT, Document, Row
from esctl.timeutil import format_micros

_BATCH = 5000
"""Events per transaction: big enough that a rebuild is dominated by reading rows."""


class TenantStats(PersistedProjection):
    """Per tenant: events by type, streams, first and last event time."""

    def __init__(self) -> None:
        super().__init__(
            "tenant-stats",
            kind="builtin",
            per_tenant=True,
            columns=("position", "tenant_id", "event_type", "aggregate_version", "occurred_at"),
            batch_size=_BATCH,
            description="Per tenant: events by type, streams, first and last event time.",
        )

    def open(self) -> Applier:
        """Return the applier (it caches nothing)."""
        return _TenantStatsApplier()

    def view(self, model: ReadModel, *, tenant: str | None = None) -> list[dict[str, Any]]:
        """One row per tenant: ``tenant_id``, ``events``, ``streams``, first/last event time, types."""
        rows = []
        for doc in model.documents(tenants=None if tenant is None else [tenant]):
            stats = codec.loads(doc.body)
            rows.append(
                {
                    "tenant_id": doc.tenant or None,
                    "events": stats["events"],
                    "streams": stats["streams"],
                    "first_event_at": format_micros(stats["first_event_at"]),
                    "last_event_at": format_micros(stats["last_event_at"]),
                    "event_types": stats["event_types"],
                }
            )
        return rows


class _TenantStatsApplier(Applier):
    def apply(self, model: ReadModel, rows: list[Row]) -> None:
        if not rows:
            return
        # Counter's update from an iterable runs in C: counting is not where the time goes.
        by_type = Counter((row[1], row[2]) for row in rows)
        new_streams = Counter(row[1] for row in rows if row[3] == 1)
        first: dict[str | None, int] = {}
        last: dict[str | None, int] = {}
        for row in rows:
            tenant, occurred = row[1], row[4]
            low = first.get(tenant)
            if low is None:
                first[tenant] = last[tenant] = occurred
            elif occurred < low:
                first[tenant] = occurred
            elif occurred > last[tenant]:
                last[tenant] = occurred
        stored = {doc.tenant: codec.loads(doc.body) for doc in model.documents(tenants=[t or NO_TENANT for t in first])}
        merged: dict[str, dict[str, Any]] = {}
        for tenant in first:
            key = tenant or NO_TENANT
            stats = stored.get(key) or {
                "events": 0,
                "streams": 0,
                "first_event_at": first[tenant],
                "last_event_at": last[tenant],
                "event_types": {},
            }
            stats["streams"] += new_streams.get(tenant, 0)
            stats["first_event_at"] = min(stats["first_event_at"], first[tenant])
            stats["last_event_at"] = max(stats["last_event_at"], last[tenant])
            merged[key] = stats
        for (tenant, event_type), count in by_type.items():
            stats = merged[tenant or NO_TENANT]
            stats["events"] += count
            types = stats["event_types"]
            types[event_type] = types.get(event_type, 0) + count
        for stats in merged.values():
            # Sorted, so the same counts are the same bytes however the batches fell.
            stats["event_types"] = dict(sorted(stats["event_types"].items()))
        model.put_documents(Document(key, "", codec.dumps(stats)) for key, stats in merged.items())


class StreamIndex(PersistedProjection):
    """Per stream: aggregate type, tenant, version, last event type and time."""

    def __init__(self) -> None:
        super().__init__(
            "stream-index",
            kind="builtin",
            per_tenant=True,
            columns=(
                "position",
                "tenant_id",
                "aggregate_type",
                "aggregate_id",
                "aggregate_version",
                "occurred_at",
                "event_type",
            ),
            batch_size=_BATCH,
            description="Per stream: aggregate type, tenant, version, last event type and time.",
        )

    def open(self) -> Applier:
        """Return the applier (it caches nothing)."""
        return _StreamIndexApplier()

    def view(self, model: ReadModel, *, tenant: str | None = None) -> list[dict[str, Any]]:
        """One row per stream: ``stream``, type, id, tenant, version, last event type and time."""
        rows = []
        for doc in model.documents(tenants=None if tenant is None else [tenant]):
            entry = codec.loads(doc.body)
            rows.append(
                {
                    "stream": doc.key,
                    "aggregate_type": entry["aggregate_type"],
                    "aggregate_id": entry["aggregate_id"],
                    "tenant_id": doc.tenant or None,
                    "version": entry["version"],
                    "last_event_type": entry["last_event_type"],
                    "last_event_at": format_micros(entry["last_event_at"]),
                }
            )
        return rows


class _StreamIndexApplier(Applier):
    def apply(self, model: ReadModel, rows: list[Row]) -> None:
        # A stream's versions grow with position, so its last row in the batch is its head.
        latest = {(row[2], row[3]): row for row in rows}
        dumps = codec.dumps
        model.put_documents(
            Document(
                tenant or NO_TENANT,
                f"{aggregate_type}:{aggregate_id}",
                dumps(
                    {
                        "aggregate_type": aggregate_type,
                        "aggregate_id": aggregate_id,
                        "version": version,
                        "last_event_type": event_type,
                        "last_event_at": occurred,
                    }
                ),
            )
            for _, tenant, aggregate_type, aggregate_id, version, occurred, event_type in latest.values()
        )


BUILTIN_PROJECTIONS: tuple[Callable[[], PersistedProjection], ...] = (TenantStats, StreamIndex)
"""The built-in projections, registered in every ``ProjectionRegistry`` by default."""
