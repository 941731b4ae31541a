"""The read contract: the read API, every filter against a brute-force filter, and page boundaries."""

from __future__ import annotations

import asyncio
import itertools
import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest

from esctl.errors import InvalidInputError
from esctl.events import DomainEvent, StoredEvent, uuid7
from esctl.store.interface import EventStore
from esctl.store.types import ExpectedVersion, ReadOptions
from esctl.testing.base import StoreContract
from esctl.testing.events import T0, InvoiceIssued, ItemAdded, ItemRemoved, item

BOUNDARY_FROM = T0 + timedelta(minutes=30)
BOUNDARY_TO = T0 + timedelta(minutes=60)


async def cart_with_five_events(store: EventStore, tenant: UUID | None = None) -> tuple[UUID, list[ItemAdded]]:
    """Append a new cart of five events (one a second from ``T0``); return it and the events."""
    cart = uuid4()
    events = [item(cart, v, tenant_id=tenant, occurred_at=T0 + timedelta(seconds=v)) for v in range(1, 6)]
    await store.append_events(cart, "Cart", events, ExpectedVersion.NO_STREAM)
    return cart, events


@dataclass(frozen=True)
class Written:
    """An event as the test wrote it, with the position the append reported."""

    position: int
    event: DomainEvent


@dataclass(frozen=True)
class Dataset:
    """Events across tenants, aggregate types, streams, types and times."""

    written: list[Written]
    tenants: list[UUID]
    streams: list[tuple[str, UUID, UUID | None]]


async def write_dataset(store: EventStore, size: int = 80, seed: int = 20261101) -> Dataset:
    """Append ``size`` events in random batches over three tenants (and none), two aggregate
    types, eight streams, three event types and two hours; the first four sit exactly on the
    window boundaries (``BOUNDARY_FROM``, ``BOUNDARY_TO``)."""
    rng = random.Random(seed)
    tenants = [uuid4(), uuid4(), uuid4()]
    owners: list[UUID | None] = [*tenants, None]
    streams = [(kind, uuid4(), owners[i % 4]) for i, kind in enumerate(["Cart", "Invoice"] * 4)]
    versions: dict[UUID, int] = {}
    offsets = [UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-7, minutes=-30))]
    minutes = [30, 60, 30, 60, *(rng.randrange(0, 120) for _ in range(size - 4))]
    pending: list[DomainEvent] = []
    written: list[Written] = []
    for minute in minutes:
        kind, aggregate_id, tenant = streams[rng.randrange(len(streams))]
        version = versions[aggregate_id] = versions.get(aggregate_id, 0) + 1
        when = (T0 + timedelta(minutes=minute, microseconds=rng.choice([0, 0, 1, 999_999]))).astimezone(
            rng.choice(offsets)
        )
        common: dict[str, Any] = {
            "aggregate_id": aggregate_id,
            "aggregate_version": version,
            "tenant_id": tenant,
            "occurred_at": when,
        }
        event: DomainEvent
        if kind == "Invoice":
            event = InvoiceIssued(amount_cents=minute, due=when, **common)
        elif rng.random() < 0.6:
            event = ItemAdded(sku=f"S{minute}", quantity=1, price=1.0, **common)
        else:
            event = ItemRemoved(sku=f"S{minute}", **common)
        pending.append(event)
        if len(pending) >= rng.randint(1, 6):
            result = await store.append_batch(pending)
            assert result.first_position is not None
            written.extend(Written(result.first_position + i, e) for i, e in enumerate(pending))
            pending = []
    if pending:
        result = await store.append_batch(pending)
        assert result.first_position is not None
        written.extend(Written(result.first_position + i, e) for i, e in enumerate(pending))
    return Dataset(written, tenants, [(kind, aid, tenant) for kind, aid, tenant in streams])


