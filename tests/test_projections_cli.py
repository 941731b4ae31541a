"""The projection commands as users run them: real ``esctl`` processes on a SQLite file.

The test app (``APP_SOURCE``, written next to the database) registers an event type and two
projections: ``applied`` (SQL, one row per event with how many times it was applied, so a double
application shows) and ``tally`` (Python state per tenant, the tutorial's style). Events are
written in-process as generic events of the app's type, so the test process never registers it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest

from esctl import GenericEvent, SQLiteEventStore

ROOT = Path(__file__).resolve().parent.parent
TENANTS = (
    UUID("00000000-0000-4000-8000-0000000000a1"),
    UUID("00000000-0000-4000-8000-0000000000b2"),
    UUID("00000000-0000-4000-8000-0000000000c3"),
)

APP_SOURCE = '''
"""Events and projections for esctl's projection tests."""

from __future__ import annotations

import os
import signal
import threading
import time

from esctl import DeclarativeProjection, DomainEvent, SQLiteEventStore, handles, register_event
from esctl.projections import ReadModel, SQLProjection, register_projection

_STOP_AFTER_N = int(os.environ.get("PTEST_STOP_AFTER_N", "-1"))
_stop_pending = threading.Event()

if _STOP_AFTER_N >= 0:
    # Stop this whole process (SIGSTOP) at a known point: on the main thread, right after the
    # projection transaction that applied event n = PTEST_STOP_AFTER_N has committed. It holds
    # no lock then, and starts no transaction until the test sends SIGCONT.
    _run_transaction = SQLiteEventStore.run_projection_transaction

    async def _run_then_stop(self, work, *, write=True):
        result = await _run_transaction(self, work, write=write)
        if _stop_pending.is_set():
            _stop_pending.clear()
            os.kill(os.getpid(), signal.SIGSTOP)
        return result

    SQLiteEventStore.run_projection_transaction = _run_then_stop


@register_event
class Ticked(DomainEvent):
    event_type: str = "ptest.Ticked"
    aggregate_type: str = "Clock"
    n: int
    poison: bool = False


class Applied(SQLProjection):
    """One row per event, counting how often it was applied."""

    name = "applied"
    tenant_column = "tenant_id"
    tables = {
        "applied": "CREATE TABLE {applied}"
        " (event_id TEXT PRIMARY KEY, tenant_id TEXT, n INTEGER, times INTEGER NOT NULL)"
    }

    @handles(Ticked)
    def _ticked(self, db: ReadModel, event: Ticked) -> None:
        if event.n == int(os.environ.get("PTEST_CRASH_AT_N", "-1")):
            os.kill(os.getpid(), signal.SIGKILL)
        delay = float(os.environ.get("PTEST_DELAY", "0"))
        if delay:
            time.sleep(delay)
        if event.n == _STOP_AFTER_N:
            _stop_pending.set()
        if event.poison:
            raise ValueError(f"poison pill n={event.n}")
        db.execute(
            "INSERT INTO {applied} (event_id, tenant_id, n, times) VALUES (?, ?, ?, 1)"
            " ON CONFLICT (event_id) DO UPDATE SET times = times + 1",
            (str(event.event_id), str(event.tenant_id), event.n),
        )


class Tally(DeclarativeProjection):
    """Per tenant: how many ticks, and their sum."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0
        self.total = 0

    @handles(Ticked)
    async def _ticked(self, event: Ticked) -> None:
        self.count += 1
        self.total += event.n


register_projection(Tally, name="tally", per_tenant=True)
projections = [Applied]
'''


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A database path, with the test app written beside it."""
    (tmp_path / "ptest_app.py").write_text(APP_SOURCE)
    return tmp_path / "events.db"


