"""Time as esctl stores and parses it: aware UTC datetimes and integer UTC microseconds.

The store keeps ``occurred_at`` and ``stored_at`` as integer microseconds since the Unix epoch, so
comparisons are exact and independent of the offset the input was written in.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from esctl.errors import InvalidInputError

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MICROSECOND = timedelta(microseconds=1)
_RELATIVE = re.compile(r"^\s*(\d+)\s*(s|m|h|d|w)\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def to_micros(moment: datetime) -> int:
    """Return ``moment`` (an aware datetime) as integer microseconds since the epoch."""
    return (moment - EPOCH) // _ONE_MICROSECOND


def now_micros() -> int:
    """Return the current time as integer UTC microseconds since the epoch."""
    return to_micros(datetime.now(UTC))


def from_micros(micros: int) -> datetime:
    """Return the aware UTC datetime for integer microseconds since the epoch."""
    return EPOCH + timedelta(microseconds=micros)


def format_micros(micros: int) -> str:
    """Format epoch microseconds as ISO 8601 in UTC with a ``Z`` suffix.

    The format is the one pydantic writes for an aware UTC datetime, so an event dumped
    through the fast path and one dumped through its model read the same.

    Example:
        >>> format_micros(0)
        '1970-01-01T00:00:00Z'
    """
    text = from_micros(micros).isoformat()
    return text[:-6] + "Z"


def ensure_aware_utc(moment: datetime, *, field: str = "timestamp") -> datetime:
    """Return ``moment`` converted to UTC; a naive datetime is an error.

    Raises:
        InvalidInputError: ``moment`` has no timezone.
    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidInputError(
            "timestamp has no timezone",
            field=field,
            hint="write it with an offset, e.g. 2026-11-01T08:00:00Z",
        )
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise InvalidInputError(f"{moment.isoformat()} is out of range in UTC", field=field) from None


def parse_timestamp(text: str, *, field: str = "timestamp", now: datetime | None = None) -> datetime:
    """Parse an ISO 8601 timestamp with an offset, or a duration before now (``90m``, ``24h``, ``7d``).

    Args:
        text: ``2026-11-01T08:00:00Z``, ``2026-11-01T09:00:00+01:00``, or ``<n>s|m|h|d|w``.
        field: The name used in error messages.
        now: The moment relative durations count back from (default: the current time).

    Returns:
        An aware datetime in UTC.

    Raises:
        InvalidInputError: The text is neither form, or the timestamp has no offset.

    Example:
        >>> parse_timestamp("2026-11-01T09:00:00+01:00").isoformat()
        '2026-11-01T08:00:00+00:00'
    """
    relative = _RELATIVE.match(text)
    if relative:
        amount, unit = int(relative.group(1)), relative.group(2)
        base = now if now is not None else datetime.now(UTC)
        try:
            return base - timedelta(seconds=amount * _UNIT_SECONDS[unit])
        except OverflowError:
            raise InvalidInputError(f"{text!r} reaches back before year 1", field=field) from None
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInputError(
            f"cannot parse {text!r} as a timestamp",
            field=field,
            hint="use ISO 8601 with an offset (2026-11-01T08:00:00Z) or a duration (90m, 24h, 7d)",
        ) from None
    return ensure_aware_utc(parsed, field=field)
