"""The ``esctl`` entry point as a real process: pipes, stdin, exit codes, Ctrl-C, start-up imports."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cli_support import ESCTL, error_lines, event, ndjson, rows, run_esctl

ACME = "00000000-0000-4000-8000-00000000000a"


def test_stdin_and_pipes_copy_a_tenant_exactly(tmp_path: Path) -> None:
    source, copy = tmp_path / "demo.db", tmp_path / "acme.db"
    made = run_esctl("--db", str(source), "demo", "--days", "5", "--end", "2026-11-20T00:00:00Z")
    assert made.returncode == 0, made.stderr
    dump = subprocess.Popen([str(ESCTL), "--db", str(source), "dump", "--tenant", ACME], stdout=subprocess.PIPE)
    append = subprocess.run(
        [str(ESCTL), "--db", str(copy), "append", "-"], stdin=dump.stdout, capture_output=True, check=False
    )
    assert dump.stdout is not None
    dump.stdout.close()
    assert dump.wait() == 0
    assert append.returncode == 0, append.stderr

    def events(db: Path, *args: str) -> list[dict[str, object]]:
        out = run_esctl("--db", str(db), "dump", *args).stdout
        lines = [json.loads(line) for line in out.splitlines()]
        return [{k: v for k, v in e.items() if k not in ("position", "stored_at")} for e in lines]

    copied = events(copy)
    assert copied == events(source, "--tenant", ACME)
    assert len(copied) > 100
    assert {e["tenant_id"] for e in copied} == {ACME}


def test_exit_codes_and_one_line_errors_from_a_real_process(tmp_path: Path) -> None:
    missing = tmp_path / "missing.db"
    result = run_esctl("--db", str(missing), "dump")
    assert result.returncode == 5
    assert error_lines(result.stderr.decode()) == [result.stderr.decode().strip()]
    assert str(missing) in result.stderr.decode()
    assert not missing.exists()

    folder = tmp_path / "folder.db"
    folder.mkdir()
    result = run_esctl("--db", str(folder), "append", "-", input=ndjson([event(1)]))
    assert result.returncode == 7
    assert len(error_lines(result.stderr.decode())) == 1
    assert b"Traceback" not in result.stderr

    db = tmp_path / "events.db"
    bad = ndjson([event(1)]) + b'{"event_type": "x", "aggregate_type": "Cart", "aggregate_id": "\xfe"}\n'
    result = run_esctl("--db", str(db), "append", "-", input=bad)
    assert result.returncode == 3
    assert "line 2" in result.stderr.decode()
    assert rows(db) in (None, [])

    result = run_esctl("--db", str(db), "dump", "--format", "yaml")
    assert result.returncode == 2


def test_a_locked_database_is_exit_6_from_a_real_process(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    assert run_esctl("--db", str(db), "append", "-", input=ndjson([event(1)])).returncode == 0
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        result = run_esctl("--db", str(db), "append", "-", input=ndjson([event(2)]), env={"ESCTL_BUSY_TIMEOUT": "0.2"})
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert result.returncode == 6
    assert "locked" in error_lines(result.stderr.decode())[0]
    assert len(rows(db) or []) == 1


def test_a_closed_pipe_ends_the_dump_quietly(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    assert run_esctl("--db", str(db), "demo", "--days", "3").returncode == 0
    dump = subprocess.Popen(
        [str(ESCTL), "--db", str(db), "dump"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0
    )
    assert dump.stdout is not None
    assert dump.stderr is not None
    first = dump.stdout.readline()
    dump.stdout.close()  # like `esctl dump | head -1`
    stderr = dump.stderr.read()
    assert dump.wait(timeout=30) == 0
    assert json.loads(first)["position"] == 1
    assert stderr == b""


@pytest.fixture(scope="module")
def big_input(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """An NDJSON file of 150,000 events (several seconds of work to read and append)."""
    count = 150_000
    path = tmp_path_factory.mktemp("big") / "big.ndjson"
    template = (
        '{{"event_id":"01a00000-0000-7000-8000-{n:012x}","event_type":"test.Noted",'
        '"occurred_at":"2026-11-01T08:00:00Z","aggregate_type":"Cart",'
        '"aggregate_id":"01a00000-0000-7000-9000-{s:012x}","text":"note {n}"}}\n'
    )
    with path.open("w") as out:
        out.writelines(template.format(n=n, s=n % 500) for n in range(count))
    return path, count


def interrupt(process: subprocess.Popen[bytes]) -> tuple[int, bytes]:
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    return process.returncode, stderr


def test_ctrl_c_while_reading_exits_130_and_writes_nothing(tmp_path: Path, big_input: tuple[Path, int]) -> None:
    db = tmp_path / "events.db"
    path, _ = big_input
    process = subprocess.Popen(
        [str(ESCTL), "--db", str(db), "append", str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    time.sleep(1.0)  # started, and busy reading the input
    code, stderr = interrupt(process)
    assert code == 130, stderr
    assert b"Traceback" not in stderr
    assert rows(db) in (None, [])


def test_ctrl_c_between_batches_exits_130_and_keeps_whole_batches(tmp_path: Path, big_input: tuple[Path, int]) -> None:
    db = tmp_path / "events.db"
    path, total = big_input
    batch = 2000
    process = subprocess.Popen(
        [str(ESCTL), "--db", str(db), "append", str(path), "--batch-size", str(batch)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        if db.exists() and _count(db) > 0:
            break
        time.sleep(0.05)
    code, stderr = interrupt(process)
    assert code == 130, stderr
    stored = _count(db)
    assert 0 < stored < total
    assert stored % batch == 0
    verify = run_esctl("--db", str(db), "verify")
    assert verify.returncode == 0, verify.stderr
    # Re-running resumes: what is stored is skipped (here the input up to 500 events further).
    with path.open("rb") as source:
        head = b"".join(source.readline() for _ in range(stored + 500))
    resumed = run_esctl("--db", str(db), "append", "-", "--batch-size", str(batch), "--format", "json", input=head)
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads(resumed.stdout)
    assert (summary["skipped"], summary["appended"]) == (stored, 500)


def _count(db: Path) -> int:
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            return int(conn.execute("SELECT COUNT(*) FROM events").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


@pytest.mark.parametrize(
    ("argv", "allowed"),
    [
        (["--version"], set()),
        (["--help"], {"rich"}),  # Typer renders help with rich
        (["dump", "--help"], {"rich", "pydantic"}),  # and a command's options through pydantic
    ],
)
def test_version_and_help_do_not_import_the_library(argv: list[str], allowed: set[str]) -> None:
    code = (
        "import sys\n"
        f"sys.argv = ['esctl', *{argv!r}]\n"
        "from esctl.cli import main\n"
        "try:\n    main()\nexcept SystemExit as exit:\n    code = exit.code\n"
        "heavy = ('pydantic', 'rich', 'orjson', 'esctl.events', 'esctl.store.interface', 'sqlite3', 'asyncio')\n"
        "print(code, sorted(m for m in heavy if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.splitlines()[-1] == f"0 {sorted(allowed)}"
