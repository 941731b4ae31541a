"""The raw sqlite3 loops esctl's read commands are measured against, run as their own process.

This is the script a user would write instead of running esctl: the standard library's sqlite3
and orjson, nothing else (in particular no esctl import), so its start-up is Python's plus two
small imports. The suite runs it as a subprocess, exactly like ``esctl``, so both sides of a
ratio pay for a process start.

    python bench/raw_loops.py dump DB [TENANT SINCE_US UNTIL_US] > out.ndjson
    python bench/raw_loops.py tenant-stats DB

``dump`` writes one orjson line per row, the same JSON object ``esctl dump --format ndjson``
writes (the suite checks that both outputs are byte-identical). ``tenant-stats`` reads every
row, decodes its payload, and counts events per tenant and type.
"""

from __future__ import annotations

import sqlite3
import sys
from datetime import UTC, datetime, timedelta

import orjson

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_COLUMNS = (
    "position, event_id, event_type, event_version, aggregate_type, aggregate_id, aggregate_version, "
    "tenant_id, occurred_at, stored_at, correlation_id, causation_id, actor_id, payload, metadata"
)


def _iso(micros: int) -> str:
    return (_EPOCH + timedelta(microseconds=micros)).isoformat()[:-6] + "Z"


def dump(path: str, tenant: str | None, since: int | None, until: int | None) -> None:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    if tenant is None:
        cursor = conn.execute(f"SELECT {_COLUMNS} FROM events ORDER BY position")
    else:
        cursor = conn.execute(
            f"SELECT {_COLUMNS} FROM events WHERE tenant_id = ? AND occurred_at >= ? AND occurred_at < ?"
            " ORDER BY position",
            (tenant, since, until),
        )
    write = sys.stdout.buffer.write
    for row in cursor:
        line = {
            "event_id": row[1],
            "event_type": row[2],
            "event_version": row[3],
            "occurred_at": _iso(row[8]),
            "aggregate_id": row[5],
            "aggregate_type": row[4],
            "aggregate_version": row[6],
            "tenant_id": row[7],
            "actor_id": row[12],
            "correlation_id": row[10],
            "causation_id": row[11],
            "metadata": orjson.loads(row[14]),
        }
        line.update(orjson.loads(row[13]))
        line["position"] = row[0]
        line["stored_at"] = _iso(row[9])
        write(orjson.dumps(line, option=orjson.OPT_APPEND_NEWLINE))
    conn.close()


def tenant_stats(path: str) -> None:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    counts: dict[tuple[str | None, str], int] = {}
    for tenant_id, event_type, payload in conn.execute(
        "SELECT tenant_id, event_type, payload FROM events ORDER BY position"
    ):
        orjson.loads(payload)
        key = (tenant_id, event_type)
        counts[key] = counts.get(key, 0) + 1
    conn.close()
    sys.stdout.buffer.write(orjson.dumps([[t, e, n] for (t, e), n in sorted(counts.items(), key=str)]))


def main(argv: list[str]) -> None:
    command, path, *rest = argv
    if command == "dump":
        if rest:
            dump(path, rest[0], int(rest[1]), int(rest[2]))
        else:
            dump(path, None, None, None)
    elif command == "tenant-stats":
        tenant_stats(path)
    else:
        raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
