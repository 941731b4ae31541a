"""The contract suites every event store backend must pass, for pytest.

A backend's tests subclass ``EventStoreContract`` and ``ProjectionStorageContract`` (in classes
whose names start with ``Test``) and implement ``make_store``; the suites are esctl's own tests
of its stores, so a new backend is held to exactly what the in-memory and SQLite stores do::

    from esctl.testing import EventStoreContract, ProjectionStorageContract

    class MyStoreFactory:
        def make_store(self, tmp_path, registry):
            return MyStore(tmp_path / "events", registry=registry)

    class TestMyStore(MyStoreFactory, EventStoreContract):
        pass

    class TestMyProjectionStorage(MyStoreFactory, ProjectionStorageContract):
        sql_read_models = False  # True when the store keeps SQL read models

The async tests are marked ``pytest.mark.asyncio`` and the ``store`` fixture is a
``pytest_asyncio`` fixture, so the suites run whatever the project's ``asyncio_mode``. Needs
pytest, pytest-asyncio and hypothesis (``pip install esctl[test]``). Nothing in esctl imports
this package.
"""

from esctl.testing.base import StoreContract
from esctl.testing.contract import EventStoreContract, ProjectionStorageContract
from esctl.testing.events import REGISTRY, T0, InvoiceIssued, ItemAdded, ItemRemoved, item

__all__ = [
    "REGISTRY",
    "T0",
    "EventStoreContract",
    "InvoiceIssued",
    "ItemAdded",
    "ItemRemoved",
    "ProjectionStorageContract",
    "StoreContract",
    "item",
]
