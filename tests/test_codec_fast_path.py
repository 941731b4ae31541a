"""The model-free fast path of imports (``codec.encode_input``) agrees with the model path.

An input event either goes the fast way (validated and encoded straight into its insert row) or
through its model (``GenericEvent`` or its registered class), which also words the errors. For
any input, the two must be indistinguishable: the same verdict, the same error, the same event
and the same stored row. Hypothesis throws envelope values at both, valid and not, in the
spellings the fast path takes and in the ones it must leave to the model.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import REGISTRY
from esctl import codec
from esctl.errors import InvalidInputError
from esctl.events import GenericEvent
from esctl.ingest import InputEvent, _from_fields, event_from_fields

EVENT_ID = "019b76e1-822e-7ecb-bbe4-f03dec8c2482"
AGGREGATE_ID = "019bb9c6-8552-75de-9eef-7dc6d4078cff"
TENANT_ID = "569b7825-abf6-492d-9b60-f0b380b9c825"


def base_event() -> dict[str, Any]:
    """A plain event of an unregistered type, in the shape ``esctl dump`` writes."""
    return {
        "event_id": EVENT_ID,
        "event_type": "fast.Noted",
        "event_version": 1,
        "occurred_at": "2026-01-01T00:07:29.070969Z",
        "aggregate_id": AGGREGATE_ID,
        "aggregate_type": "Cart",
        "aggregate_version": 3,
        "tenant_id": TENANT_ID,
        "actor_id": "user-1",
        "correlation_id": "7ada585a-0259-4f7a-aa90-9ff32f9dc8a5",
        "causation_id": None,
        "metadata": {"source": "import"},
        "sku": "SKU-1",
        "quantity": 5,
    }


# -- values for the envelope fields, each list mixing what the fast path takes and what it must not


def _uuid_spellings(value: str) -> list[Any]:
    bare = value.replace("-", "")
    return [
        value,
        value.upper(),
        bare,
        "{" + value + "}",
        "urn:uuid:" + value,
        value[:-1],
        value + "0",
        value.replace("-", "_"),
        " " + value,
        "00000000-0000-0000-0000-000000000000",
        "ffffffff-ffff-ffff-ffff-ffffffffffff",
        "",
        None,
        7,
        [value],
        {"id": value},
    ]


uuids = st.sampled_from(_uuid_spellings(AGGREGATE_ID))
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
versions = st.one_of(
    st.sampled_from([None, 0, -1, 1, 2, 1.0, 2.5, True, False, "1", 2**63 - 1, 2**64 - 1, [1]]),
    st.integers(1, 10**6),
)
digits = st.text(alphabet="0123456789", min_size=2, max_size=2)


@st.composite
def timestamps(draw: st.DrawFn) -> Any:
    """ISO-ish stamps near the edges of what either parser takes, and other kinds of value."""
    year = draw(st.sampled_from(["0001", "0999", "1000", "1970", "2026", "8999", "9000", "9999"]))
    month = draw(st.sampled_from(["00", "01", "02", "12", "13"]))
    day = draw(st.sampled_from(["00", "01", "28", "29", "30", "31", "32"]))
    hour = draw(st.sampled_from(["00", "12", "23", "24"]))
    minute = draw(st.sampled_from(["00", "59", "60"]))
    second = draw(st.sampled_from(["00", "59", "60"]))
    fraction = draw(st.sampled_from(["", ".5", ".123456", ".1234567", ".000001", "."]))
    offset = draw(
        st.sampled_from(["Z", "z", "+00:00", "-00:00", "+23:59", "-23:59", "+24:00", "+05:60", "+0530", "", "+05"])
    )
    sep = draw(st.sampled_from(["T", "T", "T", " ", "t"]))
    text = f"{year}-{month}-{day}{sep}{hour}:{minute}:{second}{fraction}{offset}"
    return draw(st.sampled_from([text, text, text, None, 1_700_000_000, 1.5e9, "2026-11-01", "yesterday"]))


envelope_values: dict[str, st.SearchStrategy[Any]] = {
    "event_id": st.sampled_from(_uuid_spellings(EVENT_ID)),
    "event_type": st.sampled_from(["fast.Noted", "test.ItemRemoved", "", None, 5, ["fast.Noted"]]),
    "event_version": versions,
    "occurred_at": timestamps(),
    "aggregate_id": uuids,
    "aggregate_type": st.sampled_from(["Cart", "", None, 1, "Ünïcode 🛒"]),
    "aggregate_version": versions,
    "tenant_id": uuids,
    "actor_id": st.sampled_from(["user-1", "", None, 42, True, ["u"]]),
    "correlation_id": uuids,
    "causation_id": uuids,
    "metadata": st.one_of(st.sampled_from([{}, None, [], "x", 3]), st.dictionaries(st.text(max_size=5), json_values)),
}
MISSING = object()


@st.composite
def inputs(draw: st.DrawFn) -> dict[str, Any]:
    """An event's JSON form: the base event with some envelope fields changed or left out, and a payload."""
    data = base_event()
    for name in draw(st.lists(st.sampled_from(sorted(envelope_values)), unique=True, max_size=4)):
        value = draw(st.one_of(envelope_values[name], st.just(MISSING)))
        if value is MISSING:
            data.pop(name)
        else:
            data[name] = value
    payload = draw(
        st.dictionaries(
            st.sampled_from(["sku", "quantity", "note", "position", "stored_at", "payload", "", "_x", "nested"]),
            json_values,
            max_size=4,
        )
    )
    data.update(payload)
    return data


