"""Aggregates: objects whose state is the fold of their own events."""

from __future__ import annotations

import abc
import warnings
import weakref
from collections.abc import Callable, Iterable
from typing import Any, ClassVar, Generic, Literal, TypeVar, get_args, get_origin
from uuid import UUID

from pydantic import TypeAdapter

from esctl.errors import EventVersionError, UnhandledEventError
from esctl.events import DomainEvent
from esctl.handlers import collect_handlers, find_handler
from esctl.tenancy import get_current_tenant

TState = TypeVar("TState")
E = TypeVar("E", bound=DomainEvent)


class AggregateRoot(abc.ABC, Generic[TState]):
    """Base class of event-sourced aggregates.

    A command method checks the current ``state``, then records what happened with
    ``apply_event``; ``_apply`` folds one event into the state. The repository saves
    ``uncommitted_events`` and rebuilds aggregates with ``load_from_history``.

    The state starts as ``_get_initial_state()``, built on first access so a subclass may set
    its own attributes after calling ``super().__init__``. It is never ``None``.

    Two aggregates are equal when they have the same class, type and id (whatever their
    version), and hash alike.

    Attributes:
        aggregate_type: The stream type of this class's aggregates.
        validate_versions: When true (the default), ``apply_event`` refuses an event whose
            version does not follow the aggregate's (``EventVersionError``).
        schema_version: The version of the state's shape, for snapshots: raise it when the
            state changes shape, and older snapshots are ignored (the aggregate is replayed).

    Example:
        >>> class Counter(AggregateRoot[int]):
        ...     aggregate_type = "Counter"
        ...     def _get_initial_state(self) -> int:
        ...         return 0
        ...     def _apply(self, event: DomainEvent) -> None:
        ...         self._state = self.state + 1
    """

    aggregate_type: ClassVar[str] = ""
    validate_versions: ClassVar[bool] = True
    schema_version: ClassVar[int] = 1

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

    @property
    def has_uncommitted_events(self) -> bool:
        """True when events were applied since the last save."""
        return bool(self._uncommitted)

    def clear_uncommitted_events(self) -> list[DomainEvent]:
        """Forget the uncommitted events and return them, oldest first."""
        events, self._uncommitted = self._uncommitted, []
        return events

    def get_next_version(self) -> int:
        """The version the next new event gets."""
        return self._version + 1

    def apply_event(self, event: DomainEvent, is_new: bool = True) -> None:
        """Fold ``event`` into the state; remember it for saving when ``is_new``.

        A new event built without an explicit ``aggregate_version`` gets the next version.

        Raises:
            EventVersionError: ``validate_versions`` is true and the event's version does not
                follow the aggregate's.
        """
        if is_new and "aggregate_version" not in event.model_fields_set:
            event = event.with_aggregate_version(self.get_next_version())
        if self.validate_versions and event.aggregate_version != self._version + 1:
            raise EventVersionError(self._version + 1, event.aggregate_version, event.event_id, self._aggregate_id)
        self._apply(event)
        self._version = event.aggregate_version
        if is_new:
            self._uncommitted.append(event)

    def _raise_event(self, event: DomainEvent) -> None:
        """Apply a new event and remember it for saving (the classic name of ``apply_event``)."""
        self.apply_event(event, is_new=True)

    def load_from_history(self, events: Iterable[DomainEvent]) -> None:
        """Replay stored events (not saved again)."""
        for event in events:
            self.apply_event(event, is_new=False)

    def mark_events_as_committed(self) -> None:
        """Forget the uncommitted events once they are stored."""
        self._uncommitted.clear()

    # -- snapshots (esctl.repository.AggregateRepository with snapshot_every) ------------------

    def snapshot_state(self) -> Any:
        """Return the state as JSON-ready values, for a snapshot.

        The default dumps the state through pydantic as the class's ``TState`` (a model, a
        dict, a list…); a state pydantic cannot handle needs this and ``restore_snapshot``
        overridden together.
        """
        return _state_adapter(self).dump_python(self.state, mode="json")

    def restore_snapshot(self, state: Any, version: int) -> None:
        """Set the state from ``snapshot_state``'s output, as of ``version``.

        Raises:
            ValueError: ``state`` does not validate as the class's state (the repository then
                ignores the snapshot and replays the events).
        """
        restored = _state_adapter(self).validate_python(state)
        if restored is None:
            raise ValueError("a snapshot's state is never None")
        self._state = restored
        self._version = version
        self._uncommitted = []

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AggregateRoot):
            return NotImplemented
        return (
            type(self) is type(other)
            and self.aggregate_type == other.aggregate_type
            and self._aggregate_id == other._aggregate_id
        )

    def __hash__(self) -> int:
        return hash((type(self), self.aggregate_type, self._aggregate_id))

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"{name}(id={self._aggregate_id}, version={self._version}, uncommitted={len(self._uncommitted)})"

    @abc.abstractmethod
    def _apply(self, event: DomainEvent) -> None:
        """Fold one event into ``self._state``."""

    @abc.abstractmethod
    def _get_initial_state(self) -> TState:
        """Return the state of an aggregate that has no events."""


