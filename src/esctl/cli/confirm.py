"""Asking before destructive work: the one confirmation every ``--yes`` command shares."""

from __future__ import annotations

import sys

import typer

from esctl.errors import UsageError


def confirm(action: str, question: str, *, otherwise: str | None = None) -> None:
    """Ask ``question`` on the terminal before ``action``; go on only on a yes.

    Declining, Ctrl-D/Ctrl-C at the prompt, or no terminal to ask on (a script: it passes
    ``--yes``) is a usage error, exit 2, and nothing is done.

    Args:
        action: What would be done, for the messages ("purging tenant …").
        question: The question shown on the terminal.
        otherwise: A second way out for the hint ("--dry-run to see what would go").

    Raises:
        UsageError: Not confirmed.
    """
    hint = "pass --yes to skip the question"
    if not sys.stdin.isatty():
        raise UsageError(
            f"{action} needs confirmation and stdin is not a terminal",
            hint=f"{hint}, or {otherwise}" if otherwise else hint,
        )
    try:
        confirmed = typer.confirm(question, err=True)
    except typer.Abort:
        confirmed = False
    if not confirmed:
        raise UsageError(f"{action} declined", hint=hint)
