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
    "EventSourceError": "esctl.errors",
    "EventVersionError": "esctl.errors",
    "UnhandledEventError": "esctl.errors",
    "EventTypeNotFoundError": "esctl.errors",
    "DuplicateEventTypeError": "esctl.errors",
    "TenantContextNotSetError": "esctl.errors",
    "TenantDomainEvent": "esctl.events",
    "get_event_class": "esctl.registry",
    "get_event_class_or_none": "esctl.registry",
    "is_event_registered": "esctl.registry",
    "list_registered_events": "esctl.registry",
    "DeclarativeAggregate": "esctl.aggregates",
    "tenant_context": "esctl.tenancy",
    "get_required_tenant": "esctl.tenancy",
    "clear_tenant_context": "esctl.tenancy",
    "tenant_scope_sync": "esctl.tenancy",
    "ReadDirection": "esctl.store.types",
    "get_handled_event_type": "esctl.handlers",
    "is_event_handler": "esctl.handlers",
    "Snapshot": "esctl.store.snapshots",
    "SnapshotStore": "esctl.store.snapshots",
    "InMemorySnapshotStore": "esctl.store.memory",
    "SQLiteSnapshotStore": "esctl.store.sqlite.snapshots",
    "Personal": "esctl.personal",
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
    "DeclarativeAggregate",
    "DeclarativeProjection",
    "DomainEvent",
    "DuplicateEventError",
    "DuplicateEventTypeError",
    "EsctlError",
    "EventReader",
    "EventRegistrationError",
    "EventRegistry",
    "EventSourceError",
    "EventStore",
    "EventStream",
    "EventTypeNotFoundError",
    "EventVersionError",
    "ExpectedVersion",
    "GenericEvent",
    "ImportResult",
    "InMemoryEventBus",
    "InMemoryEventStore",
    "InMemorySnapshotStore",
    "InvalidInputError",
    "NotFoundError",
    "OptimisticLockError",
    "Personal",
    "Projection",
    "ProjectionError",
    "ProjectionNotFoundError",
    "ProjectionRegistry",
    "ProjectionRunner",
    "ReadDirection",
    "ReadModel",
    "ReadOptions",
    "SQLProjection",
    "SQLiteEventStore",
    "SQLiteSnapshotStore",
    "SchemaTooNewError",
    "Snapshot",
    "SnapshotStore",
    "StoredEvent",
    "TenantAwareRepository",
    "TenantContextNotSetError",
    "TenantDomainEvent",
    "TenantMismatchError",
    "UnhandledEventError",
    "UnknownEventTypeError",
    "UsageError",
    "VerificationError",
    "__version__",
    "clear_tenant_context",
    "default_projections",
    "default_registry",
    "get_current_tenant",
    "get_event_class",
    "get_event_class_or_none",
    "get_handled_event_type",
    "get_required_tenant",
    "handles",
    "import_events",
    "is_event_handler",
    "is_event_registered",
    "list_registered_events",
    "load_app",
    "register_event",
    "register_projection",
    "require_tenant",
    "set_current_tenant",
    "tenant_context",
    "tenant_scope",
    "tenant_scope_sync",
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
    from esctl.aggregates import AggregateRoot, DeclarativeAggregate
    from esctl.app import load_app
    from esctl.bus import InMemoryEventBus
    from esctl.errors import (
        AggregateNotFoundError,
        ConcurrencyError,
        DatabaseBusyError,
        DatabaseNotFoundError,
        DatabaseUnusableError,
        DuplicateEventError,
        DuplicateEventTypeError,
        EsctlError,
        EventRegistrationError,
        EventSourceError,
        EventTypeNotFoundError,
        EventVersionError,
        InvalidInputError,
        NotFoundError,
        OptimisticLockError,
        ProjectionError,
        ProjectionNotFoundError,
        SchemaTooNewError,
        TenantContextNotSetError,
        TenantMismatchError,
        UnhandledEventError,
        UnknownEventTypeError,
        UsageError,
        VerificationError,
    )
    from esctl.events import DomainEvent, EventStream, GenericEvent, StoredEvent, TenantDomainEvent, uuid7
    from esctl.handlers import get_handled_event_type, is_event_handler
    from esctl.ingest import EventReader, ImportResult, import_events
    from esctl.personal import Personal
    from esctl.projections.base import DeclarativeProjection, Projection, handles
    from esctl.projections.persisted import ReadModel, SQLProjection
    from esctl.projections.registry import ProjectionRegistry, default_projections, register_projection
    from esctl.projections.runner import ProjectionRunner
    from esctl.registry import (
        EventRegistry,
        default_registry,
        get_event_class,
        get_event_class_or_none,
        is_event_registered,
        list_registered_events,
        register_event,
    )
    from esctl.repository import AggregateRepository, TenantAwareRepository
    from esctl.store.interface import EventStore
    from esctl.store.memory import InMemoryEventStore, InMemorySnapshotStore
    from esctl.store.snapshots import Snapshot, SnapshotStore
    from esctl.store.sqlite import SQLiteEventStore
    from esctl.store.sqlite.snapshots import SQLiteSnapshotStore
    from esctl.store.types import AppendResult, ExpectedVersion, ReadDirection, ReadOptions
    from esctl.tenancy import (
        clear_tenant_context,
        get_current_tenant,
        get_required_tenant,
        require_tenant,
        set_current_tenant,
        tenant_context,
        tenant_scope,
        tenant_scope_sync,
    )
