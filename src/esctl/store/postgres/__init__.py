"""The PostgreSQL event store: all of esctl's PostgreSQL SQL and every psycopg import live here.

``PostgresEventStore`` is imported on first use (PEP 562), like the SQLite store, so that
``esctl.store.open_store`` loads psycopg only when a ``postgresql://`` target is opened.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from esctl.store.postgres.store import PostgresEventStore

__all__ = ["PostgresEventStore"]


def __getattr__(name: str) -> Any:
    if name == "PostgresEventStore":
        from esctl.store.postgres.store import PostgresEventStore

        return PostgresEventStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