def _outcome(build: Any) -> InputEvent | InvalidInputError:
    try:
        result: InputEvent = build()
    except InvalidInputError as error:
        return error
    return result


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inputs())
def test_the_fast_path_and_the_model_path_agree_on_every_input(data: dict[str, Any]) -> None:
    data = orjson.loads(orjson.dumps(data))  # exactly what a parsed input line holds
    fast = _outcome(lambda: event_from_fields(data, registry=REGISTRY, line=7))
    slow = _outcome(lambda: _from_fields(dict(data), REGISTRY, False, 7, None))
    if isinstance(slow, InvalidInputError):
        assert isinstance(fast, InvalidInputError), (data, fast)
        assert (str(fast), fast.field, fast.line, fast.hint) == (str(slow), slow.field, slow.line, slow.hint)
        return
    assert isinstance(fast, InputEvent), (data, fast)
    assert type(fast.event) is type(slow.event)
    generated = {"event_id", "correlation_id", "occurred_at"}  # made up when missing: differ run to run
    if "event_id" in data and "occurred_at" in data:
        generated = set()
    else:
        assert fast.row is None
    left, right = fast.event.model_dump(mode="json"), slow.event.model_dump(mode="json")
    assert {k: v for k, v in left.items() if k not in generated} == {
        k: v for k, v in right.items() if k not in generated
    }
    assert (fast.auto_version, fast.line, fast.item) == (slow.auto_version, slow.line, slow.item)
    if fast.row is not None:
        expected = codec.events_to_rows([slow.event], 0)[0]
        expected[codec.STORED_AT] = None
        if slow.auto_version:
            expected[codec.AGGREGATE_VERSION] = None
        assert fast.row == expected


def test_the_plain_shape_of_an_unregistered_type_takes_the_fast_path() -> None:
    data = base_event()
    item = event_from_fields(data, registry=REGISTRY)
    assert item.row is not None
    assert item.row[codec.STORED_AT] is None
    assert item.row[codec.AGGREGATE_VERSION] == 3
    assert isinstance(item.event, GenericEvent)
    assert item.event.payload == {"sku": "SKU-1", "quantity": 5}
    assert item.stream == ("Cart", AGGREGATE_ID)


@pytest.mark.parametrize(
    ("change", "why"),
    [
        pytest.param({"event_type": "test.ItemRemoved", "quantity": None}, "registered", id="registered-type"),
        pytest.param({"event_id": EVENT_ID.upper()}, "not canonical", id="upper-case-id"),
        pytest.param({"occurred_at": "2026-01-01T00:07:29.070969+0000"}, "other spelling", id="compact-offset"),
        pytest.param({"event_id": None}, "no id", id="no-event-id"),
    ],
)
def test_other_shapes_take_the_model_path(change: dict[str, Any], why: str) -> None:
    data = {**base_event(), **change}
    data = {k: v for k, v in data.items() if v is not None}
    assert codec.encode_input(data, REGISTRY) is None, why
    assert event_from_fields(data, registry=REGISTRY).row is None


