"""Which events a command selects: the filter options' values, checked and made ``ReadOptions``.

Bad values are reported like bad input: a malformed UUID or timestamp is exit code 3 naming the
option; options that contradict each other (``--since`` after ``--until``) are exit code 2.
Free of Typer, so that the quick ``dump`` (``quick``) selects events exactly as ``dump`` does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

if TYPE_CHECKING:
    from esctl.store.types import ReadOptions


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
    no_tenant: bool = False

    def to_read_options(self, *, now: datetime | None = None) -> ReadOptions:
        """Return the ``ReadOptions`` these options select.

        Raises:
            InvalidInputError: A UUID or timestamp does not parse (exit code 3).
            UsageError: ``--since`` is after ``--until``, or ``--from-position`` after
                ``--to-position`` (exit code 2).
        """
        from datetime import UTC

        from esctl.errors import UsageError
        from esctl.store.types import ReadOptions
        from esctl.timeutil import parse_timestamp

        if self.no_tenant and self.tenants:
            raise UsageError(
                "--no-tenant selects events without a tenant, --tenant a tenant's",
                hint="give one of them (two dumps, appended, give both)",
            )
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
            # --from-position is inclusive; ReadOptions.from_position reads after its position.
            from_position=0 if self.from_position is None else self.from_position - 1,
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
