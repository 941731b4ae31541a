"""Tutorial 16's multi-tenant flow on a SQLite file, then the file reopened to show it all survived.

The tutorial's complete example (``tutorial_16_multi_tenancy.py``, next to this file) runs on an
``InMemoryEventStore``. This one imports its event classes, aggregate, repository and projection
unchanged and only swaps the store for ``SQLiteEventStore(path)``.

Run:
    python examples/tutorial_16_sqlite.py [orders.db]

Without a path it uses a file in a temporary directory. Each run uses new tenants, so running it
twice on one file prints the same counts (the file then holds both runs).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path
from uuid import UUID, uuid4

from tutorial_16_multi_tenancy import (  # type: ignore[import-not-found]
    TenantAwareOrderRepository,
    TenantOrderProjection,
)

from esctl import EventStore, SQLiteEventStore


async def place_orders(event_store: EventStore, acme: UUID, globex: UUID) -> UUID:
    """The tutorial's steps: three orders, one shipped, one cross-tenant load refused.

    Returns:
        The id of ACME's shipped order.
    """
    repo_acme = TenantAwareOrderRepository(event_store, acme)
    repo_globex = TenantAwareOrderRepository(event_store, globex)

    order_1 = repo_acme.create_new(uuid4())
    order_1.create("Alice (ACME)", 100.0)
    await repo_acme.save(order_1)

    order_2 = repo_acme.create_new(uuid4())
    order_2.create("Bob (ACME)", 250.0)
    await repo_acme.save(order_2)

    order_3 = repo_globex.create_new(uuid4())
    order_3.create("Charlie (Globex)", 500.0)
    await repo_globex.save(order_3)

    loaded = await repo_acme.load(order_1.aggregate_id)
    loaded.ship("TRACK-ACME-001")
    await repo_acme.save(loaded)

    try:
        await repo_globex.load(order_1.aggregate_id)
    except PermissionError as error:
        print(f"Correctly blocked: {error}")
    return order_1.aggregate_id


async def count_orders(event_store: EventStore, acme: UUID, globex: UUID) -> tuple[int, int]:
    """Replay every stored event through the tutorial's projection; return (ACME, Globex) order counts."""
    projection = TenantOrderProjection()
    async for stored in event_store.read_all():
        await projection.handle(stored.event)
    return len(projection.get_tenant_orders(acme)), len(projection.get_tenant_orders(globex))


async def main(path: Path) -> None:
    """Run the flow on the SQLite file at ``path``, then reopen it read-only and check it."""
    acme, globex = uuid4(), uuid4()

    async with SQLiteEventStore(path) as event_store:
        shipped = await place_orders(event_store, acme, globex)
        acme_orders, globex_orders = await count_orders(event_store, acme, globex)
        print(f"ACME orders: {acme_orders}")
        print(f"Globex orders: {globex_orders}")

    # A new store on the same file: everything above was written to disk.
    async with SQLiteEventStore(path, readonly=True) as reopened:
        acme_orders, globex_orders = await count_orders(reopened, acme, globex)
        print(f"Reopened {path.name}: ACME orders: {acme_orders}, Globex orders: {globex_orders}")
        order = await TenantAwareOrderRepository(reopened, acme).load(shipped)
        print(f"Reopened order status: {order.state.status} ({order.state.tracking_number})")
        globex_events = await reopened.get_events_by_type("Order", tenant_id=globex)
        print(f"Globex events in the store: {len(globex_events)}")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        asyncio.run(main(Path(sys.argv[1])))
    else:
        with tempfile.TemporaryDirectory() as directory:
            asyncio.run(main(Path(directory) / "orders.db"))
