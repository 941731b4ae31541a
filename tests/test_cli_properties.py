"""Invariants of ``dump`` over random multi-tenant histories (hypothesis, through ``CliRunner``):

- ``dump`` with any combination of filters returns exactly what a brute-force filter over all
  stored events returns, in position order (and ``stats`` counts the same events);
- ``dump | append`` into an empty store reproduces it, in NDJSON and as a JSON array, and a
  one-tenant dump copies exactly that tenant.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from uuid import UUID

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli_support import dumped, invoke, ndjson

TENANTS = [
    UUID("00000000-0000-4000-8000-0000000000a1"),
    UUID("00000000-0000-4000-8000-0000000000b2"),
    UUID("00000000-0000-4000-8000-0000000000c3"),
    None,
]
AGGREGATE_TYPES = ["Cart", "Invoice"]
EVENT_TYPES = ["prop.Opened", "prop.Changed", "prop.Closed"]
BASE = datetime(2026, 11, 1, tzinfo=UTC)
OFFSETS = [UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5, minutes=-30))]

streams = st.lists(st.tuples(st.sampled_from(AGGREGATE_TYPES), st.sampled_from(TENANTS)), min_size=1, max_size=6)
payloads = st.dictionaries(
    st.sampled_from(["note", "amount", "tags", "nested"]),
    st.one_of(st.text(max_size=12), st.integers(-(10**6), 10**6), st.lists(st.text(max_size=4), max_size=3)),
    max_size=3,
)


@st.composite
def histories(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Events over random streams of random tenants, each stream's versions left to the store."""
    stream_specs = draw(streams)
    count = draw(st.integers(min_value=0, max_value=40))
    events = []
    for number in range(count):
        index = draw(st.integers(0, len(stream_specs) - 1))
        aggregate_type, tenant = stream_specs[index]
        moment = BASE + timedelta(minutes=draw(st.integers(0, 10 * 24 * 60)), microseconds=draw(st.integers(0, 999)))
        events.append(
            {
                "event_id": f"01a00000-0000-7000-8000-{number:012x}",
                "event_type": draw(st.sampled_from(EVENT_TYPES)),
                "occurred_at": moment.astimezone(draw(st.sampled_from(OFFSETS))).isoformat(),
                "aggregate_type": aggregate_type,
                "aggregate_id": f"01a00000-0000-7000-9000-{index:012x}",
                "tenant_id": None if tenant is None else str(tenant),
                "metadata": draw(st.dictionaries(st.sampled_from(["source", "ip"]), st.text(max_size=6), max_size=2)),
                **draw(payloads),
            }
        )
    return events


@contextmanager
def store_with(events: list[dict[str, Any]]) -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "events.db"
        result = invoke(db, "append", "--allow-empty", "-", input=ndjson(events))
        assert result.exit_code == 0, result.stderr
        yield db


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@st.composite
def filters(draw: st.DrawFn) -> dict[str, Any]:
    def maybe(strategy: st.SearchStrategy[Any]) -> Any:
        return draw(st.one_of(st.none(), strategy))

    window = sorted(draw(st.lists(st.integers(0, 10 * 24 * 60), min_size=2, max_size=2)))
    positions = sorted(draw(st.lists(st.integers(1, 45), min_size=2, max_size=2)))
    offset = draw(st.sampled_from(OFFSETS))
    return {
        "tenants": draw(st.lists(st.sampled_from([t for t in TENANTS if t is not None]), max_size=2, unique=True)),
        "aggregate_type": maybe(st.sampled_from(AGGREGATE_TYPES)),
        "aggregate_id": maybe(st.integers(0, 6).map(lambda i: f"01a00000-0000-7000-9000-{i:012x}")),
        "types": draw(st.lists(st.sampled_from(EVENT_TYPES), max_size=2, unique=True)),
        "since": (BASE + timedelta(minutes=window[0])).astimezone(offset) if draw(st.booleans()) else None,
        "until": (BASE + timedelta(minutes=window[1])).astimezone(offset) if draw(st.booleans()) else None,
        "from_position": positions[0] if draw(st.booleans()) else None,
        "to_position": positions[1] if draw(st.booleans()) else None,
        "limit": maybe(st.integers(0, 12)),
    }


