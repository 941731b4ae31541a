"""The quick path: ``esctl dump`` as NDJSON or JSON, and ``esctl --version``, without Typer.

Dumping a tenant's day is ~20 ms of work behind ~200 ms of start-up (Typer, click and pydantic,
which Typer uses to coerce options, and asyncio), and scripts run dumps in loops. So ``main()``
offers the command line here first. This module takes only command lines it understands
completely and answers them as the Typer command would: the same selection code
(``selection``, ``reads``), the same bytes (``jsonlines``), the same errors and exit codes.
Anything else (``--help``, a misspelt or malformed option, a table or CSV, any other command)
it declines by returning ``None`` before it has read or written anything, and the Typer
application parses the command line from scratch.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

from esctl.cli.runtime import load_app, report_error, settings, stdout_bytes

_GLOBAL_VALUES = {"--db": "db", "--app": "app"}
_GLOBAL_FLAGS = {"-q": "quiet", "--quiet": "quiet", "-v": "verbose", "--verbose": "verbose"}
_DUMP_VALUES = {
    "--tenant": "tenant",
    "-t": "tenant",
    "--aggregate-type": "aggregate_type",
    "--aggregate-id": "aggregate_id",
    "--type": "type",
    "--since": "since",
    "--until": "until",
    "--from-position": "from_position",
    "--to-position": "to_position",
    "--limit": "limit",
    "-n": "limit",
    "--format": "format",
    "-f": "format",
}
_REPEATABLE = frozenset({"app", "tenant", "type"})
_LEAST = {"from_position": 1, "to_position": 1, "limit": 0}
"""The integer options and their smallest allowed value (as ``dump`` declares them)."""


def run_quick(argv: Sequence[str]) -> int | None:
    """Run ``argv`` (without the program name) if it is a command line this module answers.

    Returns:
        The exit code, or ``None`` when the command line is for the Typer application.
    """
    if list(argv) == ["--version"]:
        from esctl import __version__

        print(f"esctl {__version__}")
        return 0
    parsed = _parse(argv)
    if parsed is None:
        return None
    given, dump = parsed
    fmt = (_last(dump, "format") or ("" if sys.stdout.isatty() else "ndjson")).lower()
    if fmt not in ("ndjson", "json"):
        return None  # a table (the default on a terminal) or CSV: the Typer command renders those
    env_db, env_app = os.environ.get("ESCTL_DB"), os.environ.get("ESCTL_APP")
    # As click reads them: an empty variable counts as unset; a list option's splits on whitespace.
    db = _last(given, "db") or env_db or "events.db"
    app_modules = given.get("app") or (env_app.split() if env_app else [])
    quiet, verbose = "quiet" in given, "verbose" in given
    settings.reset(db=Path(db), app_modules=tuple(app_modules), quiet=quiet, verbose=verbose)
    try:
        load_app()
        _dump(dump, array=fmt == "json")
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`esctl dump | head`): not an error, as in the Typer command.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except Exception as error:
        from esctl.errors import EsctlError

        if not isinstance(error, EsctlError):
            raise
        if settings.verbose:
            traceback.print_exc()
        report_error(error)
        return error.exit_code
    return 0


def _parse(argv: Sequence[str]) -> tuple[dict[str, list[str]], dict[str, list[str]]] | None:
    """Split ``[global options] dump [dump options]`` into two dicts of option values, or ``None``."""
    given: dict[str, list[str]] = {}
    rest = _options(argv, _GLOBAL_VALUES, _GLOBAL_FLAGS, given)
    if rest is None or not rest or rest[0] != "dump":
        return None
    dump: dict[str, list[str]] = {}
    if _options(rest[1:], _DUMP_VALUES, {}, dump) != []:
        return None  # an argument dump does not take, or an option it does not know
    for name, values in dump.items():
        if name not in _REPEATABLE and len(values) > 1:
            dump[name] = values[-1:]  # click keeps the last value of an option given twice
        if name in _LEAST and not all(v.isascii() and v.isdigit() and int(v) >= _LEAST[name] for v in values):
            return None
    return given, dump


def _options(
    args: Sequence[str], valued: dict[str, str], flags: dict[str, str], into: dict[str, list[str]]
) -> list[str] | None:
    """Collect leading ``--name value``, ``--name=value`` and flags into ``into``.

    Returns:
        The arguments after the options, or ``None`` for anything this module does not take
        (an unknown option, a missing or empty value, a value that looks like an option).
    """
    index = 0
    while index < len(args):
        arg = args[index]
        if not arg.startswith("-"):
            break
        name, equals, value = arg.partition("=")
        if name in valued:
            if not equals:
                index += 1
                if index == len(args):
                    return None
                value = args[index]
            if not value or value.startswith("-"):
                return None
            into.setdefault(valued[name], []).append(value)
        elif arg in flags:
            into.setdefault(flags[arg], []).append("")
        else:
            return None
        index += 1
    return list(args[index:])


def _last(values: dict[str, list[str]], name: str) -> str | None:
    given = values.get(name)
    return given[-1] if given else None


def _dump(values: dict[str, list[str]], *, array: bool) -> None:
    """Write the selected events to stdout, a page at a time, exactly as ``esctl dump`` does."""
    import sqlite3

    from esctl.cli.jsonlines import JsonLines
    from esctl.cli.selection import EventFilter
    from esctl.rows import row_to_json_line
    from esctl.store.sqlite import reads, schema
    from esctl.store.sqlite.driver import connect, default_busy_timeout, translate_error

    def number(name: str) -> int | None:
        text = _last(values, name)
        return None if text is None else int(text)

    options = EventFilter(
        tenants=values.get("tenant"),
        aggregate_type=_last(values, "aggregate_type"),
        aggregate_id=_last(values, "aggregate_id"),
        types=values.get("type"),
        since=_last(values, "since"),
        until=_last(values, "until"),
        from_position=number("from_position"),
        to_position=number("to_position"),
        limit=number("limit"),
    ).to_read_options()
    path = settings.db
    busy_timeout = default_busy_timeout()
    try:
        conn = connect(path, schema.check_readable, readonly=True, busy_timeout=busy_timeout)
        try:
            writer = JsonLines(stdout_bytes(), array=array)
            for lines in reads.pages(conn, options, lambda rows: [row_to_json_line(r) for r in rows]):
                writer.write(lines)
            writer.close()
        finally:
            conn.close()
    except sqlite3.Error as error:
        raise translate_error(error, path) from error
