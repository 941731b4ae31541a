"""The ``esctl`` command line: a thin Typer layer over the library.

``main()`` is the console script. It offers the command line to ``quick`` first (``dump`` as
NDJSON or JSON, ``append FILE|-`` and ``--version``, answered without importing Typer) and
otherwise runs the Typer application, ``app``, which is built on first use. Esctl errors become one line on stderr
and the exit code documented for them (README, "Exit codes"); every path turns an exception into
its status with one function, ``esctl.cli.status.exit_status``.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import typer


def main() -> None:
    """Run the esctl command line and exit with its documented exit code."""
    try:
        from esctl.cli.quick import run_quick

        code = run_quick(sys.argv[1:])
        if code is not None:
            sys.exit(code)
        typer_app()(prog_name="esctl")
    except SystemExit as exit:
        if exit.code not in (0, None) and _closed_stdout(exit.__context__):
            # Rich (tables, help) and click meet a closed stdout on their own and exit 1 with
            # nothing said; a reader that went away (``esctl stats | head -1``) is not an error.
            from esctl.cli.status import exit_status

            sys.exit(exit_status(BrokenPipeError()))
        raise
    except Exception as error:
        from esctl.cli.status import exit_status

        sys.exit(exit_status(error))


def _closed_stdout(error: BaseException | None) -> bool:
    """True when ``error`` is a write to a pipe whose reader has gone."""
    import errno

    return isinstance(error, OSError) and error.errno == errno.EPIPE


def typer_app() -> typer.Typer:
    """Return the Typer application with every command registered."""
    from esctl.cli import demo, erasure, events, inspect, maintenance, projections, snapshots  # noqa: F401  (registers commands)
    from esctl.cli.app import app

    # Importing the submodule ``esctl.cli.app`` bound the package's ``app`` to the module:
    # bind it to the application, as ``from esctl.cli import app`` promises.
    globals()["app"] = app
    return app


def __getattr__(name: str) -> Any:
    # ``from esctl.cli import app`` (tests, embedding) gets the full application.
    if name == "app":
        return typer_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["app", "main", "typer_app"]
