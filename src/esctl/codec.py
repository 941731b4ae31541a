"""Events to and from rows, JSON and NDJSON lines (with ``esctl.rows``, the only modules that
import orjson).

A stored row has the columns of ``ROW_COLUMNS`` (``esctl.rows``); the payload (the fields a subclass adds) and the
metadata are compact JSON bytes. The JSON form of an event is its model's JSON: the envelope
fields and the payload fields side by side in one object. A dump line adds ``position`` and
``stored_at``; reading a line back ignores those two.
"""

from __future__ import annotations

import itertools
import operator
import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import orjson
from pydantic import ValidationError
from pydantic_core import PydanticSerializationError

from esctl.errors import EsctlError, ExitStatus, InvalidInputError
from esctl.events import ENVELOPE_FIELDS, RESERVED_FIELDS, DomainEvent, GenericEvent, StoredEvent, stream_id
from esctl.registry import EventRegistry, default_registry
from esctl.rows import ROW_COLUMNS, Row, detached, json_form
from esctl.timeutil import EPOCH, format_micros, from_micros, to_micros

INSERT_COLUMNS: tuple[str, ...] = tuple(c for c in ROW_COLUMNS if c != "position")
"""The columns an insert writes (the store assigns ``position``)."""

InsertRow = list[Any]
"""An insert row: the values of ``INSERT_COLUMNS``, in that order."""

STORED_AT = INSERT_COLUMNS.index("stored_at")
"""Where ``stored_at`` sits in an insert row (``None`` until the store fills it in)."""
AGGREGATE_VERSION = INSERT_COLUMNS.index("aggregate_version")
"""Where ``aggregate_version`` sits in an insert row (``None`` when the store is to assign it)."""
OCCURRED_AT = INSERT_COLUMNS.index("occurred_at")
"""Where ``occurred_at`` (UTC microseconds) sits in an insert row."""

_ENVELOPE = set(ENVELOPE_FIELDS)
_REQUIRED = ("event_type", "aggregate_id", "aggregate_type")
_EMPTY_OBJECT = b"{}"
_MICROSECOND = timedelta(microseconds=1)


class EventDecodeError(EsctlError):
    """A stored event that cannot be read back with its registered class (exit code 8)."""

    exit_code = ExitStatus.VERIFICATION


def dumps(value: Any) -> bytes:
    """Serialize ``value`` as compact JSON bytes (UUIDs and datetimes included)."""
    return orjson.dumps(value)


loads = orjson.loads
"""Parse JSON bytes or text (orjson's parser itself: imports call it once per input line)."""


