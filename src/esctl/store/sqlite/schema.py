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
    # 3: snapshots, one per aggregate (the newest kept). A cache, always rebuildable from the
    # events; in the same file so that a copy of the store carries the snapshots that fit it.
    (
        """
        CREATE TABLE snapshots (
            aggregate_type TEXT    NOT NULL,
            aggregate_id   TEXT    NOT NULL,
            tenant_id      TEXT,
            version        INTEGER NOT NULL CHECK (version >= 1),
            schema_version INTEGER NOT NULL,
            state          BLOB    NOT NULL,
            created_at     INTEGER NOT NULL,
            PRIMARY KEY (aggregate_type, aggregate_id)
        ) WITHOUT ROWID
        """,
    ),
    # 4: erasure (esctl purge). One record per tenant purge, and the positions it removed, so
    # verify tells a purge's holes from a damaged log. Positions are not personal data.
    (
        """
        CREATE TABLE purges (
            id             INTEGER PRIMARY KEY AUTOINCREMENT,
            tenant_id      TEXT    NOT NULL,
            purged_at      INTEGER NOT NULL,
            events         INTEGER NOT NULL,
            streams        INTEGER NOT NULL,
            snapshots      INTEGER NOT NULL,
            documents      INTEGER NOT NULL,
            dead_letters   INTEGER NOT NULL,
            first_position INTEGER,
            last_position  INTEGER,
            esctl_version  TEXT    NOT NULL
        )
        """,
        """
        CREATE TABLE purged_positions (
            position INTEGER NOT NULL PRIMARY KEY,
            purge_id INTEGER NOT NULL
        ) WITHOUT ROWID
        """,
    ),
    # 5: redactions (esctl redact): one record per redaction of personal fields.
    (
        """
        CREATE TABLE redactions (
            id             INTEGER PRIMARY KEY AUTOINCREMENT,
            selection      TEXT    NOT NULL,
            redacted_at    INTEGER NOT NULL,
            events         INTEGER NOT NULL,
            streams        INTEGER NOT NULL,
            snapshots      INTEGER NOT NULL,
            fields         BLOB    NOT NULL,
            first_position INTEGER,
            last_position  INTEGER,
            esctl_version  TEXT    NOT NULL
        )
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
        # Most likely a mistyped --db that names some other database: do not invite `esctl init`
        # to add esctl's tables to it.
        raise not_an_event_store("no esctl schema")
    if pending:
        raise DatabaseUnusableError(
            f"database schema is version {SCHEMA_VERSION - pending}; this esctl needs {SCHEMA_VERSION}",
            hint="run `esctl init` to migrate it",
        )


def not_an_event_store(why: str) -> DatabaseUnusableError:
    """Return the error for a database that is not an esctl event store (``why`` in brackets)."""
    return DatabaseUnusableError(
        f"not an esctl event store ({why})",
        hint="is --db right? esctl leaves other databases alone; a path that does not exist yet makes a new store",
    )


def migrate(conn: sqlite3.Connection) -> int:
    """Run every pending migration, each in its own immediate transaction.

    Safe to run from several processes at once: the version is read again under the write lock.
    A database with tables of its own but no esctl schema (version 0) is someone else's: it is
    refused, never given esctl's tables.

    Returns:
        The number of migrations applied.

    Raises:
        SchemaTooNewError: The database is newer than this code.
        DatabaseUnusableError: It is not an esctl database.
    """
    applied = 0
    while pending_migrations(conn):
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = current_version(conn)
            if version == 0 and conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchone() is not None:
                raise not_an_event_store("it has tables of its own and no esctl schema")
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


def check_store(conn: sqlite3.Connection) -> None:
    """Check, without changing the file, that it is an esctl store a writer may open.

    For commands that write to an existing store but must never create one (``catch-up``,
    ``rebuild-projection``): someone else's database is refused before esctl switches it to WAL
    or adds its tables. An older schema passes (opening it for writing migrates it).

    Raises:
        SchemaTooNewError: The database is newer than this code.
        DatabaseUnusableError: It is not an esctl event store.
    """
    if pending_migrations(conn) == SCHEMA_VERSION:
        raise not_an_event_store("no esctl schema")


def migrate_existing(conn: sqlite3.Connection) -> int:
    """``migrate`` a database that must already be an esctl store (``check_store``), never a new one."""
    check_store(conn)
    return migrate(conn)