def esctl(
    db: Path, *args: str, env: Mapping[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m esctl --db DB --app <test app> ARGS`` as a real process."""
    return subprocess.run(
        [sys.executable, "-m", "esctl", "--db", str(db), "--app", str(db.parent / "ptest_app.py"), *args],
        capture_output=True,
        stdin=subprocess.DEVNULL,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=timeout,
        check=False,
    )


def esctl_process(db: Path, *args: str, env: Mapping[str, str] | None = None) -> subprocess.Popen[str]:
    """Start ``esctl`` like ``esctl()`` without waiting for it."""
    return subprocess.Popen(
        [sys.executable, "-m", "esctl", "--db", str(db), "--app", str(db.parent / "ptest_app.py"), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def ticks(count: int, *, first: int = 0, poison: Iterable[int] = (), per_stream: int = 25) -> list[GenericEvent]:
    """``ptest.Ticked`` events n = first … first + count - 1, tenants in turn, streams of ``per_stream``."""
    poisoned = set(poison)
    events = []
    streams: dict[UUID, tuple[UUID, int]] = {}
    for n in range(first, first + count):
        tenant = TENANTS[n % len(TENANTS)]
        stream, version = streams.get(tenant, (uuid4(), 0))
        if version == per_stream:
            stream, version = uuid4(), 0
        streams[tenant] = (stream, version + 1)
        events.append(
            GenericEvent(
                event_type="ptest.Ticked",
                aggregate_type="Clock",
                aggregate_id=stream,
                aggregate_version=version + 1,
                tenant_id=tenant,
                n=n,
                poison=n in poisoned,
            )
        )
    return events


def append(db: Path, events: list[GenericEvent], chunk: int = 2000) -> None:
    async def write() -> None:
        async with SQLiteEventStore(db) as store:
            for start in range(0, len(events), chunk):
                await store.append_batch(events[start : start + chunk])

    asyncio.run(write())


def query(db: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db, timeout=10)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def checkpoint(db: Path, name: str) -> int:
    rows = query(db, "SELECT position FROM projection_checkpoints WHERE name = ?", (name,))
    return int(rows[0][0]) if rows else 0


def assert_exactly_once(db: Path) -> int:
    """``applied`` holds each event up to its checkpoint once (dead letters aside); ``tally`` agrees.

    Returns:
        The ``applied`` checkpoint.
    """
    position = checkpoint(db, "applied")
    dead = {row[0] for row in query(db, "SELECT position FROM projection_dead_letters WHERE name = 'applied'")}
    expected = {
        event_id
        for at, event_id in query(db, "SELECT position, event_id FROM events WHERE position <= ?", (position,))
        if at not in dead
    }
    applied = query(db, "SELECT event_id, times FROM applied") if table_exists(db, "applied") else []
    assert {event_id for event_id, _ in applied} == expected
    assert {times for _, times in applied} <= {1}
    tally_at = checkpoint(db, "tally")
    counted = Counter(
        tenant for (tenant,) in query(db, "SELECT tenant_id FROM events WHERE position <= ?", (tally_at,))
    )
    stored = {
        tenant: json.loads(body)["count"]
        for tenant, body in query(db, "SELECT tenant, body FROM projection_documents WHERE namespace = 'tally'")
    }
    assert stored == dict(counted)
    return position


def table_exists(db: Path, name: str) -> bool:
    return bool(query(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)))


def fresh_tables(db: Path, table: str) -> list[str]:
    """The fresh copies of ``table`` that rebuilds under way (or killed) have created."""
    rows = query(db, "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE ?", (f"{table}__r%",))
    return [row[0] for row in rows]


def fresh_rows(db: Path, table: str) -> int:
    """The rows in the fresh copy of ``table`` a rebuild is filling (0 before it exists)."""
    names = fresh_tables(db, table)
    return int(query(db, f"SELECT COUNT(*) FROM {names[0]}")[0][0]) if names else 0


def read_models(db: Path) -> dict[str, Any]:
    """Every read model's stored rows (documents as parsed JSON; tables as rows)."""
    documents: dict[str, Any] = {}
    for namespace, tenant, key, body in query(
        db, "SELECT namespace, tenant, key, body FROM projection_documents ORDER BY namespace, tenant, key"
    ):
        documents.setdefault(namespace, {})[(tenant, key)] = json.loads(body)
    return {"documents": documents, "applied": sorted(query(db, "SELECT * FROM applied"))}


def statuses(db: Path) -> dict[str, dict[str, Any]]:
    result = esctl(db, "projections", "--format", "json")
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    failed = any(row["status"] == "failed" for row in rows.values())
    assert result.returncode == (8 if failed else 0), result.stderr
    return rows


# -- a poison event --------------------------------------------------------------------------------


def test_a_poison_event_stops_only_its_projection_exit_8_and_skip_moves_past_it(db: Path) -> None:
    events = ticks(40, poison=[23])
    append(db, events)
    poison_id = str(events[23].event_id)

    result = esctl(db, "catch-up", "--batch-size", "10")
    assert result.returncode == 8, result.stderr
    # The failure is said once, with the events applied before it (23, in three batches).
    assert "FAILED" not in result.stderr
    [error] = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert error.startswith(
        f"Error: 1 projection stopped by a failing handler (applied): applied at position 24 (event {poison_id})"
    )
    assert "stopped at 23 after 23 events" in error
    assert result.stderr.count("position 24") == 1
    assert "`esctl catch-up applied --skip`" in error
    assert "Traceback" not in result.stderr

    status = statuses(db)
    assert status["applied"]["status"] == "failed"
    assert status["applied"]["position"] == 23
    assert status["applied"]["lag"] == 17
    assert status["applied"]["error"]["position"] == 24
    assert status["applied"]["error"]["event_id"] == poison_id
    assert "ValueError: poison pill n=23" in status["applied"]["error"]["message"]
    for other in ("tally", "tenant-stats", "stream-index"):
        assert (status[other]["status"], status[other]["position"]) == ("ok", 40), other
    assert assert_exactly_once(db) == 23

    # Run again: it stops at the same event, still exit 8.
    assert esctl(db, "catch-up", "applied").returncode == 8
    # Skip it deliberately: recorded as a dead letter, the rest applied.
    result = esctl(db, "catch-up", "applied", "--skip")
    assert result.returncode == 0, result.stderr
    assert "skipped the event at position 24" in result.stderr
    status = statuses(db)
    assert (status["applied"]["status"], status["applied"]["position"]) == ("ok", 40)
    assert status["applied"]["dead_letters"] == 1
    assert assert_exactly_once(db) == 40
    assert poison_id not in {row[0] for row in query(db, "SELECT event_id FROM applied")}
    # A rebuild skips the dead letter too.
    before = read_models(db)
    result = esctl(db, "rebuild-projection", "applied", "--yes")
    assert result.returncode == 0, result.stderr
    assert read_models(db) == before


# -- the tutorial's projection through replay ---------------------------------------------------------

TUTORIAL_SCRIPT = """
import asyncio, json, sys
from datetime import datetime
from uuid import UUID
sys.path.insert(0, {examples!r})
from tutorial_16_multi_tenancy import TenantAwareOrderRepository, TenantOrderProjection
from esctl import SQLiteEventStore

TENANTS = [UUID(t) for t in {tenants!r}]

def counts(projection):
    return {{t: [len(orders), sum(o["status"] == "shipped" for o in orders)]
             for t, orders in projection.orders_by_tenant.items()}}

async def main(db):
    store = SQLiteEventStore(db)
    repos = [TenantAwareOrderRepository(store, t) for t in TENANTS]
    order_ids = []
    for i in range(30):
        repo = repos[i % 3] if i % 5 else repos[0]
        order = repo.create_new(UUID(int=i + 1))
        order.create(f"customer {{i}}", 10.0 * i)
        await repo.save(order)
        order_ids.append((repo, order.aggregate_id))
    for repo, order_id in order_ids[::3]:
        loaded = await repo.load(order_id)
        loaded.ship(f"TRACK-{{order_id}}")
        await repo.save(loaded)
    # The tutorial's own loop, as it is written there.
    global_projection = TenantOrderProjection()
    acme_projection = TenantOrderProjection(tenant_id=TENANTS[0])
    stored_events = [stored async for stored in store.read_all()]
    for stored in stored_events:
        await global_projection.handle(stored.event)
        await acme_projection.handle(stored.event)
    # The same loop over the events before a moment in the middle (for --until).
    until = stored_events[len(stored_events) // 2].event.occurred_at
    earlier = TenantOrderProjection()
    for stored in stored_events:
        if stored.event.occurred_at < until:
            await earlier.handle(stored.event)
    await store.close()
    print(json.dumps({{"global": counts(global_projection), "acme": counts(acme_projection),
                      "until": until.isoformat(), "earlier": counts(earlier)}}))

asyncio.run(main(sys.argv[1]))
"""

TUTORIAL_APP = """
import sys
from uuid import UUID
sys.path.insert(0, {examples!r})
from tutorial_16_multi_tenancy import TenantOrderProjection
from esctl.projections import register_projection

ACME = UUID({acme!r})
register_projection(TenantOrderProjection, name="tenant-orders", per_tenant=True)
register_projection(lambda: TenantOrderProjection(tenant_id=ACME), name="acme-orders", tenant_id=ACME)
"""


def test_the_tutorials_tenant_order_projection_gives_the_tutorials_counts_through_replay(tmp_path: Path) -> None:
    db = tmp_path / "tutorial.db"
    examples = str(ROOT / "examples")
    tenants = [str(t) for t in TENANTS]
    script = tmp_path / "tutorial_run.py"
    script.write_text(TUTORIAL_SCRIPT.format(examples=examples, tenants=tenants))
    app = tmp_path / "tutorial_app.py"
    app.write_text(TUTORIAL_APP.format(examples=examples, acme=tenants[0]))
    run = subprocess.run([sys.executable, str(script), str(db)], capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    expected = json.loads(run.stdout)
    assert len(expected["global"]) == 3

    def replayed(*args: str) -> dict[str, list[int]]:
        cmd = [sys.executable, "-m", "esctl", "--db", str(db), "--app", str(app), *args, "--format", "json"]
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stderr
        counts: dict[str, list[int]] = {}
        for row in json.loads(result.stdout):
            for tenant, orders in row["orders_by_tenant"].items():
                assert tenant not in counts
                counts[tenant] = [len(orders), sum(o["status"] == "shipped" for o in orders)]
        return counts

    assert replayed("replay", "--projection", "tenant-orders") == expected["global"]
    assert replayed("replay", "--projection", "tenant-orders", "--tenant", tenants[0]) == expected["acme"]
    assert replayed("replay", "--projection", "acme-orders") == expected["acme"]
    assert replayed("replay", "--projection", "tenant-orders", "--until", expected["until"]) == expected["earlier"]
    # Replay touched nothing; persisted and shown, the projection agrees too.
    assert not query(db, "SELECT * FROM projection_checkpoints")
    catch_up = subprocess.run(
        [sys.executable, "-m", "esctl", "--db", str(db), "--app", str(app), "-q", "catch-up"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert catch_up.returncode == 0, catch_up.stderr
    assert replayed("projection", "show", "tenant-orders") == expected["global"]
    assert replayed("projection", "show", "tenant-orders", "--tenant", tenants[1]) == {
        tenants[1]: expected["global"][tenants[1]]
    }


# -- rebuilding one tenant, follow, output ------------------------------------------------------------


def test_rebuild_one_tenant_through_the_cli_leaves_other_tenants_rows_byte_identical(db: Path) -> None:
    append(db, ticks(90))
    assert esctl(db, "-q", "catch-up").returncode == 0
    a, b = str(TENANTS[0]), str(TENANTS[1])
    good_a = query(db, "SELECT * FROM applied WHERE tenant_id = ? ORDER BY event_id", (a,))
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("UPDATE applied SET n = -1 WHERE tenant_id IN (?, ?)", (a, b))
    conn.close()
    others = query(db, "SELECT * FROM applied WHERE tenant_id != ? ORDER BY event_id", (a,))
    docs_sql = "SELECT * FROM projection_documents WHERE tenant != ? ORDER BY namespace, tenant, key"
    docs = query(db, docs_sql, (a,))

    dry = esctl(db, "rebuild-projection", "applied", "--tenant", a, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "Would rebuild applied for tenant" in dry.stderr
    assert "from 30 events" in dry.stderr
    assert query(db, "SELECT * FROM applied WHERE tenant_id = ? AND n = -1", (a,))  # dry run: nothing changed

    result = esctl(db, "rebuild-projection", "--all", "--tenant", a, "--yes")
    assert result.returncode == 0, result.stderr
    assert query(db, "SELECT * FROM applied WHERE tenant_id = ? ORDER BY event_id", (a,)) == good_a
    assert query(db, "SELECT * FROM applied WHERE tenant_id != ? ORDER BY event_id", (a,)) == others
    assert query(db, docs_sql, (a,)) == docs


def test_follow_keeps_applying_new_events_and_ctrl_c_exits_130_consistently(db: Path) -> None:
    append(db, ticks(30))
    process = esctl_process(db, "catch-up", "applied", "tally", "--follow", "--interval", "0.1")
    try:
        _wait_for(lambda: checkpoint(db, "applied") == 30 and checkpoint(db, "tally") == 30)
        append(db, ticks(20, first=30))
        _wait_for(lambda: checkpoint(db, "applied") == 50 and checkpoint(db, "tally") == 50)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, stderr
    assert "Interrupted" in stderr
    assert assert_exactly_once(db) == 50


def test_replay_without_a_projection_prints_the_selected_events_with_a_running_count(db: Path) -> None:
    append(db, ticks(30))
    b = str(TENANTS[1])
    result = esctl(db, "replay", "--tenant", b, "--from-position", "5", "--format", "json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    expected = [p for (p,) in query(db, "SELECT position FROM events WHERE tenant_id = ? AND position >= 5", (b,))]
    assert [row["position"] for row in rows] == expected
    assert [row["count"] for row in rows] == list(range(1, len(expected) + 1))
    assert {row["tenant_id"] for row in rows} == {b}
    assert not query(db, "SELECT * FROM projection_checkpoints")


def test_ctrl_c_during_a_rebuild_exits_130_and_leaves_the_read_model_in_use(db: Path) -> None:
    append(db, ticks(1000))
    assert esctl(db, "-q", "catch-up", "applied").returncode == 0
    before = query(db, "SELECT * FROM applied ORDER BY event_id")
    process = esctl_process(
        db, "rebuild-projection", "applied", "--yes", "--batch-size", "20", env={"PTEST_DELAY": "0.002"}
    )
    try:
        _wait_for(lambda: fresh_rows(db, "applied") >= 40)  # it is filling its fresh table
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, stderr
    assert "Interrupted; applied: the read model in use is unchanged (its rebuild was not swapped in)." in stderr
    assert query(db, "SELECT * FROM applied ORDER BY event_id") == before
    assert fresh_tables(db, "applied") == []  # the fresh table was dropped
    assert (checkpoint(db, "applied"), statuses(db)["applied"]["generation"]) == (1000, 0)


@pytest.mark.skipif(not hasattr(os, "waitid"), reason="needs os.waitid and SIGSTOP (POSIX)")
def test_two_rebuild_processes_at_once_the_second_carries_on_and_the_first_stops(db: Path) -> None:
    append(db, ticks(1000))
    assert esctl(db, "-q", "catch-up", "applied").returncode == 0
    before = query(db, "SELECT * FROM applied ORDER BY event_id")
    args = ("rebuild-projection", "applied", "--yes", "--batch-size", "1")
    # The first stops itself right after the transaction that applied event n = 40 committed
    # (PTEST_STOP_AFTER_N): mid-way, between transactions, holding no lock. Not a SIGSTOP sent
    # from here at a moment a probe finds the write lock free: that stops the process's threads
    # one by one, and its SQLite thread could take the lock meanwhile and stop holding it, so
    # the second waited out its busy timeout and failed (exit 6).
    first = esctl_process(db, *args, env={"PTEST_STOP_AFTER_N": "40"})
    try:
        _wait_until_stopped(first)
        assert fresh_rows(db, "applied") == 41  # events n = 0 … 40, one transaction each
        second = esctl(db, *args)  # the whole rebuild runs while the first is stopped mid-way
        first.send_signal(signal.SIGCONT)
        _, first_stderr = first.communicate(timeout=60)
    finally:
        if first.poll() is None:
            first.kill()
    assert second.returncode == 0, second.stderr
    assert "Rebuilt applied: 1,000 events" in second.stderr
    assert first.returncode == 8, first_stderr
    assert "another rebuild of it (whole, or of one tenant) started meanwhile" in first_stderr
    assert query(db, "SELECT * FROM applied ORDER BY event_id") == before  # each event applied once
    assert fresh_tables(db, "applied") == []
    assert query(db, "SELECT COUNT(*) FROM projection_documents WHERE namespace LIKE 'applied@%'") == [(0,)]


def _wait_until_stopped(process: subprocess.Popen[str], timeout: float = 60) -> None:
    """Wait until ``process`` is stopped (SIGSTOP); fail if it ends first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        # WNOWAIT leaves the state to be waited for again: Popen reaps the exit itself.
        info = os.waitid(os.P_PID, process.pid, os.WSTOPPED | os.WEXITED | os.WNOHANG | os.WNOWAIT)
        if info is not None:
            if info.si_code != os.CLD_STOPPED:
                _, stderr = process.communicate()
                raise AssertionError(f"it ended (exit {process.returncode}) instead of stopping: {stderr}")
            return
        time.sleep(0.01)
    raise AssertionError("it never stopped")


WRITERS = [("catch-up", "applied"), ("rebuild-projection", "applied", "--yes")]


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="reads /proc to see the command open the database")
@pytest.mark.parametrize("command", WRITERS, ids=lambda command: command[0])
def test_a_projection_command_waits_for_a_writer_holding_the_lock_within_the_busy_timeout(
    db: Path, command: tuple[str, ...]
) -> None:
    append(db, ticks(30))
    with _write_lock_held(db) as release:
        process = esctl_process(db, *command, env={"ESCTL_BUSY_TIMEOUT": "60"})
        try:
            _wait_for(lambda: _has_open(process, db))
            time.sleep(1)  # past opening the database: it waits for the write lock
            assert process.poll() is None, process.communicate()
            release()
            _, stderr = process.communicate(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
    assert process.returncode == 0, stderr
    assert checkpoint(db, "applied") == 30


@pytest.mark.parametrize("command", WRITERS, ids=lambda command: command[0])
def test_a_projection_command_exits_6_once_a_writer_holds_the_lock_longer_than_the_busy_timeout(
    db: Path, command: tuple[str, ...]
) -> None:
    append(db, ticks(30))
    with _write_lock_held(db):
        started = time.monotonic()
        result = esctl(db, *command, env={"ESCTL_BUSY_TIMEOUT": "1.5"})
        waited = time.monotonic() - started
    assert result.returncode == 6, result.stderr
    assert "is locked by another writer" in result.stderr
    assert "ESCTL_BUSY_TIMEOUT" in result.stderr
    assert waited >= 1.5  # it gave up once the busy timeout was over, not at once
    assert checkpoint(db, "applied") == 0


@contextlib.contextmanager
def _write_lock_held(db: Path) -> Iterator[Callable[[], None]]:
    """Hold the write lock on ``db`` (``BEGIN IMMEDIATE``) until the block ends or it calls ``release()``."""
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")

    def release() -> None:
        if holder.in_transaction:
            holder.execute("ROLLBACK")

    try:
        yield release
    finally:
        release()
        holder.close()


def _has_open(process: subprocess.Popen[str], path: Path) -> bool:
    """True when ``process`` has ``path`` open; fail if it has ended."""
    if process.poll() is not None:
        raise AssertionError(f"it ended (exit {process.returncode}): {process.communicate()[1]}")
    fds = Path(f"/proc/{process.pid}/fd")
    return any(os.path.realpath(fd) == str(path.resolve()) for fd in fds.iterdir())


def test_messages_go_to_stderr_quietly_and_without_progress_bars_when_not_a_terminal(db: Path) -> None:
    append(db, ticks(50))
    loud = esctl(db, "rebuild-projection", "tenant-stats", "--yes")
    assert loud.returncode == 0, loud.stderr
    assert loud.stdout == ""
    assert "Rebuilt tenant-stats: 50 events" in loud.stderr
    assert "events/s" in loud.stderr
    assert "━" not in loud.stderr  # no progress bar off a terminal
    assert "\r" not in loud.stderr
    quiet = esctl(db, "-q", "rebuild-projection", "tenant-stats", "--yes")
    assert (quiet.returncode, quiet.stdout, quiet.stderr) == (0, "", "")
    shown = esctl(db, "projection", "show", "tenant-stats", "--tenant", str(TENANTS[0]), "--format", "json")
    assert shown.returncode == 0, shown.stderr
    [row] = json.loads(shown.stdout)
    assert (row["tenant_id"], row["events"], row["event_types"]) == (str(TENANTS[0]), 17, {"ptest.Ticked": 17})


FAST = ("--yes", "--batch-size", "100")


def test_progress_bar_on_a_terminal(db: Path) -> None:
    append(db, ticks(3000))
    controller, terminal = os.openpty()
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "esctl", "--db", str(db), "rebuild-projection", "stream-index", *FAST],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=terminal,
            env={**os.environ, "COLUMNS": "120", "TERM": "xterm"},
        )
        os.close(terminal)
        output = b""
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # the terminal closed: the process is done
                break
            if not chunk:
                break
            output += chunk
        process.wait(timeout=60)
    finally:
        os.close(controller)
    text = output.decode(errors="replace")
    assert process.returncode == 0, text
    assert "Rebuilding stream-index" in text
    assert "events/s" in text
    assert "3000/3000" in text


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("projection", "show", "no-such"), 5, "no projection named 'no-such'"),
        (("catch-up", "no-such"), 5, "no projection named 'no-such'"),
        (("rebuild-projection",), 2, "give a projection NAME, or --all"),
        (("rebuild-projection", "tally", "--all"), 2, "give a projection NAME, or --all"),
        (("rebuild-projection", "tally", "--tenant", "acme"), 3, "'acme' is not a UUID"),
        (("rebuild-projection", "applied", "--tenant", str(TENANTS[0]), "--yes"), 0, ""),
        (
            ("rebuild-projection", "applied"),
            2,
            "Error: rebuild of applied needs confirmation and stdin is not a terminal — pass --yes",
        ),
    ],
)
def test_projection_command_errors_and_exit_codes(db: Path, args: tuple[str, ...], code: int, message: str) -> None:
    append(db, ticks(5))
    result = esctl(db, *args)
    assert result.returncode == code, result.stderr
    assert message in result.stderr
    if code:
        assert "Traceback" not in result.stderr


def test_the_read_commands_never_create_a_database(tmp_path: Path) -> None:
    (tmp_path / "ptest_app.py").write_text(APP_SOURCE)
    missing = tmp_path / "missing.db"
    for args in (("projections",), ("projection", "show", "tally"), ("replay", "--projection", "tally")):
        result = esctl(missing, *args)
        assert result.returncode == 5, (args, result.stderr)
        assert not missing.exists()


def _wait_for(condition: Any, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except sqlite3.OperationalError:
            pass  # the table may not exist yet
        time.sleep(0.05)
    raise AssertionError("timed out waiting")
