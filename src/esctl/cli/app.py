"""The Typer application and its global options.

Only ``typer`` and the standard library are imported at module level: ``esctl --version`` and
``--help`` must start as fast as Typer itself. Commands import the library inside their bodies.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from esctl.cli.runtime import settings

HELP = """Administer an esctl event store (SQLite) and its projections.

Data goes to stdout, messages and progress to stderr. Exit codes: 0 ok, 1 internal error,
2 usage, 3 invalid input, 4 version conflict, 5 not found, 6 database busy, 7 database unusable,
8 verification or projection failure, 130 interrupted.

Example: esctl --db events.db dump --tenant 3f0c… --since 24h --format ndjson
"""

app = typer.Typer(
    name="esctl",
    help=HELP,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    if value:
        from esctl import __version__

        typer.echo(f"esctl {__version__}")
        raise typer.Exit()


@app.callback()
def global_options(
    db: Annotated[
        Path,
        typer.Option("--db", envvar="ESCTL_DB", help="The SQLite event store file.", show_envvar=True),
    ] = Path("events.db"),
    app_modules: Annotated[
        list[str] | None,
        typer.Option(
            "--app",
            envvar="ESCTL_APP",
            show_envvar=True,
            help="Python module(s) that register your event classes and projections "
            "(default: [tool.esctl] app in ./pyproject.toml).",
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or summaries.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="More detail; tracebacks on errors.")] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """Global options, given before the command."""
    settings.db = db
    settings.app_modules = tuple(app_modules or ())
    settings.quiet = quiet
    settings.verbose = verbose
