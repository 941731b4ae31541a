"""The PostgreSQL schema as numbered migrations; the ``esctl_schema`` row says which have run.

Every esctl object lives in the connection's current schema (the first of its ``search_path``),
so one database can hold several stores, one per schema. Migrations run in one transaction each,
under an advisory lock, so several processes may run ``esctl init`` at once and a crash never
leaves a half-migrated store. New migrations go at the end of ``MIGRATIONS``; a released one is
never edited. The version numbers follow the SQLite store's: 1 the event log, 2 projections,
3 snapshots, 4 purge records, 5 redaction records.
"""

from __future__ import annotations

from typing import Any

import psycopg

from esctl.errors import DatabaseNotFoundError, DatabaseUnusableError, SchemaTooNewError
from esctl.store import describe

Conn = psycopg.Connection[tuple[Any, ...]]

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 1: the event log. Ids are uuid (16 bytes, read back as their canonical text), times integer
    # UTC microseconds as in SQLite, payload and metadata ``json`` (kept byte for byte, key order
    # included: ``jsonb`` would reorder keys and change what a dump writes).
    (
        """
        CREATE TABLE esctl_schema (
            id      integer PRIMARY KEY CHECK (id = 1),
            version integer NOT NULL
        )
        """,
        # The global position counter: an append takes its positions by updating this row inside
        # its transaction, so positions are gapless and in commit order (a rollback rolls the
        # counter back too). A bigserial is neither: a reader resuming after position 102 would
        # skip a 101 that commits later.
        """
        CREATE TABLE esctl_position (
            id   integer PRIMARY KEY CHECK (id = 1),
            last bigint  NOT NULL
        )
        """,
        "INSERT INTO esctl_position (id, last) VALUES (1, 0)",
        """
        CREATE TABLE events (
            position          bigint  PRIMARY KEY,
            event_id          uuid    NOT NULL UNIQUE,
            event_type        text    NOT NULL,
            event_version     integer NOT NULL,
            aggregate_type    text    NOT NULL,
            aggregate_id      uuid    NOT NULL,
            aggregate_version integer NOT NULL CHECK (aggregate_version >= 1),
            tenant_id         uuid,
            occurred_at       bigint  NOT NULL,
            stored_at         bigint  NOT NULL,
            correlation_id    uuid    NOT NULL,
            causation_id      uuid,
            actor_id          text,
            payload           json    NOT NULL,
            metadata          json    NOT NULL,
            CONSTRAINT events_stream_version UNIQUE (aggregate_id, aggregate_type, aggregate_version)
        )
        """,
        # The SQLite store's indexes, for the same reads: a tenant's events in order, a tenant's
        # time window (its positions found from the index alone, then walked in order), one
        # event type in order; streams use the unique index above.
        "CREATE INDEX events_tenant_position ON events (tenant_id, position)",
        "CREATE INDEX events_tenant_occurred ON events (tenant_id, occurred_at) INCLUDE (position)",
        "CREATE INDEX events_type_position ON events (event_type, position)",
    ),
    # 2: persisted projections: checkpoints, dead letters and documents beside the events, so a
    # batch of read-model changes and its checkpoint commit in one transaction.
    (
        """
        CREATE TABLE projection_checkpoints (
            name           text    NOT NULL PRIMARY KEY,
            position       bigint  NOT NULL,
            updated_at     bigint  NOT NULL,
            status         text    NOT NULL CHECK (status IN ('ok', 'failed')),
            generation     integer NOT NULL,
            error_position bigint,
            error_event_id text,
            error_message  text,
            error_at       bigint
        )
        """,
        """
        CREATE TABLE projection_dead_letters (
            name       text   NOT NULL,
            position   bigint NOT NULL,
            event_id   text   NOT NULL,
            message    text   NOT NULL,
            skipped_at bigint NOT NULL,
            PRIMARY KEY (name, position)
        )
        """,
        """
        CREATE TABLE projection_documents (
            namespace text  NOT NULL,
            tenant    text  NOT NULL,
            key       text  NOT NULL,
            body      bytea NOT NULL,
            PRIMARY KEY (namespace, tenant, key)
        )
        """,
    ),
    # 3: snapshots, one per aggregate (the newest kept), as in the SQLite store's migration 3. A
    # cache, always rebuildable from the events.
    (
        """
        CREATE TABLE snapshots (
            aggregate_type text    NOT NULL,
            aggregate_id   uuid    NOT NULL,
            tenant_id      uuid,
            version        integer NOT NULL CHECK (version >= 1),
            schema_version integer NOT NULL,
            state          bytea   NOT NULL,
            created_at     bigint  NOT NULL,
            PRIMARY KEY (aggregate_type, aggregate_id)
        )
        """,
    ),
    # 4: erasure (esctl purge), as in the SQLite store's migration 4: one record per tenant
    # purge and the positions it removed, so verify tells a purge's holes from a damaged log.
    (
        """
        CREATE TABLE purges (
            id             bigserial PRIMARY KEY,
            tenant_id      uuid    NOT NULL,
            purged_at      bigint  NOT NULL,
            events         bigint  NOT NULL,
            streams        bigint  NOT NULL,
            snapshots      bigint  NOT NULL,
            documents      bigint  NOT NULL,
            dead_letters   bigint  NOT NULL,
            first_position bigint,
            last_position  bigint,
            esctl_version  text    NOT NULL
        )
        """,
        """
        CREATE TABLE purged_positions (
            position bigint NOT NULL PRIMARY KEY,
            purge_id bigint NOT NULL
        )
        """,
    ),
    # 5: redactions (esctl redact), as in the SQLite store's migration 5.
    (
        """
        CREATE TABLE redactions (
            id             bigserial PRIMARY KEY,
            selection      text    NOT NULL,
            redacted_at    bigint  NOT NULL,
            events         bigint  NOT NULL,
            streams        bigint  NOT NULL,
            snapshots      bigint  NOT NULL,
            fields         bytea   NOT NULL,
            first_position bigint,
            last_position  bigint,
            esctl_version  text    NOT NULL
        )
        """,
    ),
)

