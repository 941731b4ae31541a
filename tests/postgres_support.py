"""The PostgreSQL server the tests use: its DSN from ``ESCTL_TEST_POSTGRES_DSN``, a schema per test.

``.ci/run`` starts a throwaway cluster (``.ci/postgres``) and exports the DSN. Without it the
PostgreSQL tests skip, except under ``CI=true``, where they fail: a green CI always ran them.
Each test gets a schema of its own (cheaper than a database, ~110 ms): the store's URL selects it
through ``options=-csearch_path=…``, and it is dropped after the test.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from urllib.parse import quote

import pytest

DSN_VARIABLE = "ESCTL_TEST_POSTGRES_DSN"
DIR_VARIABLE = "ESCTL_TEST_POSTGRES_DIR"


def server_dsn() -> str:
    """Return the test server's DSN; skip the test without one (fail it under ``CI=true``)."""
    dsn = os.environ.get(DSN_VARIABLE)
    if not dsn:
        why = f"no PostgreSQL server for the tests: set {DSN_VARIABLE} (`.ci/postgres start DIR` prints one)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(why + "; under CI=true the PostgreSQL tests must run")
        pytest.skip(why)
    try:
        import psycopg  # noqa: F401
    except ImportError:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("psycopg is not installed; under CI=true the PostgreSQL tests must run")
        pytest.skip("psycopg is not installed (pip install -e '.[dev]')")
    return dsn


def with_schema(dsn: str, schema: str) -> str:
    """Return ``dsn`` selecting ``schema`` first in its ``search_path``."""
    separator = "&" if "?" in dsn else "?"
    return f"{dsn}{separator}options={quote(f'-csearch_path={schema}')}"


def admin(sql: str) -> None:
    """Run one statement on the test server as its superuser, in autocommit."""
    import psycopg

    with psycopg.connect(server_dsn(), autocommit=True) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


def new_schema() -> str:
    """Create a new empty schema; return its name."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    admin(f"CREATE SCHEMA {name}")
    return name


def drop_schema(name: str) -> None:
    """Drop a schema made by ``new_schema`` with everything in it."""
    admin(f"DROP SCHEMA IF EXISTS {name} CASCADE")


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A ``postgresql://`` URL of an empty schema of its own on the test server, dropped after."""
    dsn = server_dsn()
    name = new_schema()
    try:
        yield with_schema(dsn, name)
    finally:
        drop_schema(name)
