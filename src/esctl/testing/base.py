"""What every contract suite shares: the store under test, and the reference it is held to."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest
import pytest_asyncio

from esctl.registry import EventRegistry
from esctl.store import open_store
from esctl.store.interface import EventStore
from esctl.testing.events import REGISTRY

_T = TypeVar("_T")

DEFAULT_PAGE_SIZE = 20
"""The page size the page-boundary tests assume when a suite does not say (``read_page_size``)."""


class StoreContract:
    """The base of the contract suites: how a test gets a store.

    A backend subclasses a suite (``EventStoreContract``, ``ProjectionStorageContract``) in a
    class whose name starts with ``Test`` and implements ``make_store``; it may override the
    ``store`` fixture (setup that must await) and the ``read_page_size`` fixture (make its reads
    cut small pages, so that the page-boundary tests cross several).
    """

    registry: EventRegistry = REGISTRY
    """The registry the test events are in: ``make_store`` is given it."""

    def make_store(self, tmp_path: Path, registry: EventRegistry) -> EventStore:
        """Return a new, empty store that reads events back with ``registry``.

        Called once per test by the ``store`` fixture, and once per example by the property
        tests (which cannot use function-scoped fixtures), each time with a new empty
        directory the store may keep its files in. The store may connect on first use; the
        suite closes it.

        Args:
            tmp_path: A new empty directory, removed after the test (or the example).
            registry: The event classes the tests write (``esctl.testing.REGISTRY``).

        Example:
            >>> # def make_store(self, tmp_path, registry):
            >>> #     return SQLiteEventStore(tmp_path / "events.db", registry=registry)
        """
        # Not an abstract method: pytest silently skips abstract classes, so a suite that
        # forgot ``make_store`` would pass with no tests at all. Every test errors instead.
        raise NotImplementedError(f"{type(self).__name__} must implement make_store(tmp_path, registry)")

    @pytest_asyncio.fixture
    async def store(self, tmp_path: Path) -> AsyncIterator[EventStore]:
        """A new, empty store (``make_store``), closed after the test."""
        store = self.make_store(tmp_path, self.registry)
        try:
            yield store
        finally:
            await store.close()

    @pytest.fixture
    def read_page_size(self) -> int:
        """How many rows the store reads per round trip, made small for the test.

        The page-boundary tests write more than two pages of events and read them back with
        filters and limits that end on, before and after a page's end. Override this fixture to
        shrink the store's pages (``monkeypatch`` its page size) and return the new size; a
        store that does not read in pages may keep the default.
        """
        return DEFAULT_PAGE_SIZE

    def reference_store(self) -> EventStore:
        """Return a new, empty in-memory store: the reference semantics every store must match.

        Opened through ``open_store``, so this suite imports no backend.
        """
        return open_store("memory:")

    def run_with_stores(self, count: int, work: Callable[..., Awaitable[_T]]) -> _T:
        """Run ``work(*stores)`` on a new event loop with ``count`` new stores (``make_store``,
        each in a directory of its own), and close them after. For property tests.
        """

        async def main(folder: Path) -> _T:
            stores: list[EventStore] = []
            try:
                for number in range(count):
                    path = folder / f"store-{number}"
                    path.mkdir()
                    stores.append(self.make_store(path, self.registry))
                return await work(*stores)
            finally:
                for store in stores:
                    await store.close()

        with tempfile.TemporaryDirectory() as folder:
            return asyncio.run(main(Path(folder)))