SCHEMA_VERSION = len(MIGRATIONS)
"""The schema version this code writes and reads."""

_LOCK = "SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.esctl.migrate'))"


def current_version(conn: Conn) -> int | None:
    """Return the store's schema version: ``None`` when the current schema has no esctl tables."""
    found = conn.execute("SELECT to_regclass('esctl_schema') IS NOT NULL").fetchone()
    if found is None or not found[0]:
        return None
    row = conn.execute("SELECT version FROM esctl_schema WHERE id = 1").fetchone()
    return 0 if row is None else int(row[0])


def has_foreign_tables(conn: Conn) -> bool:
    """True when the current schema holds tables (of someone else's: no esctl schema there)."""
    row = conn.execute("SELECT EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = current_schema())").fetchone()
    return bool(row and row[0])


def check_schema_exists(conn: Conn, target: str) -> None:
    """Raise ``DatabaseUnusableError`` when the ``search_path`` names no existing schema to work in."""
    row = conn.execute("SELECT current_schema()").fetchone()
    if row is None or row[0] is None:
        raise DatabaseUnusableError(
            f"{describe(target)}: no schema of the search_path exists",
            hint="create the schema first (CREATE SCHEMA …), or fix search_path in --db",
        )


def check_version(version: int) -> None:
    """Raise ``SchemaTooNewError`` when ``version`` is newer than this code's."""
    if version > SCHEMA_VERSION:
        raise SchemaTooNewError(
            f"database schema is version {version}; this esctl knows up to {SCHEMA_VERSION}",
            hint="upgrade esctl",
        )


def not_an_event_store(target: str, why: str) -> DatabaseUnusableError:
    """Return the error for a database schema that is not an esctl event store."""
    return DatabaseUnusableError(
        f"{describe(target)} is not an esctl event store ({why})",
        hint="is --db right? (`esctl init` creates a new store in an empty schema)",
    )


def missing_store(target: str) -> DatabaseNotFoundError:
    """Return the error for a database (schema) without an event store, opened to read."""
    return DatabaseNotFoundError(
        f"no esctl event store in {describe(target)}",
        hint="check --db / ESCTL_DB, or create it with `esctl init`",
    )


def check_readable(conn: Conn, target: str) -> None:
    """Make sure the store opened for reading has the current schema.

    Raises:
        DatabaseNotFoundError: The schema holds nothing at all.
        SchemaTooNewError: The store is newer than this code.
        DatabaseUnusableError: It is someone else's database, or a migration is pending.
    """
    version = current_version(conn)
    conn.rollback()
    if version is None or version == 0:
        if has_foreign_tables(conn):
            conn.rollback()
            raise not_an_event_store(target, "no esctl schema")
        conn.rollback()
        raise missing_store(target)
    check_version(version)
    if version < SCHEMA_VERSION:
        raise DatabaseUnusableError(
            f"database schema is version {version}; this esctl needs {SCHEMA_VERSION}",
            hint="run `esctl init` to migrate it",
        )


