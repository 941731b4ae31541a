"""The benchmark suite runs end to end on a small history, so it cannot rot (no timing asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ROWS = (
    "bulk append (CLI)",
    "library append, batches of 100",
    "dump everything (CLI)",
    "dump 1 tenant, 10% window (CLI)",
    "rebuild tenant-stats (CLI)",
    "start-up: esctl --version",
    "start-up: one-event append (CLI)",
    "peak RSS of dump, 10N vs N",
    "peak RSS of rebuild, 10N vs N",
    "library append vs eventsourcing",
    "library append vs eventsource-py",
    "library append vs aiosqlite",
)


@pytest.mark.slow
def test_quick_run_prints_every_row_of_the_table(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--n", "2000", "--quick", "--workdir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    table = done.stdout.split("\nfigure ", 1)
    assert len(table) == 2, done.stdout[-2000:]
    lines = table[1].splitlines()
    for name in ROWS:
        row = next((line for line in lines if line.startswith(name)), None)
        assert row is not None, f"row {name!r} missing from:\n{table[1]}"
        # Every row ends in a verdict; a Python error inside a figure shows as "error".
        assert any(word in row.split() for word in ("pass", "FAIL", "info", "n/a", "error")), row
    # The dump rows compare like with like: the raw loop writes exactly what esctl dump writes.
    assert "OUTPUT DIFFERS" not in done.stdout
    raw = (tmp_path / "dump-all-raw.ndjson").read_bytes()
    assert raw.count(b"\n") == 2000
    assert (tmp_path / "dump-all-esctl.ndjson").read_bytes() == raw
    # (At N=2000 one tenant's 10% window may hold no burst at all; still the same bytes.)
    assert (tmp_path / "dump-tenant-esctl.ndjson").read_bytes() == (tmp_path / "dump-tenant-raw.ndjson").read_bytes()


def test_schema_cost_measures_every_variant() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "schema_cost.py"), "--n", "1000", "--reps", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [line for line in done.stdout.splitlines() if "events/s" in line]
    assert len(rows) == 7, done.stdout
    assert rows[0].startswith("esctl's schema")
    assert rows[0].endswith("x1.00")
    assert rows[-1].startswith("eventsourcing's table shape")


LOOP_LAG_FIGURES = (
    "one-event append latency p50",
    "one-event append latency p99",
    "aiosqlite one-event append p50",
    "aiosqlite one-event, esctl's 7 calls, p99",
    "loop lag p50, 8 one-event appenders",
    "loop lag p99, 8 one-event appenders",
    "loop lag max, 8 one-event appenders",
    "appends/s of the 8 appenders",
    "loop lag p99, probe alone (idle)",
    "esctl append_events, batches of 100",
    "aiosqlite, same batches (rows prepared)",
    "aiosqlite, same batches, esctl's 7 calls",
    "raw sqlite3, same batches (rows prepared)",
    "esctl / aiosqlite, batches of 100",
)


@pytest.mark.slow
def test_loop_lag_measures_both_code_versions(tmp_path: Path) -> None:
    # --before names a src directory, measured in a process of its own beside this esctl: the
    # repository's own src stands in for an older checkout here.
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "loop_lag.py"),
            "--quick",
            "--before",
            str(ROOT / "src"),
            "--workdir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"before: esctl from {ROOT / 'src' / 'esctl'}" in done.stdout, done.stdout
    table = done.stdout.split("\nfigure ", 1)
    assert len(table) == 2, done.stdout[-2000:]
    assert table[1].split()[:4] == ["before", "after", "after", "/"], table[1][:200]
    lines = table[1].splitlines()
    for name in LOOP_LAG_FIGURES:
        row = next((line for line in lines if line.startswith(name)), None)
        assert row is not None, f"row {name!r} missing from:\n{table[1]}"
        cells = row[len(name) :].split()
        assert cells, row
        # A figure, or "n/a" for the aiosqlite rows when aiosqlite is not installed.
        assert all(
            cell.replace(",", "").replace(".", "").isdigit() or cell in ("us", "ms", "ev/s", "/s", "n/a")
            for cell in cells
        ), row
