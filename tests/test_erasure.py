"""``esctl purge`` / ``esctl purges`` as real processes on a real SQLite file (#14).

The library's guarantees on every backend are ``esctl.testing.erasure`` (the contract suite);
here: the bytes really leave the file and its WAL, a dry run leaves the files byte-identical
and counts what the real run removes, the confirmation rules, verify still catching a hole no
purge explains, and a kill -9 mid-purge leaving the whole tenant or none of it.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sqlite3
import subprocess
import time
from pathlib import Path
from uuid import UUID, uuid4

import pytest

from backends import stored_rows, tamper
from cli_support import ESCTL, TENANT_A, TENANT_B, error_lines, run_esctl
from esctl import SQLiteEventStore
from esctl.errors import ExitStatus
from esctl.testing import REGISTRY, item


def files_of(folder: Path) -> dict[str, bytes]:
    """Every file in ``folder`` with its bytes."""
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir()) if path.is_file()}


def build(db: Path, per_tenant: dict[UUID, int], *, marker: str = "", streams: int = 10) -> dict[UUID, list[str]]:
    """Append ``per_tenant[t]`` events for each tenant, interleaved; return each tenant's notes."""
    notes: dict[UUID, list[str]] = {tenant: [] for tenant in per_tenant}

    async def main() -> None:
        store = SQLiteEventStore(db, registry=REGISTRY)
        try:
            ids = {tenant: [uuid4() for _ in range(streams)] for tenant in per_tenant}
            versions: dict[UUID, int] = {}
            pending = dict(per_tenant)
            batch = []
            while any(pending.values()):
                for tenant in per_tenant:
                    if not pending[tenant]:
                        continue
                    pending[tenant] -= 1
                    cart = ids[tenant][pending[tenant] % streams]
                    versions[cart] = versions.get(cart, 0) + 1
                    note = f"{marker}{tenant.hex[-4:]}-{uuid4().hex}"
                    notes[tenant].append(note)
                    batch.append(item(cart, versions[cart], tenant_id=tenant, note=note))
                if len(batch) >= 5000:
                    await store.append_batch(batch)
                    batch = []
            if batch:
                await store.append_batch(batch)
        finally:
            await store.close()

    asyncio.run(main())
    return notes


def tenant_counts(db: Path) -> dict[str | None, int]:
    conn = sqlite3.connect(db)
    try:
        return dict(conn.execute("SELECT tenant_id, COUNT(*) FROM events GROUP BY tenant_id").fetchall())
    finally:
        conn.close()


