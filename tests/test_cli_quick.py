"""The quick path (``esctl.cli.quick``): ``dump`` as NDJSON/JSON and ``--version`` without Typer.

It must answer exactly as the Typer command does (same bytes, same errors, same exit codes) and
hand every other command line to Typer untouched.
"""

from __future__ import annotations

import contextlib
import io
import json
import sqlite3
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli_support import ESCTL, foreign_database, invoke, run_esctl
from esctl.cli.quick import run_quick

TENANTS = [f"00000000-0000-4000-8000-00000000000{c}" for c in "abcd"]
OTHER_TENANT = "00000000-0000-4000-8000-0000000000ff"
END = "2026-11-20T00:00:00Z"


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("quick") / "demo.db"
    result = invoke(db, "demo", "--days", "10", "--end", END)
    assert result.exit_code == 0, result.output
    return db


def quick(argv: list[str], env: dict[str, str] | None = None) -> tuple[int | None, bytes, str]:
    """Run ``run_quick`` in this process; return its exit code, stdout bytes and stderr."""
    out, err = io.BytesIO(), io.StringIO()
    stdout = io.TextIOWrapper(out, write_through=True)
    with (
        pytest.MonkeyPatch.context() as patch,
        contextlib.redirect_stdout(stdout),
        contextlib.redirect_stderr(err),
    ):
        for name in ("ESCTL_DB", "ESCTL_APP", "ESCTL_BUSY_TIMEOUT"):
            patch.delenv(name, raising=False)
        for name, value in (env or {}).items():
            patch.setenv(name, value)
        code = run_quick(argv)
    return code, out.getvalue(), err.getvalue()


def typer(argv: list[str], env: dict[str, str] | None = None) -> tuple[int, bytes, str]:
    """Run the same command line through the Typer application."""
    result = invoke(None, *argv, env=env)
    return result.exit_code, result.stdout_bytes, result.stderr


def same_answer(argv: list[str], env: dict[str, str] | None = None) -> tuple[int, bytes, str]:
    code, out, err = quick(argv, env)
    assert code is not None, f"the quick path declined {argv}"
    assert (code, out, err) == typer(argv, env)
    return code, out, err


# -- the same answer ----------------------------------------------------------------------------


days = st.sampled_from([f"2026-11-{d:02d}T{h:02d}:00:00Z" for d in range(9, 21) for h in (0, 13)])


@pytest.fixture(scope="module")
def everything(demo_db: Path) -> list[dict[str, Any]]:
    """The demo store's whole dump (919 events, positions 1-919): the oracle's input."""
    events = [json.loads(line) for line in run_esctl("--db", str(demo_db), "dump").stdout.splitlines()]
    assert len(events) > 500
    return events


