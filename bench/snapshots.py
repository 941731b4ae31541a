"""Loading one long-lived aggregate with and without snapshots (not a test: prints a table).

    python bench/snapshots.py                 # 10,000 events, snapshots every 100
    python bench/snapshots.py --events 2000 --every 50 --repeat 3

Each row is the median wall time of ``AggregateRepository.load`` over ``--repeat`` loads of the
same aggregate, on the SQLite store (a file in a temporary directory) and on the in-memory
store, with the events its read returned: a full replay reads every event, a load from the
latest snapshot only those after it.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from uuid import uuid4

from pydantic import BaseModel

from esctl import (
    AggregateRepository,
    DeclarativeAggregate,
    DomainEvent,
    EventRegistry,
    EventStore,
    InMemoryEventStore,
    SQLiteEventStore,
    StoredEvent,
    handles,
)

REGISTRY = EventRegistry()


@REGISTRY.register
class Moved(DomainEvent):
    event_type: str = "bench.Moved"
    aggregate_type: str = "Robot"
    dx: int
    dy: int


class Position(BaseModel):
    x: int = 0
    y: int = 0
    steps: int = 0


class Robot(DeclarativeAggregate[Position]):
    aggregate_type = "Robot"

    def _get_initial_state(self) -> Position:
        return Position()

    @handles(Moved)
    def _moved(self, event: Moved) -> None:
        state = self.state
        self._state = Position(x=state.x + event.dx, y=state.y + event.dy, steps=state.steps + 1)


async def build(store: EventStore, events: int, every: int) -> object:
    """Write one robot of ``events`` events, saving 37 at a time with snapshots every ``every``.

    The last 57 events are saved by a repository without snapshots, so that a load from the
    latest snapshot has events to read (a save that ends on a multiple of ``every`` would
    leave it none).
    """
    tail = min(57, events)
    snapping = AggregateRepository(store, Robot, snapshot_store=store.snapshot_store(), snapshot_every=every)
    robot = snapping.create_new(uuid4())
    for start in range(0, events - tail, 37):
        for step in range(min(37, events - tail - start)):
            robot.apply_event(robot.create_event(Moved, dx=1, dy=step % 3 - 1))
        await snapping.save(robot)
    for _ in range(tail):
        robot.apply_event(robot.create_event(Moved, dx=0, dy=1))
    await AggregateRepository(store, Robot).save(robot)
    return robot.aggregate_id


async def time_loads(store: EventStore, robot_id: object, every: int | None, repeat: int) -> tuple[float, int]:
    """Median seconds of one load, and the events each load read."""
    read = 0
    original = store.read_stream

    def counted(*args: object, **kwargs: object) -> AsyncIterator[StoredEvent]:
        async def generator() -> AsyncIterator[StoredEvent]:
            nonlocal read
            async for stored in original(*args, **kwargs):  # type: ignore[arg-type]
                read += 1
                yield stored

        return generator()

    store.read_stream = counted  # type: ignore[method-assign]
    if every is None:
        repo = AggregateRepository(store, Robot)
    else:
        repo = AggregateRepository(store, Robot, snapshot_store=store.snapshot_store(), snapshot_every=every)
    times = []
    for _ in range(repeat):
        read = 0
        started = time.perf_counter()
        await repo.load(robot_id)  # type: ignore[arg-type]
        times.append(time.perf_counter() - started)
    store.read_stream = original  # type: ignore[method-assign]
    return statistics.median(times), read


async def main(events: int, every: int, repeat: int) -> list[tuple[str, float, int]]:
    rows: list[tuple[str, float, int]] = []
    with tempfile.TemporaryDirectory() as folder:
        stores: list[tuple[str, EventStore]] = [
            ("SQLite", SQLiteEventStore(Path(folder) / "bench.db", REGISTRY)),
            ("memory", InMemoryEventStore()),
        ]
        for name, store in stores:
            async with store:
                robot_id = await build(store, events, every)
                full, full_read = await time_loads(store, robot_id, None, repeat)
                snap, snap_read = await time_loads(store, robot_id, every, repeat)
                rows.append((f"{name}: load, full replay", full, full_read))
                rows.append((f"{name}: load from snapshot (every {every})", snap, snap_read))
    return rows


def cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000, help="events of the aggregate (default 10000)")
    parser.add_argument("--every", type=int, default=100, help="snapshot every N events (default 100)")
    parser.add_argument("--repeat", type=int, default=7, help="loads timed per row (default 7)")
    args = parser.parse_args(argv)
    rows = asyncio.run(main(args.events, args.every, args.repeat))
    print(f"One aggregate of {args.events:,} events; median of {args.repeat} loads")
    print(f"{'row':<42} {'load ms':>10} {'events read':>12}")
    for name, seconds, read in rows:
        print(f"{name:<42} {seconds * 1000:>10.2f} {read:>12,}")
    for store in ("SQLite", "memory"):
        full = next(s for n, s, _ in rows if n.startswith(f"{store}: load, full"))
        snap = next(s for n, s, _ in rows if n.startswith(f"{store}: load from"))
        print(f"{store}: snapshots make a load {full / snap:.0f}x faster")
    return 0


if __name__ == "__main__":
    sys.exit(cli(sys.argv[1:]))
