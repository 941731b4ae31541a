"""The chunked append contract: several chunks, one atomic batch.

The in-memory reference store's version (read everything, one ``append_batch``) is the
reference; a store may write each chunk as it comes (SQLite does, inside one transaction).
Whatever the chunks hold, the store must store the same events and refuse the same ones as the
reference, naming the chunk and the index. Chunks are made of input events as an import makes
them: encoded without a model (unregistered types) and through their model (registered ones),
mixed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import UUID

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from esctl.errors import DuplicateEventError, EsctlError, InvalidInputError, OptimisticLockError, TenantMismatchError
from esctl.ingest import InputEvent, event_from_fields
from esctl.store.interface import EventStore
from esctl.store.types import AppendChunk, Expected, ExpectedVersion, StreamKey
from esctl.testing.base import StoreContract
from esctl.testing.events import REGISTRY

CART = UUID("01a00000-0000-7000-8000-00000000c001")
OTHER_CART = UUID("01a00000-0000-7000-8000-00000000c002")
TENANT = UUID("00000000-0000-4000-8000-0000000000a1")


def fields(number: int, *, cart: UUID = CART, version: int | None = None, **overrides: Any) -> dict[str, Any]:
    """The JSON form of an input event: ``test.ItemRemoved`` (registered) when ``number`` is
    divisible by 3, else ``chunk.Noted`` (unregistered, so encoded without a model)."""
    data: dict[str, Any] = {
        "event_id": f"01a00000-0000-7000-8000-{number:012x}",
        "event_type": "test.ItemRemoved" if number % 3 == 0 else "chunk.Noted",
        "occurred_at": f"2026-11-01T08:00:{number % 60:02d}Z",
        "aggregate_type": "Cart",
        "aggregate_id": str(cart),
        "tenant_id": str(TENANT),
    }
    if version is not None:
        data["aggregate_version"] = version
    data["sku" if number % 3 == 0 else "text"] = f"n{number}"
    data.update(overrides)
    return data


def inputs(*items: dict[str, Any]) -> list[InputEvent]:
    """The input events an import makes of ``items`` (line numbers from 1)."""
    return [event_from_fields(data, registry=REGISTRY, line=number) for number, data in enumerate(items, start=1)]


def chunked(events: list[InputEvent], size: int, expected: ExpectedVersion | None = None) -> Iterator[AppendChunk]:
    """Cut ``events`` into chunks of ``size``, each expecting ``expected`` of its streams."""
    for start in range(0, len(events), size):
        part = events[start : start + size]
        streams = {(e.event.aggregate_type, e.event.aggregate_id) for e in part}
        yield AppendChunk(
            part,
            None if expected is None else dict.fromkeys(streams, expected),
            [i for i, e in enumerate(part) if e.auto_version],
        )


async def stored(store: EventStore) -> list[tuple[Any, ...]]:
    """Every stored event as ``(position, event_id, event_type, version, JSON form)``."""
    return [
        (s.global_position, s.event.event_id, s.event.event_type, s.stream_position, s.event.model_dump(mode="json"))
        async for s in store.read_all()
    ]


async def stored_events(store: EventStore) -> list[tuple[Any, ...]]:
    """Every stored event as ``(position, event_id, version, JSON form)``."""
    return [
        (s.global_position, s.event.event_id, s.stream_position, s.event.model_dump(mode="json"))
        async for s in store.read_all()
    ]


def _input(number: int, cart: UUID, version: int | None, changed: bool) -> dict[str, Any]:
    data = fields(number, cart=cart, version=version)
    if changed:
        data["sku" if number % 3 == 0 else "text"] = "changed"
    return data


async def outcome(store: EventStore, first: list[Any], ops: list[Any], size: int, expected: Any) -> Any:
    """Append ``first`` (auto-versioned), then ``ops`` in chunks of ``size``; return what
    happened (the result or the refusal, with what is stored after)."""
    await store.append_batch([e.event for e in inputs(*first)], auto_version=range(len(first)))
    chunks = list(chunked(inputs(*(_input(*op) for op in ops)), size, expected))
    try:
        result = await store.append_chunks(chunks)
    except (DuplicateEventError, OptimisticLockError, TenantMismatchError, InvalidInputError) as error:
        chunk = error.batch_chunk
        return (
            type(error).__name__,
            str(error),
            None if chunk is None else chunks.index(chunk),
            error.batch_index,
            await stored_events(store),
        )
    return (
        result.appended,
        result.skipped,
        result.first_position,
        result.last_position,
        dict(result.stream_versions),
        await stored_events(store),
    )


operations = st.lists(
    st.tuples(
        st.integers(1, 24),  # event number: ids repeat, within the input and against the store
        st.sampled_from([CART, OTHER_CART]),
        st.one_of(st.none(), st.none(), st.none(), st.integers(1, 6)),  # None: the store assigns it
        st.sampled_from([False, False, False, True]),  # other content under the same id
    ),
    min_size=1,
    max_size=14,
)

STORED_ID_CASES = [
    pytest.param(
        [
            (4, CART, None, False),
            (5, CART, None, False),
            (2, CART, None, False),
            (6, OTHER_CART, None, False),
            (7, CART, None, False),
        ],
        None,
        id="stored-id-mid-chunk-skipped",
    ),
    pytest.param(
        [(4, CART, None, False), (5, CART, None, False), (2, CART, None, True), (6, CART, None, False)],
        None,
        id="stored-id-mid-chunk-other-content",
    ),
    pytest.param(
        [(4, CART, 4, False), (5, CART, 5, False), (3, CART, 3, False), (6, CART, 6, False)],
        None,
        id="stored-id-mid-chunk-explicit-versions",
    ),
    pytest.param(
        [
            (4, CART, None, False),
            (1, CART, None, False),
            (6, OTHER_CART, None, False),
            (7, OTHER_CART, None, False),
        ],
        ExpectedVersion.NO_STREAM,
        id="expected-for-a-stream-after-the-stored-id",
    ),
    pytest.param(
        [(4, OTHER_CART, None, False), (1, CART, None, False), (6, CART, None, False)],
        ExpectedVersion.STREAM_EXISTS,
        id="expected-refused-after-the-stored-id",
    ),
    pytest.param(
        [(4, OTHER_CART, None, False), (5, CART, None, False), (6, OTHER_CART, None, False)],
        ExpectedVersion.NO_STREAM,
        id="a-stream-expected-new-exists-after-a-new-one",
    ),
    pytest.param(
        [(4, OTHER_CART, 1, False), (5, CART, 1, False)],
        ExpectedVersion.NO_STREAM,
        id="a-stream-expected-new-exists-explicit-versions",
    ),
]


class ChunkContract(StoreContract):
    """``EventStore.append_chunks``: several chunks, one atomic batch."""

    @pytest.mark.asyncio
    async def test_chunks_store_what_one_batch_of_all_their_events_stores(self, store: EventStore) -> None:
        events = inputs(*(fields(n, cart=CART if n % 2 else OTHER_CART) for n in range(1, 12)))
        result = await store.append_chunks(chunked(events, 4))
        assert (result.appended, result.skipped, result.first_position, result.last_position) == (11, 0, 1, 11)
        assert result.stream_versions == {("Cart", CART): 6, ("Cart", OTHER_CART): 5}
        rows = await stored(store)
        assert [r[1] for r in rows] == [e.event.event_id for e in events]
        assert [r[3] for r in rows] == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6]

    @pytest.mark.asyncio
    async def test_no_chunks_or_empty_chunks_append_nothing(self, store: EventStore) -> None:
        assert (await store.append_chunks([])).appended == 0
        assert (await store.append_chunks([AppendChunk([]), AppendChunk([])])).appended == 0
        assert await store.get_global_position() == 0

    @pytest.mark.asyncio
    async def test_a_refused_event_in_a_later_chunk_writes_nothing_and_names_chunk_and_index(
        self, store: EventStore
    ) -> None:
        events = inputs(*(fields(n) for n in range(1, 10)), fields(10, version=4))
        chunks = list(chunked(events, 4))
        with pytest.raises(OptimisticLockError) as caught:
            await store.append_chunks(chunks)
        assert caught.value.batch_chunk is chunks[2]
        assert caught.value.batch_index == 1
        assert await store.get_global_position() == 0

    @pytest.mark.asyncio
    @pytest.mark.parametrize("bad", ["tenant", "duplicate", "version"])
    async def test_every_rule_holds_across_chunks(self, store: EventStore, bad: str) -> None:
        good = [fields(n) for n in range(1, 6)]
        if bad == "tenant":
            last = fields(6, tenant_id=str(UUID(int=5)))
            error: type[Exception] = TenantMismatchError
        elif bad == "duplicate":
            last = fields(2, text="other text")  # the id of line 2, other content
            error = DuplicateEventError
        else:
            last = fields(6, version=9)
            error = OptimisticLockError
        chunks = list(chunked(inputs(*good, last), 2))
        with pytest.raises(error) as caught:
            await store.append_chunks(chunks)
        refused = caught.value
        assert isinstance(refused, EsctlError)
        assert refused.batch_chunk is chunks[2]
        assert refused.batch_index == 1
        assert await store.get_global_position() == 0

    @pytest.mark.asyncio
    async def test_an_event_repeated_in_a_later_chunk_is_stored_once(self, store: EventStore) -> None:
        events = inputs(fields(1), fields(2), fields(3), fields(2), fields(4))
        result = await store.append_chunks(chunked(events, 2))
        assert (result.appended, result.skipped) == (4, 1)
        assert [r[3] for r in await stored(store)] == [1, 2, 3, 4]

    @pytest.mark.asyncio
    async def test_reappending_in_chunks_skips_what_is_stored_and_appends_the_rest(self, store: EventStore) -> None:
        first = inputs(*(fields(n) for n in range(1, 5)))
        await store.append_chunks(chunked(first, 3))
        before = await stored(store)
        again = inputs(*(fields(n) for n in range(1, 8)))
        result = await store.append_chunks(chunked(again, 3))
        assert (result.appended, result.skipped, result.first_position, result.last_position) == (3, 4, 5, 7)
        assert (await stored(store))[:4] == before

    @pytest.mark.asyncio
    async def test_an_expected_version_counts_where_its_stream_first_appears(self, store: EventStore) -> None:
        events = inputs(*(fields(n) for n in range(1, 7)))
        result = await store.append_chunks(chunked(events, 2, ExpectedVersion.NO_STREAM))
        assert result.appended == 6
        more = inputs(fields(7), fields(8))
        with pytest.raises(OptimisticLockError):
            await store.append_chunks(chunked(more, 1, ExpectedVersion.NO_STREAM))
        assert await store.get_global_position() == 6

    @pytest.mark.asyncio
    async def test_an_error_the_chunks_raise_while_read_writes_nothing(self, store: EventStore) -> None:
        def chunks() -> Iterator[AppendChunk]:
            yield AppendChunk(inputs(fields(1), fields(2)), auto_version=[0, 1])
            raise InvalidInputError("the input broke", line=3)

        with pytest.raises(InvalidInputError, match="the input broke"):
            await store.append_chunks(chunks())
        assert await store.get_global_position() == 0

    @pytest.mark.asyncio
    async def test_explicit_and_automatic_versions_mix_across_chunks(self, store: EventStore) -> None:
        events = inputs(fields(1, version=1), fields(2), fields(3, version=3), fields(4), fields(5))
        assert [e.auto_version for e in events] == [False, True, False, True, True]
        result = await store.append_chunks(chunked(events, 2))
        assert result.stream_versions == {("Cart", CART): 5}
        assert [r[3] for r in await stored(store)] == [1, 2, 3, 4, 5]

    @pytest.mark.asyncio
    async def test_a_stream_checked_before_a_stored_id_is_not_checked_again_after_it(self, store: EventStore) -> None:
        await store.append_chunks(chunked(inputs(fields(1), fields(2), fields(3)), 3))
        events = inputs(fields(4, cart=OTHER_CART), fields(2), fields(5, cart=OTHER_CART), fields(6))
        expected: dict[StreamKey, Expected] = {("Cart", OTHER_CART): ExpectedVersion.NO_STREAM, ("Cart", CART): 3}
        result = await store.append_chunks([AppendChunk(events, expected, auto_version=[0, 1, 2, 3])])
        assert (result.appended, result.skipped, result.first_position, result.last_position) == (3, 1, 4, 6)
        assert dict(result.stream_versions) == {("Cart", OTHER_CART): 2, ("Cart", CART): 4}
        assert [r[3] for r in await stored(store)] == [1, 2, 3, 1, 2, 4]

    # -- any chunks: the store's outcome equals the reference's ----------------------------------

    @settings(
        max_examples=60,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.differing_executors],
    )
    @given(
        first=st.lists(st.integers(1, 24), max_size=8, unique=True),
        ops=operations,
        size=st.integers(1, 5),
        expected=st.sampled_from([None, ExpectedVersion.NO_STREAM, ExpectedVersion.STREAM_EXISTS]),
    )
    def test_any_chunks_give_the_outcome_of_the_reference_store(
        self, first: list[int], ops: list[Any], size: int, expected: Any
    ) -> None:
        stored_first = [fields(number) for number in first]

        async def both(store: EventStore) -> tuple[Any, Any]:
            reference = await outcome(self.reference_store(), stored_first, ops, size, expected)
            return reference, await outcome(store, stored_first, ops, size, expected)

        reference, streamed = self.run_with_stores(1, both)
        assert streamed == reference

    @pytest.mark.parametrize(("ops", "expected"), STORED_ID_CASES)
    def test_a_stored_id_after_new_events_in_a_chunk(self, ops: list[Any], expected: Any) -> None:
        first = [fields(number) for number in (1, 2, 3)]

        async def both(store: EventStore) -> tuple[Any, Any]:
            reference = await outcome(self.reference_store(), first, ops, 10, expected)
            return reference, await outcome(store, first, ops, 10, expected)

        reference, streamed = self.run_with_stores(1, both)
        assert streamed == reference
