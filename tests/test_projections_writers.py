"""Writers keep appending while a projection with slow handlers is rebuilt or caught up (#13).

A projection transaction holds SQLite's write lock while its handlers run, so it is bounded by
time as well as by count, and the runner leaves the lock free for a while after each one:
SQLite has no queue of waiters, so a writer polling with its busy timeout must find the lock
free at one of its polls. The test uses a handler that takes 5 ms an event and appenders whose
busy timeout is 2 s; before the fix one transaction of 1,000 events held the lock for 5 s.
"""

from __future__ import annotations

import os
import subprocess
import textwrap
import time
from pathlib import Path

import pytest

from cli_support import ESCTL, event, ndjson, run_esctl

SLOW_APP = textwrap.dedent(
    """
    import time

    from esctl import DeclarativeProjection, handles
    from esctl.events import GenericEvent


    class Slow(DeclarativeProjection):
        name = "slow"

        def __init__(self) -> None:
            super().__init__()
            self.seen = 0

        @handles(GenericEvent)
        async def _on_any(self, event: GenericEvent) -> None:
            time.sleep(0.005)  # a handler that calls out, say
            self.seen += 1

        async def _truncate_read_models(self) -> None:
            self.seen = 0


    projections = [Slow]
    """
)

EVENTS = 900
"""Events the slow projection reads: 4.5 s of handler work."""


@pytest.fixture
def slow_store(tmp_path: Path) -> tuple[Path, Path]:
    app = tmp_path / "slow_app.py"
    app.write_text(SLOW_APP)
    db = tmp_path / "events.db"
    filled = run_esctl("--db", str(db), "append", "-", input=ndjson([event(n) for n in range(1, EVENTS + 1)]))
    assert filled.returncode == 0, filled.stderr
    return db, app


def _append_while(db: Path, job: subprocess.Popen[bytes], first: int) -> list[float]:
    """Append one event at a time while ``job`` runs; return how long each append took."""
    took = []
    number = first
    while job.poll() is None:
        started = time.monotonic()
        done = run_esctl(
            "--db",
            str(db),
            "append",
            "-",
            input=ndjson([event(number, aggregate_version=None)]),
            env={"ESCTL_BUSY_TIMEOUT": "2"},
        )
        took.append(time.monotonic() - started)
        assert done.returncode == 0, (number, done.stderr)
        number += 1
        time.sleep(0.05)
    return took


@pytest.mark.parametrize("command", [("rebuild-projection", "slow", "--yes"), ("catch-up", "slow")])
def test_writers_get_in_while_a_slow_projection_runs(slow_store: tuple[Path, Path], command: tuple[str, ...]) -> None:
    db, app = slow_store
    job = subprocess.Popen(
        [str(ESCTL), "--db", str(db), "--app", str(app), *command],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "ESCTL_BUSY_TIMEOUT": "30"},
    )
    time.sleep(0.8)  # well into the first transaction of handler work
    took = _append_while(db, job, EVENTS + 1)
    _, stderr = job.communicate(timeout=120)
    assert job.returncode == 0, stderr
    # Each append got the lock within its 2 s busy timeout (exit 0 above, not 6); wall time is no
    # measure here, since a loaded machine takes a second to start a process.
    assert len(took) >= 5, "the projection ended before the appenders could test it"
    # Everything the writers appended meanwhile is in the read model once it is caught up.
    caught = run_esctl("--db", str(db), "--app", str(app), "catch-up", "slow")
    assert caught.returncode == 0, caught.stderr
    shown = run_esctl("--db", str(db), "--app", str(app), "projection", "show", "slow", "-f", "json")
    assert b'"seen":%d' % (EVENTS + len(took)) in shown.stdout.replace(b" ", b""), shown.stdout
