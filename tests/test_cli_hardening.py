"""Defects a new user met (issue #13), each held by a test that failed before its fix.

Every test runs the real ``esctl`` entry point as a process where the defect lives in the
process (closed pipes, signals, terminals), and in-process otherwise.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import Result

from cli_support import (
    ESCTL,
    ROOT,
    TENANT_A,
    dumped,
    error_lines,
    event,
    foreign_database,
    invoke,
    ndjson,
    rows,
    run_esctl,
)
from esctl.errors import ExitStatus

DEMO_END = "2026-11-30T00:00:00Z"


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo store, the same on every run (``demo --end``)."""
    db = tmp_path_factory.mktemp("demo") / "demo.db"
    done = subprocess.run([str(ESCTL), "--db", str(db), "demo", "--end", DEMO_END], capture_output=True, check=False)
    assert done.returncode == 0, done.stderr
    return db


def _run_with_closed_stdout(*args: str) -> subprocess.CompletedProcess[bytes]:
    """Run esctl with a stdout whose reader has already gone: every write meets a closed pipe."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run(
            [str(ESCTL), *args], stdout=write_end, stderr=subprocess.PIPE, cwd=ROOT, timeout=60, check=False
        )
    finally:
        os.close(write_end)


@pytest.mark.parametrize(
    "args",
    [
        ("stats", "-f", "table"),
        ("stats", "-f", "csv"),
        ("stats", "-f", "json"),
        ("dump", "-f", "table"),
        ("dump", "-f", "csv"),
        ("dump", "-f", "ndjson"),
        ("dump", "-f", "json"),
        ("tenants", "-f", "table"),
        ("streams", "-f", "table"),
        ("--help",),
        ("dump", "--help"),
        ("types", "-f", "table"),
    ],
)
def test_a_closed_stdout_exits_quietly_on_every_format_and_on_help(demo_db: Path, args: tuple[str, ...]) -> None:
    argv = ("--db", str(demo_db), *args) if args[0] != "--help" else args
    done = _run_with_closed_stdout(*argv)
    assert (done.returncode, done.stderr) == (0, b"")


# -- defect 3: integers are not times; defect 2: far-future times and the stats they caused --


def _append_lines(db: Path, *lines: dict[str, object], args: tuple[str, ...] = ()) -> Result:
    return invoke(db, "append", "-", *args, input=ndjson(list(lines)))


@pytest.mark.parametrize("value", [1733000000, 1733000000000, 1733000000.5, "1733000000", "1733000000000"])
def test_a_number_is_refused_as_occurred_at_with_a_message_saying_iso_8601(tmp_path: Path, value: object) -> None:
    db = tmp_path / "events.db"
    assert _append_lines(db, event(1)).exit_code == 0
    before = rows(db)
    result = _append_lines(db, event(2), event(3, occurred_at=value))
    assert result.exit_code == ExitStatus.INVALID_INPUT
    [line] = error_lines(result.stderr)
    assert line.startswith("Error: line 2, field 'occurred_at': ")
    assert "ISO 8601" in line
    assert "value error" not in line.lower()
    assert rows(db) == before


def test_an_occurred_at_far_in_the_future_is_refused_unless_allow_future(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    assert _append_lines(db, event(1)).exit_code == 0
    before = rows(db)
    soon = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    later = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    for when in ("9999-01-01T00:00:00Z", later):
        result = _append_lines(db, event(2, occurred_at=soon), event(3, occurred_at=when))
        assert result.exit_code == ExitStatus.INVALID_INPUT, result.stderr
        [line] = error_lines(result.stderr)
        assert line.startswith("Error: line 2, field 'occurred_at': ")
        assert when[:10] in line
        assert "--allow-future" in line
        assert rows(db) == before
    flagged = invoke(db, "append", "--type", "Noted", "--aggregate-type", "Note", "--occurred-at", later)
    assert flagged.exit_code == ExitStatus.INVALID_INPUT
    assert "--allow-future" in flagged.stderr
    assert rows(db) == before
    allowed = _append_lines(
        db, event(2, occurred_at=soon), event(3, occurred_at="9999-01-01T00:00:00Z"), args=("--allow-future",)
    )
    assert allowed.exit_code == 0, allowed.stderr
    assert len(rows(db) or []) == 3


def test_stats_stays_small_whatever_the_span_of_days_in_the_store(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    far = _append_lines(
        db,
        event(1, occurred_at="1970-01-02T00:00:00Z"),
        event(2, occurred_at="2026-11-01T08:00:00Z"),
        event(3, occurred_at="9999-12-31T00:00:00Z"),
        args=("--allow-future",),
    )
    assert far.exit_code == 0, far.stderr
    started = time.monotonic()
    for fmt in ("ndjson", "json", "csv", "table"):
        result = invoke(db, "stats", "-f", fmt)
        assert result.exit_code == 0, result.stderr
        assert len(result.stdout) < 20_000, (fmt, len(result.stdout))
    assert time.monotonic() - started < 20
    days = [row for row in dumped(invoke(db, "stats", "-f", "ndjson").stdout) if row["dimension"] == "day"]
    assert [(row["value"], row["events"]) for row in days] == [("1970-01-02", 1), ("2026-11-01", 1), ("9999-12-31", 1)]
    # A short span still shows its empty days, so a chart reads as a time line.
    short = tmp_path / "short.db"
    assert (
        _append_lines(
            short, event(1, occurred_at="2026-11-01T08:00:00Z"), event(2, occurred_at="2026-11-04T08:00:00Z")
        ).exit_code
        == 0
    )
    days = [row for row in dumped(invoke(short, "stats", "-f", "ndjson").stdout) if row["dimension"] == "day"]
    assert [row["events"] for row in days] == [1, 0, 0, 1]


# -- defect 7: an input without event ids can be appended twice without duplicates --------------


@pytest.mark.parametrize("as_array", [False, True])
def test_re_appending_events_without_ids_stores_them_once(tmp_path: Path, as_array: bool) -> None:
    db = tmp_path / "events.db"
    lines = [event(n, event_id=None, aggregate_version=None) for n in (1, 2)]
    # The same line twice in one input is two events (a counter ticking twice), not one.
    lines.append(event(2, event_id=None, aggregate_version=None))
    source = tmp_path / ("events.json" if as_array else "events.ndjson")
    source.write_bytes(json.dumps(lines).encode() if as_array else ndjson(lines))
    first = invoke(db, "append", str(source))
    assert first.exit_code == 0, first.stderr
    stored = rows(db)
    assert stored is not None
    assert [row[6] for row in stored] == [1, 2, 3]  # aggregate_version
    again = invoke(db, "append", str(source))
    assert again.exit_code == 0, again.stderr
    assert "3 events already stored, skipped" in again.stderr
    assert rows(db) == stored
    # One more line at the end: only it is new.
    source.write_bytes(
        json.dumps([*lines, event(4, event_id=None)]).encode()
        if as_array
        else ndjson([*lines, event(4, event_id=None)])
    )
    third = invoke(db, "append", str(source))
    assert third.exit_code == 0, third.stderr
    assert len(rows(db) or []) == 4


# -- defect 8: messages -------------------------------------------------------------------------

MESSAGE_CASES = [
    # (what, argv after --db, stdin, exit code, words the one line must hold)
    ("a UUID given as a number", (), {"aggregate_id": 5}, 3, ("line 1, field 'aggregate_id': UUID input", "got 5")),
    (
        "a UUID with a bad character",
        (),
        {"aggregate_id": "nope"},
        3,
        ("line 1, field 'aggregate_id': input", 'got "nope"'),
    ),
    ("a time out of range", (), {"occurred_at": "0001-01-01T00:00:00+01:00"}, 3, ("field 'occurred_at'", "0001-01-01")),
    (
        "a naive time",
        (),
        {"occurred_at": "2026-01-01T00:00:00"},
        3,
        ("line 1, field 'occurred_at'", "2026-01-01T00:00:00"),
    ),
    ("a version of 0", (), {"aggregate_version": 0}, 3, ("line 1, field 'aggregate_version'", "got 0")),
    ("a string version", (), {"aggregate_version": "2"}, 3, ("line 1, field 'aggregate_version'", 'got "2"')),
    ("metadata as a list", (), {"metadata": [1]}, 3, ("line 1, field 'metadata'", "got [1]")),
    ("a tenant that is no UUID", (), {"tenant_id": "acme"}, 3, ("line 1, field 'tenant_id'", 'got "acme"')),
]


@pytest.mark.parametrize(
    ("what", "argv", "overrides", "code", "words"), MESSAGE_CASES, ids=[c[0] for c in MESSAGE_CASES]
)
def test_a_bad_field_is_one_line_naming_line_field_and_value_with_a_hint(
    tmp_path: Path, what: str, argv: tuple[str, ...], overrides: dict[str, object], code: int, words: tuple[str, ...]
) -> None:
    db = tmp_path / "events.db"
    result = invoke(db, "append", *argv, "-", input=ndjson([event(1, **overrides)]))
    assert result.exit_code == code, result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith("Error: ")
    for word in words:
        assert word in line
    assert " — " in line  # every error says what to do next
    for leak in ("value error", "uUID", "field 'timestamp'", "Assertion failed"):
        assert leak.lower() not in line.lower() if leak != "uUID" else leak not in line


def test_usage_errors_read_without_pydantic_prefixes(tmp_path: Path) -> None:
    result = invoke(tmp_path / "events.db", "dump", "-f", "xml")
    assert result.exit_code == ExitStatus.USAGE
    [line] = result.stderr.splitlines()
    assert "xml" in line
    assert "value error" not in line.lower()


def test_a_directory_given_to_append_is_called_a_directory(tmp_path: Path) -> None:
    result = invoke(tmp_path / "events.db", "append", str(tmp_path))
    assert result.exit_code == ExitStatus.USAGE
    [line] = error_lines(result.stderr)
    assert "is a directory" in line
    assert "not found" not in line


@pytest.mark.parametrize("command", [("tenants",), ("dump", "-f", "csv"), ("append", "-")])
def test_an_empty_db_is_a_usage_error_and_a_directory_db_is_called_a_directory(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    data = ndjson([event(1)])
    empty = invoke(None, "--db", "", *command, input=data)
    assert empty.exit_code == ExitStatus.USAGE, empty.stderr
    [line] = error_lines(empty.stderr)
    assert "--db" in line
    assert " — " in line
    directory = invoke(tmp_path, *command, input=data)
    assert directory.exit_code == ExitStatus.UNUSABLE, directory.stderr
    [line] = error_lines(directory.stderr)
    assert f"{tmp_path} is a directory" in line
    assert "disk I/O" not in line
    assert list(tmp_path.iterdir()) == []


def test_the_hint_for_someone_elses_database_does_not_point_at_init(tmp_path: Path) -> None:
    foreign = tmp_path / "invoices.db"
    before = foreign_database(foreign)
    for command in (("init",), ("tenants",), ("append", "-")):
        result = invoke(foreign, *command, input=ndjson([event(1)]))
        assert result.exit_code == ExitStatus.UNUSABLE
        [line] = error_lines(result.stderr)
        what, _, hint = line.partition(" — ")
        assert "esctl event store" in what
        assert hint
        assert "init" not in hint
    assert foreign.read_bytes() == before


# -- defect 5: read commands create no file and work on read-only media --------------------------

READ_COMMANDS = [
    ("tenants", "-f", "csv"),
    ("streams", "-f", "csv"),
    ("stats", "-f", "json"),
    ("dump", "-f", "ndjson"),
    ("dump", "-f", "csv"),
    ("verify", "-f", "json"),
    ("projections", "-f", "json"),
    ("init", "--check"),
]


def test_read_commands_leave_no_file_beside_the_store(demo_db: Path, tmp_path: Path) -> None:
    db = tmp_path / "copy.db"
    db.write_bytes(demo_db.read_bytes())
    for command in READ_COMMANDS:
        done = subprocess.run([str(ESCTL), "--db", str(db), *command], capture_output=True, check=False, timeout=60)
        assert done.returncode == 0, (command, done.stderr)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["copy.db"], command
    assert db.read_bytes() == demo_db.read_bytes()


def _unshare_available() -> bool:
    probe = subprocess.run(["unshare", "-rm", "true"], capture_output=True, check=False)
    return probe.returncode == 0


@pytest.mark.skipif(
    not _unshare_available(), reason="needs unshare -rm (user and mount namespaces) for a read-only mount"
)
def test_read_commands_work_on_a_read_only_mount(demo_db: Path, tmp_path: Path) -> None:
    # Root ignores permission bits, so chmod proves nothing here: a tmpfs remounted read-only,
    # inside a private mount namespace, refuses every write whoever asks (EROFS).
    mount = tmp_path / "media"
    mount.mkdir()
    expected = {
        command: subprocess.run([str(ESCTL), "--db", str(demo_db), *command], capture_output=True, check=False).stdout
        for command in READ_COMMANDS
    }
    script = [
        f"mount -t tmpfs none {mount}",
        f"cp {demo_db} {mount}/demo.db",
        f"mount -o remount,ro {mount}",
        f"touch {mount}/probe 2>/dev/null && echo WRITABLE",
    ]
    for index, command in enumerate(READ_COMMANDS):
        argv = " ".join([str(ESCTL), "--db", f"{mount}/demo.db", *command])
        script.append(f"{argv} > {tmp_path}/out{index} 2> {tmp_path}/err{index}; echo $? > {tmp_path}/rc{index}")
    script.append(f"ls -a {mount} > {tmp_path}/listing")
    done = subprocess.run(
        ["unshare", "-rm", "sh", "-c", "\n".join(script)], capture_output=True, check=False, timeout=120
    )
    assert b"WRITABLE" not in done.stdout, "the mount is not read-only: the test would prove nothing"
    for index, command in enumerate(READ_COMMANDS):
        rc = (tmp_path / f"rc{index}").read_text().strip()
        assert rc == "0", (command, (tmp_path / f"err{index}").read_text())
        assert (tmp_path / f"out{index}").read_bytes() == expected[command], command
    assert (tmp_path / "listing").read_text().split() == [".", "..", "demo.db"]


# -- defect 11: memory on long lines and arrays ------------------------------------------------

_PEAK_RSS = (
    "import resource, subprocess, sys\n"
    "with open(sys.argv[1], 'rb') as source:\n"
    "    done = subprocess.run(sys.argv[2:], stdin=source, capture_output=True)\n"
    "sys.stderr.buffer.write(done.stderr)\n"
    "print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024)\n"
)


def _peak(source: Path, *argv: str) -> tuple[int, int, str]:
    """Run esctl with ``source`` on stdin; return its exit code, peak RSS in MiB, and stderr."""
    done = subprocess.run(
        [sys.executable, "-c", _PEAK_RSS, str(source), str(ESCTL), *argv], capture_output=True, check=False, timeout=120
    )
    code, mib = done.stdout.split()
    return int(code), int(mib), done.stderr.decode()


def test_a_line_over_the_limit_is_refused_naming_it_without_reading_it_whole(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    assert invoke(db, "append", "-", input=ndjson([event(1)])).exit_code == 0
    before = rows(db)
    source = tmp_path / "big.ndjson"
    huge = event(3, text="x" * (96 << 20))  # one 96 MiB line
    source.write_bytes(ndjson([event(2)]) + ndjson([huge]))
    code, mib, stderr = _peak(source, "--db", str(db), "append", "-")
    assert code == ExitStatus.INVALID_INPUT, stderr
    [line] = error_lines(stderr)
    assert line.startswith("Error: line 2: ")
    assert "8,388,608 bytes" in line
    assert "--max-line-bytes" in line
    assert mib < 90, f"peak RSS {mib} MiB for a refused 96 MiB line"
    assert rows(db) == before
    # The limit is the user's to move, on both paths (the quick one and Typer's).
    small = invoke(db, "append", "--max-line-bytes", "100", "-", input=ndjson([event(2)]))
    assert small.exit_code == ExitStatus.INVALID_INPUT
    assert error_lines(small.stderr)[0].startswith("Error: line 1: ")
    quick = run_esctl("--db", str(db), "append", "--max-line-bytes", "100", "-", input=ndjson([event(2)]))
    assert (quick.returncode, quick.stderr.decode()) == (small.exit_code, small.stderr)
    assert rows(db) == before


def test_a_json_array_is_held_to_the_limit_and_stays_within_a_few_times_its_size(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    source = tmp_path / "events.json"
    source.write_bytes(json.dumps([event(n, text="y" * 200) for n in range(1, 6_001)]).encode())  # ~2.7 MB
    refused = invoke(db, "append", "--max-line-bytes", "1000000", str(source))  # the array is over 1 MB
    assert refused.exit_code == ExitStatus.INVALID_INPUT
    [line] = error_lines(refused.stderr)
    assert "JSON array" in line
    assert "NDJSON" in line
    assert rows(db) is None or rows(db) == []
    code, mib, stderr = _peak(source, "--db", str(db), "append", "-")
    assert code == 0, stderr
    assert len(rows(db) or []) == 6_000
    assert mib < 160, f"peak RSS {mib} MiB for a 2.7 MB array"


# -- defect 6: Ctrl-C during an append says what was committed and how to resume ---------------


def _count(db: Path) -> int:
    if not db.exists():
        return 0
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM events").fetchone()[0])
    except sqlite3.OperationalError:
        return 0  # the schema is not there yet
    finally:
        conn.close()


def _interrupt_while_feeding(db: Path, lines: list[bytes], *argv: str, committed: int) -> tuple[int, str, int]:
    """Feed ``lines`` to ``esctl append -`` a few at a time; once ``committed`` events are stored
    (or a second has passed, when 0), send SIGINT. Return the exit code, stderr and lines fed."""
    process = subprocess.Popen(
        [str(ESCTL), "--db", str(db), "append", *argv, "-"],
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
    )
    assert process.stdin is not None
    fed, signalled, started = 0, False, time.monotonic()
    try:
        while process.poll() is None and fed < len(lines):
            process.stdin.write(b"".join(lines[fed : fed + 200]))
            process.stdin.flush()
            fed += 200
            time.sleep(0.005)
            ready = _count(db) >= committed if committed else time.monotonic() - started > 1
            if ready and not signalled:
                process.send_signal(signal.SIGINT)
                signalled = True
    except BrokenPipeError:
        pass
    assert signalled, "the input ran out before the interrupt"
    _, stderr = process.communicate(timeout=60)
    return process.returncode, stderr.decode(), fed


def test_ctrl_c_during_a_batched_append_says_what_was_committed_and_a_rerun_resumes(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    lines = [ndjson([event(n, aggregate_version=None, occurred_at="2026-11-01T08:00:00Z")]) for n in range(1, 200_001)]
    code, stderr, _ = _interrupt_while_feeding(db, lines, "--batch-size", "500", committed=2000)
    assert code == ExitStatus.INTERRUPTED, stderr
    [said] = [line for line in stderr.splitlines() if line.startswith("Interrupted")]
    match = re.search(r"([\d,]+) events appended in ([\d,]+) batches, through input line ([\d,]+)", said)
    assert match is not None, said
    appended, _, through = (int(group.replace(",", "")) for group in match.groups())
    assert appended == through == _count(db) >= 2000
    assert "same command" in said
    # The stored events are exactly lines 1..N, once each.
    stored = rows(db) or []
    assert [row[1] for row in stored] == [event(n)["event_id"] for n in range(1, appended + 1)]
    source = tmp_path / "events.ndjson"
    source.write_bytes(b"".join(lines[: appended + 3000]))
    again = run_esctl("--db", str(db), "append", "--batch-size", "500", str(source))
    assert again.returncode == 0, again.stderr
    assert f"{appended:,} events already stored, skipped" in again.stderr.decode()
    assert _count(db) == appended + 3000


def test_ctrl_c_during_a_one_transaction_append_says_nothing_was_appended(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    lines = [ndjson([event(n, aggregate_version=None)]) for n in range(1, 400_001)]
    code, stderr, _ = _interrupt_while_feeding(db, lines, committed=0)
    assert code == ExitStatus.INTERRUPTED, stderr
    [said] = [line for line in stderr.splitlines() if line.startswith("Interrupted")]
    assert "nothing was appended" in said
    assert "same command" in said
    assert _count(db) == 0


# -- defect 9: tables at 80 and 60 columns ------------------------------------------------------

DEMO_TENANTS = [f"00000000-0000-4000-8000-00000000000{c}" for c in "abcd"]


def _table(demo_db: Path, columns: int, *argv: str) -> list[str]:
    done = run_esctl("--db", str(demo_db), *argv, env={"COLUMNS": str(columns)})
    assert done.returncode == 0, done.stderr
    lines = done.stdout.decode().splitlines()
    assert all(len(line) <= columns for line in lines), "\n".join(lines)
    return lines


def _id_cells(lines: list[str], full_ids: list[str]) -> set[str]:
    """The cells that stand for one of ``full_ids``: the whole id, or "…" and a suffix of it."""
    found = set()
    for line in lines:
        for word in line.split():
            for full in full_ids:
                if word == full or (word.startswith("…") and len(word) > 4 and full.endswith(word[1:])):
                    found.add(word)
    return found


@pytest.mark.parametrize("columns", [80, 60])
def test_tables_keep_tenant_ids_distinguishable_on_narrow_terminals(demo_db: Path, columns: int) -> None:
    for argv in (("stats", "-f", "table"), ("tenants", "-f", "table"), ("dump", "-f", "table", "-n", "40")):
        lines = _table(demo_db, columns, *argv)
        cells = _id_cells(lines, DEMO_TENANTS)
        # Every demo tenant shows up, each as its own cell: none cut from the right into a
        # shared prefix, none squeezed to "…00000…".
        assert cells, (argv, lines)
        # Each cell names exactly one tenant; the listings show every tenant (a dump's 40 events
        # need not hold all four).
        owners = [[full for full in DEMO_TENANTS if full.endswith(cell.lstrip("…"))] for cell in cells]
        assert all(len(owner) == 1 for owner in owners), (argv, cells)
        if argv[0] != "dump":
            assert {owner[0] for owner in owners} == set(DEMO_TENANTS), (argv, cells, lines)
        assert len(cells) == len({cell.lstrip("…") for cell in cells}), cells
        assert not any("00000000-0000-4000…" in line for line in lines), lines
        assert not any("…00000…" in line for line in lines), lines


def test_dump_table_shows_times_with_their_zone_and_whole_headers_at_80_columns(demo_db: Path) -> None:
    lines = _table(demo_db, 80, "dump", "-f", "table", "-n", "5")
    header = lines[1] if not lines[0].strip() else lines[0]
    assert "position" in header
    assert "occurred_at" in header
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ", "\n".join(lines))


def test_projection_show_of_a_state_prints_it_whole(demo_db: Path, tmp_path: Path) -> None:
    db = tmp_path / "copy.db"
    db.write_bytes(demo_db.read_bytes())
    app = str(ROOT / "examples" / "orders_app.py")
    assert run_esctl("--db", str(db), "--app", app, "catch-up", "revenue").returncode == 0
    data = run_esctl("--db", str(db), "--app", app, "projection", "show", "revenue", "-f", "json")
    shown = run_esctl(
        "--db", str(db), "--app", app, "projection", "show", "revenue", "-f", "table", env={"COLUMNS": "80"}
    )
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout) == json.loads(data.stdout)


# -- defect 10: progress with a bar, rate and time left, on a terminal only ----------------------


def _stderr_on_a_terminal(*argv: str) -> bytes:
    """Run esctl with stderr on a pseudo-terminal (stdout to /dev/null); return what it wrote there."""
    import pty

    master, slave = pty.openpty()
    process = subprocess.Popen(
        [str(ESCTL), *argv], stdout=subprocess.DEVNULL, stderr=slave, env={**os.environ, "COLUMNS": "100"}
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the process closed its end
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    assert process.wait(timeout=120) == 0, b"".join(chunks)
    return b"".join(chunks)


BAR = re.compile(rb"\d+%.*\d+:\d\d:\d\d", re.DOTALL)
"""A percentage, then a time left (h:mm:ss), as the progress line shows them."""


def test_append_of_a_file_shows_a_bar_with_rate_and_time_left_on_a_terminal_only(tmp_path: Path) -> None:
    source = tmp_path / "events.ndjson"
    source.write_bytes(ndjson([event(n, aggregate_version=None) for n in range(1, 60_001)]))
    shown = _stderr_on_a_terminal("--db", str(tmp_path / "a.db"), "append", "--batch-size", "5000", str(source))
    assert BAR.search(shown), shown[-2000:]
    assert b"/s" in shown  # a rate
    piped = run_esctl("--db", str(tmp_path / "b.db"), "append", "--batch-size", "5000", str(source))
    assert piped.returncode == 0
    assert not BAR.search(piped.stderr)
    assert piped.stderr.decode().count("\n") == 1  # the summary alone


def test_verify_shows_a_bar_by_positions_on_a_terminal(demo_db: Path) -> None:
    shown = _stderr_on_a_terminal("--db", str(demo_db), "verify")
    assert BAR.search(shown), shown[-2000:]
    assert b"events/s" in shown


# -- gaps users asked for -----------------------------------------------------------------------


@pytest.mark.parametrize("path", ["quick", "typer"])
def test_db_under_tool_esctl_in_pyproject_is_the_store_unless_db_or_esctl_db_is_given(
    tmp_path: Path, path: str
) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.esctl]\ndb = "configured.db"\n')
    data = ndjson([event(1)])
    argv = ("append", "-") if path == "quick" else ("append", "--format", "text", "-")
    env = {k: v for k, v in os.environ.items() if k != "ESCTL_DB"}
    done = subprocess.run([str(ESCTL), *argv], input=data, cwd=tmp_path, env=env, capture_output=True, check=False)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "configured.db").exists()
    assert not (tmp_path / "events.db").exists()
    given = subprocess.run(
        [str(ESCTL), "--db", "given.db", *argv], input=data, cwd=tmp_path, env=env, capture_output=True, check=False
    )
    assert given.returncode == 0, given.stderr
    assert (tmp_path / "given.db").exists()
    from_env = subprocess.run(
        [str(ESCTL), *argv],
        input=data,
        cwd=tmp_path,
        env={**env, "ESCTL_DB": "env.db"},
        capture_output=True,
        check=False,
    )
    assert from_env.returncode == 0, from_env.stderr
    assert (tmp_path / "env.db").exists()
    listed = subprocess.run(
        [str(ESCTL), "tenants", "-f", "csv"], cwd=tmp_path, env=env, capture_output=True, check=False
    )
    assert listed.returncode == 0, listed.stderr
    assert str(TENANT_A).encode() in listed.stdout


@pytest.mark.parametrize("fmt", ["ndjson", "csv", "table"])
def test_a_filter_naming_something_the_store_never_had_says_so(demo_db: Path, fmt: str) -> None:
    done = run_esctl(
        "--db", str(demo_db), "dump", "--type", "NoSuchType", "--type", "OrderPlaced", "-n", "1", "-f", fmt
    )
    assert done.returncode == 0, done.stderr
    [note] = done.stderr.decode().splitlines()
    assert "NoSuchType" in note
    assert "OrderPlaced" not in note
    none = run_esctl("--db", str(demo_db), "dump", "--aggregate-type", "Ordr", "-f", fmt)
    assert none.returncode == 0
    assert "Ordr" in none.stderr.decode()
    quiet = run_esctl("--db", str(demo_db), "dump", "--type", "OrderPlaced", "-n", "1", "-f", fmt)
    assert quiet.stderr == b""


def test_a_repeated_json_key_keeps_its_last_value_as_the_readme_says(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    line = json.dumps(event(1))[:-1] + ', "text": "second"}'
    assert '"text": "note 1"' in line
    result = invoke(db, "append", "-", input=line.encode() + b"\n")
    assert result.exit_code == 0, result.stderr
    [stored] = dumped(invoke(db, "dump", "-f", "ndjson").stdout)
    assert stored["text"] == "second"


def test_the_demo_with_end_gives_the_same_events_on_every_run(tmp_path: Path) -> None:
    def demo(name: str) -> list[dict[str, object]]:
        db = tmp_path / name
        assert invoke(db, "demo", "--end", DEMO_END, "--days", "5").exit_code == 0
        return [{k: v for k, v in row.items() if k != "stored_at"} for row in dumped(invoke(db, "dump").stdout)]

    assert demo("one.db") == demo("two.db")


@pytest.mark.parametrize("path", ["quick", "typer"])
def test_append_dry_run_reports_what_it_would_append_and_skip_and_writes_nothing(tmp_path: Path, path: str) -> None:
    db = tmp_path / "events.db"
    assert invoke(db, "append", "-", input=ndjson([event(1), event(2)])).exit_code == 0
    before = db.read_bytes()
    data = ndjson([event(n) for n in (1, 2, 3, 4, 5)])
    argv = ("append", "--dry-run", "--format", "json", "-")
    if path == "quick":
        done = run_esctl("--db", str(db), *argv, input=data)
        code, out, err = done.returncode, done.stdout, done.stderr.decode()
    else:
        result = invoke(db, *argv, input=data)
        code, out, err = result.exit_code, result.stdout_bytes, result.stderr
    assert code == 0, err
    summary = json.loads(out)
    assert (summary["events"], summary["appended"], summary["skipped"], summary["dry_run"]) == (5, 3, 2, True)
    assert db.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["events.db"]
    text = invoke(db, "append", "--dry-run", "-", input=data)
    assert "Dry run: would append 3 events" in text.stderr
    assert "2 events already stored" in text.stderr
    # Bad input and a failed expected version are found as by a real append, still writing nothing.
    bad = invoke(db, "append", "--dry-run", "-", input=ndjson([event(3), event(4, aggregate_id="nope")]))
    assert bad.exit_code == ExitStatus.INVALID_INPUT
    assert error_lines(bad.stderr)[0].startswith("Error: line 2, field 'aggregate_id'")
    conflict = invoke(db, "append", "--dry-run", "--expected-version", "no-stream", "-", input=ndjson([event(3)]))
    assert conflict.exit_code == ExitStatus.CONFLICT, conflict.stderr
    fresh = tmp_path / "new.db"
    new = invoke(fresh, "append", "--dry-run", "-", input=data)
    assert new.exit_code == 0, new.stderr
    assert not fresh.exists()  # a dry run creates no store either
    assert db.read_bytes() == before


def test_an_event_built_from_flags_without_tenant_says_it_is_tenantless(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    bare = invoke(db, "append", "--type", "Noted", "--aggregate-type", "Note")
    assert bare.exit_code == 0, bare.stderr
    assert "without a tenant" in bare.stderr
    tenanted = invoke(db, "append", "--type", "Noted", "--aggregate-type", "Note", "--tenant", str(TENANT_A))
    assert tenanted.exit_code == 0
    assert "without a tenant" not in tenanted.stderr


@pytest.mark.parametrize("depth", [254, 300, 1000])
def test_a_payload_nested_too_deeply_is_refused_naming_line_and_field(tmp_path: Path, depth: int) -> None:
    # Found by the fuzz (test_reliability): it was a PydanticSerializationError, exit 1.
    db = tmp_path / "events.db"
    assert invoke(db, "append", "-", input=ndjson([event(1)])).exit_code == 0
    before = db.read_bytes()
    deep = json.dumps(event(3))[:-1] + ', "deep": ' + "[" * depth + "]" * depth + "}"
    result = invoke(db, "append", "-", input=ndjson([event(2)]) + deep.encode() + b"\n")
    assert result.exit_code == ExitStatus.INVALID_INPUT, result.stderr
    [line] = error_lines(result.stderr)
    assert line.startswith("Error: line 2, field 'deep': is nested too deeply")
    assert db.read_bytes() == before


async def test_the_library_refuses_a_payload_too_deep_to_write_as_invalid_input(tmp_path: Path) -> None:
    from uuid import uuid4

    from esctl import GenericEvent, SQLiteEventStore
    from esctl.errors import InvalidInputError

    deep: list[object] = []
    for _ in range(300):
        deep = [deep]
    store = SQLiteEventStore(tmp_path / "events.db")
    try:
        with pytest.raises(InvalidInputError):
            await store.append_batch(
                [GenericEvent(event_type="x", aggregate_type="A", aggregate_id=uuid4(), deep=deep)]
            )
        assert await store.get_global_position() == 0
    finally:
        await store.close()


@pytest.mark.parametrize("fmt", ["ndjson", "json", "csv", "table"])
def test_dump_no_tenant_selects_the_tenantless_events_on_both_paths(demo_db: Path, fmt: str) -> None:
    everything = dumped(run_esctl("--db", str(demo_db), "dump").stdout)
    tenantless = [e for e in everything if e["tenant_id"] is None]
    assert 0 < len(tenantless) < len(everything)
    done = run_esctl("--db", str(demo_db), "dump", "--no-tenant", "-f", fmt, env={"COLUMNS": "200"})
    assert done.returncode == 0, done.stderr
    if fmt == "ndjson":
        assert dumped(done.stdout) == tenantless
        typer_done = invoke(demo_db, "dump", "--no-tenant", "-f", "ndjson")
        assert typer_done.stdout_bytes == done.stdout
    elif fmt == "json":
        assert json.loads(done.stdout) == tenantless
    else:
        text = done.stdout.decode()
        assert all(e["aggregate_id"][-8:] in text for e in tenantless)
        assert not any(t in text for t in DEMO_TENANTS)
    limited = run_esctl("--db", str(demo_db), "dump", "--no-tenant", "-n", "2")
    assert dumped(limited.stdout) == tenantless[:2]
    both = run_esctl("--db", str(demo_db), "dump", "--no-tenant", "--tenant", DEMO_TENANTS[0])
    assert both.returncode == ExitStatus.USAGE
    assert "--no-tenant" in both.stderr.decode()


def test_an_error_quoting_control_characters_from_the_input_stays_one_printable_line(tmp_path: Path) -> None:
    # Found by the fuzz: an aggregate type holding a form feed split the message in two.
    db = tmp_path / "events.db"
    weird = "Cart\f\x1b[31m\u2028\x85x"
    result = invoke(db, "append", "-", input=ndjson([event(1, aggregate_type=weird, aggregate_version=3)]))
    assert result.exit_code == ExitStatus.CONFLICT, result.stderr
    [line] = result.stderr.splitlines()
    assert line.isprintable()
    assert "Cart\\x0c\\x1b[31m\\u2028\\x85x" in line
