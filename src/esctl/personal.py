"""Personal fields of events: ``Annotated[str, Personal]`` marks what ``esctl redact`` overwrites.

A field declared personal holds data about a person (a name, an email address, a free-text
note) that the person may ask to have erased. ``EventStore.redact`` overwrites such fields of
the selected events with ``REDACTED`` and keeps everything else: id, type, versions, position,
times, tenant, and the other fields. Personal fields are strings, so a redacted event still
validates against its class (the marker is a string too) and still reads, dumps and replays.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from esctl.events import DomainEvent

REDACTED = "[redacted]"
"""What a redacted personal field holds afterwards."""


class Personal:
    """Marks a string field of an event class as personal data.

    Example:
        >>> from typing import Annotated
        >>> from esctl import DomainEvent, Personal
        >>> class CustomerRegistered(DomainEvent):
        ...     email: Annotated[str, Personal]
        ...     plan: str
        >>> personal_fields(CustomerRegistered)
        ('email',)
    """


def personal_fields(cls: type[DomainEvent]) -> tuple[str, ...]:
    """Return the names of the fields ``cls`` declares personal, in declaration order."""
    return tuple(
        name
        for name, info in cls.model_fields.items()
        if any(marker is Personal or isinstance(marker, Personal) for marker in info.metadata)
    )
