"""Event stores: ``open_store`` picks a backend by its target; the interface is ``EventStore``.

Nothing but ``open_store`` imports a backend, and it imports only the one it opens, on first
use: the command line (``--db``) and the library open every store through it.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from esctl.store.interface import EventStore

SCHEMES: dict[str, str] = {
    "sqlite": "a file path, or sqlite:///PATH (sqlite:////ABSOLUTE/PATH)",
    "memory": "memory: (an empty in-memory store, gone when the process ends)",
    "postgresql": "postgresql://USER:PASSWORD@HOST/DATABASE (or postgres://; needs esctl[postgres])",
}
"""The store schemes this esctl opens, with how each is written."""

POSTGRES_SCHEMES = frozenset({"postgresql", "postgres"})
"""The schemes of the PostgreSQL store."""

_URL = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*):")
_PASSWORD = re.compile(r"^(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^/@:]*:)(?P<password>[^/@]*)(?P<tail>@.*)$", re.S)


def describe(target: str | os.PathLike[str]) -> str:
    """Return ``target`` as it may be shown to a person: a URL's password becomes ``***``.

    Example:
        >>> describe("postgresql://app:secret@db/events")
        'postgresql://app:***@db/events'
    """
    text = os.fspath(target)
    return _PASSWORD.sub(r"\g<head>***\g<tail>", text)


def scheme_of(target: str | os.PathLike[str]) -> str:
    """Return the scheme a target names: ``sqlite`` for a plain path, else the URL's scheme.

    A drive letter (``C:\\events.db``) is a path, not a scheme.
    """
    text = os.fspath(target)
    match = _URL.match(text)
    if match is None or len(match["scheme"]) == 1:
        return "sqlite"
    return match["scheme"].lower()


def open_store(target: str | os.PathLike[str], *, readonly: bool = False, create: bool = True) -> EventStore:
    """Open the event store ``target`` names, importing only its backend.

    Args:
        target: A file path or ``sqlite:///PATH`` (the SQLite store), ``memory:``, or a
            ``postgresql://`` / ``postgres://`` URL (the PostgreSQL store, libpq's URL syntax;
            its current schema holds the store).
        readonly: Open for reading only: nothing is created or changed, a missing store is
            ``DatabaseNotFoundError``.
        create: When writing, create the store (and its schema) if it does not exist; when
            False, a missing store is ``DatabaseNotFoundError`` and something that is not an
            esctl store is refused unchanged.

    Returns:
        The store, not yet connected (it connects on first use; ``async with`` closes it).

    Raises:
        UsageError: The target names a scheme this esctl does not open (exit code 2); the
            message names the schemes it does, and never shows a password.
        DatabaseUnusableError: A PostgreSQL target, and psycopg is not installed (exit code 7).

    Example:
        >>> store = open_store("memory:")
        >>> # async with open_store("sqlite:///events.db") as store: ...
    """
    text = os.fspath(target)
    scheme = scheme_of(text)
    if scheme == "memory":
        from esctl.store.memory import InMemoryEventStore

        return InMemoryEventStore()
    if scheme == "sqlite":
        from esctl.store.sqlite import SQLiteEventStore

        return SQLiteEventStore(_sqlite_path(text), readonly=readonly, create=create)
    if scheme in POSTGRES_SCHEMES:
        try:
            from esctl.store.postgres import PostgresEventStore
        except ImportError:
            from esctl.errors import DatabaseUnusableError

            raise DatabaseUnusableError(
                f"the PostgreSQL store ({describe(text)}) needs psycopg, which is not installed",
                hint="pip install 'esctl[postgres]'",
            ) from None
        return PostgresEventStore(text, readonly=readonly, create=create)
    from esctl.errors import UsageError

    known = "; ".join(SCHEMES.values())
    raise UsageError(f"unknown store scheme '{scheme}:' in {describe(text)}", hint=f"use {known}")


def _sqlite_path(text: str) -> str:
    """The file a SQLite target names: the text itself, or the path of ``sqlite:///PATH``."""
    if _URL.match(text) is None or scheme_of(text) != "sqlite":
        return text
    from esctl.errors import UsageError

    prefix = text[: len("sqlite:///")].lower()
    path = text[len("sqlite:///") :]
    if prefix != "sqlite:///" or not path:
        raise UsageError(
            f"cannot read a file path from {describe(text)}",
            hint="write sqlite:///relative/path.db or sqlite:////absolute/path.db",
        )
    return path


__all__ = ["SCHEMES", "describe", "open_store", "scheme_of"]
