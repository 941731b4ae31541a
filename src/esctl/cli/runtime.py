"""What every command shares: the global settings, the store, the user's app, running a coroutine.

Only the standard library is imported at module level (start-up speed); the library, rich and
asyncio are imported by the functions that need them.
"""

from __future__ import annotations

import sys
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from rich.console import Console

    from esctl.errors import EsctlError
    from esctl.store.sqlite import SQLiteEventStore

T = TypeVar("T")


@dataclass
class Settings:
    """The global options of this invocation (reset by the app callback on every run)."""

    db: Path = Path("events.db")
    app_modules: tuple[str, ...] = ()
    quiet: bool = False
    verbose: bool = False
    _console: Console | None = field(default=None, repr=False)
    _app_loaded: bool = field(default=False, repr=False)

    def reset(self, *, db: Path, app_modules: tuple[str, ...], quiet: bool, verbose: bool) -> None:
        """Start a new invocation with these global options."""
        self.db = db
        self.app_modules = app_modules
        self.quiet = quiet
        self.verbose = verbose
        self._console = None
        self._app_loaded = False

    @property
    def console(self) -> Console:
        """A rich console on stderr, for everything meant for humans."""
        if self._console is None:
            from rich.console import Console

            self._console = Console(stderr=True, highlight=False, color_system=None if self.quiet else "auto")
        return self._console

    @property
    def show_progress(self) -> bool:
        """True when progress bars are wanted: stderr is a terminal and ``-q`` was not given."""
        return not self.quiet and sys.stderr.isatty()


settings = Settings()


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run one coroutine to completion: the single async entry point of every command.

    Ctrl-C cancels the coroutine at its next ``await`` and ends in ``KeyboardInterrupt``,
    which Typer turns into exit code 130.
    """
    import asyncio

    return asyncio.run(coroutine)


def report_error(error: EsctlError) -> None:
    """Print ``Error: <what> — <hint>`` on one line to stderr."""
    message = f"Error: {error.message}"
    if error.hint:
        message += f" — {error.hint}"
    print(message.replace("\n", " "), file=sys.stderr)


def note(message: str) -> None:
    """Print a message for humans on stderr, unless ``-q``."""
    if not settings.quiet:
        print(message, file=sys.stderr)


def load_app() -> list[str]:
    """Import the user's modules (``--app``, ``ESCTL_APP`` or ``[tool.esctl] app``), once.

    Returns:
        The names of the modules imported (empty when there is nothing to load).
    """
    if settings._app_loaded:
        return []
    from esctl.app import load_app as load

    loaded = load(settings.app_modules, cwd=Path.cwd())
    settings._app_loaded = True
    return loaded


def open_store(*, readonly: bool) -> SQLiteEventStore:
    """Return the store at ``--db``; a read-only one never creates a file (missing: exit 5)."""
    from esctl.store.sqlite import SQLiteEventStore

    return SQLiteEventStore(settings.db, readonly=readonly)


def stdout_is_terminal() -> bool:
    """True when stdout is an interactive terminal (tables then, NDJSON when piped)."""
    return sys.stdout.isatty()
