"""The fast append path (SQLite's and PostgreSQL's) decides as the append rules do.

``plain.plain_versions`` looks at a batch's insert rows (no models, no lookup of stored
ids) and either gives every stream's version after the batch, or declines and leaves the batch to
the full rules (``rules.plan_append``). For any batch over a few streams and tenants, with
explicit and automatic versions and expected versions of every kind, against any stored heads
(and no stored event ids, which the unique index on ``event_id`` guards):

- when it gives versions, the rules accept the same batch unchanged, with the same stream
  versions and the same automatic versions; except when a stream expected to be new
  (``NO_STREAM`` or 0, taken on trust without a lookup) exists: then its version 1 is stored
  already, the unique index on the stream's versions refuses the insert, and the rules refuse
  the batch too;
- when the rules refuse, it declines (or the unique index refuses, as above).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from conftest import item
from esctl.codec import AGGREGATE_VERSION, events_to_rows
from esctl.errors import DuplicateEventError, OptimisticLockError, TenantMismatchError
from esctl.events import DomainEvent
from esctl.store import plain
from esctl.store.rules import plan_append
from esctl.store.types import Expected, ExpectedVersion, StreamHead, StreamKey

IDS = (UUID(int=0xC1), UUID(int=0xC2))
STREAMS: tuple[StreamKey, ...] = (("Cart", IDS[0]), ("Cart", IDS[1]), ("Invoice", IDS[0]))
"""Three streams; two share an aggregate id and differ only in type."""
TENANTS = (UUID(int=0xA), UUID(int=0xB), None)

heads = st.dictionaries(
    st.sampled_from(STREAMS),
    st.tuples(st.integers(1, 3), st.sampled_from(TENANTS)),
    max_size=len(STREAMS),
)
expected_values: st.SearchStrategy[Expected] = st.one_of(st.sampled_from(list(ExpectedVersion)), st.integers(0, 4))
expectations = st.dictionaries(st.sampled_from(STREAMS), expected_values, max_size=len(STREAMS))
entries = st.lists(
    st.tuples(
        st.integers(0, len(STREAMS) - 1),  # the stream
        st.integers(0, 2 * len(TENANTS) - 1),  # the event's tenant: its stream's, or TENANTS[i]
        st.integers(1, 6),  # its version: its stream's next, or 1 or 2 (ignored when automatic)
        st.booleans(),  # automatic version
        st.integers(0, 9),  # 0: an earlier event's id, other content; 1: an earlier event again
    ),
    min_size=1,
    max_size=8,
)


def _batch(
    spec: list[tuple[int, int, int, bool, int]], stored: Mapping[StreamKey, tuple[int, UUID | None]]
) -> tuple[list[DomainEvent], list[int]]:
    """Events (mostly of their stream's tenant and at its next version) and the automatic ones."""
    events: list[DomainEvent] = []
    auto: list[int] = []
    following = {key: head[0] for key, head in stored.items()}
    owners = {key: head[1] for key, head in stored.items()}
    for index, (stream, tenant, version, automatic, reuse) in enumerate(spec):
        key = STREAMS[stream]
        following[key] = following.get(key, 0) + 1
        chosen = following[key] if version > 2 else version
        owner = owners.setdefault(key, TENANTS[stream % len(TENANTS)])
        tenant_id = TENANTS[tenant] if tenant < len(TENANTS) else owner
        event = item(key[1], chosen, tenant_id=tenant_id, aggregate_type=key[0], sku=f"n{index}")
        if reuse == 0 and events:
            event = event.model_copy(update={"event_id": events[-1].event_id})
        elif reuse == 1 and events:
            event = events[0]
        events.append(event)
        if automatic:
            auto.append(index)
    return events, auto


def _rules(
    events: list[DomainEvent],
    stored: Mapping[StreamKey, tuple[int, UUID | None]],
    expected: Mapping[StreamKey, Expected],
    auto: list[int],
) -> Any:
    """The plan of the full rules with no stored event ids, or the error they refuse with."""
    try:
        return plan_append(
            events,
            heads={key: StreamHead(*head) for key, head in stored.items()},
            existing={},
            expected_versions=expected,
            auto_version=auto,
        )
    except (OptimisticLockError, TenantMismatchError, DuplicateEventError) as error:
        return error


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stored=heads, expected=expectations, spec=entries)
def test_the_fast_path_decides_as_the_append_rules(
    stored: dict[StreamKey, tuple[int, UUID | None]],
    expected: dict[StreamKey, Expected],
    spec: list[tuple[int, int, int, bool, int]],
) -> None:
    events, auto = _batch(spec, stored)
    rows = events_to_rows(events, 0)
    looked_up: list[StreamKey] = []

    def head(aggregate_id: str, aggregate_type: str) -> tuple[int, str | None] | None:
        key = (aggregate_type, UUID(aggregate_id))
        looked_up.append(key)
        found = stored.get(key)
        return None if found is None else (found[0], None if found[1] is None else str(found[1]))

    versions = plain.plain_versions(rows, expected, auto, head)
    plan = _rules(events, stored, expected, auto)
    touched = {(e.aggregate_type, e.aggregate_id) for e in events}
    trusted_new = {key for key in touched if expected.get(key, ExpectedVersion.ANY) in (ExpectedVersion.NO_STREAM, 0)}
    assert not trusted_new & set(looked_up)  # a stream expected to be new is never looked up

    refused = isinstance(plan, Exception)
    if versions is None:
        event(f"declined; the rules {'refuse' if refused else 'accept'}")
        return  # the full rules decide (whatever they decide)
    if trusted_new & set(stored):
        # Version 1 of an existing stream is stored: the unique index refuses the insert.
        existing = trusted_new & set(stored)
        firsts = [row for row in rows if (row[plain.AGGREGATE_TYPE], UUID(row[plain.AGGREGATE_ID])) in existing]
        assert firsts[0][AGGREGATE_VERSION] == 1
        assert isinstance(plan, OptimisticLockError), plan
        event("plain, but a stream expected to be new exists: the unique index refuses")
        return
    event("plain; the rules accept")
    assert not refused, f"the fast path accepted what the rules refuse: {plan}"
    assert plan.skipped == 0
    assert versions == {
        (kind, str(aggregate_id)): version for (kind, aggregate_id), version in plan.stream_versions.items()
    }
    assert [row[AGGREGATE_VERSION] for row in rows] == [e.aggregate_version for e in plan.events]
    assert rows == events_to_rows(plan.events, 0)  # the rows written are the planned events exactly
