"""What the tests share: the test events (``esctl.testing``'s, in their own ``REGISTRY``).

The test events live in their own ``EventRegistry``, not in esctl's default one, so they never
clash with the event classes of the examples or of other test modules that share the pytest
process. No fixture here picks a store: the contract suites (``esctl.testing``, run against each
store in ``test_store_contract.py``) are where a test chooses one. The CLI tests that must hold
on every backend take ``db_target`` (``backends.py``): a ``--db`` for SQLite and for PostgreSQL;
PostgreSQL's own tests take ``postgres_url``, an empty schema of their own on the test server.
"""

from __future__ import annotations

from backends import db_target
from esctl.testing.events import REGISTRY, T0, InvoiceIssued, ItemAdded, ItemRemoved, item
from postgres_support import postgres_url

__all__ = ["REGISTRY", "T0", "InvoiceIssued", "ItemAdded", "ItemRemoved", "db_target", "item", "postgres_url"]
