"""Time parsing and the integer-microsecond representation the store keeps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from esctl.errors import InvalidInputError
from esctl.timeutil import format_micros, from_micros, parse_timestamp, to_micros

aware = st.datetimes(
    min_value=datetime(1970, 1, 1),
    max_value=datetime(2200, 1, 1),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))]),
)


@given(aware)
def test_micros_round_trip_keeps_the_instant(moment: datetime) -> None:
    assert from_micros(to_micros(moment)) == moment


@given(aware)
def test_formatted_micros_parse_back_to_the_same_instant(moment: datetime) -> None:
    text = format_micros(to_micros(moment))
    assert text.endswith("Z")
    assert parse_timestamp(text) == moment


@given(aware, aware)
def test_micros_order_is_instant_order_across_offsets(a: datetime, b: datetime) -> None:
    # The reason timestamps are integers: ISO text compares wrongly across offsets.
    assert (to_micros(a) < to_micros(b)) == (a < b)


def test_offsets_are_converted_to_utc() -> None:
    assert parse_timestamp("2026-11-01T09:00:00+01:00") == datetime(2026, 11, 1, 8, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "delta"),
    [
        ("90m", timedelta(minutes=90)),
        ("24h", timedelta(days=1)),
        ("7d", timedelta(days=7)),
        ("2w", timedelta(weeks=2)),
        ("30s", timedelta(seconds=30)),
    ],
)
def test_relative_durations_count_back_from_now(text: str, delta: timedelta) -> None:
    now = datetime(2026, 11, 26, 12, tzinfo=UTC)
    assert parse_timestamp(text, now=now) == now - delta


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-01T08:00:00",
        "yesterday",
        "2026-13-01T00:00:00Z",
        "",
        "7 days",
        "0001-01-01T00:00:00+05:00",
        "999999999d",
    ],
)
def test_naive_or_unparseable_timestamps_are_refused_naming_the_field(text: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_timestamp(text, field="since")
    assert caught.value.field == "since"
    assert "since" in str(caught.value)
