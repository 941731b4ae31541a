"""Findings of a new user's review of the CLI: one-line usage errors, exit codes, hints, tables."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli_support import event, invoke, ndjson, run_esctl


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
