"""Time to purge one tenant from a big SQLite store, and how much the file shrinks (#14).

Builds a store of ``--events`` events over ``--tenants`` tenants (interleaved, 100-event
batches of 10,000 per transaction through ``append_batch``), then purges one tenant twice over
copies of the file: once as ``esctl purge`` does by default (secure delete, WAL checkpoint), once
with ``compact`` (plus VACUUM). Prints one JSON object.

    python bench/erasure.py --events 1000000 --tenants 10 --dir /tmp/erasure-bench
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import time
from pathlib import Path
from uuid import UUID, uuid4

from esctl import SQLiteEventStore
from esctl.testing import REGISTRY, item

BATCH = 10_000


async def build(db: Path, events: int, tenants: list[UUID]) -> None:
    store = SQLiteEventStore(db, registry=REGISTRY)
    try:
        streams = {tenant: [uuid4() for _ in range(200)] for tenant in tenants}
        versions: dict[UUID, int] = {}
        batch = []
        for number in range(events):
            tenant = tenants[number % len(tenants)]
            cart = streams[tenant][(number // len(tenants)) % 200]
            versions[cart] = versions.get(cart, 0) + 1
            batch.append(item(cart, versions[cart], tenant_id=tenant, note=f"customer note {uuid4().hex}"))
            if len(batch) == BATCH:
                await store.append_batch(batch)
                batch = []
        if batch:
            await store.append_batch(batch)
    finally:
        await store.close()


async def purge(db: Path, tenant: UUID, *, compact: bool) -> dict[str, object]:
    size = db.stat().st_size
    store = SQLiteEventStore(db, registry=REGISTRY)
    try:
        await store.get_global_position()  # connect first: the timing is the purge's
        started = time.perf_counter()
        result = await store.purge_tenant(tenant, compact=compact)
        seconds = time.perf_counter() - started
    finally:
        await store.close()
    after = db.stat().st_size
    return {
        "compact": compact,
        "events_purged": result.events,
        "seconds": round(seconds, 2),
        "file_bytes_before": size,
        "file_bytes_after": after,
        "shrank_percent": round(100 * (size - after) / size, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--tenants", type=int, default=10)
    parser.add_argument("--dir", type=Path, default=Path("erasure-bench"))
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    template = args.dir / "template.db"
    tenants = [UUID(int=0xA000 + n) for n in range(args.tenants)]
    if not template.exists():
        started = time.perf_counter()
        asyncio.run(build(template, args.events, tenants))
        print(f"built {args.events} events in {time.perf_counter() - started:.1f} s")
    report = []
    for compact in (False, True):
        copy = args.dir / f"purge-{compact}.db"
        shutil.copyfile(template, copy)
        report.append(asyncio.run(purge(copy, tenants[0], compact=compact)))
        copy.unlink()
    print(json.dumps({"events": args.events, "tenants": args.tenants, "runs": report}, indent=2))


if __name__ == "__main__":
    main()
