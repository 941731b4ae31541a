"""The ``esctl`` command line: a thin Typer layer over the library.

``main()`` is the console script. Esctl errors become one line on stderr and the exit code
documented for them (README, "Exit codes") inside the app itself (``EsctlGroup``); anything
else that escapes is an internal error, exit code 1.
"""

from __future__ import annotations

import sys
import traceback

from esctl.cli import demo, events, inspect, maintenance, projections  # noqa: F401  (registers commands)
from esctl.cli.app import app
from esctl.cli.runtime import settings


def main() -> None:
    """Run the esctl command line and exit with its documented exit code."""
    try:
        app(prog_name="esctl")
    except Exception as error:
        if settings.verbose:
            traceback.print_exc()
        message = f"Error: unexpected {type(error).__name__}: {error}".replace("\n", " ")
        print(f"{message} — run with -v for a traceback", file=sys.stderr)
        sys.exit(1)


__all__ = ["app", "main"]
