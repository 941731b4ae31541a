"""A stored event row and its JSON form, without models: what dumps and row reads move.

Kept free of pydantic (only ``orjson`` and the standard library), so that the CLI's quick
``dump`` (``esctl.cli.quick``) starts without importing the models. ``esctl.codec`` builds
models from these rows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from esctl.timeutil import format_micros

ROW_COLUMNS: tuple[str, ...] = (
    "position",
    "event_id",
    "event_type",
    "event_version",
    "aggregate_type",
    "aggregate_id",
    "aggregate_version",
    "tenant_id",
    "occurred_at",
    "stored_at",
    "correlation_id",
    "causation_id",
    "actor_id",
    "payload",
    "metadata",
)
"""The columns of a stored event row, in the order stores return them."""

Row = tuple[Any, ...]
"""A stored row: the values of ``ROW_COLUMNS``, in that order."""

_POSITION = ROW_COLUMNS.index("position")
_STORED_AT = ROW_COLUMNS.index("stored_at")


def row_to_dict(row: Row) -> dict[str, Any]:
    """Return the event's JSON form for a stored row, plus ``position`` and ``stored_at``.

    No model is built: this is the fast path for dumps, which move rows without validating them.
    """
    data = json_form(row, format_micros)
    data["position"] = row[_POSITION]
    data["stored_at"] = format_micros(row[_STORED_AT])
    return data


def row_to_json_line(row: Row) -> bytes:
    """Return the NDJSON line (with its newline) for a stored row."""
    return detached(orjson.dumps(row_to_dict(row), option=orjson.OPT_APPEND_NEWLINE))


def json_form(row: Row, occurred_at: Callable[[int], Any]) -> dict[str, Any]:
    """The event's JSON form for a stored row, ``occurred_at`` (µs) turned by the given function."""
    (
        _position,
        event_id,
        event_type,
        event_version,
        aggregate_type,
        aggregate_id,
        aggregate_version,
        tenant_id,
        occurred,
        _stored_at,
        correlation_id,
        causation_id,
        actor_id,
        payload,
        metadata,
    ) = row
    data: dict[str, Any] = {
        "event_id": event_id,
        "event_type": event_type,
        "event_version": event_version,
        "occurred_at": occurred_at(occurred),
        "aggregate_id": aggregate_id,
        "aggregate_type": aggregate_type,
        "aggregate_version": aggregate_version,
        "tenant_id": tenant_id,
        "actor_id": actor_id,
        "correlation_id": correlation_id,
        "causation_id": causation_id,
        "metadata": orjson.loads(metadata),
    }
    data.update(orjson.loads(payload))
    return data


def detached(data: bytes) -> bytes:
    """Return a right-sized copy of bytes from orjson, so keeping many of them stays cheap.

    orjson builds its result in a 1 KiB buffer and shrinks it; holding thousands of those (a
    batch of rows, a page of dump lines) costs about 2 µs each in the allocator, measured on
    this machine, while copying a short result and freeing the buffer costs 0.1 µs.
    """
    return b"%s" % data
