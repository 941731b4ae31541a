"""What every command shares: the global settings, the store, the user's app, running a coroutine.

Only the standard library is imported at module level (start-up speed); the library, rich and
asyncio are imported by the functions that need them.
"""

from __future__ import annotations

import sys
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from rich.console import Console

    from esctl.errors import EsctlError
    from esctl.projections.registry import ProjectionRegistry
    from esctl.store.interface import EventStore

T = TypeVar("T")


@dataclass
class Settings:
    """The global options of this invocation (reset by the app callback on every run)."""

    db: str = "events.db"
    app_modules: tuple[str, ...] = ()
    quiet: bool = False
    verbose: bool = False
    _console: Console | None = field(default=None, repr=False)
    _app_loaded: list[str] | None = field(default=None, repr=False)

    def reset(
        self, *, db: str, app_modules: tuple[str, ...], quiet: bool, verbose: bool, db_given: bool = True
    ) -> None:
        """Start a new invocation with these global options.

        Args:
            db_given: ``db`` came from ``--db`` or ``ESCTL_DB``; when False, ``db`` under
                ``[tool.esctl]`` in ``./pyproject.toml`` names the store, if it is there.
        """
        if not db_given:
            from esctl.app import configured_db

            db = configured_db(Path.cwd()) or db
        self.db = db
        self.app_modules = app_modules
        self.quiet = quiet
        self.verbose = verbose
        self._console = None
        self._app_loaded = None

    @property
    def shown_db(self) -> str:
        """``--db`` as messages show it: a URL's password masked (``esctl.store.describe``)."""
        from esctl.store import describe

        return describe(self.db)

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
    """Print ``Error: <what> — <hint>`` on one line to stderr (a hint for the exit code when the
    error has none of its own: every error says what to do next)."""
    hint = error.hint or _DEFAULT_HINTS.get(error.exit_code, "run with -v for details")
    print(one_line(f"Error: {error.message} — {hint}"), file=sys.stderr)


def one_line(text: str) -> str:
    """Return ``text`` as one printable line: a newline becomes a space, and any other character
    that is not printable (a form feed, U+2028, a control character from the input) its escape,
    so that a value quoted from hostile input can neither break the line nor drive the terminal."""
    text = text.replace("\n", " ")
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


_DEFAULT_HINTS: dict[int, str] = {
    2: "see 'esctl --help'",
    3: "fix the input and run again; nothing was written",
    4: "reload and retry, or drop --expected-version",
    5: "check the name; a listing command shows what there is",
    6: "retry later, or raise ESCTL_BUSY_TIMEOUT (seconds)",
    7: "check the --db path and the file",
    8: "`esctl verify` or `esctl projections` shows the details",
}
"""The hint of an error that brings none, by exit code (``esctl.errors.ExitStatus``)."""


def note(message: str) -> None:
    """Print a message for humans on stderr, unless ``-q``."""
    if not settings.quiet:
        print(message, file=sys.stderr)


def load_projections() -> ProjectionRegistry:
    """Load the user's modules and return the projections they (and the built-ins) register."""
    modules = load_app()
    from esctl.projections.registry import default_projections

    for module_name in modules:
        module = sys.modules.get(module_name)
        if module is not None:
            default_projections.register_module(module)
    return default_projections


def load_app() -> list[str]:
    """Import the user's modules (``--app``, ``ESCTL_APP`` or ``[tool.esctl] app``), once.

    Safe to call again (the app callback loads them before every command, a command may ask
    again for their names): later calls import nothing and return the same names.

    Returns:
        The names of the modules imported (empty when there is nothing to load).
    """
    if settings._app_loaded is None:
        from esctl.app import load_app as load

        settings._app_loaded = load(settings.app_modules, cwd=Path.cwd())
    return list(settings._app_loaded)


def open_store(*, readonly: bool, create: bool = True) -> EventStore:
    """Return the store ``--db`` names (a path or a URL; ``esctl.store.open_store``).

    Only ``init``, ``append`` and ``demo`` create a store. Every other command opens an existing
    one: read-only (``readonly=True``), or read-write with ``create=False`` — then a missing
    store is exit 5 (the message the read commands give) and a database without esctl's schema
    is exit 7, so a mistyped ``--db`` never becomes a new empty store.

    Raises:
        UsageError: ``--db`` names a scheme this esctl does not open.
    """
    from esctl.store import open_store as open_target

    if not str(settings.db).strip():
        from esctl.errors import UsageError

        # An empty path opened the current directory: "disk I/O error", exit 7.
        raise UsageError("--db (or ESCTL_DB) is empty", hint="give --db a file path or URL, or unset ESCTL_DB")
    return open_target(settings.db, readonly=readonly, create=create)


def plural(count: int, noun: str) -> str:
    """Return ``"1 event"``, ``"1,200 events"``."""
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def stdout_is_terminal() -> bool:
    """True when stdout is an interactive terminal (tables then, NDJSON when piped)."""
    return sys.stdout.isatty()


def stdout_bytes() -> IO[bytes]:
    """Return stdout as a binary stream (data is written as bytes, never re-encoded)."""
    import io

    buffer = getattr(sys.stdout, "buffer", None)
    return buffer if buffer is not None else io.BytesIO()