def expected_dump(events: list[dict[str, Any]], filters: dict[str, Any]) -> list[dict[str, Any]]:
    """What a dump with ``filters`` must select, worked out without esctl's selection code."""

    def moment(text: str) -> datetime:
        return datetime.fromisoformat(text)

    kept = [
        e
        for e in events
        if (not filters["tenants"] or e["tenant_id"] in filters["tenants"])
        and (not filters["types"] or e["event_type"] in filters["types"])
        and (filters["aggregate_type"] is None or e["aggregate_type"] == filters["aggregate_type"])
        and (filters["since"] is None or moment(e["occurred_at"]) >= moment(filters["since"]))
        and (filters["until"] is None or moment(e["occurred_at"]) < moment(filters["until"]))
        and (filters["from_position"] is None or e["position"] >= filters["from_position"])
        and (filters["to_position"] is None or e["position"] <= filters["to_position"])
    ]
    return kept if filters["limit"] is None else kept[: filters["limit"]]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    tenants=st.lists(st.sampled_from([*TENANTS, OTHER_TENANT]), max_size=2),
    types=st.lists(st.sampled_from(["OrderPlaced", "PaymentCaptured", "CustomerRegistered", "Nope"]), max_size=2),
    aggregate_type=st.none() | st.sampled_from(["Order", "Customer", "Cart"]),
    since=st.none() | days,
    until=st.none() | days,
    from_position=st.none() | st.integers(1, 1000),
    to_position=st.none() | st.integers(1, 1000),
    limit=st.none() | st.integers(0, 300),
    fmt=st.sampled_from([None, "ndjson", "json", "JSON"]),
    equals=st.booleans(),
)
def test_a_quick_dump_writes_exactly_what_the_typer_dump_writes(
    demo_db: Path,
    everything: list[dict[str, Any]],
    tenants: list[str],
    types: list[str],
    aggregate_type: str | None,
    since: str | None,
    until: str | None,
    from_position: int | None,
    to_position: int | None,
    limit: int | None,
    fmt: str | None,
    equals: bool,
) -> None:
    filters = dict(locals())
    options: list[tuple[str, Any]] = [("--tenant", t) for t in tenants] + [("--type", t) for t in types]
    options += [
        ("--aggregate-type", aggregate_type),
        ("--since", since),
        ("--until", until),
        ("--from-position", from_position),
        ("--to-position", to_position),
        ("-n", limit),
        ("-f", fmt),
    ]
    argv = ["--db", str(demo_db), "dump"]
    for name, value in options:
        if value is not None:
            argv += [f"{name}={value}"] if equals and name.startswith("--") else [name, str(value)]
    code, out, _ = same_answer(argv)
    backwards = (since is not None and until is not None and since > until) or (
        from_position is not None and to_position is not None and from_position > to_position
    )
    assert code == (2 if backwards else 0)
    if backwards:
        return
    # Both paths share the selection code: hold what they wrote to a filter written here.
    events = json.loads(out) if fmt and fmt.lower() == "json" else [json.loads(line) for line in out.splitlines()]
    assert events == expected_dump(everything, filters)


def test_a_tenant_window_dump_is_that_tenants_events_in_that_window(demo_db: Path) -> None:
    argv = [
        "--db",
        str(demo_db),
        "dump",
        "-t",
        TENANTS[1],
        "--since",
        "2026-11-12T00:00:00Z",
        "--until",
        "2026-11-14T00:00:00Z",
    ]
    _, out, _ = same_answer(argv)
    lines = out.splitlines()
    assert lines, "the window should hold events"
    events = [json.loads(line) for line in lines]
    assert {e["tenant_id"] for e in events} == {TENANTS[1]}
    assert all("2026-11-12T00:00:00" <= e["occurred_at"] < "2026-11-14T00:00:00" for e in events)
    positions = [e["position"] for e in events]
    assert positions == sorted(positions)


def test_global_options_and_environment_mean_the_same(demo_db: Path) -> None:
    argv = ["dump", "--limit", "3"]
    _, by_env, _ = same_answer(argv, env={"ESCTL_DB": str(demo_db)})
    _, by_flag, _ = same_answer(["-q", "--db", str(demo_db), *argv], env={"ESCTL_DB": "/nonexistent/x.db"})
    assert by_env == by_flag
    assert len(by_env.splitlines()) == 3


def test_the_app_is_loaded_as_the_typer_command_loads_it(demo_db: Path, tmp_path: Path) -> None:
    marker = tmp_path / "loaded"
    module = tmp_path / "myapp.py"
    module.write_text(f"open({str(marker)!r}, 'a').write('x')\n")
    code, out, _ = quick(["--db", str(demo_db), "--app", str(module), "dump", "-n", "1"])
    assert (code, len(out.splitlines())) == (0, 1)
    assert marker.read_text() == "x"


