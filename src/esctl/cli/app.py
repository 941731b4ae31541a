"""The Typer application, its global options, and the one place errors become exit codes.

Only ``typer`` and the standard library are imported at module level: ``esctl --version`` and
``--help`` must start as fast as Typer itself. Commands import the library inside their bodies.

Help texts are Markdown (``rich_markup_mode="markdown"``): paragraphs are wrapped to the
terminal, and examples are indented code blocks, shown line by line.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any, NoReturn

import typer
from typer import _click
from typer.core import TyperGroup

from esctl.cli.filters import typer_option
from esctl.cli.runtime import load_app, settings
from esctl.cli.spec import GLOBAL
from esctl.errors import ExitStatus

HELP = f"""Administer an esctl event store (SQLite, or memory: to try things) and its projections.

Data goes to stdout; messages and progress go to stderr. Exit codes: {ExitStatus.summary()}.

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

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: _click.Context | None = None,
        **extra: Any,
    ) -> _click.Context:
        # The global options are parsed here, before any command runs.
        try:
            return super().make_context(info_name, args, parent, **extra)
        except _click.exceptions.UsageError as error:
            _exit_on_usage_error(error, info_name or "esctl")

    def invoke(self, ctx: _click.Context) -> Any:
        from esctl.errors import EsctlError

        # Click's parser raises some usage errors without a context; name the command anyway.
        args = [*ctx._protected_args, *ctx.args]
        command_path = _command_path(ctx, args)
        # A command's --help needs no user modules; everything else loads them up front.
        ctx.meta[_HELP_ONLY] = any(arg in ("-h", "--help") for arg in args)
        try:
            return super().invoke(ctx)
        except _click.exceptions.UsageError as error:
            # A command's own options are parsed here (and nested groups' commands too).
            _exit_on_usage_error(error, command_path)
        except (EsctlError, BrokenPipeError) as error:
            from esctl.cli.status import exit_status

            raise typer.Exit(exit_status(error)) from None


_HELP_ONLY = "esctl.help_only"

GLOBAL_OPTIONS = frozenset({"--db", "--app", "-q", "--quiet", "-v", "--verbose"})
"""The global options: an unknown option among them, after the command, is one given too late."""


def _command_path(ctx: _click.Context, args: list[str]) -> str:
    """Return ``esctl <command> [<subcommand>]`` as far as ``args`` name commands."""
    words = [ctx.command_path]
    command: _click.Command | None = ctx.command
    for arg in args:
        if not isinstance(command, TyperGroup):
            break
        command = command.get_command(ctx, arg)
        if command is None:
            break
        words.append(arg)
    return " ".join(words)


def _exit_on_usage_error(error: _click.exceptions.UsageError, command_path: str) -> NoReturn:
    """Print a command-line usage error as one ``Error: <what> — <hint>`` line; exit 2.

    Click's own rendering (usage line, hint, a boxed message) is five lines; the README
    promises one, like every other esctl error. ``esctl`` alone still shows the help.
    """
    if isinstance(error, _click.exceptions.NoArgsIsHelpError):
        raise error  # Typer prints the help for it
    command = error.ctx.command_path if error.ctx is not None else command_path
    hint = f"see '{command} --help'"
    if isinstance(error, _click.exceptions.NoSuchOption) and error.option_name in GLOBAL_OPTIONS:
        hint = "global options go before the command: esctl --db PATH <command>"
    # Typer coerces values with pydantic, whose validators' messages start "Value error, ".
    text = error.format_message().rstrip(".").replace("Value error, ", "")
    message = f"Error: {text} — {hint}"
    from esctl.cli.runtime import one_line

    print(one_line(message), file=sys.stderr)
    raise typer.Exit(error.exit_code)


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
    ctx: typer.Context,
    db: Annotated[str, typer_option(GLOBAL["db"])] = GLOBAL["db"].default or "",
    app_modules: Annotated[list[str] | None, typer_option(GLOBAL["app_modules"])] = None,
    quiet: Annotated[bool, typer_option(GLOBAL["quiet"])] = False,
    verbose: Annotated[bool, typer_option(GLOBAL["verbose"])] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """Global options, given before the command."""
    source = ctx.get_parameter_source("db")
    given = source is not None and source.name in ("COMMANDLINE", "ENVIRONMENT")
    settings.reset(db=db, app_modules=tuple(app_modules or ()), quiet=quiet, verbose=verbose, db_given=given)
    if not ctx.resilient_parsing and not ctx.meta.get(_HELP_ONLY, False):
        # Every command imports the user's modules first, so a wrong --app (a typo, a module
        # that raises) fails every command, not only the ones that use the event classes.
        load_app()
