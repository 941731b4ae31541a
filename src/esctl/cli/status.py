"""The one function from an exception to the process's exit status.

Used alike by the Typer application (``EsctlGroup``), the quick path and ``main()``, so that an
error reads and exits the same whichever path met it. The codes are ``esctl.errors.ExitStatus``.
"""

from __future__ import annotations

import os
import sys
import traceback

from esctl.cli.runtime import one_line, report_error, settings
from esctl.errors import EsctlError, ExitStatus


def exit_status(error: BaseException) -> ExitStatus:
    """Report ``error`` the way esctl does and return the status to exit with.

    - an esctl error: ``Error: <what> — <hint>`` on one line, its documented code;
    - a closed stdout (``esctl dump | head``): not an error, nothing said, 0;
    - Ctrl-C: 130;
    - anything else: ``Error: unexpected …``, 1.

    With ``-v`` a traceback precedes the line.
    """
    if isinstance(error, KeyboardInterrupt):
        return ExitStatus.INTERRUPTED
    if isinstance(error, BrokenPipeError):
        # The reader went away. Point stdout at /dev/null so the interpreter's final flush does
        # not complain a second time.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return ExitStatus.OK
    if settings.verbose:
        traceback.print_exception(error)
    if isinstance(error, EsctlError):
        report_error(error)
        return error.exit_code
    message = one_line(f"Error: unexpected {type(error).__name__}: {error}")
    print(f"{message} — run with -v for a traceback", file=sys.stderr)
    return ExitStatus.INTERNAL