@pytest.mark.parametrize(
    ("argv", "env", "exit_code", "words"),
    [
        (["dump", "--tenant", "acme"], {}, 3, "'acme' is not a UUID"),
        (["dump", "--aggregate-id", "42"], {}, 3, "--aggregate-id"),
        (["dump", "--since", "yesterday"], {}, 3, "--since"),
        (["dump", "--since", "2026-11-02T00:00:00Z", "--until", "2026-11-01T00:00:00Z"], {}, 2, "is later than"),
        (["dump", "--from-position", "9", "--to-position", "3"], {}, 2, "after --to-position"),
        (["dump"], {"ESCTL_BUSY_TIMEOUT": "soon"}, 2, "ESCTL_BUSY_TIMEOUT"),
        (["--app", "no_such_module_here", "dump"], {}, 5, "no_such_module_here"),
    ],
)
def test_bad_values_get_the_same_error_and_exit_code(
    demo_db: Path, argv: list[str], env: dict[str, str], exit_code: int, words: str
) -> None:
    code, out, err = same_answer(["--db", str(demo_db), *argv], env)
    assert code == exit_code
    assert out == b""
    assert err.startswith("Error: ")
    assert err.count("\n") == 1
    assert words in err


def test_an_app_with_a_class_pydantic_cannot_build_fails_to_load_and_creates_nothing(tmp_path: Path) -> None:
    app = tmp_path / "badapp.py"
    app.write_text(
        "import threading\n"
        "from esctl import DomainEvent, register_event\n"
        "@register_event\n"
        "class Locked(DomainEvent):\n"
        "    event_type: str = 'Locked'\n"
        "    aggregate_type: str = 'X'\n"
        "    lock: threading.Lock\n"
    )
    events = tmp_path / "events.ndjson"
    events.write_text("")
    db = tmp_path / "new.db"
    for command in (["dump"], ["append", str(events)]):
        code, out, err = same_answer(["--db", str(db), "--app", str(app), *command])
        assert code == 2
        assert out == b""
        assert "failed to import" in err
        assert not db.exists()


def test_a_missing_or_foreign_database_gets_the_same_error(tmp_path: Path) -> None:
    code, _, err = same_answer(["--db", str(tmp_path / "missing.db"), "dump"])
    assert code == 5
    assert "does not exist" in err
    assert not (tmp_path / "missing.db").exists()
    foreign = tmp_path / "foreign.db"
    before = foreign_database(foreign)
    code, _, err = same_answer(["--db", str(foreign), "dump"])
    assert code == 7
    assert "not an esctl event store" in err
    assert foreign.read_bytes() == before


def test_version_is_the_typer_version_line() -> None:
    code, out, _ = quick(["--version"])
    assert (code, out) == (0, invoke(None, "--version").stdout_bytes)


# -- append FILE -------------------------------------------------------------------------------


def stored(db: Path) -> list[tuple[Any, ...]]:
    """Every row but its ``stored_at`` (the moment of the append differs between two runs)."""
    conn = sqlite3.connect(db)
    try:
        columns = [c[1] for c in conn.execute("PRAGMA table_info(events)") if c[1] != "stored_at"]
        return conn.execute(f"SELECT {', '.join(columns)} FROM events ORDER BY position").fetchall()
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("options", "exit_code", "stored_rows"),
    [
        ([], 0, 40),
        (["--format", "json"], 0, 40),
        (["-f", "JSON", "--batch-size", "7"], 0, 40),
        (["--expected-version", "no-stream", "--allow-empty", "-f", "json"], 0, 40),
        # The demo_db fixture ran `esctl demo` in this process, which registered the demo's
        # event classes: --strict validates every line against them and accepts.
        (["--strict"], 0, 40),
        (["--expected-version", "3"], 4, 0),  # every stream is new: at version 0
    ],
)
def test_a_quick_append_stores_and_reports_what_the_typer_append_does(
    demo_db: Path, tmp_path: Path, options: list[str], exit_code: int, stored_rows: int
) -> None:
    source = run_esctl("--db", str(demo_db), "dump", "-t", TENANTS[2], "--limit", "40").stdout
    assert len(source.splitlines()) == 40
    events = tmp_path / "events.ndjson"
    events.write_bytes(source)
    answers = []
    for name, run in (("quick", quick), ("typer", typer)):
        db = tmp_path / f"{name}.db"
        code, out, err = run(["--db", str(db), "append", str(events), *options])
        answers.append((code, out, err, stored(db) if db.exists() else None))
    assert answers[0] == answers[1]
    code, out, err, rows = answers[0]
    assert code == exit_code, err
    assert len(rows or []) == stored_rows
    if code == 0 and "json" in [o.lower() for o in options]:
        assert json.loads(out)["appended"] == 40


