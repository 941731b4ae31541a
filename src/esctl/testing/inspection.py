"""The inspection contract: ``list_streams``, ``list_tenants``, ``stats``, ``count_events`` and ``verify``
(what ``esctl streams``, ``tenants``, ``stats``, ``verify`` and ``dump``'s count show) answer what
the generic versions compute from ``read_all`` on the in-memory reference store, for random
multi-tenant histories.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from esctl.events import DomainEvent
from esctl.ingest import event_from_fields
from esctl.store.interface import EventStore
from esctl.store.types import ReadOptions
from esctl.testing.base import StoreContract
from esctl.testing.events import REGISTRY, item

ALPHA = UUID("00000000-0000-4000-8000-0000000000a1")
BETA = UUID("00000000-0000-4000-8000-0000000000b2")
TENANTS = [ALPHA, BETA, None]
BASE = datetime(2026, 11, 1, tzinfo=UTC)


@st.composite
def histories(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Events (as JSON fields) of unregistered types over a few streams, tenants and days."""
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
    """Append ``history`` in one batch, the store assigning versions."""
    items = [event_from_fields(data, registry=REGISTRY) for data in history]
    if items:
        await store.append_batch([i.event for i in items], auto_version=range(len(items)))


async def describe(store: EventStore, options: ReadOptions) -> dict[str, Any]:
    """Everything the inspection calls answer about ``store``."""
    return {
        "streams": [s async for s in store.list_streams()],
        "tenant_streams": [s async for s in store.list_streams(tenant_ids=[ALPHA], limit=2)],
        "cart_streams": [s async for s in store.list_streams(aggregate_type="Cart")],
        "tenants": await store.list_tenants(),
        "stats": await store.stats(options),
        "count": await store.count_events(options),
        "verify": await store.verify(REGISTRY),
    }


class InspectionContract(StoreContract):
    """The inspection calls answer what the reference store answers."""

    @settings(
        max_examples=40,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.differing_executors],
    )
    @given(
        history=histories(),
        tenant=st.sampled_from([*TENANTS[:2], None]),
        event_type=st.sampled_from(["insp.A", "insp.B", None]),
        since=st.one_of(st.none(), st.integers(-3000, 3000)),
    )
    def test_inspection_matches_the_reference_store(
        self, history: list[dict[str, Any]], tenant: UUID | None, event_type: str | None, since: int | None
    ) -> None:
        options = ReadOptions(
            tenant_id=tenant,
            event_types=() if event_type is None else (event_type,),
            from_timestamp=None if since is None else BASE + timedelta(minutes=since),
            limit=3,  # ignored by counts and stats
        )

        async def both(store: EventStore) -> tuple[dict[str, Any], dict[str, Any]]:
            reference = self.reference_store()
            await fill(reference, history)
            await fill(store, history)
            return await describe(reference, options), await describe(store, options)

        expected, actual = self.run_with_stores(1, both)
        assert actual == expected
        assert actual["verify"].ok
        assert actual["verify"].events == len(history)
        assert sum(t.events for t in actual["tenants"]) == len(history)
        assert sum(count for _, count in actual["stats"].per_day) == actual["stats"].events == actual["count"]

    @pytest.mark.asyncio
    async def test_inspection_of_more_streams_than_a_page(self, store: EventStore, read_page_size: int) -> None:
        page = read_page_size
        acme = uuid4()
        reference = self.reference_store()
        batch: list[DomainEvent] = []
        for number in range(2 * page + 3):
            cart = uuid4()
            tenant = acme if number % 2 else None
            batch += [item(cart, 1, tenant_id=tenant), item(cart, 2, tenant_id=tenant)]
        for each in (reference, store):
            await each.append_batch(batch)
        queries: list[dict[str, Any]] = [
            {},
            {"limit": page},
            {"limit": page + 1},
            {"tenant_ids": [acme]},
            {"tenant_ids": [acme], "limit": page + 1},
            {"aggregate_type": "Cart"},
        ]
        for kwargs in queries:
            expected = [s async for s in reference.list_streams(**kwargs)]
            got = [s async for s in store.list_streams(**kwargs)]
            assert got == expected, kwargs
        assert len([s async for s in store.list_streams()]) == 2 * page + 3
        assert await store.list_tenants() == await reference.list_tenants()
        for options in (ReadOptions(), ReadOptions(tenant_id=acme, limit=1)):
            assert await store.stats(options) == await reference.stats(options)
            assert await store.count_events(options) == await reference.count_events(options)
        assert await store.count_events() == len(batch)
        report = await store.verify(REGISTRY)
        assert (report.ok, report.events) == (True, len(batch))
