"""The SQLite schema as numbered migrations; ``PRAGMA user_version`` says which have run.

A migration is a tuple of statements, applied in one ``BEGIN IMMEDIATE`` transaction together
with the version bump, so a crash never leaves a half-migrated file. New migrations go at the
end of ``MIGRATIONS``; a released one is never edited.
"""

from __future__ import annotations

import sqlite3

from esctl.errors import DatabaseUnusableError, SchemaTooNewError

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 1: the event log.
    (
        """
        CREATE TABLE events (
            position          INTEGER PRIMARY KEY AUTOINCREMENT,
            event_id          TEXT    NOT NULL UNIQUE,
            event_type        TEXT    NOT NULL,
            event_version     INTEGER NOT NULL,
            aggregate_type    TEXT    NOT NULL,
            aggregate_id      TEXT    NOT NULL,
            aggregate_version INTEGER NOT NULL CHECK (aggregate_version >= 1),
            tenant_id         TEXT,
            occurred_at       INTEGER NOT NULL,
            stored_at         INTEGER NOT NULL,
            correlation_id    TEXT    NOT NULL,
            causation_id      TEXT,
            actor_id          TEXT,
            payload           BLOB    NOT NULL,
            metadata          BLOB    NOT NULL,
            UNIQUE (aggregate_id, aggregate_type, aggregate_version)
        )
        """,
        # Indexes follow the reads the CLI and runner make: a tenant's events in order, a
        # tenant's time window (narrowed to positions first, see filters.window_positions), one
        # event type in order; streams use the unique index above. Each index costs inserts
        # (8-15% apiece, bench/README.md), so an aggregate type alone has none: it is a scan.
        "CREATE INDEX events_tenant_position ON events (tenant_id, position)",
        "CREATE INDEX events_tenant_occurred ON events (tenant_id, occurred_at)",
        "CREATE INDEX events_type_position ON events (event_type, position)",
    ),
    # 2: persisted projections. Their checkpoints, dead letters and documents live beside the
    # events, so a batch of read-model changes and its checkpoint commit in one transaction.
    (
        """
        CREATE TABLE projection_checkpoints (
            name           TEXT    NOT NULL PRIMARY KEY,
            position       INTEGER NOT NULL,
            updated_at     INTEGER NOT NULL,
            status         TEXT    NOT NULL CHECK (status IN ('ok', 'failed')),
            generation     INTEGER NOT NULL,
            error_position INTEGER,
            error_event_id TEXT,
            error_message  TEXT,
            error_at       INTEGER
        ) WITHOUT ROWID
        """,
        """
        CREATE TABLE projection_dead_letters (
            name       TEXT    NOT NULL,
            position   INTEGER NOT NULL,
            event_id   TEXT    NOT NULL,
            message    TEXT    NOT NULL,
            skipped_at INTEGER NOT NULL,
            PRIMARY KEY (name, position)
        ) WITHOUT ROWID
        """,
        # A document read model: one JSON body per (namespace, tenant, key). The namespace is
        # the projection's name, or the fresh one a rebuild fills before the swap; tenant ''
        # holds what belongs to no tenant.
        """
        CREATE TABLE projection_documents (
            namespace TEXT NOT NULL,
            tenant    TEXT NOT NULL,
            key       TEXT NOT NULL,
            body      BLOB NOT NULL,
            PRIMARY KEY (namespace, tenant, key)
        ) WITHOUT ROWID
        """,
    ),
)

SCHEMA_VERSION = len(MIGRATIONS)
"""The schema version this code writes and reads."""


def current_version(conn: sqlite3.Connection) -> int:
    """Return the database's schema version (``PRAGMA user_version``)."""
    row = conn.execute("PRAGMA user_version").fetchone()
    return int(row[0])


def pending_migrations(conn: sqlite3.Connection) -> int:
    """Return how many migrations have not run yet.

    Raises:
        SchemaTooNewError: The database is newer than this code.
    """
    version = current_version(conn)
    if version > SCHEMA_VERSION:
        raise SchemaTooNewError(
            f"database schema is version {version}; this esctl knows up to {SCHEMA_VERSION}",
            hint="upgrade esctl",
        )
    return SCHEMA_VERSION - version


def check_readable(conn: sqlite3.Connection) -> None:
    """Make sure a database opened for reading has the current schema.

    Raises:
        SchemaTooNewError: The database is newer than this code.
        DatabaseUnusableError: It is not an esctl database, or a migration is pending.
    """
    pending = pending_migrations(conn)
    if pending == SCHEMA_VERSION:
        raise DatabaseUnusableError("not an esctl event store (no schema)", hint="run `esctl init` to create one")
    if pending:
        raise DatabaseUnusableError(
            f"database schema is version {SCHEMA_VERSION - pending}; this esctl needs {SCHEMA_VERSION}",
            hint="run `esctl init` to migrate it",
        )


def migrate(conn: sqlite3.Connection) -> int:
    """Run every pending migration, each in its own immediate transaction.

    Safe to run from several processes at once: the version is read again under the write lock.

    Returns:
        The number of migrations applied.
    """
    applied = 0
    while pending_migrations(conn):
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = current_version(conn)
            if version < SCHEMA_VERSION:
                for statement in MIGRATIONS[version]:
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {version + 1}")
                applied += 1
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return applied