def canonical(value: Any) -> bytes:
    """Serialize ``value`` as compact JSON with sorted keys: equal values give equal bytes."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def serializable(value: Any) -> bool:
    """True when ``value`` can be written as JSON (it is not nested too deeply, say)."""
    try:
        orjson.dumps(value)
    except TypeError:
        return False
    return True


def event_to_row(event: DomainEvent, stored_at: int) -> InsertRow:
    """Return the insert row (``INSERT_COLUMNS`` order) for ``event`` stored at ``stored_at`` µs.

    Raises:
        InvalidInputError: The event's metadata is not JSON-serializable.
    """
    return events_to_rows([event], stored_at)[0]


def stored_event_to_row(stored: StoredEvent) -> Row:
    """Return the stored row (``rows.ROW_COLUMNS`` order) of an event read back from any store."""
    return (stored.global_position, *event_to_row(stored.event, to_micros(stored.stored_at)))


def events_to_rows(events: Sequence[DomainEvent], stored_at: int) -> list[InsertRow]:
    """Return the insert rows (``INSERT_COLUMNS`` order) for ``events``, all stored at ``stored_at`` µs.

    The batch form of ``event_to_row``, and the one appends use: it is several times faster per
    event, which matters because encoding, not SQLite, was most of an append's time.

    Raises:
        InvalidInputError: An event's metadata is not JSON-serializable.
    """
    event_ids = _uuid_texts([e.event_id for e in events])
    aggregate_ids = _uuid_texts([e.aggregate_id for e in events])
    tenant_ids = _uuid_texts([e.tenant_id for e in events])
    correlation_ids = _uuid_texts([e.correlation_id for e in events])
    causation_ids = _uuid_texts([e.causation_id for e in events])
    try:
        return _rows(events, stored_at, event_ids, aggregate_ids, tenant_ids, correlation_ids, causation_ids)
    except PydanticSerializationError as error:
        raise InvalidInputError(f"an event's payload cannot be written as JSON ({error})", field="payload") from None


def _rows(
    events: Sequence[DomainEvent],
    stored_at: int,
    event_ids: list[Any],
    aggregate_ids: list[Any],
    tenant_ids: list[Any],
    correlation_ids: list[Any],
    causation_ids: list[Any],
) -> list[InsertRow]:
    epoch, microsecond = EPOCH, _MICROSECOND  # ``to_micros``, inlined: this loop is per event
    return [
        [
            event_ids[index],
            event.event_type,
            event.event_version,
            event.aggregate_type,
            aggregate_ids[index],
            event.aggregate_version,
            tenant_ids[index],
            (event.occurred_at - epoch) // microsecond,
            stored_at,
            correlation_ids[index],
            causation_ids[index],
            event.actor_id,
            # The serializer ``model_dump_json`` calls, without its bytes -> str -> bytes trip.
            event.__pydantic_serializer__.to_json(event, exclude=_ENVELOPE),
            _metadata_bytes(event.metadata) if event.metadata else _EMPTY_OBJECT,
        ]
        for index, event in enumerate(events)
    ]


def _metadata_bytes(metadata: dict[str, Any]) -> bytes:
    try:
        return detached(orjson.dumps(metadata))
    except TypeError as error:
        raise InvalidInputError(f"metadata is not JSON-serializable: {error}", field="metadata") from None


def _uuid_texts(values: list[Any]) -> list[Any]:
    """Return the canonical text of each UUID (``None`` stays ``None``), all in one orjson round trip.

    ``str(uuid)`` runs Python code per call (0.75 µs); orjson formats a list of UUIDs in C and
    reads the strings back for 0.08 µs each.
    """
    try:
        return orjson.loads(orjson.dumps(values))  # type: ignore[no-any-return]
    except TypeError:  # a UUID subclass orjson does not know
        return [None if value is None else str(value) for value in values]


def row_to_stored_event(row: Row, registry: EventRegistry | None = None) -> StoredEvent:
    """Build the ``StoredEvent`` for a stored row, validating it with its registered class.

    Unknown event types come back as ``GenericEvent`` with their payload.

    Raises:
        EventDecodeError: The row does not validate against its registered class.
    """
    registry = registry if registry is not None else default_registry
    # ``occurred_at`` is handed over as a datetime rather than formatted and parsed again (a
    # third of the work per row), unless upcasters will see it: they get the JSON form, text.
    data = json_form(row, format_micros if registry.has_upcasters(row[_EVENT_TYPE]) else from_micros)
    try:
        event = build_event(data, registry)
    except (InvalidInputError, ValidationError) as error:
        raise EventDecodeError(
            f"event at position {row[_POSITION]} ({data.get('event_type')}) does not validate: {error}",
            hint="register an upcaster for the old shape, or fix the event class",
        ) from None
    return StoredEvent(
        event=event,
        stream_id=stream_id(row[_AGGREGATE_TYPE], row[_AGGREGATE_ID]),
        stream_position=row[_AGGREGATE_VERSION],
        global_position=row[_POSITION],
        stored_at=from_micros(row[_ROW_STORED_AT]),
    )


_POSITION = ROW_COLUMNS.index("position")
_EVENT_TYPE = ROW_COLUMNS.index("event_type")
_AGGREGATE_TYPE = ROW_COLUMNS.index("aggregate_type")
_AGGREGATE_ID = ROW_COLUMNS.index("aggregate_id")
_AGGREGATE_VERSION = ROW_COLUMNS.index("aggregate_version")
_ROW_STORED_AT = ROW_COLUMNS.index("stored_at")


def build_event(data: Mapping[str, Any], registry: EventRegistry | None = None, *, strict: bool = False) -> DomainEvent:
    """Build an event from its JSON form, with its registered class and upcasters.

    Args:
        data: The event's JSON object; ``position`` and ``stored_at`` are ignored.
        registry: Where to look the type up (default: ``default_registry``).
        strict: Refuse event types that no class is registered for.

    Returns:
        An instance of the registered class, or a ``GenericEvent`` for an unknown type.

    Raises:
        InvalidInputError: A required field is missing or a value does not validate.
        pydantic.ValidationError: Never: validation errors become ``InvalidInputError``.
    """
    registry = registry if registry is not None else default_registry
    if type(data) is dict and RESERVED_FIELDS.isdisjoint(data):
        fields = data  # nothing to drop, and validation does not change its input: no copy
    else:
        fields = {k: v for k, v in data.items() if k not in RESERVED_FIELDS}
    for name in _REQUIRED:
        if fields.get(name) in (None, ""):
            raise InvalidInputError("is required", field=name)
    event_type = fields["event_type"]
    if not isinstance(event_type, str):
        raise InvalidInputError("must be a string", field="event_type")
    cls = registry.get_or_none(event_type)
    if cls is None:
        if strict:
            raise InvalidInputError(
                f"event type {event_type!r} is not registered",
                field="event_type",
                hint="load the module that defines it with --app, or drop --strict",
            )
        cls = GenericEvent
    elif registry.has_upcasters(event_type):
        fields = registry.upcast(event_type, fields)
    try:
        return cls.model_validate(fields)
    except ValidationError as error:
        raise validation_error(error) from None


# The shapes ``encode_input`` takes without a model: a UUID as ``str(uuid)`` writes it, and an ISO
# timestamp whose year (1000-8999) and offset (under 24h, minutes under 60) keep it inside
# datetime's range after conversion to UTC. For exactly these stamps ``datetime.fromisoformat``
# and pydantic agree on the instant (tests/test_codec_fast_path.py checks it).
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z").match
_TIMESTAMP_SHAPE = r"[1-8]\d{3}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)"
_PLAIN_TIMESTAMP = re.compile(_TIMESTAMP_SHAPE + r"\Z").match
_NOT_PAYLOAD = frozenset(ENVELOPE_FIELDS) | RESERVED_FIELDS


def encode_input(data: dict[str, Any], registry: EventRegistry | None = None) -> InsertRow | None:
    """Return the insert row for an event's JSON form without building a model, or ``None``.

    The fast path of bulk imports: building and validating a model is most of the cost of
    reading an input line, and a model-free row is what the store writes anyway. It takes only
    events of unregistered types (they would be ``GenericEvent``s, whose payload is kept as
    given) whose envelope is in the plain shape ``esctl dump`` writes: ``event_id`` given,
    ``occurred_at`` an ISO timestamp with an offset, UUIDs in canonical text. For everything it
    takes, the row equals what validating with ``GenericEvent`` and encoding the model gives (a
    property test holds it to that). Everything else (registered types, other spellings,
    anything invalid) returns ``None``: the caller then validates with ``build_event``, which
    also words the errors.

    ``position`` and ``stored_at`` are ignored, as ``build_event`` does; a missing
    ``correlation_id`` is the ``event_id`` (see ``esctl.ingest.event_from_fields``). The row's
    ``stored_at`` is ``None`` for the store to fill in, and so is ``aggregate_version`` when the
    input has none (the store assigns the stream's next version).

    Args:
        data: The event's JSON object, as parsed.
        registry: Where registered types are looked up (default: ``default_registry``).

    Returns:
        The insert row, or ``None`` when the model path must decide.
    """
    get = data.get
    event_id = get("event_id")
    event_type = get("event_type")
    event_version = get("event_version", 1)
    occurred_at = get("occurred_at")
    aggregate_id = get("aggregate_id")
    aggregate_type = get("aggregate_type")
    aggregate_version = get("aggregate_version")
    tenant_id = get("tenant_id")
    actor_id = get("actor_id")
    correlation_id = get("correlation_id")
    causation_id = get("causation_id")
    metadata = get("metadata", _NO_METADATA)
    if type(event_type) is not str or not event_type:
        return None
    if (registry if registry is not None else default_registry).get_or_none(event_type) is not None:
        return None  # its class validates it
    uuid = _CANONICAL_UUID
    if not (
        type(aggregate_type) is str
        and aggregate_type
        and type(event_id) is str
        and uuid(event_id)
        and type(aggregate_id) is str
        and uuid(aggregate_id)
        and type(occurred_at) is str
        and _PLAIN_TIMESTAMP(occurred_at)
        and type(event_version) is int
        and event_version >= 1
        and (aggregate_version is None or (type(aggregate_version) is int and aggregate_version >= 1))
        and (tenant_id is None or (type(tenant_id) is str and uuid(tenant_id)))
        and (correlation_id is None or (type(correlation_id) is str and uuid(correlation_id)))
        and (causation_id is None or (type(causation_id) is str and uuid(causation_id)))
        and (actor_id is None or type(actor_id) is str)
        and type(metadata) is dict
    ):
        return None
    try:
        occurred = datetime.fromisoformat(occurred_at)
        payload = detached(orjson.dumps({k: v for k, v in data.items() if k not in _NOT_PAYLOAD}))
        metadata_bytes = detached(orjson.dumps(metadata)) if metadata else _EMPTY_OBJECT
    except (ValueError, TypeError):  # a date that does not exist; JSON nested deeper than orjson writes
        return None
    return [
        event_id,
        event_type,
        event_version,
        aggregate_type,
        aggregate_id,
        aggregate_version,
        tenant_id,
        (occurred - EPOCH) // _MICROSECOND,
        None,
        correlation_id if correlation_id is not None else event_id,
        causation_id,
        actor_id,
        payload,
        metadata_bytes,
    ]


_NO_METADATA: dict[str, Any] = {}
_ENVELOPE_VALUES = operator.itemgetter(
    "event_id",
    "event_type",
    "event_version",
    "occurred_at",
    "aggregate_id",
    "aggregate_type",
    "aggregate_version",
    "tenant_id",
    "actor_id",
    "correlation_id",
    "causation_id",
    "metadata",
)
_PLAIN_TIMESTAMPS = re.compile(f"(?:{_TIMESTAMP_SHAPE}\\n)*\\Z").match
"""Newline-terminated ``_PLAIN_TIMESTAMP`` shapes, one per line (a whole column at once)."""
_STR = frozenset({str})
_STR_OR_NONE = frozenset({str, type(None)})
_INT = frozenset({int})
_INT_OR_NONE = frozenset({int, type(None)})
_DICT = frozenset({dict})


def encode_inputs(items: Sequence[dict[str, Any]], registry: EventRegistry | None = None) -> list[InsertRow | None]:
    """Return ``[encode_input(item, registry) for item in items]``, checked column by column.

    When every item has every envelope field, each check runs once over a column, mostly in C
    (a type census, one regular expression over the joined UUIDs or timestamps), which halves
    the cost per event of ``encode_input``. If any item fails any check, every item goes
    through ``encode_input`` instead, so the result is always exactly that (tested).

    Args:
        items: Events' JSON forms, as parsed.
        registry: Where registered types are looked up (default: ``default_registry``).

    Returns:
        For each item, its insert row or ``None`` (see ``encode_input``).
    """
    if not items:
        return []
    try:
        columns = list(zip(*map(_ENVELOPE_VALUES, items), strict=True))
    except (KeyError, TypeError):  # a field missing (its default applies), or not a JSON object
        return [encode_input(item, registry) for item in items]
    (
        event_ids,
        event_types,
        event_versions,
        occurred,
        aggregate_ids,
        aggregate_types,
        aggregate_versions,
        tenant_ids,
        actor_ids,
        correlation_ids,
        causation_ids,
        metadata,
    ) = columns
    lookup = (registry if registry is not None else default_registry).get_or_none
    if not (
        set(map(type, event_types)) == _STR
        and all(event_types)
        and not any(lookup(name) for name in set(event_types))
        and set(map(type, aggregate_types)) == _STR
        and all(aggregate_types)
        and _uuid_column(event_ids, optional=False)
        and _uuid_column(aggregate_ids, optional=False)
        and _uuid_column(tenant_ids, optional=True)
        and _uuid_column(correlation_ids, optional=True)
        and _uuid_column(causation_ids, optional=True)
        and set(map(type, occurred)) == _STR
        and _PLAIN_TIMESTAMPS("\n".join(occurred) + "\n")
        and set(map(type, event_versions)) == _INT
        and min(event_versions) >= 1
        and _version_column(aggregate_versions)
        and set(map(type, actor_ids)) <= _STR_OR_NONE
        and set(map(type, metadata)) == _DICT
    ):
        return [encode_input(item, registry) for item in items]
    try:
        moments = list(map(datetime.fromisoformat, occurred))
        payloads = list(map(_payload_bytes, items))
        metadata_bytes = [detached(orjson.dumps(m)) if m else _EMPTY_OBJECT for m in metadata]
    except (ValueError, TypeError):  # a date that does not exist; JSON nested deeper than orjson writes
        return [encode_input(item, registry) for item in items]
    micros = map(operator.floordiv, map(operator.sub, moments, itertools.repeat(EPOCH)), itertools.repeat(_MICROSECOND))
    correlations = (
        correlation_ids
        if None not in correlation_ids
        else [c if c is not None else e for c, e in zip(correlation_ids, event_ids, strict=True)]
    )
    return list(
        map(
            list,
            zip(
                event_ids,
                event_types,
                event_versions,
                aggregate_types,
                aggregate_ids,
                aggregate_versions,
                tenant_ids,
                micros,
                itertools.repeat(None),
                correlations,
                causation_ids,
                actor_ids,
                payloads,
                metadata_bytes,
            ),
        )
    )


def _payload_bytes(data: dict[str, Any]) -> bytes:
    """The payload of an event's JSON form that has every envelope field: all but those, in order."""
    # A copy less the 12 envelope fields is cheaper than filtering every field in Python.
    payload = data.copy()
    for name in ENVELOPE_FIELDS:
        del payload[name]
    if "position" in payload or "stored_at" in payload:
        payload.pop("position", None)
        payload.pop("stored_at", None)
    return detached(orjson.dumps(payload))


def _uuid_column(values: tuple[Any, ...], *, optional: bool) -> bool:
    """True when every value is a UUID in canonical text (or, if ``optional``, ``None``)."""
    if optional:
        if not set(map(type, values)) <= _STR_OR_NONE:
            return False
        texts = list(filter(None, values))
        if len(texts) + values.count(None) != len(values):
            return False  # an empty string
    else:
        if set(map(type, values)) != _STR:
            return False
        texts = list(values)
    if not texts:
        return True
    # Joined by newlines, n canonical UUIDs have newlines exactly every 37 characters, hyphens
    # exactly at 8, 13, 18 and 23 after each, and lowercase hex everywhere else: checked with
    # slices, counts and one deletion in C (a regular expression takes four times as long).
    text, count = "\n".join(texts), len(texts)
    return (
        len(text) == 37 * count - 1
        and text[36::37] == "\n" * (count - 1)
        and text.count("\n") == count - 1
        and text[8::37] == text[13::37] == text[18::37] == text[23::37] == "-" * count
        and text.count("-") == 4 * count
        and not text.encode("ascii", "replace").translate(None, _UUID_CHARACTERS)
    )


_UUID_CHARACTERS = b"0123456789abcdef-\n"


def _version_column(values: tuple[Any, ...]) -> bool:
    """True when every value is an ``aggregate_version`` the fast path takes: an int >= 1 or ``None``."""
    kinds = set(map(type, values))
    if kinds == _INT:
        return bool(min(values) >= 1)
    if not kinds <= _INT_OR_NONE:
        return False
    given = [value for value in values if value is not None]
    return not given or min(given) >= 1


def row_event(row: Sequence[Any], registry: EventRegistry | None = None) -> DomainEvent:
    """Build the model of an insert row made by ``encode_input`` (equal to the model path's).

    An ``aggregate_version`` of ``None`` (to be assigned) gives the model its default.

    Raises:
        InvalidInputError: The row does not validate (never, for a row ``encode_input`` made).
    """
    data = json_form((None, *row), from_micros)  # an insert row is a stored row without its position
    if data["aggregate_version"] is None:
        del data["aggregate_version"]
    return build_event(data, registry)


def validation_error(error: ValidationError) -> InvalidInputError:
    """Turn pydantic's error into an ``InvalidInputError`` naming the first bad field."""
    first = error.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or None
    message = first["msg"]
    if first["type"] == "extra_forbidden":
        message = "is not a field of this event type"
    elif first["type"] == "missing":
        message = "is required"
    # Pydantic prefixes a validator's own message with "Value error, " (or "Assertion failed, ").
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    # "Input should be …" reads as "input should be …"; "UUID input …" keeps its capitals.
    if message[:2].istitle():
        message = message[0].lower() + message[1:]
    if first["type"] != "missing" and "input" in first:
        shown = _shown(first["input"])
        if shown.strip('"') not in message:  # a validator's own message may quote it already
            message += f" (got {shown})"
    return InvalidInputError(message, field=field, hint=_FIELD_HINT)


_FIELD_HINT = "fix that field of that line and run again"


def _shown(value: Any, limit: int = 60) -> str:
    """A value as an error message quotes it: its JSON, cut to ``limit`` characters."""
    try:
        text = orjson.dumps(value).decode()
    except TypeError:
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def parse_json_object(text: bytes | str, line: int | None = None) -> dict[str, Any]:
    """Parse one JSON object (an NDJSON line, say).

    Raises:
        InvalidInputError: The text is not JSON, or not a JSON object; the error names ``line``.
    """
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as error:
        raise InvalidInputError(f"malformed JSON ({error.msg} at column {error.colno})", line=line) from None
    if not isinstance(value, dict):
        raise InvalidInputError(f"expected a JSON object, got {json_kind(value)}", line=line)
    return value


def parse_json_document(text: bytes) -> Any:
    """Parse a whole JSON document (an array of events, say).

    Raises:
        InvalidInputError: The text is not JSON; the error names the line and column.
    """
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as error:
        raise InvalidInputError(f"malformed JSON ({error.msg} at column {error.colno})", line=error.lineno) from None


def json_kind(value: Any) -> str:
    """Name the kind of a JSON value for an error message ("an array", "a string", ...)."""
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    return "a number"
