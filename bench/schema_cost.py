"""What each part of esctl's schema costs an append, against the shape of eventsourcing's table.

Raw ``sqlite3`` only (no esctl code on the timed path): the same history as ``run.py``, inserted
in per-stream batches of 100 (one ``BEGIN IMMEDIATE``...``COMMIT`` each, WAL, ``synchronous =
NORMAL``) into esctl's schema, into the same schema with one index left out, and into a table
shaped like ``eventsourcing``'s SQLite recorder (one row of id, version, topic and JSON state,
one primary-key index). Prints events/s and the speed-up over esctl's schema: the ceiling any
esctl append could reach with that part of the schema gone.

    python bench/schema_cost.py            # N = 50,000 events, median of 3
    python bench/schema_cost.py --n 20000 --reps 5
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
import workload
from timing import fresh

EVENTSOURCING_SHAPE = (
    "CREATE TABLE stored_events (originator_id TEXT, originator_version INTEGER, topic TEXT, state BLOB,"
    " PRIMARY KEY (originator_id, originator_version))"
)


def esctl_schema(drop: str | None = None) -> list[str]:
    """esctl's first migration (the event log), without the index named ``drop``, or without
    AUTOINCREMENT when ``drop`` is ``"autoincrement"``."""
    from esctl.store.sqlite.schema import MIGRATIONS

    statements = list(MIGRATIONS[0])
    if drop == "autoincrement":
        return [statements[0].replace(" AUTOINCREMENT", ""), *statements[1:]]
    return [s for s in statements if drop is None or drop not in s]


def insert_batches(path: Path, schema: list[str], insert: str, batches: list[list[tuple[Any, ...]]]) -> float:
    conn = sqlite3.connect(fresh(path), isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        for statement in schema:
            conn.execute(statement)
        started = time.perf_counter()
        for rows in batches:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(insert, rows)
            conn.execute("COMMIT")
        return time.perf_counter() - started
    finally:
        conn.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=50_000, help="events (default 50,000)")
    parser.add_argument("--reps", type=int, default=3, help="repetitions, alternating (default 3)")
    args = parser.parse_args(argv)

    events = workload.history(args.n)
    batches = workload.stream_batches(list(events))
    stored_at = workload.START_US + workload.SPAN_US
    esctl_rows = [[workload.to_row(e, stored_at) for e in batch] for batch in batches]
    shaped_rows = [
        [(e["aggregate_id"], e["aggregate_version"], f"bench:{e['event_type']}", orjson.dumps(e)) for e in batch]
        for batch in batches
    ]
    esctl_insert = workload.insert_statement()
    variants: dict[str, tuple[list[str], str, list[list[tuple[Any, ...]]]]] = {
        "esctl's schema": (esctl_schema(), esctl_insert, esctl_rows),
        "  without AUTOINCREMENT": (esctl_schema("autoincrement"), esctl_insert, esctl_rows),
        "  without events_type_position": (esctl_schema("events_type_position"), esctl_insert, esctl_rows),
        "  without events_tenant_occurred": (esctl_schema("events_tenant_occurred"), esctl_insert, esctl_rows),
        "  without events_tenant_position": (esctl_schema("events_tenant_position"), esctl_insert, esctl_rows),
        "  only the stream and event-id indexes": (esctl_schema()[:1], esctl_insert, esctl_rows),
        "eventsourcing's table shape": (
            [EVENTSOURCING_SHAPE],
            "INSERT INTO stored_events VALUES (?, ?, ?, ?)",
            shaped_rows,
        ),
    }
    seconds: dict[str, list[float]] = {name: [] for name in variants}
    with tempfile.TemporaryDirectory() as workdir:
        path = Path(workdir) / "schema.db"
        for _ in range(args.reps):
            for name, (schema, insert, rows) in variants.items():
                seconds[name].append(insert_batches(path, schema, insert, rows))
    base = statistics.median(seconds["esctl's schema"])
    print(f"raw sqlite3, {args.n:,} events in batches of {workload.BATCH}, median of {args.reps}")
    for name, times in seconds.items():
        median = statistics.median(times)
        print(f"{name:42} {args.n / median:>10,.0f} events/s  x{base / median:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
