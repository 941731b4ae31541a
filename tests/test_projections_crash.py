"""Exactly-once across crashes and concurrent writers, with real processes.

- A runner killed with SIGKILL in the middle of a batch loses that batch whole; restarted, it
  ends with every event applied exactly once, the same read model a rebuild gives.
- A rebuild while a writer process appends misses nothing and doubles nothing.

The ``applied`` projection of the test app counts how often each event was applied, so a double
application would show as ``times = 2`` and a lost one as a missing row.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from test_projections_cli import (
    append,
    assert_exactly_once,
    checkpoint,
    db,  # noqa: F401 - the fixture
    esctl,
    esctl_process,
    query,
    read_models,
    ticks,
)

BATCH = "50"


def test_a_runner_killed_mid_batch_applies_every_event_exactly_once(db: Path) -> None:  # noqa: F811
    append(db, ticks(600))

    # A handler kills its own process at event n = 275 (position 276), halfway through the batch
    # of positions 251..300: the batch is lost whole, the checkpoint stays at 250.
    crashed = esctl(db, "catch-up", "applied", "tally", "--batch-size", BATCH, env={"PTEST_CRASH_AT_N": "275"})
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    assert checkpoint(db, "applied") == 250
    assert assert_exactly_once(db) == 250

    # Killed from outside at random moments while batches are being applied (2 ms per event).
    rng = random.Random(4)
    kills = 0
    for _ in range(3):
        before = (checkpoint(db, "applied"), checkpoint(db, "tally"))
        process = esctl_process(db, "catch-up", "applied", "tally", "--batch-size", BATCH, env={"PTEST_DELAY": "0.002"})
        try:
            deadline = time.monotonic() + 30
            while process.poll() is None and time.monotonic() < deadline:
                if (checkpoint(db, "applied"), checkpoint(db, "tally")) != before:
                    break  # it has committed a batch: it is working
                time.sleep(0.01)
            time.sleep(rng.uniform(0.01, 0.09))  # somewhere inside a 100 ms batch
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                kills += 1
            process.communicate(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
        assert_exactly_once(db)
    assert kills >= 2  # the runs were cut short, not finished

    finished = esctl(db, "catch-up", "--batch-size", BATCH)
    assert finished.returncode == 0, finished.stderr
    assert assert_exactly_once(db) == 600
    assert checkpoint(db, "tally") == 600

    incremental = read_models(db)
    rebuilt = esctl(db, "rebuild-projection", "--all", "--yes")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert read_models(db) == incremental


WRITER = """
import asyncio, sys
from pathlib import Path
from uuid import UUID, uuid4
from esctl import GenericEvent, SQLiteEventStore

TENANTS = [UUID(t) for t in sys.argv[3:]]

async def main(db, stop):
    n = 100_000
    async with SQLiteEventStore(db) as store:
        while not Path(stop).exists():
            tenant = TENANTS[n % len(TENANTS)]
            stream = uuid4()
            await store.append_batch([
                GenericEvent(event_type="ptest.Ticked", aggregate_type="Clock", aggregate_id=stream,
                             aggregate_version=v + 1, tenant_id=tenant, n=n + v)
                for v in range(5)
            ])
            n += 5
            await asyncio.sleep(0.005)

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


def test_a_rebuild_while_a_writer_appends_misses_nothing_and_doubles_nothing(db: Path) -> None:  # noqa: F811
    from test_projections_cli import TENANTS

    append(db, ticks(12_000))
    assert esctl(db, "-q", "catch-up").returncode == 0
    stop = db.parent / "stop-writing"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(db), str(stop), *(str(t) for t in TENANTS)],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while query(db, "SELECT MAX(position) FROM events")[0][0] <= 12_000 and time.monotonic() < deadline:
            time.sleep(0.02)
        head_before = query(db, "SELECT MAX(position) FROM events")[0][0]
        assert head_before > 12_000, "the writer did not start"

        rebuilt = esctl(db, "rebuild-projection", "--all", "--yes", "--batch-size", "500")
        assert rebuilt.returncode == 0, rebuilt.stderr
        # The swap happened after the writer's later events, and took them in.
        for name in ("applied", "tally", "tenant-stats", "stream-index"):
            assert checkpoint(db, name) > head_before, name
        assert_exactly_once(db)
    finally:
        stop.touch()
        _, writer_errors = writer.communicate(timeout=30)
    assert writer.returncode == 0, writer_errors

    caught_up = esctl(db, "catch-up")
    assert caught_up.returncode == 0, caught_up.stderr
    head = query(db, "SELECT MAX(position) FROM events")[0][0]
    assert assert_exactly_once(db) == head
    per_tenant = dict(query(db, "SELECT tenant_id, COUNT(*) FROM events GROUP BY tenant_id"))
    stats = {
        row[0]: row[1]
        for row in query(
            db,
            "SELECT tenant, json_extract(body, '$.events') FROM projection_documents WHERE namespace = 'tenant-stats'",
        )
    }
    assert stats == per_tenant

    incremental = read_models(db)
    again = esctl(db, "-q", "rebuild-projection", "--all", "--yes")
    assert again.returncode == 0, again.stderr
    assert read_models(db) == incremental
