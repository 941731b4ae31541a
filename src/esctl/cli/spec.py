"""The options of the global command line, ``dump`` and ``append``, declared once as plain data.

Both parsers are built from these declarations: the Typer commands (``typer_option`` in
``esctl.cli.options``) and the quick path (``esctl.cli.quick``), which answers the hot command
lines without importing Typer. So a name, an alias, a minimum, an environment variable or a
default cannot differ between the two; a test also checks that every option the Typer commands
take is declared here. Only the standard library is imported: the quick path reads this first.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Opt:
    """One command-line option.

    Attributes:
        param: The command function's parameter (and the quick path's key) for it.
        flags: Its names, long first (``--tenant``, ``-t``).
        help: The help text.
        metavar: How ``--help`` shows its value.
        flag: True when it takes no value (a switch).
        repeatable: True when it may be given several times, each value kept.
        minimum: For an integer option, its least allowed value (``None``: not an integer).
        envvar: The environment variable that gives its value when the option is absent.
        default: Its value when neither the option nor the variable is given.
        quick: False for an option the quick path leaves to Typer: a command line using it is
            declined.
    """

    param: str
    flags: tuple[str, ...]
    help: str
    metavar: str | None = None
    flag: bool = False
    repeatable: bool = False
    minimum: int | None = None
    envvar: str | None = None
    default: str | None = None
    quick: bool = True


def _table(*options: Opt) -> dict[str, Opt]:
    return {option.param: option for option in options}


GLOBAL = _table(
    Opt(
        "db",
        ("--db",),
        "The event store: a file path (SQLite), sqlite:///PATH, postgresql://USER:PW@HOST/DB, or memory:.",
        metavar="PATH|URL",
        envvar="ESCTL_DB",
        default="events.db",
    ),
    Opt(
        "app_modules",
        ("--app",),
        "Python module or .py file that registers your event classes and projections; "
        "repeatable (default: app in [tool.esctl] of ./pyproject.toml).",
        metavar="MODULE",
        repeatable=True,
        envvar="ESCTL_APP",
    ),
    Opt("quiet", ("--quiet", "-q"), "No progress bars or summaries.", flag=True),
    Opt("verbose", ("--verbose", "-v"), "More detail; tracebacks on errors.", flag=True),
)
"""The global options, given before the command (``--version`` is answered before any parsing)."""

DUMP = _table(
    Opt("tenant", ("--tenant", "-t"), "Only this tenant's events; repeat for several.", "UUID", repeatable=True),
    Opt("aggregate_type", ("--aggregate-type",), "Only streams of this aggregate type.", "TYPE"),
    Opt("aggregate_id", ("--aggregate-id",), "Only this aggregate's events.", "UUID"),
    Opt("types", ("--type",), "Only events of this type; repeat for several.", "EVENT_TYPE", repeatable=True),
    Opt("no_tenant", ("--no-tenant",), "Only events without a tenant (not with --tenant).", flag=True),
    Opt(
        "since",
        ("--since",),
        "Only events that occurred at or after WHEN: ISO 8601 with offset "
        "(2026-11-01T08:00:00Z) or a duration ago (90m, 24h, 7d).",
        "WHEN",
    ),
    Opt("until", ("--until",), "Only events that occurred before WHEN (same forms as --since).", "WHEN"),
    Opt("from_position", ("--from-position",), "First global position (inclusive).", "INTEGER", minimum=1),
    Opt("to_position", ("--to-position",), "Last global position (inclusive).", "INTEGER", minimum=1),
    Opt("limit", ("--limit", "-n"), "At most this many events.", "INTEGER", minimum=0),
    Opt(
        "fmt",
        ("--format", "-f"),
        "table (default on a terminal), ndjson (default when piped), json (one array) or csv.",
    ),
)
"""``esctl dump``'s options (its event filters are also those of ``replay``)."""

APPEND = _table(
    Opt("event_type", ("--type",), "Append one event of this type from flags.", "EVENT_TYPE", quick=False),
    Opt("aggregate_type", ("--aggregate-type",), "With --type: the stream's aggregate type.", "TYPE", quick=False),
    Opt(
        "aggregate_id",
        ("--aggregate-id",),
        "With --type: the stream (default: a new aggregate).",
        "UUID",
        quick=False,
    ),
    Opt("tenant", ("--tenant", "-t"), "With --type: the tenant.", "UUID", quick=False),
    Opt("data", ("--data",), "With --type: the payload, a JSON object.", "JSON", quick=False),
    Opt("occurred_at", ("--occurred-at",), "With --type: when it happened (default: now).", "WHEN", quick=False),
    Opt("event_id", ("--event-id",), "With --type: the event id (default: a new one).", "UUID", quick=False),
    Opt(
        "expected_version",
        ("--expected-version",),
        "Each stream the input touches must be at this version first (exit 4 if not).",
        "N|no-stream|exists|any",
    ),
    Opt("strict", ("--strict",), "Refuse event types no --app class registers.", flag=True),
    Opt(
        "batch_size",
        ("--batch-size",),
        "Commit every N events (each chunk atomic) instead of the whole input at once.",
        "N",
        minimum=1,
    ),
    Opt("allow_empty", ("--allow-empty",), "An input without events is not an error.", flag=True),
    Opt("allow_future", ("--allow-future",), "Accept occurred_at more than a day ahead of now.", flag=True),
    Opt(
        "dry_run",
        ("--dry-run",),
        "Check the input against the store and say what would be appended or skipped; write nothing.",
        flag=True,
    ),
    Opt(
        "max_line_bytes",
        ("--max-line-bytes",),
        "The longest input line accepted, and the largest JSON-array input (default 8 MiB).",
        "BYTES",
        minimum=1,
    ),
    Opt("fmt", ("--format", "-f"), "text summary on stderr, or json on stdout."),
)
"""``esctl append``'s options; those marked ``quick=False`` describe an event given as flags."""

COMMANDS: dict[str, dict[str, Opt]] = {"dump": DUMP, "append": APPEND}
"""The commands the quick path may answer, with their options."""