def brute_force(
    written: list[Written],
    *,
    from_position: int | None = None,
    to_position: int | None = None,
    tenant_id: UUID | None = None,
    tenant_ids: tuple[UUID, ...] = (),
    aggregate_type: str | None = None,
    aggregate_id: UUID | None = None,
    event_types: tuple[str, ...] = (),
    from_timestamp: datetime | None = None,
    to_timestamp: datetime | None = None,
    limit: int | None = None,
) -> list[tuple[int, UUID]]:
    """Filter everything written by hand: the reference the stores' filters are held to.

    ``from_position`` means after that position, as ``ReadOptions.from_position`` does.
    """
    wanted_tenants = set(tenant_ids) | ({tenant_id} if tenant_id is not None else set())
    hits = []
    for w in sorted(written, key=lambda w: w.position):
        e = w.event
        if from_position is not None and w.position <= from_position:
            continue
        if to_position is not None and w.position > to_position:
            continue
        if wanted_tenants and (e.tenant_id is None or e.tenant_id not in wanted_tenants):
            continue
        if aggregate_type is not None and e.aggregate_type != aggregate_type:
            continue
        if aggregate_id is not None and e.aggregate_id != aggregate_id:
            continue
        if event_types and e.event_type not in event_types:
            continue
        if from_timestamp is not None and e.occurred_at < from_timestamp:
            continue
        if to_timestamp is not None and e.occurred_at >= to_timestamp:
            continue
        hits.append((w.position, e.event_id))
    return hits if limit is None else hits[:limit]


async def read_hits(store: EventStore, options: ReadOptions) -> list[tuple[int, UUID]]:
    """What ``read_all(options)`` returns, as ``(position, event_id)`` pairs."""
    return [(s.global_position, s.event.event_id) async for s in store.read_all(options)]


