"""Opening SQLite connections the way esctl needs them, and driver errors turned into esctl errors.

No event loop here: ``worker.Worker`` runs a store's calls on a connection's own thread, and
the CLI's quick ``dump`` opens a connection directly.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote

from esctl.errors import (
    DatabaseBusyError,
    DatabaseNotFoundError,
    DatabaseUnusableError,
    EsctlError,
)

T = TypeVar("T")


MEMORY = ":memory:"
"""The database name of a private in-memory database (``SQLiteEventStore(":memory:")``)."""


def is_busy(error: sqlite3.Error) -> bool:
    """True when ``error`` says another connection holds a lock this one waited for in vain."""
    text = str(error).lower()
    return "locked" in text or "busy" in text


def translate_error(error: sqlite3.Error, path: Path) -> EsctlError:
    """Return the esctl error for a driver error raised while using the database at ``path``."""
    text = str(error).lower()
    if is_busy(error):
        return DatabaseBusyError(
            f"database {path} is locked by another writer",
            hint="retry later, or raise the timeout with ESCTL_BUSY_TIMEOUT (seconds)",
        )
    if "readonly" in text or "read-only" in text:
        return DatabaseUnusableError(f"database {path} is read-only", hint="check the file's permissions")
    if "not a database" in text or "malformed" in text or "corrupt" in text:
        return DatabaseUnusableError(f"{path} is not a usable SQLite database ({error})", hint="check the --db path")
    if "full" in text:
        return DatabaseUnusableError(f"database {path}: disk full ({error})", hint="free some disk space")
    if "unable to open" in text:
        return DatabaseUnusableError(
            f"cannot open {path} as a database ({error})", hint="check that --db names a file, not a directory"
        )
    return DatabaseUnusableError(f"database {path}: {error}")


def open_connection(path: Path, *, readonly: bool, busy_timeout: float, create: bool = True) -> sqlite3.Connection:
    """Open ``path`` for reading only (never creating it; ``open_for_reading``), or read-write.

    Args:
        create: For a read-write connection: create the file when it does not exist.

    Raises:
        DatabaseNotFoundError: The file does not exist, and is not to be created.
        DatabaseUnusableError: The path cannot be opened.
    """
    if str(path) == MEMORY:
        # A private in-memory database: it lives as long as this connection (the store's).
        return sqlite3.connect(MEMORY, isolation_level=None, check_same_thread=False)
    if (readonly or not create) and not path.exists():
        raise DatabaseNotFoundError(
            f"database {path} does not exist",
            hint="check --db / ESCTL_DB, or create it with `esctl init`",
        )
    if path.is_dir():
        # SQLite itself says "disk I/O error" (reading) or "unable to open" (writing).
        raise DatabaseUnusableError(f"{path} is a directory", hint="give --db the path of a file")
    if readonly:
        return open_for_reading(path, busy_timeout)
    if not path.parent.is_dir():
        raise DatabaseUnusableError(
            f"cannot create {path}: the directory {path.parent} does not exist",
            hint="create the directory first, or give --db a path in an existing one",
        )
    # ``mode=rwc`` creates a missing file, ``mode=rw`` never does (a file removed meanwhile).
    target = f"file:{quote(str(path.resolve()))}?mode={'rwc' if create else 'rw'}"
    # Not bound to the opening thread: it is opened on the store's worker thread, and ``close()``
    # may run on another thread once the worker has stopped.
    return sqlite3.connect(target, uri=True, isolation_level=None, timeout=busy_timeout, check_same_thread=False)


def open_for_reading(path: Path, busy_timeout: float) -> sqlite3.Connection:
    """Open an existing database so that this connection can only read, and leaves no file behind.

    Tried in order, each only when the one before cannot open the file:

    1. ``mode=rw`` with ``PRAGMA query_only``: the connection cannot write, and when it is the last
       one to close a WAL database, SQLite removes the ``-wal`` and ``-shm`` files as it does for
       any writer. A ``mode=ro`` connection cannot remove them: every read command left two
       files beside the store.
    2. ``mode=ro``: a file this process may not write (SQLite then needs a writable directory,
       or existing ``-wal`` and ``-shm`` files, for a WAL database's shared memory).
    3. ``mode=ro&immutable=1`` on read-only media: no locks and no shared memory, which is
       right only when no ``-wal`` file holds committed pages the main file lacks, so a non-empty
       ``-wal`` is an error rather than a read that would miss them.

    Raises:
        DatabaseUnusableError: Read-only media with a non-empty ``-wal`` file.
        sqlite3.Error: The file cannot be read (``translate_error`` words it).
    """
    uri = f"file:{quote(str(path.resolve()))}"
    attempts = ("mode=rw", "mode=ro", "mode=ro&immutable=1")
    for attempt, query in enumerate(attempts, start=1):
        if attempt == len(attempts):
            wal = path.with_name(path.name + "-wal")
            if wal.exists() and wal.stat().st_size > 0:
                raise DatabaseUnusableError(
                    f"{path} is on read-only media, and its {wal.name} holds changes not yet in it",
                    hint="open it once where it can be written (any esctl read does), then copy it back",
                )
        conn = sqlite3.connect(
            f"{uri}?{query}", uri=True, isolation_level=None, timeout=busy_timeout, check_same_thread=False
        )
        try:
            conn.execute("PRAGMA query_only = ON")
            conn.execute("PRAGMA schema_version").fetchone()  # reading starts here: it fails now, or not
        except sqlite3.OperationalError as error:
            conn.close()
            if attempt == len(attempts) or not _cannot_open_for_reading(error):
                raise
            continue
        except BaseException:
            conn.close()
            raise
        return conn
    raise AssertionError("unreachable")  # the last attempt returns or raises


def _cannot_open_for_reading(error: sqlite3.Error) -> bool:
    """True for the errors of a file or directory this process may not write (read-only media)."""
    text = str(error).lower()
    return "unable to open" in text or "readonly" in text or "read-only" in text


def connect(
    path: Path,
    setup: Callable[[sqlite3.Connection], object],
    *,
    readonly: bool,
    busy_timeout: float,
    create: bool = True,
    wal: bool = True,
) -> sqlite3.Connection:
    """Open ``path`` and make it ready for use: ``setup`` (check or migrate the schema), pragmas.

    Driver errors are left as they are (``translate_error`` turns them into esctl errors).

    Raises:
        DatabaseNotFoundError: ``readonly`` and the file does not exist.
        DatabaseUnusableError: The path cannot be opened, or ``setup`` refuses the database.
    """
    conn = open_connection(path, readonly=readonly, busy_timeout=busy_timeout, create=create)
    try:
        if readonly:
            configure(conn, readonly=True)
            setup(conn)
        else:
            # Set up (migrate) before switching to WAL: the migration refuses someone else's
            # database, which must then be left exactly as it was.
            setup(conn)
            configure(conn, readonly=False, busy_timeout=busy_timeout, wal=wal and str(path) != MEMORY)
    except BaseException:
        conn.close()
        raise
    return conn


def configure(conn: sqlite3.Connection, *, readonly: bool, busy_timeout: float = 5.0, wal: bool = True) -> None:
    """Apply the pragmas esctl relies on: WAL, NORMAL sync (durable across process crashes).

    Without ``wal`` (an in-memory database, or a store opened with ``wal_mode=False``) the
    journal mode and SQLite's default FULL sync stay as they are.
    """
    if readonly:
        conn.execute("PRAGMA query_only = ON")
        conn.execute("PRAGMA schema_version").fetchone()  # fails here on a file that is not SQLite
        return
    if not wal:
        return
    mode = _switch_to_wal(conn, busy_timeout)
    if mode != "wal":
        raise DatabaseUnusableError(f"cannot switch the database to WAL mode (got {mode})")
    conn.execute("PRAGMA synchronous = NORMAL")


def _switch_to_wal(conn: sqlite3.Connection, busy_timeout: float) -> str:
    # Switching the journal mode needs an exclusive lock, and SQLite answers "database is
    # locked" at once, without its busy handler, when another process holds the file (several
    # processes opening a new file together). So wait here as the busy timeout would.
    deadline = time.monotonic() + busy_timeout
    while True:
        current = str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower()
        if current == "wal":
            return current
        try:
            return str(conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]).lower()
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() >= deadline:
                raise
        time.sleep(0.01)


def in_transaction(conn: sqlite3.Connection, function: Callable[[sqlite3.Connection], T]) -> T:
    """Run ``function`` inside ``BEGIN IMMEDIATE`` … ``COMMIT``; roll back on any error.

    ``BEGIN IMMEDIATE`` takes the write lock up front: a deferred transaction that reads and then
    writes fails with "database is locked" whatever the busy timeout.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = function(conn)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return result
