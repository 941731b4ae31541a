"""The ``esctl`` command line: a thin Typer layer over the library.

``main()`` is the console script. It runs the Typer app and turns esctl errors into one line on
stderr and the exit code documented for them (README, "Exit codes").
"""

from __future__ import annotations

import sys
import traceback

from esctl.cli import demo, events, inspect, maintenance, projections  # noqa: F401  (registers commands)
from esctl.cli.app import app
from esctl.cli.runtime import report_error, settings


def main() -> None:
    """Run the esctl command line and exit with its documented exit code."""
    from esctl.errors import EsctlError

    try:
        app(prog_name="esctl")
    except EsctlError as error:
        if settings.verbose:
            traceback.print_exc()
        report_error(error)
        sys.exit(error.exit_code)
    except BrokenPipeError:
        # The reader went away (`esctl dump | head`): not an error of ours.
        sys.stderr.close()
        sys.exit(0)
    except Exception as error:
        if settings.verbose:
            traceback.print_exc()
        print(f"Error: unexpected {type(error).__name__}: {error} — run with -v for a traceback", file=sys.stderr)
        sys.exit(1)


__all__ = ["app", "main"]
