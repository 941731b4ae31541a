"""The SQLite event store: all of esctl's SQLite-specific SQL lives in this package.

``SQLiteEventStore`` is imported on first use (PEP 562), so the modules that read pages
without models (``reads``, ``driver``) load without pydantic.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from esctl.store.sqlite.store import SQLiteEventStore

__all__ = ["SQLiteEventStore"]


def __getattr__(name: str) -> Any:
    if name == "SQLiteEventStore":
        from esctl.store.sqlite.store import SQLiteEventStore

        return SQLiteEventStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
