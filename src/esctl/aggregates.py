"""Aggregates: objects whose state is the fold of their own events."""

from __future__ import annotations

import abc
from collections.abc import Iterable
from typing import ClassVar, Generic, TypeVar
from uuid import UUID

from esctl.events import DomainEvent

TState = TypeVar("TState")


class AggregateRoot(abc.ABC, Generic[TState]):
    """Base class of event-sourced aggregates.

    A command method checks the current ``state``, then records what happened with
    ``apply_event``; ``_apply`` folds one event into the state. The repository saves
    ``uncommitted_events`` and rebuilds aggregates with ``load_from_history``.

    The state starts as ``_get_initial_state()``, built on first access so a subclass may set
    its own attributes after calling ``super().__init__``.

    Example:
        >>> class Counter(AggregateRoot[int]):
        ...     aggregate_type = "Counter"
        ...     def _get_initial_state(self) -> int:
        ...         return 0
        ...     def _apply(self, event: DomainEvent) -> None:
        ...         self._state = self.state + 1
    """

    aggregate_type: ClassVar[str] = ""

    def __init__(self, aggregate_id: UUID) -> None:
        self._aggregate_id = aggregate_id
        self._version = 0
        self._state: TState | None = None
        self._uncommitted: list[DomainEvent] = []

    @property
    def aggregate_id(self) -> UUID:
        """The aggregate's id."""
        return self._aggregate_id

    @property
    def version(self) -> int:
        """The version of the last event applied (0 for a new aggregate)."""
        return self._version

    @property
    def state(self) -> TState:
        """The current state."""
        if self._state is None:
            self._state = self._get_initial_state()
        return self._state

    @property
    def uncommitted_events(self) -> list[DomainEvent]:
        """Events applied since the last save, oldest first (a copy)."""
        return list(self._uncommitted)

    def get_next_version(self) -> int:
        """The version the next new event gets."""
        return self._version + 1

    def apply_event(self, event: DomainEvent, is_new: bool = True) -> None:
        """Fold ``event`` into the state; remember it for saving when ``is_new``."""
        self._apply(event)
        self._version = event.aggregate_version
        if is_new:
            self._uncommitted.append(event)

    def load_from_history(self, events: Iterable[DomainEvent]) -> None:
        """Replay stored events (not saved again)."""
        for event in events:
            self.apply_event(event, is_new=False)

    def mark_events_as_committed(self) -> None:
        """Forget the uncommitted events once they are stored."""
        self._uncommitted.clear()

    @abc.abstractmethod
    def _apply(self, event: DomainEvent) -> None:
        """Fold one event into ``self._state``."""

    @abc.abstractmethod
    def _get_initial_state(self) -> TState:
        """Return the state of an aggregate that has no events."""