def test_bad_input_gets_the_same_error_and_changes_nothing(demo_db: Path, tmp_path: Path) -> None:
    source = run_esctl("--db", str(demo_db), "dump", "--limit", "5").stdout.splitlines(keepends=True)
    source[3] = source[3].replace(b'"aggregate_type":"', b'"aggregate_type":7,"x":"', 1)
    events = tmp_path / "bad.ndjson"
    events.write_bytes(b"".join(source))
    target = tmp_path / "target.db"
    assert quick(["--db", str(target), "append", str(events)])[0] is not None
    before = stored(target)
    quick_answer = quick(["--db", str(target), "append", str(events)])
    assert quick_answer == typer(["--db", str(target), "append", str(events)])
    code, _, err = quick_answer
    assert code == 3
    assert "line 4" in err
    assert "aggregate_type" in err
    assert stored(target) == before == []


# -- what it leaves to Typer --------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["--help"],
        ["dump", "--help"],
        ["dump", "-h"],
        ["dump", "extra"],
        ["dump", "--", "x"],
        ["dump", "--format", "csv"],
        ["dump", "--format", "table"],
        ["dump", "--limit", "-1"],
        ["dump", "--limit", "many"],
        ["dump", "--limit", "1_000"],
        ["dump", "--from-position", "0"],
        ["dump", "--tenant"],
        ["dump", "--tenant="],
        ["dump", "-tX"],
        ["dump", "-t=00000000-0000-4000-8000-00000000000a"],
        ["dump", "-n=2"],
        ["dump", "-f=json"],
        ["dump", "--limit", "9" * 5000],
        ["dump", "--strict=yes"],
        ["append", "a.ndjson", "-f=json"],
        ["dump", "--db", "x.db"],
        ["dump", "--no-such-option"],
        ["-qv", "dump"],
        ["--db"],
        ["--version", "dump"],
        ["--db", "x.db", "--version"],
        ["streams"],
        ["append"],
        ["append", "a.ndjson", "b.ndjson"],
        ["append", "--type", "Noted", "--aggregate-type", "Note"],
        ["append", "a.ndjson", "--expected-version", "soon"],
        ["append", "a.ndjson", "--batch-size", "0"],
        ["append", "a.ndjson", "--format", "yaml"],
        ["append", "a.ndjson", "--tenant", "x"],
    ],
)
def test_anything_else_is_declined_before_touching_anything(argv: list[str], tmp_path: Path) -> None:
    code, out, err = quick(["--db", str(tmp_path / "never.db"), *argv] if argv[:1] != ["--db"] else argv)
    assert (code, out, err) == (None, b"", "")
    assert not (tmp_path / "never.db").exists()


