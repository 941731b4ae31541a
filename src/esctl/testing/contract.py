"""The two contract suites a store backend subclasses: ``EventStoreContract`` and ``ProjectionStorageContract``."""

from __future__ import annotations

from esctl.testing.aggregates import RepositoryContract
from esctl.testing.appending import AppendContract
from esctl.testing.chunks import ChunkContract
from esctl.testing.erasure import ErasureContract, RedactionContract
from esctl.testing.inspection import InspectionContract
from esctl.testing.projections import ProjectionStorageContract
from esctl.testing.properties import RandomAppendsContract
from esctl.testing.reading import ReadContract
from esctl.testing.tenancy import TenancyContract


class EventStoreContract(
    AppendContract,
    ReadContract,
    ChunkContract,
    RandomAppendsContract,
    InspectionContract,
    TenancyContract,
    RepositoryContract,
    ErasureContract,
    RedactionContract,
):
    """Everything an ``EventStore`` must do, as pytest tests: subclass it once per backend.

    The subclass's name must start with ``Test`` (so that pytest collects it) and it implements
    ``make_store``; see ``StoreContract`` for the fixtures it may override. Where the suite needs
    a reference, it is the in-memory store (``reference_store``).

    Example:
        >>> # from esctl.testing import EventStoreContract
        >>> #
        >>> # class TestMyStore(EventStoreContract):
        >>> #     def make_store(self, tmp_path, registry):
        >>> #         return MyStore(tmp_path / "events", registry=registry)
    """


__all__ = ["EventStoreContract", "ProjectionStorageContract"]