def _state_adapter(aggregate: AggregateRoot[Any]) -> TypeAdapter[Any]:
    cls = type(aggregate)
    adapter = _ADAPTERS.get(cls)
    if adapter is None:
        adapter = _ADAPTERS[cls] = TypeAdapter(_state_type(cls) or type(aggregate.state))
    return adapter


def _state_type(cls: type) -> Any:
    """The type ``TState`` is bound to for ``cls`` (``Order(AggregateRoot[OrderState])``), or ``None``."""
    for klass in cls.__mro__:
        for base in getattr(klass, "__orig_bases__", ()):
            origin = get_origin(base)
            if isinstance(origin, type) and issubclass(origin, AggregateRoot):
                args = get_args(base)
                if args and not isinstance(args[0], TypeVar):
                    return args[0]
    return None


_ADAPTERS: weakref.WeakKeyDictionary[type, TypeAdapter[Any]] = weakref.WeakKeyDictionary()


UnregisteredEventHandling = Literal["ignore", "warn", "error"]
"""What a ``DeclarativeAggregate`` does with an event it has no handler for."""


class DeclarativeAggregate(AggregateRoot[TState]):
    """An aggregate whose ``_apply`` calls the ``@handles(EventClass)`` method for each event.

    A handler is ``def handler(self, event)`` and sets ``self._state``; an event whose class
    (or nearest base class) has no handler is ignored, warned about, or refused, as
    ``unregistered_event_handling`` says.

    Example:
        >>> from esctl import handles
        >>> class Opened(DomainEvent):
        ...     aggregate_type: str = "Account"
        >>> class Account(DeclarativeAggregate[int]):
        ...     aggregate_type = "Account"
        ...     def _get_initial_state(self) -> int:
        ...         return 0
        ...     @handles(Opened)
        ...     def _on_opened(self, event: Opened) -> None:
        ...         self._state = 1
        ...     def open(self) -> None:
        ...         self.apply_event(self.create_event(Opened))
    """

    unregistered_event_handling: ClassVar[UnregisteredEventHandling] = "ignore"
    _handler_names: ClassVar[dict[type[DomainEvent], str]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._handler_names = collect_handlers(cls)

    def _apply(self, event: DomainEvent) -> None:
        name = find_handler(self._handler_names, event)
        if name is not None:
            handler: Callable[[DomainEvent], None] = getattr(self, name)
            handler(event)
            return
        mode = self.unregistered_event_handling
        if mode == "ignore":
            return
        handled = sorted(cls.__name__ for cls in self._handler_names)
        error = UnhandledEventError(event.event_type, event.event_id, type(self).__name__, handled)
        if mode == "warn":
            warnings.warn(error.message, RuntimeWarning, stacklevel=4)
            return
        raise error

    def create_event(self, event_class: type[E], **fields: Any) -> E:
        """Build an event of this aggregate, ready for ``apply_event`` (it is not applied).

        Fills ``aggregate_id``, ``aggregate_type``, ``aggregate_version`` (the next version) and
        ``tenant_id`` (the aggregate's ``tenant_id`` attribute if it has one, else the current
        context's tenant), unless ``fields`` gives them.

        Example:
            >>> # self.apply_event(self.create_event(OrderShipped, tracking_number="T1"))
        """
        values: dict[str, Any] = {
            "aggregate_id": self.aggregate_id,
            "aggregate_version": self.get_next_version(),
        }
        if self.aggregate_type:
            values["aggregate_type"] = self.aggregate_type
        tenant = getattr(self, "tenant_id", None)
        if tenant is None:
            tenant = get_current_tenant()
        if tenant is not None:
            values["tenant_id"] = tenant
        values.update(fields)
        return event_class(**values)