def test_a_table_is_left_to_typer_on_a_terminal(demo_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class Terminal(io.TextIOWrapper):
        def isatty(self) -> bool:
            return True

    stdout = Terminal(io.BytesIO())
    with contextlib.redirect_stdout(stdout):
        assert run_quick(["--db", str(demo_db), "dump"]) is None
        assert run_quick(["--db", str(demo_db), "dump", "-f", "ndjson", "-n", "0"]) == 0


# -- as a real process --------------------------------------------------------------------------


LOADED = (
    "import sys\n"
    "from esctl.cli import main\n"
    "try:\n    main()\nexcept SystemExit as exit:\n    code = exit.code\n"
    "heavy = ('typer', 'pydantic', 'asyncio', 'rich')\n"
    "print(code, [m for m in heavy if m in sys.modules], file=sys.stderr)\n"
)


def loaded(*argv: str) -> tuple[str, bytes]:
    result = subprocess.run([sys.executable, "-c", LOADED, *argv], capture_output=True, check=False, timeout=60)
    return result.stderr.decode().splitlines()[-1], result.stdout


def test_a_quick_dump_imports_neither_typer_nor_pydantic_nor_asyncio(demo_db: Path) -> None:
    report, out = loaded("--db", str(demo_db), "dump", "-t", TENANTS[0], "--since", "2026-11-15T00:00:00Z")
    assert report == "0 []"
    assert out == run_esctl("--db", str(demo_db), "dump", "-t", TENANTS[0], "--since", "2026-11-15T00:00:00Z").stdout
    report, _ = loaded("--db", str(demo_db), "dump", "-t", "acme")
    assert report == "3 []"  # errors too are answered without Typer


def test_a_quick_append_does_not_import_typer(demo_db: Path, tmp_path: Path) -> None:
    events = tmp_path / "events.ndjson"
    events.write_bytes(run_esctl("--db", str(demo_db), "dump", "--limit", "3").stdout)
    report, _ = loaded("--db", str(tmp_path / "copy.db"), "append", str(events))
    assert report.startswith("0 ")
    assert "'typer'" not in report
    assert len(stored(tmp_path / "copy.db")) == 3


def test_a_declined_command_line_runs_in_typer(demo_db: Path) -> None:
    report, out = loaded("--db", str(demo_db), "dump", "-f", "csv", "-n", "1")
    assert report.startswith("0 ")
    assert "'typer'" in report
    assert out.startswith(b"position,event_id,")


def test_the_entry_point_exits_with_the_quick_paths_code(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(ESCTL), "--db", str(tmp_path / "missing.db"), "dump"], capture_output=True, check=False, timeout=60
    )
    assert result.returncode == 5
    assert result.stderr.decode().startswith("Error: database")


@pytest.mark.parametrize("command", ["dump", "append"])
def test_every_option_of_the_typer_command_is_declared_in_the_spec_the_quick_path_is_built_from(command: str) -> None:
    # An option added to the Typer command without its declaration in cli/spec.py would leave
    # the quick path parsing a command line the Typer command reads otherwise.
    import typer.main
    from typer.core import TyperOption

    from esctl.cli import typer_app
    from esctl.cli.quick import _TABLES
    from esctl.cli.spec import COMMANDS

    group = typer.main.get_command(typer_app())
    typer_command = group.commands[command]  # type: ignore[attr-defined]
    options = {p.name: p for p in typer_command.params if isinstance(p, TyperOption) and p.name != "help"}
    declared = COMMANDS[command]
    assert set(options) == set(declared), "options of the Typer command and cli/spec.py differ"
    valued, flags = _TABLES[command]
    for name, option in options.items():
        spec = declared[name]
        assert set(option.opts) == set(spec.flags), name
        assert option.is_flag == spec.flag, name
        assert option.multiple == spec.repeatable, name
        assert option.min == spec.minimum, name
        assert option.envvar == spec.envvar, name
        if spec.quick:
            known = flags if spec.flag else valued
            assert {known.get(flag) for flag in spec.flags} == {name}, f"the quick path does not know {name}"


def test_the_global_options_of_both_parsers_come_from_one_declaration() -> None:
    import typer.main
    from typer.core import TyperOption

    from esctl.cli import typer_app
    from esctl.cli.spec import GLOBAL

    group = typer.main.get_command(typer_app())
    options = {
        p.name: p
        for p in group.params
        if isinstance(p, TyperOption) and p.name not in ("help", "version", "install_completion", "show_completion")
    }
    assert set(options) == set(GLOBAL)
    for name, option in options.items():
        assert set(option.opts) | set(option.secondary_opts) == set(GLOBAL[name].flags), name
        assert option.envvar == GLOBAL[name].envvar, name
    assert options["db"].default == GLOBAL["db"].default
