"""Several OS processes appending to one SQLite file at once.

Each worker is a separate Python process running ``WORKER`` (below). They wait at a file
barrier, then for a few seconds append to two shared streams and to a stream of their own,
reading the stream's version first and sending it as the expected version, exactly as a
repository does. Each reports what happened; the test then checks the file against the reports.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from esctl import SQLiteEventStore

WORKERS = 4
DURATION = 3.0

WORKER = r"""
import asyncio, json, random, sys, time
from pathlib import Path
from uuid import UUID

from esctl import (
    DomainEvent, EventRegistry, ExpectedVersion, OptimisticLockError, SQLiteEventStore, register_event,
)

registry = EventRegistry()


@register_event(registry=registry)
class Tick(DomainEvent):
    event_type: str = "conc.Tick"
    aggregate_type: str = "Counter"
    worker: int
    seq: int


SHARED = [UUID(int=1), UUID(int=2)]


async def main(db: str, index: int, barrier: str, duration: float, out: str) -> None:
    rng = random.Random(index)
    own = UUID(int=1000 + index)
    tenant = UUID(int=7)
    report = {"ok": 0, "events": 0, "conflicts": 0, "other": 0, "errors": [], "ids": []}
    async with SQLiteEventStore(db, registry=registry) as store:
        await store.get_global_position()  # connected before the start, like a warm app
        Path(barrier, f"ready-{index}").touch()
        while not Path(barrier, "go").exists():
            time.sleep(0.005)
        deadline = time.monotonic() + duration
        seq = 0
        while time.monotonic() < deadline:
            seq += 1
            two_streams = rng.random() < 0.2
            targets = [rng.choice(SHARED), own] if two_streams else [rng.choice(SHARED + [own])]
            events, expected = [], {}
            try:
                for target in targets:
                    version = await store.get_stream_version(target, "Counter")
                    fresh = ExpectedVersion.NO_STREAM if rng.random() < 0.5 else 0
                    expected[("Counter", target)] = version or fresh
                    for n in range(rng.randint(1, 3)):
                        events.append(
                            Tick(aggregate_id=target, aggregate_version=version + n + 1, tenant_id=tenant,
                                 worker=index, seq=seq)
                        )
                result = await store.append_batch(events, expected_versions=expected)
                report["ok"] += 1
                report["events"] += result.appended
                report["ids"].extend(str(e.event_id) for e in events)
            except OptimisticLockError:
                report["conflicts"] += 1
            except Exception as error:  # anything else is a failure the test reports
                report["other"] += 1
                report["errors"].append(f"{type(error).__name__}: {error}")
    Path(out).write_text(json.dumps(report))


asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4]), sys.argv[5]))
"""


def _start_workers(tmp_path: Path, db: Path, count: int, duration: float) -> tuple[list[subprocess.Popen[bytes]], Path]:
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                str(script),
                str(db),
                str(i),
                str(barrier),
                str(duration),
                str(tmp_path / f"report-{i}.json"),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for i in range(count)
    ]
    return processes, barrier


def _wait_ready(processes: list[subprocess.Popen[bytes]], barrier: Path, count: int) -> None:
    deadline = time.monotonic() + 60
    while len(list(barrier.glob("ready-*"))) < count:
        for process in processes:
            if process.poll() is not None:
                _, err = process.communicate()
                pytest.fail(f"worker exited before the start: {err.decode()}")
        assert time.monotonic() < deadline, "workers did not get ready"
        time.sleep(0.01)


async def test_processes_appending_at_once_lose_nothing_and_conflict_cleanly(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    async with SQLiteEventStore(db) as store:
        assert await store.get_global_position() == 0  # creates the schema before the race
    processes, barrier = _start_workers(tmp_path, db, WORKERS, DURATION)
    try:
        _wait_ready(processes, barrier, WORKERS)
        started = time.monotonic()
        (barrier / "go").touch()
        for process in processes:
            _, err = process.communicate(timeout=60)
            assert process.returncode == 0, err.decode()
        elapsed = time.monotonic() - started
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
    reports = [json.loads((tmp_path / f"report-{i}.json").read_text()) for i in range(WORKERS)]
    errors = [e for r in reports for e in r["errors"]]
    assert sum(r["other"] for r in reports) == 0, errors[:5]
    assert not any("locked" in e.lower() or "busy" in e.lower() for e in errors)

    conn = sqlite3.connect(db)
    count, first, last = conn.execute("SELECT count(*), min(position), max(position) FROM events").fetchone()
    appended = sum(r["events"] for r in reports)
    assert count == appended  # no lost event, and nothing written that was not acknowledged
    assert (first, last) == (1, count)  # gapless positions
    reported_ids = [i for r in reports for i in r["ids"]]
    assert len(reported_ids) == len(set(reported_ids)) == count  # no duplicate
    stored_ids = {row[0] for row in conn.execute("SELECT event_id FROM events")}
    assert stored_ids == set(reported_ids)
    streams: dict[tuple[str, str], list[int]] = {}
    for aggregate_type, aggregate_id, version in conn.execute(
        "SELECT aggregate_type, aggregate_id, aggregate_version FROM events ORDER BY position"
    ):
        streams.setdefault((aggregate_type, aggregate_id), []).append(version)
    for key, versions in streams.items():
        assert versions == list(range(1, len(versions) + 1)), key  # contiguous, in position order
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    conflicts = sum(r["conflicts"] for r in reports)
    ok = sum(r["ok"] for r in reports)
    assert conflicts > 0, "the shared streams never conflicted: the test did not test conflicts"
    assert all(r["ok"] > 0 for r in reports)
    print(
        f"\nconcurrency: {WORKERS} processes, {elapsed:.1f} s: {ok} appends ok ({count} events, "
        f"{count / elapsed:.0f} events/s), {conflicts} conflicts, 0 other errors, {len(streams)} streams"
    )


FIRST_OPEN = r"""
import asyncio, sys, time
from pathlib import Path
from uuid import UUID
from esctl import DomainEvent, EventRegistry, SQLiteEventStore, register_event

registry = EventRegistry()


@register_event(registry=registry)
class Opened(DomainEvent):
    event_type: str = "conc.Opened"
    aggregate_type: str = "Opener"


async def main(db: str, index: int, barrier: str) -> None:
    Path(barrier, f"ready-{index}").touch()
    while not Path(barrier, "go").exists():
        time.sleep(0.002)
    async with SQLiteEventStore(db, registry=registry) as store:
        await store.append_events(UUID(int=index + 1), "Opener", [Opened(aggregate_id=UUID(int=index + 1))])


asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3]))
"""


def test_processes_creating_the_schema_at_once_all_succeed(tmp_path: Path) -> None:
    db = tmp_path / "fresh.db"
    script = tmp_path / "opener.py"
    script.write_text(FIRST_OPEN)
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    processes = [
        subprocess.Popen([sys.executable, str(script), str(db), str(i), str(barrier)], stderr=subprocess.PIPE)
        for i in range(WORKERS)
    ]
    try:
        _wait_ready(processes, barrier, WORKERS)
        (barrier / "go").touch()
        for process in processes:
            _, err = process.communicate(timeout=60)
            assert process.returncode == 0, err.decode()
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == WORKERS
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
