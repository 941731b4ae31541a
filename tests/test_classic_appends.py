"""Appends as in the classic API: AppendResult(success, new_version, ...), empty appends, and the
store stamping the next version on events built without one; on every store."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from classic_support import any_store, store_of
from esctl import AppendResult, DomainEvent, EventStore, ExpectedVersion, OptimisticLockError
from esctl.store.plain import plain_versions
from esctl.store.rules import implicit_versions, plan_append

__all__ = ["any_store"]


class Noted(DomainEvent):
    aggregate_type: str = "Note"
    n: int = 0


def test_append_result_in_the_classic_form() -> None:
    result = AppendResult(True, 3, 10)
    assert (result.success, result.new_version, result.global_position, result.conflict) == (True, 3, 10, False)
    assert AppendResult(success=True, new_version=2) == AppendResult.successful(2)
    conflicted = AppendResult.conflicted(5)
    assert (conflicted.success, conflicted.conflict, conflicted.new_version) == (False, True, 5)
    assert AppendResult.successful(4, 9).global_position == 9


def test_append_result_in_esctls_form() -> None:
    stream = ("Note", uuid4())
    result = AppendResult(3, 1, 5, 7, {stream: 4})
    assert (result.appended, result.skipped, result.first_position, result.last_position) == (3, 1, 5, 7)
    assert (result.success, result.new_version, result.global_position) == (True, 4, 7)
    two = AppendResult(appended=2, stream_versions={stream: 1, ("Note", uuid4()): 1})
    assert two.new_version == 0
    with pytest.raises(TypeError):
        AppendResult(1, 2, 3, 4, {}, 6)  # type: ignore[call-overload]
    with pytest.raises(TypeError):
        AppendResult(appended=1, bogus=2)  # type: ignore[call-overload]


async def test_append_reports_success_version_and_position(any_store: EventStore) -> None:
    note = uuid4()
    first = await any_store.append_events(note, "Note", [Noted(aggregate_id=note, aggregate_version=1)])
    assert (first.success, first.new_version, first.global_position) == (True, 1, 1)
    more = [Noted(aggregate_id=note, aggregate_version=v) for v in (2, 3)]
    second = await any_store.append_events(note, "Note", more, expected_version=1)
    assert (second.success, second.new_version, second.global_position, second.appended) == (True, 3, 3, 2)


async def test_an_empty_append_returns_the_expected_version(any_store: EventStore) -> None:
    note = uuid4()
    await any_store.append_events(note, "Note", [Noted(aggregate_id=note) for _ in range(3)])
    assert (await any_store.append_events(note, "Note", [], expected_version=7)).new_version == 7
    assert (await any_store.append_events(note, "Note", [])).new_version == 3
    assert (await any_store.append_events(uuid4(), "Note", [], ExpectedVersion.NO_STREAM)).new_version == 0
    assert await any_store.get_global_position() == 3


async def test_events_without_a_version_get_the_streams_next(any_store: EventStore) -> None:
    note = uuid4()
    for n in range(3):  # one at a time, as classic code does
        result = await any_store.append_events(note, "Note", [Noted(aggregate_id=note, n=n)])
        assert result.new_version == n + 1
    batch = [Noted(aggregate_id=note, n=n) for n in range(3, 6)]
    await any_store.append_events(note, "Note", batch)
    stored = [(s.stream_position, s.event.n) async for s in any_store.read_stream(note, "Note")]  # type: ignore[attr-defined]
    assert stored == [(v, v - 1) for v in range(1, 7)]


async def test_an_explicit_wrong_version_is_still_an_error(any_store: EventStore) -> None:
    note = uuid4()
    await any_store.append_events(note, "Note", [Noted(aggregate_id=note)])
    with pytest.raises(OptimisticLockError):
        await any_store.append_events(note, "Note", [Noted(aggregate_id=note, aggregate_version=1)])
    with pytest.raises(OptimisticLockError):
        await any_store.append_events(note, "Note", [Noted(aggregate_id=note, aggregate_version=5)])
    assert await any_store.get_stream_version(note, "Note") == 1


async def test_a_resent_event_without_a_version_is_skipped_not_stored_twice(any_store: EventStore) -> None:
    note = uuid4()
    event = Noted(aggregate_id=note)
    await any_store.append_events(note, "Note", [event])
    again = await any_store.append_events(note, "Note", [event])
    assert (again.appended, again.skipped) == (0, 1)
    assert await any_store.get_global_position() == 1


def test_implicit_versions() -> None:
    note = uuid4()
    events = [Noted(aggregate_id=note), Noted(aggregate_id=note, aggregate_version=1), Noted(aggregate_id=note)]
    assert implicit_versions(events) == {0, 2}
    assert implicit_versions(events, [1]) == {0, 1, 2}
    assert implicit_versions(events[1:2]) == frozenset()


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(
    plan=st.lists(st.tuples(st.integers(0, 2), st.one_of(st.none(), st.integers(1, 5))), min_size=1, max_size=8),
    head=st.integers(0, 3),
)
def test_the_sqlite_fast_path_agrees_with_the_rules_on_implicit_versions(
    plan: list[tuple[int, int | None]], head: int
) -> None:
    from esctl.codec import events_to_rows
    from esctl.errors import EsctlError
    from esctl.store.types import StreamHead

    ids: list[UUID] = [UUID(int=1), UUID(int=2), UUID(int=3)]
    events = [
        Noted(aggregate_id=ids[s]) if v is None else Noted(aggregate_id=ids[s], aggregate_version=v) for s, v in plan
    ]
    heads = {("Note", ids[0]): StreamHead(head, None)} if head else {}
    auto = implicit_versions(events)
    try:
        ruled: dict[tuple[str, str], int] | None = {
            (k, str(i)): v for (k, i), v in plan_append(events, heads=heads, existing={}).stream_versions.items()
        }
    except EsctlError:
        ruled = None
    rows = events_to_rows(events, 0)

    def lookup(aggregate_id: str, aggregate_type: str) -> tuple[int, str | None] | None:
        found = heads.get((aggregate_type, UUID(aggregate_id)))
        return None if found is None else (found.version, None)

    fast = plain_versions(rows, None, auto, lookup)
    if fast is not None:  # whatever the fast path accepts, the rules accept alike
        assert fast == ruled


async def test_sqlite_store_stamps_through_its_fast_path(tmp_path: object) -> None:
    from pathlib import Path

    with store_of("sqlite", Path(str(tmp_path))) as store:
        note = uuid4()
        result = await store.append_events(note, "Note", [Noted(aggregate_id=note) for _ in range(50)])
        assert (result.appended, result.new_version) == (50, 50)
        more = await store.append_batch([Noted(aggregate_id=note) for _ in range(2)])
        assert more.stream_versions == {("Note", note): 52}
        await store.close()
