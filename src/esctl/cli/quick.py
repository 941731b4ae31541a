"""The quick path: ``esctl dump`` (NDJSON or JSON), ``esctl append FILE`` and ``esctl --version``
without Typer.

Dumping a tenant's day is ~20 ms of work behind ~200 ms of start-up (Typer, click and pydantic,
which Typer uses to coerce options, and asyncio), appending one event much the same, and
scripts run both in loops. So ``main()`` offers the command line here first; a dump then
imports neither pydantic nor asyncio, an append no Typer. This module takes only command lines
it understands completely and answers them as the Typer command would: the same code
(``selection``, ``reads``, ``importing``), the same bytes (``jsonlines``), the same errors and
exit codes. Anything else (``--help``, a misspelt or malformed option, a table or CSV, an event
given as flags, any other command) it declines by returning ``None`` before it has read or
written anything, and the Typer application parses the command line from scratch.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence

from esctl.cli.runtime import load_app, settings
from esctl.cli.spec import COMMANDS, GLOBAL, Opt
from esctl.errors import EsctlError


def _valued(table: dict[str, Opt]) -> dict[str, str]:
    """Option name -> parameter, for the options of ``table`` that take a value."""
    return {name: o.param for o in table.values() if o.quick and not o.flag for name in o.flags}


def _flags(table: dict[str, Opt]) -> dict[str, str]:
    """Option name -> parameter, for the switches of ``table``."""
    return {name: o.param for o in table.values() if o.quick and o.flag for name in o.flags}


_GLOBAL_VALUES, _GLOBAL_FLAGS = _valued(GLOBAL), _flags(GLOBAL)
_TABLES = {command: (_valued(table), _flags(table)) for command, table in COMMANDS.items()}
_REPEATABLE = {command: {o.param for o in table.values() if o.repeatable} for command, table in COMMANDS.items()}
_LEAST = {
    command: {o.param: o.minimum for o in table.values() if o.minimum is not None}
    for command, table in COMMANDS.items()
}
"""Per command, its integer options and their least allowed values."""

Values = dict[str, list[str]]
"""Option values by name, as given (flags have one empty string per use)."""


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
    given, command, values, arguments = parsed
    job = _dump_job(values) if command == "dump" else _append_job(values, arguments[0])
    if job is None:
        return None
    db_option, app_option = GLOBAL["db"], GLOBAL["app_modules"]
    env_db, env_app = os.environ.get(db_option.envvar or ""), os.environ.get(app_option.envvar or "")
    # As click reads them: an empty variable counts as unset; a list option's splits on whitespace.
    db = _last(given, db_option.param) or env_db or db_option.default or ""
    app_modules = given.get(app_option.param) or (env_app.split() if env_app else [])
    quiet, verbose = "quiet" in given, "verbose" in given
    db_given = _last(given, db_option.param) is not None or bool(env_db)
    try:
        settings.reset(db=db, app_modules=tuple(app_modules), quiet=quiet, verbose=verbose, db_given=db_given)
        load_app()
        job()
    except (KeyboardInterrupt, BrokenPipeError, EsctlError) as error:
        from esctl.cli.status import exit_status

        return exit_status(error)
    return 0


def _parse(argv: Sequence[str]) -> tuple[Values, str, Values, list[str]] | None:
    """Split ``[global options] COMMAND [options and arguments]``, or return ``None``.

    Returns:
        The global options, the command (``dump`` or ``append``), its options, its arguments.
    """
    given: Values = {}
    rest = _options(argv, _GLOBAL_VALUES, _GLOBAL_FLAGS, given, interspersed=False)
    if not rest or rest[0] not in ("dump", "append"):
        return None
    command, values = rest[0], Values()
    valued, flags = _TABLES[command]
    arguments = 0 if command == "dump" else 1
    positional = _options(rest[1:], valued, flags, values, interspersed=True)
    if positional is None or len(positional) != arguments:
        return None  # an option the command does not know, or arguments it does not take
    repeatable, least = _REPEATABLE[command], _LEAST[command]
    for name, given_values in values.items():
        if name not in repeatable and len(given_values) > 1:
            values[name] = given_values[-1:]  # click keeps the last value of an option given twice
        if name in least and not all(_integer(v, least[name]) for v in given_values):
            return None
    return given, command, values, positional


def _options(
    args: Sequence[str], valued: dict[str, str], flags: dict[str, str], into: Values, *, interspersed: bool
) -> list[str] | None:
    """Collect ``--name value``, ``--name=value`` and flags into ``into``.

    Args:
        interspersed: Arguments may stand between the options (a command's own); otherwise the
            first argument ends the options (the global ones, before the command).

    Returns:
        The arguments, in order (with everything after the first one when not
        ``interspersed``), or ``None`` for anything this module does not take: an unknown
        option, a missing or empty value, a value that looks like an option, ``--``, a short
        option with its value attached (``-n5``, ``-n=5``).
    """
    arguments: list[str] = []
    index = 0
    while index < len(args):
        arg = args[index]
        if arg == "-" or not arg.startswith("-"):
            if not interspersed:
                return list(args[index:])
            arguments.append(arg)
            index += 1
            continue
        # Like click: only a long option takes ``=value``; a short one keeps "=" in its value.
        name, equals, value = arg.partition("=") if arg.startswith("--") else (arg, "", "")
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
    return arguments


def _integer(text: str, least: int) -> bool:
    """True when ``text`` is a plain decimal integer of at least ``least`` (and a sane length)."""
    return text.isascii() and text.isdigit() and len(text) <= 18 and int(text) >= least


def _last(values: dict[str, list[str]], name: str) -> str | None:
    given = values.get(name)
    return given[-1] if given else None


def _dump_job(values: Values) -> Callable[[], None] | None:
    """Return the work of ``dump`` with these options, or ``None`` for a format left to Typer."""
    fmt = (_last(values, "fmt") or ("" if sys.stdout.isatty() else "ndjson")).lower()
    if fmt not in ("ndjson", "json"):
        return None  # a table (the default on a terminal) or CSV: the Typer command renders those
    return lambda: _dump(values, array=fmt == "json")


def _append_job(values: Values, file: str) -> Callable[[], None] | None:
    """Return the work of ``append FILE`` with these options, or ``None`` to leave it to Typer."""
    from esctl.cli.importing import AppendOptions, SummaryFormat, append_input, parse_expected, report_append

    fmt = (_last(values, "fmt") or "text").lower()
    if fmt not in ("text", "json"):
        return None
    try:
        expected = parse_expected(_last(values, "expected_version"))
    except ValueError:
        return None  # Typer words it as a bad --expected-version
    batch_size, max_line_bytes = _last(values, "batch_size"), _last(values, "max_line_bytes")
    options = AppendOptions(
        expected,
        strict="strict" in values,
        batch_size=None if batch_size is None else int(batch_size),
        allow_empty="allow_empty" in values,
        allow_future="allow_future" in values,
        max_line_bytes=None if max_line_bytes is None else int(max_line_bytes),
        dry_run="dry_run" in values,
    )

    def append() -> None:
        report_append(append_input(file, options), SummaryFormat(fmt))

    return append


def _dump(values: Values, *, array: bool) -> None:
    """Write the selected events to stdout, a page at a time, exactly as ``esctl dump`` does."""
    from esctl.cli.dumping import dump_lines
    from esctl.cli.selection import EventFilter

    def number(name: str) -> int | None:
        text = _last(values, name)
        return None if text is None else int(text)

    options = EventFilter(
        tenants=values.get("tenant"),
        aggregate_type=_last(values, "aggregate_type"),
        aggregate_id=_last(values, "aggregate_id"),
        types=values.get("types"),
        since=_last(values, "since"),
        until=_last(values, "until"),
        from_position=number("from_position"),
        to_position=number("to_position"),
        limit=number("limit"),
        no_tenant="no_tenant" in values,
    ).to_read_options()
    dump_lines(options, array=array, tenantless="no_tenant" in values)
