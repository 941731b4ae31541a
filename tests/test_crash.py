"""A writer killed with SIGKILL in the middle of a large batch leaves no trace of that batch.

The writer is a separate process appending one large batch (``BATCH`` events across several
streams) with ids and content derived from their index, so running it again sends exactly the
same events. The test kills it while SQLite is writing the batch into the WAL, then checks the
file, then runs the same append to completion, then once more to see it change nothing.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from uuid import uuid4

import pytest

from conftest import REGISTRY, item
from esctl import SQLiteEventStore

BATCH = 60_000
PRIOR = 10
KILL_AT_WAL_BYTES = 4 * 1024 * 1024

WRITER = r"""
import asyncio, json, sys
from datetime import UTC, datetime, timedelta
from uuid import UUID

from esctl import DomainEvent, EventRegistry, SQLiteEventStore, register_event

registry = EventRegistry()


@register_event(registry=registry)
class Recorded(DomainEvent):
    event_type: str = "crash.Recorded"
    aggregate_type: str = "Ledger"
    index: int
    note: str


def event_id(index: int) -> UUID:
    # A fixed, time-ordered (v7-shaped) id per index: a re-run sends the same events.
    return UUID(int=(0x0192_0000_0000 << 80) | (0x7 << 76) | (0b10 << 62) | index)


def batch(count: int, streams: int) -> list[DomainEvent]:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    tenant, correlation = UUID(int=0xC0FFEE), UUID(int=0xBEEF)
    versions = [0] * streams
    events = []
    for i in range(count):
        stream = i % streams
        versions[stream] += 1
        events.append(
            Recorded(
                event_id=event_id(i), aggregate_id=UUID(int=stream + 1), aggregate_version=versions[stream],
                occurred_at=start + timedelta(microseconds=i), tenant_id=tenant, correlation_id=correlation,
                index=i, note="x" * 200,
            )
        )
    return events


async def main(db: str, count: int) -> None:
    events = batch(count, streams=20)
    async with SQLiteEventStore(db, registry=registry) as store:
        await store.get_global_position()
        print("appending", flush=True)
        result = await store.append_batch(events)
    print(json.dumps({"appended": result.appended, "skipped": result.skipped}), flush=True)


asyncio.run(main(sys.argv[1], int(sys.argv[2])))
"""


def _writer(tmp_path: Path, db: Path) -> subprocess.Popen[str]:
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    return subprocess.Popen(
        [sys.executable, str(script), str(db), str(BATCH)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _run_to_completion(tmp_path: Path, db: Path) -> dict[str, int]:
    process = _writer(tmp_path, db)
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    result: dict[str, int] = json.loads(out.strip().splitlines()[-1])
    return result


def _count_and_check(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        count, last = conn.execute("SELECT count(*), max(position) FROM events").fetchone()
        assert last == count  # positions stay gapless: the killed batch used none up
        return int(count)
    finally:
        conn.close()


async def _prior_events(db: Path) -> None:
    async with SQLiteEventStore(db, registry=REGISTRY) as store:
        for _ in range(PRIOR):
            cart = uuid4()
            await store.append_events(cart, "Cart", [item(cart, 1)])


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL (POSIX)")
async def test_a_writer_killed_mid_batch_leaves_no_partial_batch_and_a_rerun_completes_it(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    await _prior_events(db)
    wal = Path(f"{db}-wal")

    writer = _writer(tmp_path, db)
    try:
        assert writer.stdout is not None
        assert writer.stdout.readline().strip() == "appending"
        deadline = time.monotonic() + 120
        while writer.poll() is None and time.monotonic() < deadline:
            if wal.exists() and wal.stat().st_size > KILL_AT_WAL_BYTES:
                os.kill(writer.pid, signal.SIGKILL)
                break
            time.sleep(0.002)
        writer.wait(timeout=30)
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()
    assert writer.returncode == -signal.SIGKILL, "the writer finished before it could be killed: raise BATCH"
    wal_at_kill = wal.stat().st_size
    assert wal_at_kill > KILL_AT_WAL_BYTES  # it was killed while writing the batch

    after_kill = _count_and_check(db)
    assert after_kill in (PRIOR, PRIOR + BATCH), f"partial batch: {after_kill - PRIOR} of {BATCH} events"
    assert after_kill == PRIOR  # killed before COMMIT: none of it

    rerun = _run_to_completion(tmp_path, db)
    assert rerun == {"appended": BATCH, "skipped": 0}
    assert _count_and_check(db) == PRIOR + BATCH

    third = _run_to_completion(tmp_path, db)
    assert third == {"appended": 0, "skipped": BATCH}
    assert _count_and_check(db) == PRIOR + BATCH
    conn = sqlite3.connect(db)
    versions = conn.execute(
        "SELECT count(DISTINCT aggregate_id), max(aggregate_version), min(aggregate_version)"
        " FROM events WHERE aggregate_type = 'Ledger'"
    ).fetchone()
    assert versions == (20, BATCH // 20, 1)
    print(f"\ncrash: killed with the WAL at {wal_at_kill / 2**20:.1f} MB; {after_kill - PRIOR} of {BATCH} events kept")
