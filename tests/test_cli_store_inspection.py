"""The library calls behind ``streams``, ``tenants``, ``stats``, ``verify`` and ``dump``'s count:
the SQLite store's SQL answers exactly what the generic versions compute from ``read_all`` on the
in-memory store, for random multi-tenant histories.
"""

from __future__ import annotations

import asyncio
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from esctl import EventRegistry, InMemoryEventStore, ReadOptions, SQLiteEventStore
from esctl.ingest import event_from_fields
from esctl.store.interface import EventStore

REGISTRY = EventRegistry()
TENANTS = [UUID("00000000-0000-4000-8000-0000000000a1"), UUID("00000000-0000-4000-8000-0000000000b2"), None]
BASE = datetime(2026, 11, 1, tzinfo=UTC)


@st.composite
def histories(draw: st.DrawFn) -> list[dict[str, Any]]:
    streams = draw(st.lists(st.tuples(st.sampled_from(["Cart", "Invoice"]), st.sampled_from(TENANTS)), min_size=1))
    events = []
    for number in range(draw(st.integers(0, 30))):
        index = draw(st.integers(0, len(streams) - 1))
        aggregate_type, tenant = streams[index]
        events.append(
            {
                "event_id": f"01a00000-0000-7000-8000-{number:012x}",
                "event_type": draw(st.sampled_from(["insp.A", "insp.B"])),
                # Minutes either side of midnight, and before 1970 now and then: days are floored.
                "occurred_at": (BASE + timedelta(minutes=draw(st.integers(-3000, 3000)))).isoformat()
                if draw(st.integers(0, 9))
                else "1969-12-31T23:59:59.999999Z",
                "aggregate_type": aggregate_type,
                "aggregate_id": f"01a00000-0000-7000-9000-{index:012x}",
                "tenant_id": None if tenant is None else str(tenant),
            }
        )
    return events


async def fill(store: EventStore, history: list[dict[str, Any]]) -> None:
    items = [event_from_fields(data, registry=REGISTRY) for data in history]
    if items:
        await store.append_batch([i.event for i in items], auto_version=range(len(items)))


async def describe(store: EventStore, options: ReadOptions) -> dict[str, Any]:
    return {
        "streams": [s async for s in store.list_streams()],
        "tenant_streams": [s async for s in store.list_streams(tenant_ids=[TENANTS[0]], limit=2)],
        "cart_streams": [s async for s in store.list_streams(aggregate_type="Cart")],
        "tenants": await store.list_tenants(),
        "stats": await store.stats(options),
        "count": await store.count_events(options),
        "verify": await store.verify(REGISTRY),
    }


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    history=histories(),
    tenant=st.sampled_from([*TENANTS[:2], None]),
    event_type=st.sampled_from(["insp.A", "insp.B", None]),
    since=st.one_of(st.none(), st.integers(-3000, 3000)),
)
def test_sqlite_inspection_matches_the_generic_versions(
    history: list[dict[str, Any]], tenant: UUID | None, event_type: str | None, since: int | None
) -> None:
    options = ReadOptions(
        tenant_id=tenant,
        event_types=() if event_type is None else (event_type,),
        from_timestamp=None if since is None else BASE + timedelta(minutes=since),
        limit=3,  # ignored by counts and stats
    )

    async def both() -> tuple[dict[str, Any], dict[str, Any]]:
        memory = InMemoryEventStore()
        await fill(memory, history)
        with tempfile.TemporaryDirectory() as folder:
            async with SQLiteEventStore(Path(folder) / "e.db", registry=REGISTRY) as sqlite:
                await fill(sqlite, history)
                return await describe(memory, options), await describe(sqlite, options)

    expected, actual = asyncio.run(both())
    assert actual == expected
    assert actual["verify"].ok
    assert actual["verify"].events == len(history)
    assert sum(t.events for t in actual["tenants"]) == len(history)
    assert sum(count for _, count in actual["stats"].per_day) == actual["stats"].events == actual["count"]