def as_args(chosen: dict[str, Any], *, events_only: bool = False) -> list[str]:
    args: list[str] = []
    for tenant in chosen["tenants"]:
        args += ["--tenant", str(tenant)]
    for event_type in chosen["types"]:
        args += ["--type", event_type]
    if chosen["aggregate_type"] is not None:
        args += ["--aggregate-type", chosen["aggregate_type"]]
    for key in ("since", "until"):
        if chosen[key] is not None:
            args += [f"--{key}", chosen[key].isoformat()]
    if events_only:
        return args
    if chosen["aggregate_id"] is not None:
        args += ["--aggregate-id", chosen["aggregate_id"]]
    for key in ("from_position", "to_position", "limit"):
        if chosen[key] is not None:
            args += [f"--{key.replace('_', '-')}", str(chosen[key])]
    return args


def brute_force(stored: list[dict[str, Any]], chosen: dict[str, Any], *, events_only: bool = False) -> list[str]:
    tenants = {str(t) for t in chosen["tenants"]}
    picked = []
    for e in stored:
        occurred = moment(e["occurred_at"])
        if (
            (not tenants or e["tenant_id"] in tenants)
            and (not chosen["types"] or e["event_type"] in chosen["types"])
            and (chosen["aggregate_type"] is None or e["aggregate_type"] == chosen["aggregate_type"])
            and (chosen["since"] is None or occurred >= chosen["since"])
            and (chosen["until"] is None or occurred < chosen["until"])
            and (
                events_only
                or (
                    (chosen["aggregate_id"] is None or e["aggregate_id"] == chosen["aggregate_id"])
                    and (chosen["from_position"] is None or e["position"] >= chosen["from_position"])
                    and (chosen["to_position"] is None or e["position"] <= chosen["to_position"])
                )
            )
        ):
            picked.append(e["event_id"])
    if not events_only and chosen["limit"] is not None:
        picked = picked[: chosen["limit"]]
    return picked


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=histories(), chosen=st.lists(filters(), min_size=1, max_size=4))
def test_dump_returns_exactly_the_brute_force_selection(history: list[dict[str, Any]], chosen: list[Any]) -> None:
    with store_with(history) as db:
        stored = dumped(invoke(db, "dump", "--format", "ndjson").stdout)
        assert [e["position"] for e in stored] == list(range(1, len(history) + 1))
        for selection in chosen:
            result = invoke(db, "dump", "--format", "ndjson", *as_args(selection))
            assert result.exit_code == 0, result.stderr
            assert [e["event_id"] for e in dumped(result.stdout)] == brute_force(stored, selection)
            stats = invoke(db, "stats", "--format", "json", *as_args(selection, events_only=True))
            assert json.loads(stats.stdout)["events"] == len(brute_force(stored, selection, events_only=True))


def without(events: list[dict[str, Any]], *keys: str) -> list[dict[str, Any]]:
    return [{k: v for k, v in e.items() if k not in keys} for e in events]


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=histories(), tenant=st.sampled_from(TENANTS[:3]))
def test_dump_then_append_reproduces_the_store(history: list[dict[str, Any]], tenant: UUID) -> None:
    with store_with(history) as db, tempfile.TemporaryDirectory() as folder:
        original = dumped(invoke(db, "dump").stdout)
        for fmt in ("ndjson", "json"):
            copy = Path(folder) / f"copy-{fmt}.db"
            out = invoke(db, "dump", "--format", fmt).stdout_bytes
            assert invoke(copy, "append", "--allow-empty", "-", input=out).exit_code == 0
            assert without(dumped(invoke(copy, "dump").stdout), "stored_at") == without(original, "stored_at")
        one = Path(folder) / "one-tenant.db"
        out = invoke(db, "dump", "--tenant", str(tenant)).stdout_bytes
        assert invoke(one, "append", "--allow-empty", "-", input=out).exit_code == 0
        expected = [e for e in original if e["tenant_id"] == str(tenant)]
        assert without(dumped(invoke(one, "dump").stdout), "stored_at", "position") == without(
            expected, "stored_at", "position"
        )
