"""One exception hierarchy for the library and the CLI.

Every error carries the exit code the CLI uses for it (see the README's exit-code table) and an
optional hint that tells the user what to do next. Driver errors (``sqlite3.Error``) are turned
into these classes inside the store, nowhere else.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Self

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
    (``except PermissionError``) catches it.
    """


class EventRegistrationError(UsageError):
    """A programming error while registering event classes (two classes under one name).

    Exit code 2, like any ``--app`` module that cannot be used.
    """


class ConcurrencyError(EsctlError):
    """Base class of concurrency conflicts (exit code 4)."""

    exit_code = ExitStatus.CONFLICT


class OptimisticLockError(ConcurrencyError):
    """The stream's version is not the one the writer expected.

    Attributes:
        aggregate_id: The stream's aggregate id.
        expected: What the writer expected, as text.
        actual: The stream's version when the append was tried.
    """

    def __init__(
        self, message: str, *, aggregate_id: object = None, expected: object = None, actual: int | None = None
    ) -> None:
        super().__init__(message, hint="reload the aggregate and retry, or drop --expected-version")
        self.aggregate_id = aggregate_id
        self.expected = expected
        self.actual = actual


class NotFoundError(EsctlError):
    """Something named does not exist (exit code 5)."""

    exit_code = ExitStatus.NOT_FOUND


class AggregateNotFoundError(NotFoundError):
    """``AggregateRepository.load`` found no events for the aggregate."""


class DatabaseNotFoundError(NotFoundError):
    """The database file does not exist (read commands never create one)."""


class ProjectionNotFoundError(NotFoundError):
    """No projection is registered under the given name."""


class UnknownEventTypeError(NotFoundError):
    """An event type that no registered class has."""


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
