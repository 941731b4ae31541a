"""An in-process event bus: subscribers hear about events once they are saved."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from esctl.events import DomainEvent

Subscriber = Callable[[DomainEvent], Awaitable[None]]


class InMemoryEventBus:
    """Calls async subscribers for each published event, in subscription order.

    ``AggregateRepository(..., event_publisher=bus)`` publishes after each successful save.

    Example:
        >>> bus = InMemoryEventBus()
        >>> async def audit(event: DomainEvent) -> None: ...
        >>> bus.subscribe(audit, event_types=["OrderCreated"])
    """

    def __init__(self) -> None:
        self._subscribers: list[tuple[Subscriber, frozenset[str] | None]] = []

    def subscribe(self, subscriber: Subscriber, event_types: Sequence[str] | None = None) -> None:
        """Call ``subscriber`` for every published event, or only for ``event_types``."""
        self._subscribers.append((subscriber, None if event_types is None else frozenset(event_types)))

    async def publish(self, events: Sequence[DomainEvent]) -> None:
        """Deliver ``events`` to the subscribers, in order."""
        for event in events:
            for subscriber, types in self._subscribers:
                if types is None or event.event_type in types:
                    await subscriber(event)
