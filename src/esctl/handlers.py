"""``@handles``: marking methods as the handler of one event class, for projections and aggregates."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from esctl.events import DomainEvent

_HANDLES_ATTR = "__esctl_handles__"
F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


def handles(event_class: type[DomainEvent]) -> Callable[[F], F]:
    """Mark a method as the handler of ``event_class``.

    On a ``DeclarativeProjection`` the method is ``async def handler(self, event)``; on a
    ``SQLProjection`` it is ``def handler(self, db, event)``; on a ``DeclarativeAggregate`` it is
    ``def handler(self, event)``.

    Example:
        >>> from esctl import DeclarativeProjection
        >>> class Totals(DeclarativeProjection):
        ...     @handles(DomainEvent)
        ...     async def _on_any(self, event: DomainEvent) -> None: ...
    """

    def decorator(method: F) -> F:
        setattr(method, _HANDLES_ATTR, event_class)
        return method

    return decorator


def get_handled_event_type(function: Callable[..., Any]) -> type[DomainEvent] | None:
    """Return the event class ``function`` was marked with by ``@handles``, or ``None``."""
    found = getattr(function, _HANDLES_ATTR, None)
    return found if isinstance(found, type) and issubclass(found, DomainEvent) else None


def is_event_handler(function: Callable[..., Any]) -> bool:
    """True when ``function`` is marked with ``@handles``."""
    return get_handled_event_type(function) is not None


def collect_handlers(cls: type) -> dict[type[DomainEvent], str]:
    """Return, for a class with ``@handles`` methods, the method name handling each event class.

    A subclass's handler for an event class replaces its base's.
    """
    found: dict[type[DomainEvent], str] = {}
    for klass in reversed(cls.__mro__):
        for attr, value in vars(klass).items():
            event_class = getattr(value, _HANDLES_ATTR, None)
            if event_class is not None:
                found[event_class] = attr
    return found


def find_handler(dispatch: Mapping[type[DomainEvent], T], event: DomainEvent) -> T | None:
    """Return the handler for the event's class, or for its nearest base class that has one."""
    for klass in type(event).__mro__:
        handler = dispatch.get(klass)
        if handler is not None:
            return handler
    return None
