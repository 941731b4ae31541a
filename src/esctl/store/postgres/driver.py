"""Opening psycopg connections the way esctl needs them, and driver errors turned into esctl errors.

``translate_error`` is the one place where a psycopg error becomes an esctl error: connection,
authentication and missing-database failures are exit 7 (unusable), lock and statement timeouts
exit 6 (busy). Messages name the target through ``esctl.store.describe`` (password masked) and
keep the server's first line only: never a traceback, never the password.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg.adapt import Loader

from esctl.errors import DatabaseBusyError, DatabaseUnusableError, EsctlError
from esctl.store import describe

_BUSY = (
    pg_errors.LockNotAvailable,
    pg_errors.QueryCanceled,
    pg_errors.DeadlockDetected,
    pg_errors.SerializationFailure,
)


class TextLoader(Loader):
    """Loads a value as its text: ``uuid`` columns come back as the canonical string, as SQLite's do."""

    def load(self, data: bytes | bytearray | memoryview) -> str:
        return bytes(data).decode()


class BytesLoader(Loader):
    """Loads ``json`` as its bytes, unparsed: rows carry payloads as JSON bytes, as SQLite's do."""

    def load(self, data: bytes | bytearray | memoryview) -> bytes:
        return bytes(data)


def connect(target: str, *, readonly: bool, busy_timeout: float) -> psycopg.Connection[tuple[Any, ...]]:
    """Open a connection to ``target`` configured for esctl (not in autocommit: one transaction per call).

    Args:
        target: A ``postgresql://`` URL (or ``postgres://``), as libpq reads it.
        readonly: Every transaction read-only.
        busy_timeout: Seconds a statement waits for a lock (``lock_timeout``) before failing busy.

    Raises:
        psycopg.Error: Left for ``translate_error``.
    """
    conn = psycopg.connect(target, connect_timeout=_connect_timeout(busy_timeout), application_name="esctl")
    try:
        conn.adapters.register_loader("uuid", TextLoader)
        conn.adapters.register_loader("json", BytesLoader)
        settings = [f"SET lock_timeout = {int(busy_timeout * 1000)}", "SET TIME ZONE 'UTC'"]
        if readonly:
            settings.append("SET default_transaction_read_only = on")
        for statement in settings:
            conn.execute(statement)
        conn.commit()
    except BaseException:
        conn.close()
        raise
    return conn


def _connect_timeout(busy_timeout: float) -> int:
    # libpq counts whole seconds and treats 0 as "wait forever"; at least 2 (its minimum).
    return max(2, int(busy_timeout) + 1)


def first_line(error: BaseException) -> str:
    """The server's message without libpq's decorations: its first line, ``FATAL:`` dropped."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    for marker in ("FATAL:  ", "ERROR:  "):
        if marker in text:
            text = text.split(marker, 1)[1]
    return text.strip()


def translate_error(error: psycopg.Error, target: str) -> EsctlError:
    """Return the esctl error for a driver error raised while using the store at ``target``."""
    shown = describe(target)
    message = first_line(error)
    if isinstance(error, _BUSY):
        return DatabaseBusyError(
            f"PostgreSQL store {shown} is locked by another transaction ({message})",
            hint="retry later, or raise the lock timeout with ESCTL_BUSY_TIMEOUT (seconds)",
        )
    if isinstance(error, pg_errors.InsufficientPrivilege):
        return DatabaseUnusableError(
            f"PostgreSQL store {shown}: {message}", hint="connect as a role that may use esctl's tables"
        )
    if isinstance(error, pg_errors.ReadOnlySqlTransaction):
        return DatabaseUnusableError(f"PostgreSQL store {shown} is read-only here: {message}")
    if isinstance(error, psycopg.OperationalError | psycopg.InterfaceError) and error.sqlstate is None:
        return DatabaseUnusableError(
            f"cannot use PostgreSQL store {shown}: {_connection_message(message)}",
            hint="check that the server runs, the database exists and the user and password in --db are right",
        )
    if isinstance(error, psycopg.ProgrammingError) and error.sqlstate is None:
        return DatabaseUnusableError(f"cannot use PostgreSQL store {shown}: {message}", hint="check the --db URL")
    return DatabaseUnusableError(f"PostgreSQL store {shown}: {message}")


def _connection_message(message: str) -> str:
    for prefix in ("connection failed: ", "connection is bad: "):
        if message.startswith(prefix):
            message = message[len(prefix) :]
    # 'connection to server on socket "…" failed: FATAL: …' -> the reason after the last 'failed: '
    if " failed: " in message:
        message = message.rsplit(" failed: ", 1)[1]
    return message.replace("FATAL:", "").strip()
