"""Findings of a new user's review of the CLI: one-line usage errors, exit codes, hints, tables."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from cli_support import CART_2, ESCTL, TENANT_B, dumped, event, invoke, ndjson, rows, run_esctl
from esctl.cli.events import DUMP_COLUMNS


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "events.db"
    result = invoke(path, "append", "-", input=ndjson([event(1), event(2)]))
    assert result.exit_code == 0, result.stderr
    return path


def only_error_line(stderr: str) -> str:
    """Assert that stderr is exactly one ``Error:`` line and return it."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("Error: "), stderr
    return lines[0]


# -- usage errors are one line ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        pytest.param(("dump", "--bogus"), ("--bogus", "see 'esctl dump --help'"), id="unknown-option"),
        pytest.param(("dump", "--limit"), ("--limit", "see 'esctl dump --help'"), id="missing-value"),
        pytest.param(("dump", "--format", "yaml"), ("yaml", "see 'esctl dump --help'"), id="bad-choice"),
        pytest.param(("dumpp",), ("dumpp", "see 'esctl --help'"), id="unknown-command"),
        pytest.param(("--bogus", "dump"), ("--bogus", "see 'esctl --help'"), id="unknown-global"),
        pytest.param(("projection", "show"), ("NAME", "see 'esctl projection show --help'"), id="missing-argument"),
        pytest.param(("projection", "show", "x", "--bogus"), ("'esctl projection show --help'",), id="nested-option"),
    ],
)
def test_a_usage_error_is_one_line_naming_the_commands_help(
    db: Path, args: tuple[str, ...], fragments: tuple[str, ...]
) -> None:
    result = invoke(db, *args)
    assert result.exit_code == 2
    line = only_error_line(result.stderr)
    assert " — " in line
    for fragment in fragments:
        assert fragment in line
    assert "╭" not in result.stderr
    assert "Usage:" not in result.stderr


@pytest.mark.parametrize("option", ["--db", "--app", "-q", "--quiet", "-v", "--verbose"])
def test_a_global_option_after_the_command_says_where_it_goes(db: Path, option: str) -> None:
    args = [option, "x"] if option in ("--db", "--app") else [option]
    result = invoke(db, "tenants", *args)
    assert result.exit_code == 2
    line = only_error_line(result.stderr)
    assert option in line
    assert "global options go before the command: esctl --db PATH <command>" in line


def test_a_usage_error_from_a_real_process_is_one_line(db: Path) -> None:
    result = run_esctl("--db", str(db), "dump", "--db", str(db), env={"COLUMNS": "100"})
    assert result.returncode == 2
    assert "global options go before the command" in only_error_line(result.stderr.decode())
    assert result.stdout == b""


def test_no_arguments_still_shows_the_help() -> None:
    result = invoke(None)
    assert result.exit_code == 2
    assert "Usage: esctl" in result.stdout + result.stderr


# -- exit codes that used to fall into 1 ------------------------------------------------------------


@pytest.mark.parametrize("value", ["abc", "", "nan", "-1"])
def test_a_bad_busy_timeout_is_a_usage_error(db: Path, value: str) -> None:
    result = invoke(db, "tenants", env={"ESCTL_BUSY_TIMEOUT": value})
    assert result.exit_code == 2
    line = only_error_line(result.stderr)
    assert f"ESCTL_BUSY_TIMEOUT must be a number of seconds, got {value!r}" in line


def test_a_fractional_busy_timeout_is_accepted(db: Path) -> None:
    assert invoke(db, "tenants", env={"ESCTL_BUSY_TIMEOUT": "0.5"}).exit_code == 0


COMMANDS = [
    ("dump",),
    ("streams",),
    ("tenants",),
    ("stats",),
    ("types",),
    ("verify",),
    ("init",),
    ("projections",),
    ("replay",),
]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_a_missing_app_file_fails_every_command(db: Path, tmp_path: Path, command: tuple[str, ...]) -> None:
    result = invoke(db, "--app", str(tmp_path / "nosuch.py"), *command)
    assert result.exit_code == 5, result.stderr
    assert "nosuch.py" in only_error_line(result.stderr)
    assert result.stdout == ""


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_an_app_that_fails_to_import_is_a_usage_error_for_every_command(
    db: Path, tmp_path: Path, command: tuple[str, ...]
) -> None:
    broken = tmp_path / "broken_app.py"
    broken.write_text("import no_such_dependency_here\n")
    result = invoke(db, "--app", str(broken), *command)
    assert result.exit_code == 2, result.stderr
    line = only_error_line(result.stderr)
    assert "broken_app.py" in line
    assert "no_such_dependency_here" in line


def test_a_commands_help_does_not_need_the_app(tmp_path: Path) -> None:
    result = invoke(None, "--app", str(tmp_path / "nosuch.py"), "dump", "--help")
    assert result.exit_code == 0
    assert "Usage: esctl dump" in result.stdout


