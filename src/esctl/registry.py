"""Which class reads which event type, and how old versions of an event are upgraded."""

from __future__ import annotations

import inspect
import weakref
from collections.abc import Callable, Iterator
from typing import Any, TypeVar, overload

from esctl.errors import DuplicateEventTypeError, EventRegistrationError, EventTypeNotFoundError
from esctl.events import RESERVED_FIELDS, DomainEvent

E = TypeVar("E", bound=type[DomainEvent])
Upcaster = Callable[[dict[str, Any]], dict[str, Any]]
"""Turns the JSON form of an event at schema version N into its form at version N + 1."""


class EventRegistry:
    """Maps event type names to event classes, and holds upcasters.

    A type name belongs to one class. Registering a second, different class under a name
    already taken is an error; registering the same class again (same module and qualified
    name, as when a module is reloaded) replaces the old entry.

    A class's name is fixed once: by an ``event_type`` default declared in its body, or else
    by its first registration, which gives events built from the class that name. After that,
    registering it under another name (in another registry, say, to read an old name) only
    maps that name to the class here: it never changes the class, which other registries and
    all other code share.

    A registry is always true, even when empty, so ``registry or default_registry`` never
    swaps an empty private registry for the global one.

    Example:
        >>> registry = EventRegistry()
        >>> @register_event(registry=registry)
        ... class Pinged(DomainEvent):
        ...     aggregate_type: str = "Probe"
        >>> registry.get("Pinged") is Pinged
        True
    """

    def __init__(self) -> None:
        self._classes: dict[str, type[DomainEvent]] = {}
        self._upcasters: dict[tuple[str, int], Upcaster] = {}

    def register(self, cls: E, event_type: str | None = None) -> E:
        """Register ``cls`` under ``event_type`` (default: its ``event_type`` field default).

        Returns:
            ``cls``, so that ``@registry.register`` works as a decorator.

        Raises:
            DuplicateEventTypeError: The name belongs to another class (an
                ``EventRegistrationError`` and a ``ValueError``).
            EventRegistrationError: The class has a payload field named ``position`` or
                ``stored_at`` (a dump uses those names).
        """
        self._register(cls, event_type)
        return cls

    def _register(self, cls: type[DomainEvent], event_type: str | None) -> None:
        name = event_type or _default_event_type(cls)
        clash = RESERVED_FIELDS.intersection(cls.model_fields)
        if clash:
            raise EventRegistrationError(
                f"event class {cls.__qualname__} has a field named {sorted(clash)[0]!r}, which esctl reserves for dumps"
            )
        known = self._classes.get(name)
        if known is not None and known is not cls and _identity(known) != _identity(cls):
            raise DuplicateEventTypeError(name, known, cls)
        named = _NAMED.get(cls)
        if named is None:
            named = _NAMED[cls] = name if "event_type" not in inspect.get_annotations(cls) else _default_event_type(cls)
        if named == name and cls.model_fields["event_type"].default != name:
            # The first registration names the class: events built from it carry that name.
            cls.model_fields["event_type"].default = name
            cls.model_rebuild(force=True)
        else:
            # Event classes defer building their validators (``DomainEvent``'s defer_build); a
            # registered class is built now, so that one pydantic cannot build fails where it is
            # defined (an --app module's import), not at its first event.
            cls.model_rebuild()
        self._classes[name] = cls

    def get(self, event_type: str) -> type[DomainEvent]:
        """Return the class registered for ``event_type``.

        Raises:
            EventTypeNotFoundError: None is (a ``KeyError``); ``get_or_none`` returns ``None`` instead.
        """
        found = self._classes.get(event_type)
        if found is None:
            raise EventTypeNotFoundError(event_type, sorted(self._classes))
        return found

    def get_or_none(self, event_type: str) -> type[DomainEvent] | None:
        """Return the class registered for ``event_type``, or ``None``."""
        return self._classes.get(event_type)

    def contains(self, event_type: str) -> bool:
        """True when a class is registered under ``event_type``."""
        return event_type in self._classes

    def list_types(self) -> list[str]:
        """Return the registered names, sorted."""
        return sorted(self._classes)

    def list_classes(self) -> list[type[DomainEvent]]:
        """Return the registered classes, in the order of their sorted names."""
        return [cls for _, cls in self.items()]

    def unregister(self, event_type: str) -> bool:
        """Forget ``event_type``; True when it was registered."""
        return self._classes.pop(event_type, None) is not None

    def clear(self) -> None:
        """Forget every registered class and upcaster."""
        self._classes.clear()
        self._upcasters.clear()

    def __bool__(self) -> bool:
        return True

    def __contains__(self, event_type: object) -> bool:
        return event_type in self._classes

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._classes))

    def __len__(self) -> int:
        return len(self._classes)

    def items(self) -> list[tuple[str, type[DomainEvent]]]:
        """Return ``(event_type, class)`` pairs sorted by name."""
        return sorted(self._classes.items())

    def register_upcaster(self, event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
        """Decorator: register a function upgrading ``event_type`` from ``from_version`` to the next.

        Example:
            >>> registry = EventRegistry()
            >>> @registry.register_upcaster("OrderCreated", from_version=1)
            ... def add_currency(data):
            ...     return {**data, "currency": "EUR"}
        """

        def decorator(function: Upcaster) -> Upcaster:
            self._upcasters[(event_type, from_version)] = function
            return function

        return decorator

    def upcast(self, event_type: str, data: dict[str, Any]) -> dict[str, Any]:
        """Apply upcasters to ``data`` until its ``event_version`` has none left.

        Returns:
            The upgraded data, with ``event_version`` raised by one per upcaster applied.
        """
        version = int(data.get("event_version", 1))
        while (upcaster := self._upcasters.get((event_type, version))) is not None:
            data = upcaster(dict(data))
            version += 1
            data["event_version"] = version
        return data

    def has_upcasters(self, event_type: str) -> bool:
        """True when any upcaster is registered for ``event_type``."""
        return any(name == event_type for name, _ in self._upcasters)


_NAMED: weakref.WeakKeyDictionary[type[DomainEvent], str] = weakref.WeakKeyDictionary()
"""The name each registered class was given for good (see ``EventRegistry``)."""


def _default_event_type(cls: type[DomainEvent]) -> str:
    default = cls.model_fields["event_type"].default
    return default if isinstance(default, str) and default else cls.__name__


def _identity(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


default_registry = EventRegistry()
"""The registry ``@register_event`` uses when none is given."""


@overload
def register_event(cls: E, /) -> E: ...


@overload
def register_event(*, event_type: str | None = None, registry: EventRegistry | None = None) -> Callable[[E], E]: ...


def register_event(
    cls: E | None = None,
    /,
    *,
    event_type: str | None = None,
    registry: EventRegistry | None = None,
) -> E | Callable[[E], E]:
    """Register an event class so stores can read it back; bare or with arguments.

    Args:
        cls: The class, when used bare as ``@register_event``.
        event_type: The stored type name (default: the class's ``event_type`` default).
        registry: The registry to use (default: ``default_registry``).

    Returns:
        The class itself, unchanged.

    Raises:
        EventRegistrationError: The name is taken by a different class.

    Example:
        >>> @register_event(event_type="doc.Pinged", registry=EventRegistry())
        ... class Pinged(DomainEvent):
        ...     aggregate_type: str = "Probe"
    """
    target = registry if registry is not None else default_registry

    def decorator(event_cls: E) -> E:
        target.register(event_cls, event_type)
        return event_cls

    if cls is not None:
        return decorator(cls)
    return decorator


def get_event_class(event_type: str, *, registry: EventRegistry | None = None) -> type[DomainEvent]:
    """Return the class registered for ``event_type`` (default: in ``default_registry``).

    Raises:
        EventTypeNotFoundError: None is.
    """
    return (registry if registry is not None else default_registry).get(event_type)


def get_event_class_or_none(event_type: str, *, registry: EventRegistry | None = None) -> type[DomainEvent] | None:
    """Return the class registered for ``event_type``, or ``None``."""
    return (registry if registry is not None else default_registry).get_or_none(event_type)


def is_event_registered(event_type: str, *, registry: EventRegistry | None = None) -> bool:
    """True when a class is registered for ``event_type``."""
    return (registry if registry is not None else default_registry).contains(event_type)


def list_registered_events(*, registry: EventRegistry | None = None) -> list[str]:
    """Return the registered event type names, sorted."""
    return (registry if registry is not None else default_registry).list_types()
