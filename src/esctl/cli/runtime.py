"""What every command shares: the global settings, running a coroutine, reporting errors."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from rich.console import Console

    from esctl.errors import EsctlError

T = TypeVar("T")


@dataclass
class Settings:
    """The global options of this invocation."""

    db: Path = Path("events.db")
    app_modules: tuple[str, ...] = ()
    quiet: bool = False
    verbose: bool = False
    _console: Console | None = field(default=None, repr=False)

    @property
    def console(self) -> Console:
        """A rich console on stderr, for everything meant for humans."""
        if self._console is None:
            from rich.console import Console

            self._console = Console(stderr=True)
        return self._console


settings = Settings()


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run one coroutine to completion: the single async entry point of every command."""
    return asyncio.run(coroutine)


def report_error(error: EsctlError) -> None:
    """Print ``Error: <what> — <hint>`` on one line to stderr."""
    message = f"Error: {error.message}"
    if error.hint:
        message += f" — {error.hint}"
    print(message, file=sys.stderr)