def test_a_broken_app_from_a_real_process_exits_2(db: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken_app.py"
    broken.write_text("raise RuntimeError('boom')\n")
    result = run_esctl("--db", str(db), "--app", str(broken), "dump")
    assert result.returncode == 2
    assert "boom" in only_error_line(result.stderr.decode())


# -- tables -----------------------------------------------------------------------------------------

UUID_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
SHORT_ID = re.compile(r"…[0-9a-f]{8}\b")


def run_in_terminal(*args: str, columns: int) -> str:
    """Run ``esctl -q ARGS`` with stdout on a pseudo-terminal ``columns`` wide; return its output."""
    import pty

    main_fd, child_fd = pty.openpty()
    env = {**os.environ, "COLUMNS": str(columns), "LINES": "50", "NO_COLOR": "1"}
    with subprocess.Popen([str(ESCTL), "-q", *args], stdout=child_fd, stderr=subprocess.PIPE, env=env) as process:
        os.close(child_fd)
        chunks = []
        while True:
            try:
                chunk = os.read(main_fd, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        assert process.wait(timeout=60) == 0, process.stderr.read() if process.stderr else ""
    os.close(main_fd)
    return b"".join(chunks).decode().replace("\r\n", "\n")


def table_rows(output: str) -> list[str]:
    """Return the data lines of a rendered table (after the rule under the header)."""
    lines = output.splitlines()
    rule = next(i for i, line in enumerate(lines) if line.strip().startswith("──"))
    return [line for line in lines[rule + 1 :] if line.strip()]


@pytest.fixture
def big(tmp_path: Path) -> Path:
    """1,200 events of tenant A in one stream, 3 of tenant B in another."""
    path = tmp_path / "big.db"
    events = [event(n) for n in range(1, 1201)]
    other = {"aggregate_id": str(CART_2), "tenant_id": str(TENANT_B)}
    events += [event(2000 + n, aggregate_version=n, **other) for n in (1, 2, 3)]
    assert invoke(path, "append", "-", input=ndjson(events)).exit_code == 0
    return path


@pytest.mark.parametrize("columns", [80, 100, 160])
@pytest.mark.parametrize("command", [("streams",), ("tenants",), ("replay", "--to-position", "3")], ids=" ".join)
def test_table_ids_are_never_wrapped(big: Path, command: tuple[str, ...], columns: int) -> None:
    output = run_in_terminal("--db", str(big), *command, columns=columns)
    data = [line for line in table_rows(output) if not line.startswith(("More ", "3 events", "No "))]
    expected = {"streams": 2, "tenants": 2, "replay": 3}[command[0]]
    assert len(data) == expected, output  # a wrapped cell would add lines
    for line in data:
        ids = UUID_TEXT.findall(line) + SHORT_ID.findall(line)
        assert ids, line
    if columns >= 160:
        assert UUID_TEXT.search(output), "ids are shown whole when they fit"


def test_table_counts_are_right_aligned_with_separators(big: Path) -> None:
    output = run_in_terminal("--db", str(big), "tenants", columns=120)
    header, *_ = (line for line in output.splitlines() if "tenant_id" in line)
    first, second = table_rows(output)[:2]
    assert "1,200" in first
    # right-aligned: the counts end where the header `events` ends
    end = header.index("events") + len("events")
    assert first[:end].endswith("1,200")
    assert second[:end].endswith("3")


def test_data_formats_keep_raw_numbers(big: Path) -> None:
    result = invoke(big, "tenants", "--format", "csv")
    assert ",1200," in result.stdout
    assert [row["events"] for row in dumped(invoke(big, "tenants", "--format", "ndjson").stdout)] == [1200, 3]


# -- demo -------------------------------------------------------------------------------------------


def test_demo_reports_the_events_the_store_really_holds(tmp_path: Path) -> None:
    path = tmp_path / "demo.db"
    assert invoke(path, "demo", "--days", "3", "--end", "2026-11-26T00:00:00Z").exit_code == 0
    held = len(rows(path) or [])
    again = invoke(path, "demo", "--days", "42")  # a larger history than the store holds
    assert again.exit_code == 0
    assert f"already holds the demo ({held:,} events)" in again.stderr
    assert len(rows(path) or []) == held


def test_demo_messages_use_the_singular_for_one(capsys: pytest.CaptureFixture[str]) -> None:
    from datetime import UTC, datetime

    from esctl.cli.demo import _print_next_steps
    from esctl.demo import DemoSummary

    moment = datetime(2026, 11, 1, tzinfo=UTC)
    _print_next_steps(DemoSummary(1, 1, moment, moment))
    assert "with 1 event of 4 tenants" in capsys.readouterr().err
    _print_next_steps(DemoSummary(1, 0, None, None))
    assert "already holds the demo (1 event)" in capsys.readouterr().err


def _interrupt_demo(db: Path, *, when_writing: bool) -> tuple[int, bytes]:
    process = subprocess.Popen(
        [str(ESCTL), "--db", str(db), "demo", "--days", "2000"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    wal = db.with_name(db.name + "-wal")
    deadline = time.monotonic() + 60
    if when_writing:  # wait until the append has written several chunks (the schema alone is a few KB)
        while (
            time.monotonic() < deadline and process.poll() is None and not (wal.exists() and wal.stat().st_size > 4e6)
        ):
            time.sleep(0.02)
    else:  # generating the history, before the first write
        time.sleep(1.0)
    assert process.poll() is None, "the demo ended before it could be interrupted"
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    return process.returncode, stderr


@pytest.mark.parametrize("when_writing", [False, True], ids=["generating", "writing"])
def test_ctrl_c_during_the_demo_exits_130_and_writes_nothing(tmp_path: Path, when_writing: bool) -> None:
    db = tmp_path / "demo.db"
    code, stderr = _interrupt_demo(db, when_writing=when_writing)
    assert code == 130, stderr
    assert b"Traceback" not in stderr
    assert rows(db) in (None, [])


# -- hints ------------------------------------------------------------------------------------------


def test_a_tenant_name_instead_of_an_id_is_told_where_ids_are(db: Path) -> None:
    result = invoke(db, "dump", "--tenant", "acme")
    assert result.exit_code == 3
    assert "tenant ids are UUIDs; `esctl tenants` lists them" in only_error_line(result.stderr)


def test_since_after_until_shows_z_times_and_says_to_swap(db: Path) -> None:
    result = invoke(db, "dump", "--since", "7d", "--until", "14d")
    assert result.exit_code == 2
    line = only_error_line(result.stderr)
    assert "+00:00" not in line
    assert re.search(r"--since \(\d{4}-\d\d-\d\dT[\d:.]+Z\) is later than --until \(\d{4}-\d\d-\d\dT[\d:.]+Z\)", line)
    assert "swap --since and --until" in line


def test_reversed_positions_get_a_hint(db: Path) -> None:
    result = invoke(db, "dump", "--from-position", "10", "--to-position", "5")
    assert result.exit_code == 2
    assert "— swap them" in only_error_line(result.stderr)


def test_a_db_in_a_missing_directory_says_the_directory_is_missing(tmp_path: Path) -> None:
    path = tmp_path / "no" / "such" / "x.db"
    result = invoke(path, "init")
    assert result.exit_code == 7
    line = only_error_line(result.stderr)
    assert f"the directory {path.parent} does not exist" in line
    assert "not a directory" not in line
    assert not path.parent.exists()


@pytest.mark.parametrize("fmt", ["table", "ndjson", "json", "csv"])
def test_types_without_an_app_says_so_on_stderr_in_every_format(tmp_path: Path, fmt: str) -> None:
    # A real process: in this one, other tests may have registered classes.
    result = run_esctl("types", "--format", fmt, cwd=tmp_path)
    assert result.returncode == 0
    assert "no event types registered; load your modules with --app" in result.stderr.decode()
    assert b"no event types" not in result.stdout


# -- found by reading the help and the README against the code --------------------------------------


@pytest.mark.parametrize("command", [["dump"], ["streams"], ["tenants"]])
def test_a_csv_command_that_fails_writes_no_header(tmp_path: Path, command: list[str]) -> None:
    result = run_esctl("--db", str(tmp_path / "missing.db"), *command, "--format", "csv")
    assert result.returncode == 5
    assert result.stdout == b""  # stdout carries data only: no header without rows to put under it


def test_a_csv_dump_of_nothing_is_the_header_alone(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    assert run_esctl("--db", str(db), "init").returncode == 0
    result = run_esctl("--db", str(db), "dump", "--format", "csv")
    assert result.returncode == 0
    assert result.stdout.decode().splitlines() == [",".join(DUMP_COLUMNS)]


@pytest.mark.parametrize(
    ("fmt", "expected"), [("json", b"[]\n"), ("ndjson", b""), ("csv", b"check,position,stream_id,message\n")]
)
def test_verify_of_a_sound_store_writes_an_empty_result_in_the_data_formats(
    tmp_path: Path, fmt: str, expected: bytes
) -> None:
    db = tmp_path / "events.db"
    assert run_esctl("--db", str(db), "init").returncode == 0
    result = run_esctl("--db", str(db), "verify", "--format", fmt)
    assert (result.returncode, result.stdout) == (0, expected)


@pytest.mark.parametrize(
    ("source", "words"),
    [
        (
            "from esctl import DomainEvent, register_event\n"
            "@register_event\nclass OrderPlaced(DomainEvent):\n    aggregate_type: str = 'Order'\n",
            "already registered",
        ),
        (
            "from esctl import DeclarativeProjection\nfrom esctl.projections import register_projection\n"
            "class Clash(DeclarativeProjection):\n    pass\nregister_projection(Clash, name='tenant-stats')\n",
            "already registered",
        ),
    ],
)
def test_an_app_that_clashes_with_another_is_a_usage_error(tmp_path: Path, source: str, words: str) -> None:
    clash = tmp_path / "clash.py"
    clash.write_text(source)
    db = tmp_path / "events.db"
    result = run_esctl("--db", str(db), "--app", "esctl.demo", "--app", str(clash), "tenants")
    assert result.returncode == 2, result.stderr
    assert words in result.stderr.decode()
