"""The event filter options (``--tenant``, ``--type``, ``--since`` …) and their translation into
``ReadOptions``. ``dump`` uses them; any command that selects events can reuse them.

Bad values are reported like bad input: a malformed UUID or timestamp is exit code 3 naming the
option; options that contradict each other (``--since`` after ``--until``) are exit code 2.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Annotated
from uuid import UUID

import typer

if TYPE_CHECKING:
    from esctl.store.options import ReadOptions

TenantOption = Annotated[
    list[str] | None,
    typer.Option("--tenant", "-t", metavar="UUID", help="Only this tenant's events; repeat for several."),
]
AggregateTypeOption = Annotated[
    str | None, typer.Option("--aggregate-type", metavar="TYPE", help="Only streams of this aggregate type.")
]
AggregateIdOption = Annotated[
    str | None, typer.Option("--aggregate-id", metavar="UUID", help="Only this aggregate's events.")
]
EventTypeOption = Annotated[
    list[str] | None,
    typer.Option("--type", metavar="EVENT_TYPE", help="Only events of this type; repeat for several."),
]
SinceOption = Annotated[
    str | None,
    typer.Option(
        "--since",
        metavar="WHEN",
        help="Only events that occurred at or after WHEN: ISO 8601 with offset "
        "(2026-11-01T08:00:00Z) or a duration ago (90m, 24h, 7d).",
    ),
]
UntilOption = Annotated[
    str | None,
    typer.Option("--until", metavar="WHEN", help="Only events that occurred before WHEN (same forms as --since)."),
]
FromPositionOption = Annotated[
    int | None, typer.Option("--from-position", min=1, help="First global position (inclusive).")
]
ToPositionOption = Annotated[int | None, typer.Option("--to-position", min=1, help="Last global position (inclusive).")]
LimitOption = Annotated[int | None, typer.Option("--limit", "-n", min=0, help="At most this many events.")]


@dataclass(frozen=True, slots=True)
class EventFilter:
    """The raw values of the filter options, as given on the command line."""

    tenants: list[str] | None = None
    aggregate_type: str | None = None
    aggregate_id: str | None = None
    types: list[str] | None = None
    since: str | None = None
    until: str | None = None
    from_position: int | None = None
    to_position: int | None = None
    limit: int | None = None

    def to_read_options(self, *, now: datetime | None = None) -> ReadOptions:
        """Return the ``ReadOptions`` these options select.

        Raises:
            InvalidInputError: A UUID or timestamp does not parse (exit code 3).
            UsageError: ``--since`` is after ``--until``, or ``--from-position`` after
                ``--to-position`` (exit code 2).
        """
        from datetime import UTC

        from esctl.errors import UsageError
        from esctl.store.options import ReadOptions
        from esctl.timeutil import parse_timestamp

        moment = now if now is not None else datetime.now(UTC)
        since = None if self.since is None else parse_timestamp(self.since, field="--since", now=moment)
        until = None if self.until is None else parse_timestamp(self.until, field="--until", now=moment)
        if since is not None and until is not None and since > until:
            from esctl.timeutil import format_micros, to_micros

            raise UsageError(
                f"--since ({format_micros(to_micros(since))}) is later than "
                f"--until ({format_micros(to_micros(until))})",
                hint="swap --since and --until (the window is half-open: --since inclusive, --until exclusive)",
            )
        if self.from_position is not None and self.to_position is not None and self.from_position > self.to_position:
            raise UsageError(
                f"--from-position {self.from_position} is after --to-position {self.to_position}",
                hint="swap them: positions run from --from-position up to --to-position, both included",
            )
        return ReadOptions(
            from_position=self.from_position,
            to_position=self.to_position,
            limit=self.limit,
            tenant_ids=tuple(dict.fromkeys(parse_uuid(t, "--tenant") for t in self.tenants or ())),
            aggregate_type=self.aggregate_type,
            aggregate_id=None if self.aggregate_id is None else parse_uuid(self.aggregate_id, "--aggregate-id"),
            event_types=tuple(dict.fromkeys(self.types or ())),
            from_timestamp=since,
            to_timestamp=until,
        )


def parse_uuid(text: str, option: str) -> UUID:
    """Parse a UUID given on the command line.

    Raises:
        InvalidInputError: ``text`` is not a UUID (exit code 3), naming ``option``.
    """
    try:
        return UUID(text.strip())
    except ValueError:
        from esctl.errors import InvalidInputError

        hint = "tenant ids are UUIDs; `esctl tenants` lists them" if option == "--tenant" else None
        raise InvalidInputError(f"{text!r} is not a UUID", field=option, hint=hint) from None