def test_strict_always_takes_the_model_path() -> None:
    with pytest.raises(InvalidInputError, match="is not registered"):
        event_from_fields(base_event(), registry=REGISTRY, strict=True)


# -- the timestamps the fast path reads itself --------------------------------------------------

PLAIN = re.compile(r"[1-8]\d{3}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)")


@st.composite
def plain_stamps(draw: st.DrawFn) -> str:
    """Stamps in the fast path's shape, real calendar dates or not (Feb 30, second 60)."""
    year = draw(st.integers(1000, 8999))
    month, day = draw(st.integers(1, 12)), draw(st.integers(1, 31))
    hour, minute, second = draw(st.integers(0, 23)), draw(st.integers(0, 59)), draw(st.integers(0, 60))
    fraction = draw(st.sampled_from(["", ".0", ".5", ".999999"]) | st.integers(1, 6).flatmap(_fraction))
    sign, off_hours, off_minutes = draw(st.sampled_from("+-")), draw(st.integers(0, 23)), draw(st.integers(0, 59))
    offset = draw(st.sampled_from(["Z", f"{sign}{off_hours:02d}:{off_minutes:02d}"]))
    return f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}{fraction}{offset}"


def _fraction(width: int) -> st.SearchStrategy[str]:
    return st.text(alphabet="0123456789", min_size=width, max_size=width).map(lambda x: "." + x)


@settings(max_examples=500, deadline=None)
@given(plain_stamps())
def test_a_plain_stamp_reads_as_the_same_instant_through_either_parser(stamp: str) -> None:
    assert PLAIN.fullmatch(stamp)
    assert codec._PLAIN_TIMESTAMP(stamp)
    try:
        ours = datetime.fromisoformat(stamp)
    except ValueError:
        ours = None  # not a real date: the fast path leaves it to the model
    data = {**base_event(), "occurred_at": stamp}
    try:
        theirs = GenericEvent.model_validate(data).occurred_at
    except Exception:
        theirs = None
    if ours is None:
        assert codec.encode_input(data, REGISTRY) is None
        return
    assert theirs is not None, stamp
    assert theirs == ours
    assert theirs.tzinfo == UTC
    row = codec.encode_input(data, REGISTRY)
    assert row is not None
    occurred_at = codec.INSERT_COLUMNS.index("occurred_at")
    assert row[occurred_at] == codec.events_to_rows([GenericEvent.model_validate(data)], 0)[0][occurred_at]


# -- many events at once: encode_inputs is encode_input, column by column -----------------------

hex_uuids = st.uuids().map(str)


@st.composite
def plain_inputs(draw: st.DrawFn) -> dict[str, Any]:
    """Events the fast path takes, with the envelope values varying as real inputs do."""
    data = base_event()
    data["event_id"] = draw(hex_uuids)
    data["aggregate_id"] = draw(hex_uuids)
    data["tenant_id"] = draw(st.none() | hex_uuids)
    data["correlation_id"] = draw(st.none() | hex_uuids)
    data["causation_id"] = draw(st.none() | hex_uuids)
    data["aggregate_version"] = draw(st.none() | st.integers(1, 2**63 - 1))
    data["event_version"] = draw(st.integers(1, 9))
    data["actor_id"] = draw(st.none() | st.text(max_size=5))
    data["metadata"] = draw(st.sampled_from([{}, {"source": "import"}, {"n": [1, 2]}]))
    data["occurred_at"] = draw(plain_stamps())
    data["event_type"] = draw(st.sampled_from(["fast.Noted", "fast.Other"]))
    return data


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(plain_inputs(), plain_inputs(), plain_inputs(), inputs()), max_size=8))
def test_encoding_many_at_once_equals_encoding_each(items: list[dict[str, Any]]) -> None:
    items = orjson.loads(orjson.dumps(items))
    assert codec.encode_inputs(items, REGISTRY) == [codec.encode_input(item, REGISTRY) for item in items]


def test_a_value_hiding_a_second_uuid_behind_a_newline_is_not_taken() -> None:
    sneaky = {**base_event(), "tenant_id": f"{TENANT_ID}\n{TENANT_ID}"}
    items = [base_event(), sneaky]
    assert codec.encode_inputs(items, REGISTRY) == [codec.encode_input(item, REGISTRY) for item in items]
    assert codec.encode_inputs(items, REGISTRY)[1] is None
