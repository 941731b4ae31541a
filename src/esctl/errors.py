"""One exception hierarchy for the library and the CLI.

Every error carries the exit code the CLI uses for it (see the README's exit-code table) and an
optional hint that tells the user what to do next. Driver errors (``sqlite3.Error``) are turned
into these classes inside the store, nowhere else.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Self

if TYPE_CHECKING:
    from esctl.store.types import AppendChunk


class ExitStatus(enum.IntEnum):
    """The process exit codes of ``esctl``, each with the line the help and README show for it."""

    OK = 0, "ok"
    INTERNAL = 1, "internal error"
    USAGE = 2, "usage"
    INVALID_INPUT = 3, "invalid input"
    CONFLICT = 4, "version conflict"
    NOT_FOUND = 5, "not found"
    BUSY = 6, "database busy"
    UNUSABLE = 7, "database unusable"
    VERIFICATION = 8, "verification or projection failure"
    INTERRUPTED = 130, "interrupted"

    description: str

    def __new__(cls, value: int, description: str) -> Self:
        member = int.__new__(cls, value)
        member._value_ = value
        member.description = description
        return member

    @classmethod
    def summary(cls) -> str:
        """Return ``"0 ok, 1 internal error, …"``: the codes as the help text lists them."""
        return ", ".join(f"{status.value} {status.description}" for status in cls)


class EsctlError(Exception):
    """Base class of every error esctl raises on purpose.

    Attributes:
        exit_code: The process exit code the CLI uses for this error.
        hint: A short suggestion for the user, shown after the message.
        batch_index: For an append refused because of one event: that event's index in its
            batch, or in ``batch_chunk`` when the append came in chunks.
        batch_chunk: For an append in chunks (``EventStore.append_chunks``): the chunk holding
            the event the error is about.
    """

    exit_code: ExitStatus = ExitStatus.INTERNAL
    batch_index: int | None = None
    batch_chunk: AppendChunk | None = None

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def in_batch(self, index: int, chunk: AppendChunk | None = None) -> Self:
        """Mark this error as being about the event at ``index`` of its batch (or ``chunk``)."""
        self.batch_index = index
        if chunk is not None:
            self.batch_chunk = chunk
        return self


EventSourceError = EsctlError
"""The classic API's name for the base of every library error (the same class)."""


class UsageError(EsctlError):
    """Options that do not fit together (exit code 2)."""

    exit_code = ExitStatus.USAGE


class InvalidInputError(EsctlError):
    """Input that cannot be accepted: bad JSON, a failed validation, a bad UUID (exit code 3).

    Attributes:
        line: The 1-based input line the error is about, when the input had lines.
        field: The field that is wrong, when one is.
    """

    exit_code = ExitStatus.INVALID_INPUT

    def __init__(
        self,
        message: str,
        *,
        line: int | None = None,
        field: str | None = None,
        hint: str | None = None,
    ) -> None:
        where = []
        if line is not None:
            where.append(f"line {line}")
        if field is not None:
            where.append(f"field '{field}'")
        full = f"{', '.join(where)}: {message}" if where else message
        super().__init__(full, hint=hint)
        self.line = line
        self.field = field
        self.reason = message

    def at_line(self, line: int) -> InvalidInputError:
        """Return a copy of this error that names ``line``."""
        return type(self)(self.reason, line=line, field=self.field, hint=self.hint)


class DuplicateEventError(InvalidInputError):
    """An ``event_id`` that is already stored (or repeated in a batch) with other content."""