def test_purged_payload_strings_are_gone_from_the_file_and_its_wal(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    notes = build(db, {TENANT_A: 300, TENANT_B: 300}, marker="PII-")
    raw = b"".join(files_of(tmp_path).values())
    assert all(note.encode() in raw for note in notes[TENANT_A][:20])  # the check can see them

    purged = run_esctl("--db", str(db), "purge", "--tenant", str(TENANT_A), "--yes", "--format", "ndjson")

    assert purged.returncode == 0, purged.stderr
    files = files_of(tmp_path)
    raw = b"".join(files.values())
    assert [note for note in notes[TENANT_A] if note.encode() in raw] == []
    assert all(note.encode() in raw for note in notes[TENANT_B])  # the others' bytes stay
    assert files.get("events.db-wal", b"") == b""


def test_a_purge_by_a_long_lived_store_zeroes_the_bytes_even_where_sqlite_keeps_them_by_default(
    tmp_path: Path,
) -> None:
    # Debian's SQLite is built with SECURE_DELETE on; other builds are not. The store's own
    # connection is switched off here, as on such a build, and stays open (a service), so
    # neither the build nor a closing connection's checkpoint does the purge's work for it.
    db = tmp_path / "events.db"
    notes = build(db, {TENANT_A: 300, TENANT_B: 300}, marker="PII-")
    late = "PII-late-in-the-wal"

    async def main() -> None:
        store = SQLiteEventStore(db, registry=REGISTRY)
        try:
            await store.run_on_connection(lambda conn: conn.execute("PRAGMA secure_delete = OFF"))
            await store.append_batch([item(uuid4(), 1, tenant_id=TENANT_A, note=late)])
            assert late.encode() in b"".join(files_of(tmp_path).values())

            result = await store.purge_tenant(TENANT_A)

            assert result.events == 301
            raw = b"".join(files_of(tmp_path).values())
            assert [note for note in [*notes[TENANT_A], late] if note.encode() in raw] == []
            assert all(note.encode() in raw for note in notes[TENANT_B])
            setting = await store.run_on_connection(lambda conn: conn.execute("PRAGMA secure_delete").fetchone()[0])
            assert setting == 0  # the connection's own setting is given back
        finally:
            await store.close()

    asyncio.run(main())


def test_dry_run_leaves_the_files_byte_identical_and_counts_what_the_purge_removes(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    build(db, {TENANT_A: 40, TENANT_B: 25}, streams=4)
    caught_up = run_esctl("-q", "--db", str(db), "catch-up")
    assert caught_up.returncode == 0, caught_up.stderr
    before = files_of(tmp_path)

    dry = run_esctl("--db", str(db), "purge", "--tenant", str(TENANT_A), "--dry-run", "--format", "ndjson")

    assert dry.returncode == 0, dry.stderr
    assert files_of(tmp_path) == before
    planned = json.loads(dry.stdout)
    assert (planned["events"], planned["streams"]) == (40, 4)
    assert planned["documents"] == 5  # tenant-stats' one and stream-index's four
    assert b"Would purge 40 events" in dry.stderr

    real = run_esctl("--db", str(db), "purge", "--tenant", str(TENANT_A), "--yes", "--format", "ndjson")

    assert real.returncode == 0, real.stderr
    done = json.loads(real.stdout)
    assert {k: v for k, v in done.items() if k != "projections"} == {
        k: v for k, v in planned.items() if k != "projections"
    }
    assert done["projections"] == {
        "stream-index": "dropped the tenant's part",
        "tenant-stats": "dropped the tenant's part",
    }
    assert tenant_counts(db) == {str(TENANT_B): 25}
    listed = run_esctl("--db", str(db), "purges", "--format", "ndjson")
    record = json.loads(listed.stdout)
    assert (record["tenant_id"], record["events"], record["streams"]) == (str(TENANT_A), 40, 4)
    assert record["esctl_version"]
    assert run_esctl("-q", "--db", str(db), "verify").returncode == 0


def test_a_dry_run_promises_the_projection_changes_the_purge_makes_even_for_an_absent_tenant(
    tmp_path: Path,
) -> None:
    # A tenant with no events: the purge changes no read model, so its dry run must not say it will.
    db = tmp_path / "events.db"
    build(db, {TENANT_B: 10})
    assert run_esctl("-q", "--db", str(db), "catch-up").returncode == 0
    argv = ("--db", str(db), "purge", "--tenant", str(TENANT_A), "--format", "ndjson")
    dry = run_esctl(*argv, "--dry-run")
    real = run_esctl(*argv, "--yes")
    assert dry.returncode == real.returncode == 0, (dry.stderr, real.stderr)
    assert json.loads(dry.stdout)["projections"] == json.loads(real.stdout)["projections"] == {}


def test_purge_without_yes_and_no_terminal_refuses_and_changes_nothing(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    build(db, {TENANT_A: 5, TENANT_B: 5})
    before = files_of(tmp_path)
    refused = run_esctl("--db", str(db), "purge", "--tenant", str(TENANT_A), input=b"y\n")
    assert refused.returncode == ExitStatus.USAGE
    assert error_lines(refused.stderr.decode()) == [
        f"Error: purging tenant {TENANT_A} needs confirmation and stdin is not a terminal — "
        "pass --yes to skip the question, or --dry-run to see what would go"
    ]
    assert files_of(tmp_path) == before
    bad = run_esctl("--db", str(db), "purge", "--tenant", "not-a-uuid", "--yes")
    assert bad.returncode == ExitStatus.INVALID_INPUT
    assert "--tenant" in bad.stderr.decode()
    assert files_of(tmp_path) == before


def test_verify_passes_over_purged_positions_and_still_reports_any_other_hole(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    build(db, {TENANT_A: 10, TENANT_B: 10})
    assert run_esctl("--db", str(db), "purge", "--tenant", str(TENANT_A), "--yes").returncode == 0
    assert run_esctl("-q", "--db", str(db), "verify").returncode == 0
    conn = sqlite3.connect(db)
    position = conn.execute("SELECT MIN(position) FROM events WHERE position > 5").fetchone()[0]
    conn.execute("DELETE FROM events WHERE position = ?", (position,))
    conn.commit()
    conn.close()
    damaged = run_esctl("--db", str(db), "verify")
    assert damaged.returncode == ExitStatus.VERIFICATION
    assert f"position {position} is missing".encode() in damaged.stdout + damaged.stderr


def _kill_during_purge(tmp_path: Path, rounds: int) -> None:
    template = tmp_path / "template.db"
    build(template, {TENANT_A: 60_000, TENANT_B: 5_000}, streams=50)
    sqlite3.connect(template).execute("PRAGMA wal_checkpoint(TRUNCATE)").close()
    command = [str(ESCTL), "--db", "", "purge", "--tenant", str(TENANT_A), "--yes"]

    def start(db: Path) -> subprocess.Popen[bytes]:
        db.write_bytes(template.read_bytes())
        command[2] = str(db)
        return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    # How long a whole purge takes here, start-up included: the kills land in its later part,
    # where the purge's transaction runs (start-up is the first ~0.3 s).
    started = time.monotonic()
    assert start(tmp_path / "timed.db").wait() == 0
    whole = time.monotonic() - started
    for number in range(rounds):
        db = tmp_path / f"round-{number}.db"
        process = start(db)
        time.sleep(random.uniform(0.4 * whole, 0.98 * whole))
        process.send_signal(signal.SIGKILL)
        process.wait()
        counts = tenant_counts(db)
        conn = sqlite3.connect(db)
        records = conn.execute("SELECT events FROM purges").fetchall()
        conn.close()
        assert counts[str(TENANT_B)] == 5_000
        assert counts.get(str(TENANT_A), 0) in (0, 60_000)
        # the record goes with the events: both or neither
        assert records == ([] if counts.get(str(TENANT_A)) else [(60_000,)])
        assert run_esctl("-q", "--db", str(db), "verify").returncode == 0
        for path in tmp_path.glob(f"round-{number}.db*"):
            os.remove(path)


def test_kill_9_during_a_purge_leaves_all_of_the_tenant_or_none(tmp_path: Path) -> None:
    _kill_during_purge(tmp_path, 4)


@pytest.mark.slow
def test_kill_9_during_a_purge_leaves_all_of_the_tenant_or_none_many_times(tmp_path: Path) -> None:
    _kill_during_purge(tmp_path, 20)


CRM_APP = """
from typing import Annotated

from esctl import DeclarativeProjection, DomainEvent, Personal, handles, register_event, register_projection


@register_event
class ContactChanged(DomainEvent):
    event_type: str = "crm.ContactChanged"
    aggregate_type: str = "Customer"
    email: Annotated[str, Personal]
    plan: str


@register_event
class PlanChanged(DomainEvent):
    event_type: str = "crm.PlanChanged"
    aggregate_type: str = "Customer"
    plan: str


class Emails(DeclarativeProjection):
    def __init__(self) -> None:
        super().__init__()
        self.emails: dict[str, str] = {}

    @handles(ContactChanged)
    async def _changed(self, event: ContactChanged) -> None:
        self.emails[str(event.aggregate_id)] = event.email


register_projection(Emails, name="emails")
"""


def crm_event(number: int, customer: UUID, version: int, actor: str, **fields: object) -> dict[str, object]:
    return {
        "event_id": f"01a00000-0000-7000-8000-{number:012x}",
        "event_type": "crm.ContactChanged" if "email" in fields else "crm.PlanChanged",
        "occurred_at": "2026-11-01T08:00:00Z",
        "aggregate_type": "Customer",
        "aggregate_id": str(customer),
        "aggregate_version": version,
        "tenant_id": str(TENANT_A),
        "actor_id": actor,
        **fields,
    }


def test_redact_overwrites_the_personal_values_in_the_files_bytes_and_replay_still_works(tmp_path: Path) -> None:
    app = tmp_path / "crm_app.py"
    app.write_text(CRM_APP)
    db = tmp_path / "events.db"
    ann, bob = UUID(int=0xA11), UUID(int=0xB0B)
    events = [
        crm_event(1, ann, 1, "ann", email="ann.secret@example.com", plan="gold"),
        crm_event(2, bob, 1, "bob", email="bob.keeps@example.com", plan="free"),
        crm_event(3, ann, 2, "ann", email="ann.second.secret@example.com", plan="gold"),
    ]
    lines = b"".join(json.dumps(e).encode() + b"\n" for e in events)
    appended = run_esctl("--db", str(db), "--app", str(app), "append", "-", input=lines)
    assert appended.returncode == 0, appended.stderr
    esctl = ("--db", str(db), "--app", str(app))
    listed = json.loads(run_esctl(*esctl, "types", "crm.ContactChanged", "--format", "ndjson").stdout)
    assert listed["personal"] == ["email"]
    before = files_of(tmp_path)
    positions = [(d["position"], d["event_id"], d["aggregate_version"]) for d in map(json.loads, _dump(esctl))]

    caught_up = run_esctl("-q", *esctl, "catch-up")
    assert caught_up.returncode == 0, caught_up.stderr
    before = files_of(tmp_path)
    dry = run_esctl(*esctl, "redact", "--aggregate-id", str(ann), "--dry-run", "--format", "ndjson")
    assert dry.returncode == 0, dry.stderr
    assert files_of(tmp_path) == before
    done = run_esctl(*esctl, "redact", "--aggregate-id", str(ann), "--yes", "--format", "ndjson")
    assert done.returncode == 0, done.stderr

    planned, result = json.loads(dry.stdout), json.loads(done.stdout)
    assert (planned["events"], planned["streams"]) == (result["events"], result["streams"]) == (2, 1)
    assert result["fields"] == {"crm.ContactChanged": ["email"]}
    # emails reads ContactChanged payloads; the built-ins read no payload
    assert (planned["projections"], result["projections"]) == ({"emails": "would be rebuilt"}, {"emails": "rebuilt"})
    shown = run_esctl(*esctl, "projection", "show", "emails", "--format", "json")
    assert b"[redacted]" in shown.stdout
    assert b"ann." not in shown.stdout
    raw = b"".join(files_of(tmp_path).values())
    assert b"ann.secret@example.com" not in raw
    assert b"ann.second.secret@example.com" not in raw
    assert b"bob.keeps@example.com" in raw
    dumped_after = [json.loads(line) for line in _dump(esctl)]
    assert [(d["position"], d["event_id"], d["aggregate_version"]) for d in dumped_after] == positions
    assert [d["email"] for d in dumped_after] == ["[redacted]", "bob.keeps@example.com", "[redacted]"]
    assert run_esctl("-q", *esctl, "verify").returncode == 0
    replayed = run_esctl(*esctl, "replay", "--projection", "emails", "--format", "json")
    assert replayed.returncode == 0, replayed.stderr
    assert b"[redacted]" in replayed.stdout
    assert b"bob.keeps@example.com" in replayed.stdout
    records = [json.loads(line) for line in run_esctl(*esctl, "redactions", "--format", "ndjson").stdout.splitlines()]
    assert [(r["selection"], r["events"]) for r in records] == [(f"aggregate_id={ann}", 2)]


def test_redact_refuses_without_app_naming_the_types_and_changes_nothing(tmp_path: Path) -> None:
    app = tmp_path / "crm_app.py"
    app.write_text(CRM_APP)
    db = tmp_path / "events.db"
    ann = UUID(int=0xA11)
    events = [
        crm_event(1, ann, 1, "ann", email="ann@example.com", plan="gold"),
        crm_event(2, ann, 2, "ann", plan="silver"),
    ]
    lines = b"".join(json.dumps(e).encode() + b"\n" for e in events)
    assert run_esctl("--db", str(db), "--app", str(app), "append", "-", input=lines).returncode == 0
    before = files_of(tmp_path)
    bare = run_esctl("--db", str(db), "redact", "--aggregate-id", str(ann), "--yes")
    assert bare.returncode == ExitStatus.USAGE
    assert "crm.ContactChanged, crm.PlanChanged" in bare.stderr.decode()
    with_app = run_esctl("--db", str(db), "--app", str(app), "redact", "--aggregate-id", str(ann), "--yes")
    assert with_app.returncode == ExitStatus.USAGE
    assert error_lines(with_app.stderr.decode())[0].startswith(
        "Error: cannot tell which fields are personal in event type crm.PlanChanged: nothing redacted"
    )
    assert files_of(tmp_path) == before


def _dump(esctl: tuple[str, ...]) -> list[bytes]:
    dumped = run_esctl(*esctl, "dump", "--format", "ndjson")
    assert dumped.returncode == 0, dumped.stderr
    return dumped.stdout.splitlines()


def test_purge_redact_and_their_records_through_the_cli_on_every_backend(db_target: str, tmp_path: Path) -> None:
    app = tmp_path / "crm_app.py"
    app.write_text(CRM_APP)
    ann, bob = UUID(int=0xA11), UUID(int=0xB0B)
    events = [
        crm_event(1, ann, 1, "ann", email="ann@example.com", plan="gold"),
        {**crm_event(2, bob, 1, "bob", email="bob@example.com", plan="free"), "tenant_id": str(TENANT_B)},
        crm_event(3, ann, 2, "ann", email="ann@new.example.com", plan="gold"),
    ]
    esctl = ("--db", db_target, "--app", str(app))
    lines = b"".join(json.dumps(e).encode() + b"\n" for e in events)
    assert run_esctl(*esctl, "append", "-", input=lines).returncode == 0
    redacted = run_esctl(
        *esctl, "redact", "--tenant", str(TENANT_A), "--actor-id", "ann", "--yes", "--format", "ndjson"
    )
    assert redacted.returncode == 0, redacted.stderr
    assert json.loads(redacted.stdout)["events"] == 2
    rows = stored_rows(db_target) or []
    assert [r[0] for r in rows] == [1, 2, 3]
    bob_row = rows[1]

    dry = run_esctl(*esctl, "purge", "--tenant", str(TENANT_A), "--dry-run", "--format", "ndjson")
    assert stored_rows(db_target) == rows
    purged = run_esctl(*esctl, "purge", "--tenant", str(TENANT_A), "--yes", "--format", "ndjson")
    assert purged.returncode == 0, purged.stderr
    planned, done = json.loads(dry.stdout), json.loads(purged.stdout)
    assert (planned["events"], planned["first_position"], planned["last_position"]) == (2, 1, 3)
    assert (done["events"], done["first_position"], done["last_position"]) == (2, 1, 3)
    assert stored_rows(db_target) == [bob_row]
    assert run_esctl("-q", *esctl, "verify").returncode == 0
    records = run_esctl(*esctl, "purges", "--format", "ndjson").stdout.splitlines()
    assert [json.loads(r)["tenant_id"] for r in records] == [str(TENANT_A)]
    redactions = run_esctl(*esctl, "redactions", "--format", "ndjson").stdout.splitlines()
    assert [json.loads(r)["events"] for r in redactions] == [2]
    tamper(db_target, "DELETE FROM purged_positions WHERE position = 1")
    assert run_esctl("-q", *esctl, "verify").returncode == ExitStatus.VERIFICATION
