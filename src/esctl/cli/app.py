"""The Typer application, its global options, and the one place errors become exit codes.

Only ``typer`` and the standard library are imported at module level: ``esctl --version`` and
``--help`` must start as fast as Typer itself. Commands import the library inside their bodies.

Help texts are Markdown (``rich_markup_mode="markdown"``): paragraphs are wrapped to the
terminal, and examples are indented code blocks, shown line by line.
"""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path
from typing import Annotated, Any

import typer
from typer import _click
from typer.core import TyperGroup

from esctl.cli.runtime import report_error, settings

HELP = """Administer an esctl event store (SQLite) and its projections.

Data goes to stdout; messages and progress go to stderr. Exit codes: 0 ok, 1 internal error,
2 usage, 3 invalid input, 4 version conflict, 5 not found, 6 database busy, 7 database unusable,
8 verification or projection failure, 130 interrupted.

**Examples**

    esctl --db demo.db demo
    esctl --db demo.db dump --tenant 00000000-0000-4000-8000-00000000000a --since 7d
    esctl --db prod.db --app myapp.events verify
"""


class EsctlGroup(TyperGroup):
    """The top-level command group: turns esctl errors into ``Error: …`` and their exit code.

    Doing it here rather than around ``app()`` means Typer's ``CliRunner`` sees the same exit
    codes and messages as a real process.
    """

    def invoke(self, ctx: _click.Context) -> Any:
        from esctl.errors import EsctlError

        try:
            return super().invoke(ctx)
        except EsctlError as error:
            if settings.verbose:
                traceback.print_exc()
            report_error(error)
            raise typer.Exit(error.exit_code) from None
        except BrokenPipeError:
            # The reader went away (`esctl dump | head`): not an error of ours. Point stdout at
            # /dev/null so the interpreter's final flush does not complain a second time.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            raise typer.Exit(0) from None


app = typer.Typer(
    name="esctl",
    help=HELP,
    cls=EsctlGroup,
    rich_markup_mode="markdown",
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
            metavar="MODULE",
            help="Python module or .py file that registers your event classes and projections; "
            "repeatable (default: app in [tool.esctl] of ./pyproject.toml).",
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
    settings.reset(db=db, app_modules=tuple(app_modules or ()), quiet=quiet, verbose=verbose)
