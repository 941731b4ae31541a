"""One history, both backends: the same commands give the same output on SQLite and PostgreSQL.

A demo store is written to SQLite, copied to PostgreSQL with ``dump | append`` (and back), and
every read command — dumps with filters, streams, tenants, stats, verify, replay, catch-up,
rebuild-projection, projection show — must print the same bytes on both (``stored_at`` aside,
which each store sets when it writes). Real ``esctl`` processes, a real server.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from backends import stored_rows
from cli_support import invoke
from postgres_support import drop_schema, new_schema, server_dsn, with_schema

SHOP = "00000000-0000-4000-8000-00000000000a"
OTHER_SHOP = "00000000-0000-4000-8000-00000000000b"
DEMO = ("demo", "--days", "7", "--end", "2026-11-26T00:00:00Z")


@dataclass(frozen=True)
class Ran:
    returncode: int
    stdout: bytes
    stderr: bytes


def esctl(db: str | Path, *args: str, data: bytes | None = None, process: bool = False) -> Ran:
    """Run ``esctl --db DB ARGS``: in this process (Typer's runner), or as a real process."""
    if process:
        done = subprocess.run(
            [sys.executable, "-m", "esctl", "--db", str(db), *args],
            input=data,
            capture_output=True,
            env=dict(os.environ),
            timeout=120,
            check=False,
        )
        return Ran(done.returncode, done.stdout, done.stderr)
    result = invoke(db, *args, input=data)
    return Ran(int(result.exit_code), result.stdout_bytes, result.stderr_bytes)


def without_stored_at(ndjson: bytes) -> list[dict[str, Any]]:
    events = [json.loads(line) for line in ndjson.splitlines() if line.strip()]
    for event in events:
        event.pop("stored_at")
    return events


@pytest.fixture(scope="module")
def demo_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "demo.db"
    made = esctl(path, *DEMO, process=True)
    assert made.returncode == 0, made.stderr
    return path


@pytest.fixture(scope="module")
def copied(demo_sqlite: Path) -> Iterator[tuple[Path, str]]:
    """The demo in SQLite, and its copy in PostgreSQL made by ``dump | append`` (one per module:
    the tests only read it, but for the projection test, which runs last)."""
    name = new_schema()
    postgres = with_schema(server_dsn(), name)
    try:
        dump = esctl(demo_sqlite, "dump", "--format", "ndjson", process=True)
        assert dump.returncode == 0, dump.stderr
        loaded = esctl(postgres, "append", "-", data=dump.stdout, process=True)
        assert loaded.returncode == 0, loaded.stderr
        yield demo_sqlite, postgres
    finally:
        drop_schema(name)


def test_dump_append_copies_a_store_exactly_both_ways(copied: tuple[Path, str], tmp_path: Path) -> None:
    sqlite_db, postgres = copied
    original = esctl(sqlite_db, "dump").stdout
    in_postgres = esctl(postgres, "dump").stdout
    assert len(without_stored_at(original)) > 500
    # ids, versions, times, payloads, tenants and positions: everything but when it was stored
    assert without_stored_at(in_postgres) == without_stored_at(original)
    back = tmp_path / "back.db"
    assert esctl(back, "append", "-", data=in_postgres).returncode == 0
    assert without_stored_at(esctl(back, "dump").stdout) == without_stored_at(original)
    # Appending the same dump again adds nothing (idempotent by event id) on either backend.
    again = esctl(postgres, "append", "-", data=original)
    assert again.returncode == 0, again.stderr
    assert len(stored_rows(postgres) or []) == len(without_stored_at(original))


@pytest.mark.parametrize(
    "args",
    [
        ("dump", "--tenant", SHOP, "--since", "2026-11-21T00:00:00Z", "--until", "2026-11-23T00:00:00Z"),
        ("dump", "--type", "OrderPlaced", "--type", "PaymentCaptured", "--limit", "40"),
        ("dump", "--from-position", "100", "--to-position", "180", "--format", "csv"),
        ("dump", "--tenant", SHOP, "--tenant", OTHER_SHOP, "--aggregate-type", "Order", "--format", "json"),
        ("streams", "--tenant", SHOP, "--format", "ndjson"),
        ("tenants", "--format", "json"),
        ("stats", "--format", "json"),
        ("stats", "--tenant", SHOP, "--since", "2026-11-22T00:00:00Z", "--format", "csv"),
        ("--app", "esctl.demo", "verify", "--format", "json"),
        ("replay", "--projection", "tenant-stats", "--tenant", SHOP, "--format", "json"),
        ("replay", "--projection", "stream-index", "--until", "2026-11-22T00:00:00Z", "--format", "json"),
        ("replay", "--tenant", OTHER_SHOP, "--type", "OrderPlaced", "--format", "ndjson"),
    ],
    ids=lambda args: " ".join(args)[:60],
)
def test_read_commands_print_the_same_on_both_backends(copied: tuple[Path, str], args: tuple[str, ...]) -> None:
    sqlite_db, postgres = copied
    on_sqlite, on_postgres = esctl(sqlite_db, *args), esctl(postgres, *args)
    assert on_sqlite.returncode == on_postgres.returncode == 0, (on_sqlite.stderr, on_postgres.stderr)
    events_out = args[0] == "dump" or (args[0] == "replay" and "--projection" not in args)
    if events_out and "csv" not in args:
        if "json" in args:
            assert [dict(e, stored_at=None) for e in json.loads(on_postgres.stdout)] == [
                dict(e, stored_at=None) for e in json.loads(on_sqlite.stdout)
            ]
        else:
            assert without_stored_at(on_postgres.stdout) == without_stored_at(on_sqlite.stdout)
        return
    if "csv" in args and args[0] == "dump":
        header, *lines = on_sqlite.stdout.decode().splitlines()
        column = header.split(",").index("stored_at")
        strip = lambda text: [line.split(",")[:column] for line in text.decode().splitlines()]  # noqa: E731
        assert strip(on_postgres.stdout) == strip(on_sqlite.stdout)
        assert len(lines) == 81
        return
    assert on_postgres.stdout == on_sqlite.stdout
    if "verify" in args:
        assert on_sqlite.stdout.strip() == b"[]"  # a sound store: no findings on either
        assert b"576 events checked" in on_postgres.stderr
        assert b"576 events checked" in on_sqlite.stderr
    else:
        assert on_sqlite.stdout.strip() not in (b"", b"[]")


def test_projections_catch_up_and_rebuild_to_the_same_read_models(copied: tuple[Path, str]) -> None:
    for db in copied:
        caught = esctl(db, "-q", "catch-up")
        assert caught.returncode == 0, caught.stderr
        rebuilt = esctl(db, "-q", "rebuild-projection", "tenant-stats", "--yes")
        assert rebuilt.returncode == 0, rebuilt.stderr
        one_tenant = esctl(db, "-q", "rebuild-projection", "stream-index", "--tenant", SHOP, "--yes")
        assert one_tenant.returncode == 0, one_tenant.stderr
    for name in ("tenant-stats", "stream-index"):
        shown = [esctl(db, "projection", "show", name, "--format", "json") for db in copied]
        assert shown[0].returncode == shown[1].returncode == 0, shown[1].stderr
        assert shown[1].stdout == shown[0].stdout
        assert len(json.loads(shown[0].stdout)) > 4
    statuses = [json.loads(esctl(db, "projections", "--format", "json").stdout) for db in copied]
    for status in statuses:
        for row in status:
            row.pop("updated_at", None)
    assert statuses[1] == statuses[0]


def test_verify_words_the_same_findings_on_both_backends(postgres_url: str, tmp_path: Path) -> None:
    from backends import tamper
    from cli_support import event, ndjson

    data = ndjson([event(n) for n in range(1, 9)])
    stores = [str(tmp_path / "events.db"), postgres_url]
    for db in stores:
        assert esctl(db, "append", "-", data=data).returncode == 0
        tamper(
            db,
            "DELETE FROM events WHERE position = 3",
            "UPDATE events SET aggregate_version = 9 WHERE position = 5",
            "UPDATE events SET tenant_id = '00000000-0000-4000-8000-0000000000b2' WHERE position = 7",
        )
    reports = [esctl(db, "verify", "--format", "json") for db in stores]
    assert [r.returncode for r in reports] == [8, 8]
    findings = [json.loads(r.stdout) for r in reports]
    # SQLite's file check has nothing to say about a sound file; everything else is the same words.
    assert findings[1] == [f for f in findings[0] if f["check"] != "integrity"]
    assert {f["check"] for f in findings[1]} == {"positions", "versions", "tenant"}
