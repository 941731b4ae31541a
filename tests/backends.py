"""The ``--db`` targets the CLI tests run against: one test, both backends, by parametrisation.

``db_target`` is a SQLite file in ``tmp_path`` or an empty schema of its own on the test
PostgreSQL server (``postgres_support``); ``stored_rows`` and ``tamper`` reach the stored rows
behind the store's back on either, to prove a refused command changed nothing, or to damage a
store for ``verify``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from postgres_support import drop_schema, new_schema, server_dsn, with_schema

BACKENDS = ("sqlite", "postgres")


def is_postgres(target: str | Path) -> bool:
    """True for a ``postgresql://`` target."""
    return str(target).startswith(("postgresql://", "postgres://"))


@pytest.fixture(params=BACKENDS)
def db_target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty store's ``--db``: a SQLite file, or an empty schema on the test PostgreSQL server."""
    if request.param == "sqlite":
        yield str(tmp_path / "events.db")
        return
    dsn = server_dsn()
    name = new_schema()
    try:
        yield with_schema(dsn, name)
    finally:
        drop_schema(name)


def stored_rows(target: str | Path) -> list[tuple[Any, ...]] | None:
    """Every stored event row in position order; ``None`` when there is no store at all."""
    if not is_postgres(target):
        import sqlite3

        path = Path(target)
        if not path.exists():
            return None
        conn = sqlite3.connect(path)
        try:
            return conn.execute("SELECT * FROM events ORDER BY position").fetchall()
        finally:
            conn.close()
    import psycopg

    with psycopg.connect(str(target), autocommit=True) as pg:
        found = pg.execute("SELECT to_regclass('events') IS NOT NULL").fetchone()
        if found is None or not found[0]:
            return None
        return pg.execute("SELECT * FROM events ORDER BY position").fetchall()


def tamper(target: str | Path, *statements: str) -> None:
    """Run SQL on the store behind esctl's back."""
    if not is_postgres(target):
        import sqlite3

        conn = sqlite3.connect(target, isolation_level=None)
        try:
            for statement in statements:
                conn.execute(statement)
        finally:
            conn.close()
        return
    import psycopg

    with psycopg.connect(str(target), autocommit=True) as pg:
        for statement in statements:
            pg.execute(statement)  # type: ignore[arg-type]
