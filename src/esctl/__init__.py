"""esctl: multi-tenant event sourcing on SQLite, as a library and a command-line tool.

The names below are imported on first use (PEP 562), so ``esctl --version`` and other quick
commands do not pay for pydantic and the store at start-up.

Example:
    >>> from esctl import DomainEvent, InMemoryEventStore, register_event
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    "DomainEvent": "esctl.events",
    "GenericEvent": "esctl.events",
    "StoredEvent": "esctl.events",
    "EventStream": "esctl.events",
    "uuid7": "esctl.events",
    "EventRegistry": "esctl.registry",
    "register_event": "esctl.registry",
    "default_registry": "esctl.registry",
    "AggregateRoot": "esctl.aggregates",
    "AggregateRepository": "esctl.repository",
    "InMemoryEventBus": "esctl.bus",
    "TenantAwareRepository": "esctl.repository",
    "get_current_tenant": "esctl.tenancy",
    "set_current_tenant": "esctl.tenancy",
    "require_tenant": "esctl.tenancy",
    "tenant_scope": "esctl.tenancy",
    "EventStore": "esctl.store.interface",
    "ReadOptions": "esctl.store.types",
    "ExpectedVersion": "esctl.store.types",
    "AppendResult": "esctl.store.types",
    "InMemoryEventStore": "esctl.store.memory",
    "SQLiteEventStore": "esctl.store.sqlite",
    "Projection": "esctl.projections.base",
    "DeclarativeProjection": "esctl.projections.base",
    "handles": "esctl.projections.base",
    "SQLProjection": "esctl.projections.persisted",
    "ReadModel": "esctl.projections.persisted",
    "ProjectionRunner": "esctl.projections.runner",
    "ProjectionRegistry": "esctl.projections.registry",
    "register_projection": "esctl.projections.registry",
    "default_projections": "esctl.projections.registry",
    "EventReader": "esctl.ingest",
    "ImportResult": "esctl.ingest",
    "import_events": "esctl.ingest",
    "load_app": "esctl.app",
    "EsctlError": "esctl.errors",
    "UsageError": "esctl.errors",
    "InvalidInputError": "esctl.errors",
    "DuplicateEventError": "esctl.errors",
    "TenantMismatchError": "esctl.errors",
    "EventRegistrationError": "esctl.errors",
    "ConcurrencyError": "esctl.errors",
    "OptimisticLockError": "esctl.errors",
    "NotFoundError": "esctl.errors",
    "AggregateNotFoundError": "esctl.errors",
    "DatabaseNotFoundError": "esctl.errors",
    "ProjectionNotFoundError": "esctl.errors",
    "UnknownEventTypeError": "esctl.errors",
    "DatabaseBusyError": "esctl.errors",
    "DatabaseUnusableError": "esctl.errors",
    "SchemaTooNewError": "esctl.errors",
    "VerificationError": "esctl.errors",
    "ProjectionError": "esctl.errors",
}

__all__ = [
    "AggregateNotFoundError",
    "AggregateRepository",
    "AggregateRoot",
    "AppendResult",
    "ConcurrencyError",
    "DatabaseBusyError",
    "DatabaseNotFoundError",
    "DatabaseUnusableError",
    "DeclarativeProjection",
    "DomainEvent",
    "DuplicateEventError",
    "EsctlError",
    "EventReader",
    "EventRegistrationError",
    "EventRegistry",
    "EventStore",
    "EventStream",
    "ExpectedVersion",
    "GenericEvent",
    "ImportResult",
    "InMemoryEventBus",
    "InMemoryEventStore",
    "InvalidInputError",
    "NotFoundError",
    "OptimisticLockError",
    "Projection",
    "ProjectionError",
    "ProjectionNotFoundError",
    "ProjectionRegistry",
    "ProjectionRunner",
    "ReadModel",
    "ReadOptions",
    "SQLProjection",
    "SQLiteEventStore",
    "SchemaTooNewError",
    "StoredEvent",
    "TenantAwareRepository",
    "TenantMismatchError",
    "UnknownEventTypeError",
    "UsageError",
    "VerificationError",
    "__version__",
    "default_projections",
    "default_registry",
    "get_current_tenant",
    "handles",
    "import_events",
    "load_app",
    "register_event",
    "register_projection",
    "require_tenant",
    "set_current_tenant",
    "tenant_scope",
    "uuid7",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'esctl' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:
    from esctl.aggregates import AggregateRoot
    from esctl.app import load_app
    from esctl.bus import InMemoryEventBus
    from esctl.errors import (
        AggregateNotFoundError,
        ConcurrencyError,
        DatabaseBusyError,
        DatabaseNotFoundError,
        DatabaseUnusableError,
        DuplicateEventError,
        EsctlError,
        EventRegistrationError,
        InvalidInputError,
        NotFoundError,
        OptimisticLockError,
        ProjectionError,
        ProjectionNotFoundError,
        SchemaTooNewError,
        TenantMismatchError,
        UnknownEventTypeError,
        UsageError,
        VerificationError,
    )
    from esctl.events import DomainEvent, EventStream, GenericEvent, StoredEvent, uuid7
    from esctl.ingest import EventReader, ImportResult, import_events
    from esctl.projections.base import DeclarativeProjection, Projection, handles
    from esctl.projections.persisted import ReadModel, SQLProjection
    from esctl.projections.registry import ProjectionRegistry, default_projections, register_projection
    from esctl.projections.runner import ProjectionRunner
    from esctl.registry import EventRegistry, default_registry, register_event
    from esctl.repository import AggregateRepository, TenantAwareRepository
    from esctl.store.interface import EventStore
    from esctl.store.memory import InMemoryEventStore
    from esctl.store.sqlite import SQLiteEventStore
    from esctl.store.types import AppendResult, ExpectedVersion, ReadOptions
    from esctl.tenancy import (
        get_current_tenant,
        require_tenant,
        set_current_tenant,
        tenant_scope,
    )
