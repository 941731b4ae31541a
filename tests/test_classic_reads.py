"""Reads as in the classic API: ReadDirection, ReadOptions.from_position meaning *after*, backward
reads with limits, read_stream by stream id; on every store."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID, uuid4

import pytest

import esctl.store.sqlite.reads as sqlite_reads
from classic_support import any_store, store_of
from esctl import DomainEvent, EventStore, InvalidInputError, ReadDirection, ReadOptions, StoredEvent

__all__ = ["any_store"]

BACKWARD, FORWARD = ReadDirection.BACKWARD, ReadDirection.FORWARD
T0 = datetime(2026, 11, 1, tzinfo=UTC)


class Noted(DomainEvent):
    aggregate_type: str = "Note"
    n: int


async def write(store: EventStore, count: int = 30) -> tuple[list[UUID], list[UUID]]:
    """Append ``count`` events over three streams (two tenants and none), a minute apart."""
    tenants = [uuid4(), uuid4()]
    streams = [(uuid4(), tenants[0]), (uuid4(), tenants[1]), (uuid4(), None)]
    versions: dict[UUID, int] = {}
    for n in range(count):
        aggregate_id, tenant = streams[n % 3]
        versions[aggregate_id] = versions.get(aggregate_id, 0) + 1
        event = Noted(
            aggregate_id=aggregate_id,
            aggregate_version=versions[aggregate_id],
            tenant_id=tenant,
            occurred_at=T0 + timedelta(minutes=n),
            n=n,
        )
        await store.append_events(aggregate_id, "Note", [event])
    return tenants, [s[0] for s in streams]


async def positions(store: EventStore, options: ReadOptions) -> list[int]:
    return [s.global_position async for s in store.read_all(options)]


def expected(options: ReadOptions, everything: list[StoredEvent]) -> list[int]:
    chosen = [s.global_position for s in everything if options.matches(s)]
    if options.direction is BACKWARD:
        chosen.reverse()
    return chosen[: options.limit] if options.limit is not None else chosen


async def test_from_position_reads_after_it(any_store: EventStore) -> None:
    await write(any_store, 10)
    assert await positions(any_store, ReadOptions(from_position=0)) == list(range(1, 11))
    assert await positions(any_store, ReadOptions(from_position=4)) == list(range(5, 11))
    assert await positions(any_store, ReadOptions(from_position=10)) == []
    assert await positions(any_store, ReadOptions(from_position=4, to_position=6)) == [5, 6]


async def test_resuming_from_a_checkpoint_never_repeats_an_event(any_store: EventStore) -> None:
    await write(any_store, 25)
    seen: list[int] = []
    checkpoint = 0
    for _ in range(25):  # bounded: a store that repeats the checkpoint's event would never finish
        page = await positions(any_store, ReadOptions(from_position=checkpoint, limit=4))
        if not page:
            break
        seen.extend(page)
        checkpoint = page[-1]
    assert seen == list(range(1, 26))


async def test_backward_reads_with_limits(any_store: EventStore) -> None:
    tenants, _ = await write(any_store, 30)
    assert await positions(any_store, ReadOptions(direction=BACKWARD)) == list(range(30, 0, -1))
    assert await positions(any_store, ReadOptions(direction=BACKWARD, limit=3)) == [30, 29, 28]
    assert await positions(any_store, ReadOptions(direction=BACKWARD, from_position=27)) == [30, 29, 28]
    mine = await positions(any_store, ReadOptions(direction=BACKWARD, tenant_id=tenants[0], limit=2))
    assert mine == [28, 25]


async def test_every_option_combination_matches_a_brute_force_filter(any_store: EventStore) -> None:
    tenants, streams = await write(any_store, 30)
    everything = [s async for s in any_store.read_all()]
    rng = random.Random(12)
    for _ in range(60):
        options = ReadOptions(
            direction=rng.choice([FORWARD, BACKWARD]),
            from_position=rng.choice([0, 0, rng.randrange(0, 32)]),
            to_position=rng.choice([None, rng.randrange(0, 32)]),
            limit=rng.choice([None, rng.randrange(0, 12)]),
            tenant_id=rng.choice([None, *tenants]),
            aggregate_id=rng.choice([None, None, *streams]),
            from_timestamp=rng.choice([None, T0 + timedelta(minutes=rng.randrange(30))]),
            to_timestamp=rng.choice([None, T0 + timedelta(minutes=rng.randrange(30))]),
        )
        assert await positions(any_store, options) == expected(options, everything), options


async def test_read_stream_takes_the_classic_stream_id(any_store: EventStore) -> None:
    _, streams = await write(any_store, 30)
    first = streams[0]
    classic = [s.stream_position async for s in any_store.read_stream(f"{first}:Note")]
    own = [s.stream_position async for s in any_store.read_stream(f"Note:{first}")]
    by_id = [s.stream_position async for s in any_store.read_stream(first, "Note")]
    assert classic == own == by_id == list(range(1, 11))
    back = any_store.read_stream(f"{first}:Note", ReadOptions(direction=BACKWARD, limit=3))
    assert [s.stream_position async for s in back] == [10, 9, 8]
    after = any_store.read_stream(f"{first}:Note", options=ReadOptions(from_position=7))
    assert [s.stream_position async for s in after] == [8, 9, 10]
    assert [s.stream_position async for s in any_store.read_stream(first, "Note", from_version=8)] == [9, 10]
    assert [s async for s in any_store.read_stream(f"{first}:Other")] == []
    with pytest.raises(InvalidInputError):
        any_store.read_stream("not-a-stream")


async def test_sqlite_reads_backward_a_page_at_a_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite_reads, "READ_BATCH", 7)
    pages: list[int] = []
    original = sqlite_reads._select

    def counted(*args: object, **kwargs: object) -> tuple[str, list[object]]:
        sql, params = original(*args, **kwargs)  # type: ignore[arg-type]
        assert "DESC LIMIT 7" in sql
        pages.append(1)
        return sql, params

    monkeypatch.setattr(sqlite_reads, "_select", counted)
    with store_of("sqlite", tmp_path) as store:
        await write(store, 30)
        assert await positions(store, ReadOptions(direction=BACKWARD)) == list(range(30, 0, -1))
        await store.close()
    assert len(pages) == 5  # 7+7+7+7+2: pages, never the whole log at once


async def test_sqlite_read_stream_reads_only_rows_after_the_version(tmp_path: Path) -> None:
    import sqlite3

    with store_of("sqlite", tmp_path) as store:
        _, streams = await write(store, 30)
        await store.close()
    conn = sqlite3.connect(tmp_path / "events.db")
    traced: list[str] = []
    conn.set_trace_callback(traced.append)
    rows = list(
        sqlite_reads.stream_pages(conn, str(streams[0]), "Note", 8, ReadOptions(), lambda rows: [r[0] for r in rows])
    )
    (plan,) = conn.execute("EXPLAIN QUERY PLAN " + traced[0]).fetchall()
    conn.close()
    assert [p for page in rows for p in page] == [25, 28]  # versions 9 and 10
    # A range on the stream's unique index: the rows before the version are never visited.
    assert plan[3].startswith("SEARCH events USING INDEX")
    assert "aggregate_version>?" in plan[3]