def migrate(conn: Conn, target: str, *, create: bool = True) -> tuple[int, int]:
    """Run every pending migration, each in its own transaction under the migration lock.

    Args:
        create: Create the store when the schema holds none; when False that is
            ``DatabaseNotFoundError``.

    Returns:
        The version before (0: a new store) and after.

    Raises:
        SchemaTooNewError: The store is newer than this code.
        DatabaseUnusableError: The schema holds someone else's tables and no esctl schema.
    """
    before: int | None = None
    while True:
        try:
            conn.execute(_LOCK)
            version = current_version(conn)
            if before is None:
                before = version or 0
            if version is None:
                if has_foreign_tables(conn):
                    raise not_an_event_store(target, "it has tables of its own and no esctl schema")
                if not create:
                    raise missing_store(target)
                check_schema_exists(conn, target)
                version = 0
            check_version(version)
            if version == SCHEMA_VERSION:
                conn.commit()
                return before, version
            for statement in MIGRATIONS[version]:
                conn.execute(statement)
            if version == 0:
                conn.execute("INSERT INTO esctl_schema (id, version) VALUES (1, 1)")
            else:
                conn.execute("UPDATE esctl_schema SET version = %s WHERE id = 1", (version + 1,))
            conn.commit()
        except BaseException:
            conn.rollback()
            raise


def status(conn: Conn, target: str) -> tuple[int, int]:
    """Return ``(version, latest)`` without changing anything.

    Raises:
        DatabaseNotFoundError: The schema holds no store.
        SchemaTooNewError: The store is newer than this code.
        DatabaseUnusableError: The schema holds someone else's tables.
    """
    try:
        version = current_version(conn)
        if version is None:
            if has_foreign_tables(conn):
                raise not_an_event_store(target, "it has tables of its own and no esctl schema")
            raise missing_store(target)
    finally:
        conn.rollback()
    check_version(version or 0)
    return version or 0, SCHEMA_VERSION


TENANT_SETTING = "esctl.tenant_id"
"""The setting row-level security reads the tenant from; the store sets it for every call."""

RLS_POLICY = "esctl_tenant_isolation"


def rls_enabled(conn: Conn) -> bool:
    """True when ``events`` has row-level security on (``esctl init --rls``)."""
    row = conn.execute("SELECT relrowsecurity FROM pg_class WHERE oid = to_regclass('events')").fetchone()
    return bool(row and row[0])


def enable_rls(conn: Conn, target: str) -> str:
    """Turn row-level security on for ``events``: a role that does not own the table sees and
    writes only the rows of the tenant the store names in ``esctl.tenant_id``.

    Returns:
        What the application must do, for the person who ran ``esctl init --rls``.
    """
    try:
        conn.execute(_LOCK)
        conn.execute("ALTER TABLE events ENABLE ROW LEVEL SECURITY")
        conn.execute(f"DROP POLICY IF EXISTS {RLS_POLICY} ON events")
        # Unset (no tenant context) matches nothing: the policy fails closed.
        tenant = f"NULLIF(current_setting('{TENANT_SETTING}', true), '')::uuid"
        conn.execute(
            f"CREATE POLICY {RLS_POLICY} ON events USING (tenant_id = {tenant}) WITH CHECK (tenant_id = {tenant})"
        )
        row = conn.execute(
            "SELECT current_schema(), pg_get_userbyid(relowner) FROM pg_class WHERE oid = 'events'::regclass"
        ).fetchone()
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    schema_name, owner = row if row else ("?", "?")
    return (
        f"row-level security is on for the events in {describe(target)}. It holds only for roles that do "
        f"not own the tables (the owner, {owner}, and superusers bypass it): connect the application as "
        f"such a role, e.g. GRANT USAGE ON SCHEMA {schema_name} TO app; GRANT SELECT, INSERT ON events TO app; "
        f"GRANT SELECT, UPDATE ON esctl_position TO app; GRANT SELECT ON esctl_schema TO app. "
        "It sees and appends only the events of the tenant in its tenant context (none without one); "
        "esctl commands run as the owner see everything"
    )