class TenantMismatchError(InvalidInputError, PermissionError):
    """An event or aggregate of one tenant used where another tenant (or none) is required.

    It is also a ``PermissionError``, so code written as in the tutorial
    (``except PermissionError``) catches it. Built either as esctl does (a message) or as the
    classic API does: ``TenantMismatchError(expected, actual, event_ids)``.

    Attributes:
        expected: The tenant that was required (classic form), else ``None``.
        actual: The tenant found (classic form), else ``None``.
        event_ids: The events found with the wrong tenant (classic form), else empty.
    """

    def __init__(
        self,
        *args: Any,
        line: int | None = None,
        field: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.expected: Any = None
        self.actual: Any = None
        self.event_ids: list[Any] = []
        if len(args) == 1 and isinstance(args[0], str):
            message = args[0]
        else:
            expected, actual, *rest = (*args, None, None)[: max(len(args), 2)]
            self.expected, self.actual = expected, actual
            self.event_ids = list(rest[0]) if rest and rest[0] is not None else []
            message = f"tenant mismatch: expected tenant {expected or 'none'}, got {actual or 'none'}"
            if self.event_ids:
                message += f" ({len(self.event_ids)} event(s), first {self.event_ids[0]})"
        super().__init__(message, line=line, field=field, hint=hint)

    def at_line(self, line: int) -> InvalidInputError:
        """Return a copy of this error that names ``line``."""
        copy = TenantMismatchError(self.reason, line=line, field=self.field, hint=self.hint)
        copy.expected, copy.actual, copy.event_ids = self.expected, self.actual, self.event_ids
        return copy


class EventRegistrationError(UsageError):
    """A programming error while registering event classes (two classes under one name).

    Exit code 2, like any ``--app`` module that cannot be used.
    """


class DuplicateEventTypeError(EventRegistrationError, ValueError):
    """Two different classes registered under one event type name (exit code 2).

    Also a ``ValueError``, as in the classic API.

    Attributes:
        event_type: The name.
        existing_class: The class registered under it first.
        new_class: The class refused.
    """

    def __init__(self, event_type: str, existing_class: type, new_class: type, *, hint: str | None = None) -> None:
        super().__init__(
            f"event type {event_type!r} is already registered to {_qualified(existing_class)}; "
            f"cannot register {_qualified(new_class)} under the same name",
            hint=hint or "give one of the classes another event_type",
        )
        self.event_type = event_type
        self.existing_class = existing_class
        self.new_class = new_class


class TenantContextNotSetError(UsageError, ValueError):
    """Code that needs the current tenant ran where none is set (exit code 2).

    Also a ``ValueError``: ``require_tenant`` raised a plain ``ValueError`` before this class existed.
    """

    def __init__(self, message: str = "Tenant context not set", *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint or "set one with tenant_scope(tenant_id) or set_current_tenant")


class UnhandledEventError(EsctlError):
    """An aggregate with ``unregistered_event_handling = "error"`` met an event it has no handler for.

    Exit code 8, as for a projection handler that fails.

    Attributes:
        event_type: The event's type.
        event_id: The event's id.
        handler_class: The aggregate's class name.
        available_handlers: The event types the class handles.
    """

    exit_code = ExitStatus.VERIFICATION

    def __init__(
        self, event_type: str, event_id: Any, handler_class: str, available_handlers: Sequence[str] = ()
    ) -> None:
        handled = ", ".join(available_handlers) or "none"
        super().__init__(
            f"{handler_class} has no handler for event {event_type} ({event_id}); it handles: {handled}",
            hint="add a @handles method, or set unregistered_event_handling to 'ignore' or 'warn'",
        )
        self.event_type = event_type
        self.event_id = event_id
        self.handler_class = handler_class
        self.available_handlers = list(available_handlers)


class ConcurrencyError(EsctlError):
    """Base class of concurrency conflicts (exit code 4)."""

    exit_code = ExitStatus.CONFLICT


class OptimisticLockError(ConcurrencyError):
    """The stream's version is not the one the writer expected.

    Built either as esctl does (a message, details as keywords) or as the classic API does:
    ``OptimisticLockError(aggregate_id, expected_version, actual_version)``.

    Attributes:
        aggregate_id: The stream's aggregate id.
        expected: What the writer expected (a version or an ``ExpectedVersion``).
        actual: The stream's version when the append was tried.
        expected_version: ``expected`` under its classic name.
        actual_version: ``actual`` under its classic name.
    """

    def __init__(
        self,
        *args: Any,
        aggregate_id: object = None,
        expected: object = None,
        actual: int | None = None,
    ) -> None:
        if len(args) == 1 and isinstance(args[0], str):
            message = args[0]
        elif len(args) == 3:
            aggregate_id, expected, actual = args
            message = f"aggregate {aggregate_id} is at version {actual}, expected version {expected}"
        else:
            raise TypeError("OptimisticLockError(message, ...) or OptimisticLockError(aggregate_id, expected, actual)")
        super().__init__(message, hint="reload the aggregate and retry, or drop --expected-version")
        self.aggregate_id = aggregate_id
        self.expected = expected
        self.actual = actual

    @property
    def expected_version(self) -> object:
        """What the writer expected (classic name of ``expected``)."""
        return self.expected

    @property
    def actual_version(self) -> int | None:
        """The stream's version (classic name of ``actual``)."""
        return self.actual


class EventVersionError(ConcurrencyError):
    """An aggregate was given an event whose version does not follow its own (exit code 4).

    Raised by ``AggregateRoot.apply_event`` when the class's ``validate_versions`` is true.

    Attributes:
        expected_version: The version the event should have had.
        actual_version: The version it had.
        event_id: The event's id.
        aggregate_id: The aggregate's id.
    """

    def __init__(self, expected_version: int, actual_version: int, event_id: Any, aggregate_id: Any) -> None:
        super().__init__(
            f"event {event_id} has version {actual_version}; aggregate {aggregate_id} expected {expected_version}",
            hint="build events with aggregate_version=self.get_next_version(), or leave it unset",
        )
        self.expected_version = expected_version
        self.actual_version = actual_version
        self.event_id = event_id
        self.aggregate_id = aggregate_id


class NotFoundError(EsctlError):
    """Something named does not exist (exit code 5)."""

    exit_code = ExitStatus.NOT_FOUND


class AggregateNotFoundError(NotFoundError):
    """``AggregateRepository.load`` found no events for the aggregate.

    Built either with a message or as the classic API does:
    ``AggregateNotFoundError(aggregate_id, aggregate_type=None)``.

    Attributes:
        aggregate_id: The aggregate's id (classic form), else ``None``.
        aggregate_type: Its type, when known.
    """

    def __init__(self, *args: Any, hint: str | None = None) -> None:
        self.aggregate_id: Any = None
        self.aggregate_type: str | None = None
        if len(args) == 1 and isinstance(args[0], str):
            message = args[0]
        elif 1 <= len(args) <= 2:
            self.aggregate_id = args[0]
            self.aggregate_type = args[1] if len(args) == 2 else None
            message = f"{self.aggregate_type or 'aggregate'} {self.aggregate_id} not found"
        else:
            raise TypeError("AggregateNotFoundError(message) or AggregateNotFoundError(aggregate_id, aggregate_type)")
        super().__init__(message, hint=hint)


class DatabaseNotFoundError(NotFoundError):
    """The database file does not exist (read commands never create one)."""


class ProjectionNotFoundError(NotFoundError):
    """No projection is registered under the given name."""


class UnknownEventTypeError(NotFoundError):
    """An event type that no registered class has."""


class EventTypeNotFoundError(UnknownEventTypeError, KeyError):
    """``EventRegistry.get`` was asked for a name no class is registered under (exit code 5).

    Also a ``KeyError``, as in the classic API.

    Attributes:
        event_type: The name asked for.
        available_types: The names that are registered.
    """

    def __init__(self, event_type: str, available_types: Sequence[str] = ()) -> None:
        known = ", ".join(sorted(available_types)[:10]) or "none"
        super().__init__(f"no event class is registered as {event_type!r} (registered: {known})")
        self.event_type = event_type
        self.available_types = list(available_types)

    def __str__(self) -> str:
        # KeyError's str() is the repr of its argument; the one-line message reads better.
        return self.message


class DatabaseBusyError(EsctlError):
    """The database stayed locked by another writer past the busy timeout (exit code 6)."""

    exit_code = ExitStatus.BUSY


class DatabaseUnusableError(EsctlError):
    """The database cannot be used: not SQLite, corrupt, read-only, disk full (exit code 7)."""

    exit_code = ExitStatus.UNUSABLE


class SchemaTooNewError(DatabaseUnusableError):
    """The database was written by a newer esctl whose schema this one does not know."""


class VerificationError(EsctlError):
    """``verify`` found problems, or a projection handler failed (exit code 8)."""

    exit_code = ExitStatus.VERIFICATION


class ProjectionError(VerificationError):
    """A projection handler raised; the projection stopped at the failing event."""


def _qualified(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"
