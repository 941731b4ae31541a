"""The PostgreSQL store under real processes: concurrent writers and a tailing reader, a writer
killed mid-import, the server restarted under ``catch-up --follow``.

A reader that resumes from ``position > checkpoint`` must never skip an event that commits later
with a lower position: the counter row gives positions in commit order, and this is where a
bigserial would show (POSTGRES.md measured thousands of skipped events with 4-16 writers).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from backends import stored_rows
from cli_support import ndjson, run_esctl
from postgres_support import DIR_VARIABLE, server_dsn

ROOT = Path(__file__).resolve().parent.parent

WRITER = """
import asyncio, sys, uuid
from esctl.store.postgres import PostgresEventStore
from esctl.testing import REGISTRY, item

async def main(url, number, appends, size):
    store = PostgresEventStore(url, registry=REGISTRY)
    try:
        carts = [uuid.uuid4() for _ in range(3)]
        versions = dict.fromkeys(carts, 0)
        for n in range(appends):
            cart = carts[n % 3]
            batch = [item(cart, versions[cart] + k + 1, sku=f"w{number}-{n}-{k}") for k in range(size)]
            await store.append_events(cart, "Cart", batch, versions[cart])
            versions[cart] += size
    finally:
        await store.close()

asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])))
"""

FOLLOWER = """
import asyncio, json, os, sys
from esctl.store.postgres import PostgresEventStore
from esctl.store.types import ReadOptions
from esctl.testing import REGISTRY

async def main(url, done):
    store = PostgresEventStore(url, registry=REGISTRY, readonly=True)
    seen, checkpoint, last_pass = [], 0, False
    try:
        while not last_pass:
            last_pass = os.path.exists(done)  # the writers are done: one more pass reads the rest
            async for stored in store.read_all(ReadOptions(from_position=checkpoint)):
                seen.append([stored.global_position, str(stored.event.event_id)])
                checkpoint = stored.global_position
            await asyncio.sleep(0.002)
    finally:
        await store.close()
    print(json.dumps(seen))

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


def _python(script: str, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", script, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT
    )


@pytest.mark.parametrize(
    ("writers", "appends", "size"),
    [
        pytest.param(8, 50, 4, id="8x50"),
        pytest.param(16, 60, 10, id="16x60", marks=pytest.mark.slow),
    ],
)
def test_concurrent_writer_processes_leave_gapless_positions_and_a_tailing_reader_sees_each_event_once(
    postgres_url: str, writers: int, appends: int, size: int, tmp_path: Path
) -> None:
    assert run_esctl("--db", postgres_url, "init").returncode == 0
    total = writers * appends * size
    done = tmp_path / "writers-done"
    follower = _python(FOLLOWER, postgres_url, str(done))
    time.sleep(0.5)  # the follower is reading before the first append
    processes = [_python(WRITER, postgres_url, str(n), str(appends), str(size)) for n in range(writers)]
    for process in processes:
        _, err = process.communicate(timeout=300)
        assert process.returncode == 0, err.decode()[-2000:]
    done.touch()
    out, err = follower.communicate(timeout=120)
    assert follower.returncode == 0, err.decode()[-2000:]
    seen = json.loads(out)
    stored = stored_rows(postgres_url) or []
    # The store: positions 1..total, each event once.
    assert [row[0] for row in stored] == list(range(1, total + 1))
    assert len({str(row[1]) for row in stored}) == total
    # The follower resumed after its checkpoint each time and still saw every event, once, in order.
    assert [position for position, _ in seen] == list(range(1, total + 1))
    assert [event_id for _, event_id in seen] == [str(row[1]) for row in stored]


