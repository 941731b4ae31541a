"""The SQLite event store: all of esctl's SQLite-specific SQL lives in this package."""

from esctl.store.sqlite.store import SQLiteEventStore

__all__ = ["SQLiteEventStore"]