class ReadContract(StoreContract):
    """Reading: the read API, the filters, and reads longer than one page."""

    # -- the read API -----------------------------------------------------------------------------

    @pytest.mark.asyncio
    async def test_empty_store(self, store: EventStore) -> None:
        assert await store.get_global_position() == 0
        assert [s async for s in store.read_all()] == []
        assert await store.get_stream_version(uuid4(), "Cart") == 0
        assert not await store.event_exists(uuid4())
        stream = await store.get_events(uuid4(), "Cart")
        assert stream.is_empty
        assert stream.version == 0

    @pytest.mark.asyncio
    async def test_get_events_returns_the_stream_with_its_version(self, store: EventStore) -> None:
        noise = uuid4()
        await store.append_events(noise, "Cart", [item(noise, 1)])
        cart, events = await cart_with_five_events(store)
        stream = await store.get_events(cart, "Cart")
        assert (stream.aggregate_id, stream.aggregate_type, stream.version) == (cart, "Cart", 5)
        assert stream.events == events
        after_two = await store.get_events(cart, "Cart", from_version=2)
        assert (after_two.events, after_two.version) == (events[2:], 5)
        assert (await store.get_events(cart)).events == events
        assert (await store.get_events(cart, "Invoice")).is_empty

    @pytest.mark.asyncio
    async def test_get_events_time_window_is_half_open(self, store: EventStore) -> None:
        cart, events = await cart_with_five_events(store)
        window = await store.get_events(
            cart, "Cart", from_timestamp=T0 + timedelta(seconds=2), to_timestamp=T0 + timedelta(seconds=4)
        )
        assert window.events == events[1:3]
        assert window.version == 5

    @pytest.mark.asyncio
    async def test_get_events_by_type_filters_by_tenant_and_time(self, store: EventStore) -> None:
        acme, globex = uuid4(), uuid4()
        _, acme_events = await cart_with_five_events(store, acme)
        _, globex_events = await cart_with_five_events(store, globex)
        invoice = uuid4()
        await store.append_events(
            invoice, "Invoice", [InvoiceIssued(aggregate_id=invoice, tenant_id=acme, amount_cents=1, due=T0)]
        )
        assert await store.get_events_by_type("Cart") == [*acme_events, *globex_events]
        assert await store.get_events_by_type("Cart", tenant_id=acme) == acme_events
        since = T0 + timedelta(seconds=4)
        assert (
            await store.get_events_by_type(aggregate_type="Cart", tenant_id=globex, from_timestamp=since)
            == globex_events[3:]
        )
        assert await store.get_events_by_type("Cart", tenant_id=acme, to_timestamp=since) == acme_events[:3]
        assert await store.get_events_by_type("Cart", tenant_id=uuid4()) == []

    @pytest.mark.asyncio
    async def test_read_stream_yields_stored_events_after_a_version(self, store: EventStore) -> None:
        cart, events = await cart_with_five_events(store)
        other, _ = await cart_with_five_events(store)
        stored = [s async for s in store.read_stream(cart, "Cart", from_version=3)]
        assert [s.event for s in stored] == events[3:]
        assert [(s.stream_position, s.global_position) for s in stored] == [(4, 4), (5, 5)]
        assert all(s.stream_id == f"Cart:{cart}" for s in stored)
        assert [s.event async for s in store.read_stream(other)] != []
        assert [s async for s in store.read_stream(cart, "Invoice")] == []

    @pytest.mark.asyncio
    async def test_event_exists_stream_version_and_global_position(self, store: EventStore) -> None:
        cart, events = await cart_with_five_events(store)
        assert await store.event_exists(events[0].event_id)
        assert not await store.event_exists(uuid7())
        assert await store.get_stream_version(cart, "Cart") == 5
        assert await store.get_stream_version(cart, "Invoice") == 0
        assert await store.get_global_position() == 5

    @pytest.mark.asyncio
    async def test_read_all_is_in_position_order_and_gapless(self, store: EventStore) -> None:
        streams = [uuid4() for _ in range(4)]
        rng = random.Random(3)
        versions = dict.fromkeys(streams, 0)
        for _ in range(30):
            batch: list[DomainEvent] = []
            for cart in rng.sample(streams, 2):
                versions[cart] += 1
                batch.append(item(cart, versions[cart]))
            await store.append_batch(batch)
        positions = [s.global_position async for s in store.read_all()]
        assert positions == list(range(1, 61))

    @pytest.mark.asyncio
    async def test_store_works_as_an_async_context_manager_and_closes_twice(self, store: EventStore) -> None:
        async with store as same:
            assert same is store
            cart = uuid4()
            await same.append_events(cart, "Cart", [item(cart, 1)])
            await same.get_global_position()
        await store.close()

    @pytest.mark.asyncio
    @pytest.mark.parametrize("which", ["from_timestamp", "to_timestamp"])
    async def test_naive_read_windows_are_rejected(self, store: EventStore, which: str) -> None:
        cart = uuid4()
        await store.append_events(cart, "Cart", [item(cart, 1)])
        naive: dict[str, Any] = {which: datetime(2026, 11, 1, 8, 0)}
        with pytest.raises(InvalidInputError) as caught:
            [s async for s in store.read_all(ReadOptions(**naive))]
        assert caught.value.field == which
        with pytest.raises(InvalidInputError):
            await store.get_events_by_type("Cart", **naive)
        with pytest.raises(InvalidInputError):
            await store.get_events(cart, "Cart", **naive)

    # -- filters against a brute-force filter -----------------------------------------------------

    @pytest.mark.asyncio
    async def test_filters_return_exactly_what_a_brute_force_filter_returns(self, store: EventStore) -> None:
        data = await write_dataset(store)
        assert [w.position for w in data.written] == list(range(1, len(data.written) + 1))
        a, b, c = data.tenants
        cart_of_a = next(aid for kind, aid, tenant in data.streams if kind == "Cart" and tenant == a)
        plus_two = timezone(timedelta(hours=2))
        choices: dict[str, list[Any]] = {
            "tenant_id": [None, a, uuid4()],
            "tenant_ids": [(), (b, c), (a,)],
            "aggregate_type": [None, "Cart", "Invoice"],
            "aggregate_id": [None, cart_of_a],
            "event_types": [(), ("test.ItemAdded",), ("test.ItemRemoved", "test.InvoiceIssued")],
            "positions": [(None, None), (10, None), (None, 25), (10, 25), (30, 29)],
            "window": [
                (None, None),
                (BOUNDARY_FROM, None),
                (None, BOUNDARY_TO),
                (BOUNDARY_FROM.astimezone(plus_two), BOUNDARY_TO.astimezone(plus_two)),
            ],
            "limit": [None, 0, 3],
        }
        combos = list(itertools.product(*choices.values()))
        rng = random.Random(5)
        sample = rng.sample(combos, 300)
        # The single-filter queries, always.
        sample += [combo for combo in combos if sum(v not in (None, (), (None, None)) for v in combo) <= 1]
        nonempty = 0
        for tenant_id, tenant_ids, aggregate_type, aggregate_id, event_types, positions, window, limit in sample:
            kwargs: dict[str, Any] = {
                "from_position": positions[0],
                "to_position": positions[1],
                "tenant_id": tenant_id,
                "tenant_ids": tenant_ids,
                "aggregate_type": aggregate_type,
                "aggregate_id": aggregate_id,
                "event_types": event_types,
                "from_timestamp": window[0],
                "to_timestamp": window[1],
                "limit": limit,
            }
            expected = brute_force(data.written, **kwargs)
            got = await read_hits(store, ReadOptions(**kwargs))
            assert got == expected, kwargs
            nonempty += bool(expected)
        # Many combinations are empty by design (an unknown tenant, limit 0, to < from); the rest
        # must find something, or the comparison above proves little.
        assert nonempty > 50

    @pytest.mark.asyncio
    async def test_time_window_boundaries_are_from_inclusive_to_exclusive(self, store: EventStore) -> None:
        cart = uuid4()
        at_from = item(cart, 1, occurred_at=BOUNDARY_FROM)
        just_before_to = item(cart, 2, occurred_at=BOUNDARY_TO - timedelta(microseconds=1))
        at_to = item(cart, 3, occurred_at=BOUNDARY_TO)
        just_before_from = item(cart, 4, occurred_at=BOUNDARY_FROM - timedelta(microseconds=1))
        await store.append_events(cart, "Cart", [at_from, just_before_to, at_to, just_before_from])
        options = ReadOptions(from_timestamp=BOUNDARY_FROM, to_timestamp=BOUNDARY_TO)
        assert [s.event async for s in store.read_all(options)] == [at_from, just_before_to]

    @pytest.mark.asyncio
    async def test_limit_counts_matching_events_only(self, store: EventStore) -> None:
        acme = uuid4()
        for _ in range(3):
            noise = uuid4()
            await store.append_events(noise, "Cart", [item(noise, 1)])
        _, events = await cart_with_five_events(store, acme)
        got = [s.event async for s in store.read_all(ReadOptions(tenant_id=acme, limit=2))]
        assert got == events[:2]

    @pytest.mark.asyncio
    async def test_read_all_stops_where_the_caller_stops(self, store: EventStore) -> None:
        _, events = await cart_with_five_events(store)
        seen: list[StoredEvent] = []
        async for stored in store.read_all():
            seen.append(stored)
            if len(seen) == 2:
                break
        assert [s.event for s in seen] == events[:2]
        assert [s.event async for s in store.read_all(ReadOptions(from_position=3))] == events[3:]  # after 3

    # -- reads longer than one page ---------------------------------------------------------------

    @pytest.mark.asyncio
    async def test_reads_of_several_pages_return_every_event_once_in_order(
        self, store: EventStore, read_page_size: int
    ) -> None:
        page = read_page_size
        data = await write_dataset(store, size=2 * page + 3, seed=page)
        total = len(data.written)
        everything = [s async for s in store.read_all()]
        assert [s.global_position for s in everything] == list(range(1, total + 1))
        assert [s.event for s in everything] == [w.event for w in data.written]
        assert await store.get_global_position() == total
        for limit in (page - 1, page, page + 1, 2 * page, 2 * page + 1, total, total + 5):
            assert await read_hits(store, ReadOptions(limit=limit)) == brute_force(data.written, limit=limit), limit
        bounds: list[dict[str, Any]] = [
            {"from_position": page},
            {"to_position": page + 1},
            {"from_position": page + 1, "to_position": 2 * page + 1},
            {"from_position": page, "to_position": page},
        ]
        for bound in bounds:
            assert await read_hits(store, ReadOptions(**bound)) == brute_force(data.written, **bound), bound

    @pytest.mark.asyncio
    async def test_filtered_reads_of_several_pages_equal_the_brute_force_filter(
        self, store: EventStore, read_page_size: int
    ) -> None:
        page = read_page_size
        data = await write_dataset(store, size=max(8 * page + 1, 80), seed=page + 1)
        a, b, _ = data.tenants
        queries: list[dict[str, Any]] = [
            {"tenant_id": a},
            {"tenant_ids": (a, b), "limit": page + 1},
            {"tenant_id": b, "from_timestamp": BOUNDARY_FROM, "to_timestamp": BOUNDARY_TO},
            {"tenant_id": a, "from_timestamp": BOUNDARY_FROM, "limit": page},
            {"aggregate_type": "Cart", "limit": 2 * page},
            {"event_types": ("test.ItemAdded",), "from_position": page},
            {"event_types": ("test.InvoiceIssued", "test.ItemRemoved"), "to_position": 3 * page + 1},
            {"from_timestamp": BOUNDARY_FROM, "limit": page - 1},
        ]
        for query in queries:
            expected = brute_force(data.written, **query)
            assert expected, query
            assert await read_hits(store, ReadOptions(**query)) == expected, query

    @pytest.mark.asyncio
    async def test_a_filter_matching_only_the_first_and_last_events_finds_both(
        self, store: EventStore, read_page_size: int
    ) -> None:
        page = read_page_size
        acme = uuid4()
        first = item(uuid4(), 1, tenant_id=acme)
        await store.append_batch([first])
        filler = uuid4()
        await store.append_events(filler, "Cart", [item(filler, v) for v in range(1, 2 * page + 2)])
        last = item(uuid4(), 1, tenant_id=acme)
        await store.append_batch([last])
        assert [s.event async for s in store.read_all(ReadOptions(tenant_id=acme))] == [first, last]
        assert [s.event async for s in store.read_all(ReadOptions(tenant_id=acme, limit=1))] == [first]
        assert [s.event async for s in store.read_all(ReadOptions(tenant_id=acme, from_position=2))] == [last]

    @pytest.mark.asyncio
    async def test_a_stream_longer_than_a_page_reads_back_whole(self, store: EventStore, read_page_size: int) -> None:
        page = read_page_size
        cart, other = uuid4(), uuid4()
        events = [item(cart, v) for v in range(1, 2 * page + 4)]
        half = max(page // 2, 1)
        for number, start in enumerate(range(0, len(events), half), start=1):
            await store.append_batch([*events[start : start + half], item(other, number)])
        assert [s.stream_position async for s in store.read_stream(cart, "Cart")] == list(range(1, len(events) + 1))
        stream = await store.get_events(cart, "Cart", from_version=page)
        assert (stream.events, stream.version) == (events[page:], len(events))
        assert await store.get_stream_version(cart, "Cart") == len(events)
        assert len(await store.get_events_by_type("Cart")) == await store.get_global_position()

    @pytest.mark.asyncio
    async def test_a_read_stopped_after_a_page_leaves_the_store_usable(
        self, store: EventStore, read_page_size: int
    ) -> None:
        page = read_page_size
        cart = uuid4()
        events = [item(cart, v) for v in range(1, 2 * page + 2)]
        await store.append_events(cart, "Cart", events)
        seen: list[StoredEvent] = []
        async for stored in store.read_all():
            seen.append(stored)
            if len(seen) == page + 1:
                break
        assert [s.event for s in seen] == events[: page + 1]
        more = item(cart, len(events) + 1)
        await store.append_events(cart, "Cart", [more], len(events))
        after = ReadOptions(from_position=2 * page - 1)
        assert [s.event async for s in store.read_all(after)] == [*events[-2:], more]

    @pytest.mark.asyncio
    async def test_json_lines_of_several_pages_hold_every_event_once(
        self, store: EventStore, read_page_size: int
    ) -> None:
        page = read_page_size
        data = await write_dataset(store, size=2 * page + 3, seed=page + 2)
        lines = [line async for batch in store.read_json_lines() for line in batch]
        assert [json.loads(line)["event_id"] for line in lines] == [str(w.event.event_id) for w in data.written]
        a = data.tenants[0]
        mine = [
            line async for batch in store.read_json_lines(ReadOptions(tenant_id=a, limit=page + 1)) for line in batch
        ]
        expected = brute_force(data.written, tenant_id=a, limit=page + 1)
        assert [json.loads(line)["event_id"] for line in mine] == [str(event_id) for _, event_id in expected]

    def test_export_json_lines_of_several_pages_equals_read_json_lines(
        self, tmp_path: Path, read_page_size: int
    ) -> None:
        # export_json_lines blocks: it is called where no event loop runs, between two loops.
        store = self.make_store(tmp_path, self.registry)
        try:

            async def fill() -> list[bytes]:
                await write_dataset(store, size=2 * read_page_size + 3, seed=read_page_size + 3)
                return [line async for batch in store.read_json_lines() for line in batch]

            streamed = asyncio.run(fill())
            exported = [line for batch in store.export_json_lines() for line in batch]
            assert exported == streamed
            assert len(exported) == 2 * read_page_size + 3
            options = ReadOptions(event_types=("test.ItemAdded",), limit=read_page_size + 1)
            some = [json.loads(line) for batch in store.export_json_lines(options) for line in batch]
            assert [line["event_type"] for line in some] == ["test.ItemAdded"] * len(some)
            assert 0 < len(some) <= read_page_size + 1
        finally:
            asyncio.run(store.close())