def test_a_writer_killed_mid_import_leaves_nothing_of_its_batch(postgres_url: str, tmp_path: Path) -> None:
    assert run_esctl("--db", postgres_url, "append", "-", input=ndjson([_event(0, 1)])).returncode == 0
    big = tmp_path / "big.ndjson"
    big.write_bytes(ndjson([_event(1 + n // 50, n % 50 + 1) for n in range(60_000)]))
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("esctl")), "--db", postgres_url, "-q", "append", str(big)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        # Kill it while its transaction is writing: rows went in, nothing committed yet.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            if _writing(postgres_url):
                break
            time.sleep(0.01)
        assert process.poll() is None, "the import ended before it could be killed"
        time.sleep(0.2)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    assert len(stored_rows(postgres_url) or []) == 1  # the killed import left nothing
    # The server let go of the dead writer's locks: the next append takes the next position.
    again = run_esctl(
        "--db", postgres_url, "append", "-", input=ndjson([_event(0, 2)]), env={"ESCTL_BUSY_TIMEOUT": "10"}
    )
    assert again.returncode == 0, again.stderr
    assert [row[0] for row in stored_rows(postgres_url) or []] == [1, 2]
    verified = run_esctl("--db", postgres_url, "verify")
    assert verified.returncode == 0, verified.stderr


def _writing(url: str) -> bool:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'esctl' AND state = 'active'"
            " AND query LIKE 'COPY events%%'"
        ).fetchone()
    return bool(row and row[0])


def _event(cart: int, version: int) -> dict[str, object]:
    return {
        "event_id": f"01a00000-0000-7000-8000-{cart:06x}{version:06x}",
        "event_type": "test.Noted",
        "occurred_at": "2026-11-01T08:00:00Z",
        "aggregate_type": "Cart",
        "aggregate_id": f"01a00000-0000-7000-8000-{cart:012x}",
        "aggregate_version": version,
        "tenant_id": "00000000-0000-4000-8000-0000000000a1",
        "text": f"note {cart}/{version}",
    }


def test_a_server_restart_under_catch_up_follow_reconnects_or_exits_clearly_and_resumes_once(
    postgres_url: str,
) -> None:
    folder = os.environ.get(DIR_VARIABLE)
    if not folder:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{DIR_VARIABLE} is not set: .ci/run must export the cluster's folder")
        pytest.skip(f"set {DIR_VARIABLE} to the folder of the cluster .ci/postgres started")
    server_dsn()
    assert (
        run_esctl("--db", postgres_url, "append", "-", input=ndjson([_event(1, v) for v in range(1, 11)])).returncode
        == 0
    )
    follow = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("esctl")),
            "--db",
            postgres_url,
            "-q",
            "catch-up",
            "--follow",
            "--interval",
            "0.2",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        time.sleep(2)
        restarted = subprocess.run([str(ROOT / ".ci" / "postgres"), "restart", folder], capture_output=True, timeout=60)
        assert restarted.returncode == 0, restarted.stderr
        appended = run_esctl("--db", postgres_url, "append", "-", input=ndjson([_event(1, v) for v in range(11, 21)]))
        assert appended.returncode == 0, appended.stderr
        deadline = time.monotonic() + 40
        while (caught_up := _tenant_stats_events(postgres_url)) < 20 and time.monotonic() < deadline:
            time.sleep(0.2)
        if follow.poll() is None:
            follow.send_signal(signal.SIGINT)
        _, err = follow.communicate(timeout=30)
    finally:
        if follow.poll() is None:
            follow.kill()
    stderr = err.decode()
    assert "Traceback" not in stderr
    # The store opens a lost connection again for reads and projection transactions (both safe
    # to run twice): the follower carried on and applied what came after the restart.
    assert follow.returncode == 130, stderr
    assert caught_up == 20
    # Started again, it resumes from its checkpoints: every event counted exactly once.
    again = run_esctl("--db", postgres_url, "-q", "catch-up")
    assert again.returncode == 0, again.stderr
    assert _tenant_stats_events(postgres_url) == 20


def _tenant_stats_events(url: str) -> int:
    shown = run_esctl("--db", url, "projection", "show", "tenant-stats", "--format", "json")
    assert shown.returncode == 0, shown.stderr
    shown_stats = json.loads(shown.stdout)
    return int(shown_stats[0]["events"]) if shown_stats else 0
