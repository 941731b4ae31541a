"""Projections: read models built by folding events, one handler per event type."""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, ClassVar

from esctl.events import DomainEvent, GenericEvent
from esctl.handlers import collect_handlers, get_handled_event_type, handles, is_event_handler

# ``handles`` and its helpers live in esctl.handlers (aggregates use them too); re-exported here,
# where projection code has always imported them from.
__all__ = [
    "DeclarativeProjection",
    "Projection",
    "event_type_names",
    "get_handled_event_type",
    "handles",
    "is_event_handler",
]


class Projection(abc.ABC):
    """Anything that turns events into a read model.

    Attributes:
        name: The projection's name for the runner and the CLI (default: the class name).
    """

    name: ClassVar[str] = ""

    @abc.abstractmethod
    async def handle(self, event: DomainEvent) -> None:
        """Apply one event to the read model."""

    @abc.abstractmethod
    async def reset(self) -> None:
        """Empty the read model, ready to be rebuilt from the first event."""

    @property
    def projection_name(self) -> str:
        """``name`` if the class sets one, else the class name."""
        return self.name or type(self).__name__

    def handled_event_types(self) -> frozenset[str] | None:
        """The event types this projection wants, or ``None`` for every type."""
        return None


class DeclarativeProjection(Projection):
    """A projection whose handlers are methods marked with ``@handles(EventClass)``.

    Events of classes it has no handler for are ignored. ``reset()`` calls
    ``_truncate_read_models()``, which a subclass overrides to empty its read model.
    """

    _handler_names: ClassVar[dict[type[DomainEvent], str]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._handler_names = collect_handlers(cls)

    def __init__(self) -> None:
        self._dispatch: dict[type[DomainEvent], Callable[[Any], Awaitable[None]]] = {
            event_class: getattr(self, attr) for event_class, attr in self._handler_names.items()
        }

    async def handle(self, event: DomainEvent) -> None:
        """Call the handler for the event's class (or its nearest base); ignore the rest."""
        for klass in type(event).__mro__:
            handler = self._dispatch.get(klass)
            if handler is not None:
                await handler(event)
                return

    async def reset(self) -> None:
        """Empty the read model through ``_truncate_read_models``."""
        await self._truncate_read_models()

    async def _truncate_read_models(self) -> None:
        """Empty the read model; subclasses with state override this."""

    def handled_event_types(self) -> frozenset[str] | None:
        """The ``event_type`` names of the classes this projection has handlers for."""
        return event_type_names(self._handler_names)


def event_type_names(event_classes: Iterable[type[DomainEvent]]) -> frozenset[str] | None:
    """Return the ``event_type`` names of ``event_classes``; ``None`` (every type) if one is ``DomainEvent``.

    ``GenericEvent`` stands for every type no class is registered for, so it also means all.
    """
    names: set[str] = set()
    for event_class in event_classes:
        if event_class is DomainEvent or event_class is GenericEvent:
            return None
        default = event_class.model_fields["event_type"].default
        names.add(default if isinstance(default, str) else event_class.__name__)
    return frozenset(names)
