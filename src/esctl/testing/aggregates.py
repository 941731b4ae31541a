"""The repository contract: ``AggregateRepository``, ``TenantAwareRepository`` and the event bus,
on the store under test."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest

from esctl.bus import InMemoryEventBus
from esctl.errors import AggregateNotFoundError, OptimisticLockError, TenantMismatchError
from esctl.events import DomainEvent
from esctl.repository import AggregateRepository, TenantAwareRepository
from esctl.store.interface import EventStore
from esctl.testing.base import StoreContract
from esctl.testing.events import Cart


def carts(store: EventStore, bus: InMemoryEventBus | None = None) -> AggregateRepository[Cart]:
    """A repository of carts on ``store``, publishing to ``bus``."""
    return AggregateRepository(store, Cart, "Cart", event_publisher=bus)


class RepositoryContract(StoreContract):
    """Aggregates saved and loaded through the repositories."""

    @pytest.mark.asyncio
    async def test_save_then_load_rebuilds_the_same_state(self, store: EventStore) -> None:
        repo = carts(store)
        cart = repo.create_new(uuid4())
        cart.add("A")
        cart.add("B")
        await repo.save(cart)
        assert cart.uncommitted_events == []
        loaded = await repo.load(cart.aggregate_id)
        assert loaded.state == cart.state
        assert loaded.version == 2
        loaded.remove("A")
        await repo.save(loaded)
        again = await repo.load(cart.aggregate_id)
        assert again.state.skus == ["B"]
        assert again.version == 3
        assert await store.get_global_position() == 3

    @pytest.mark.asyncio
    async def test_load_of_an_unknown_aggregate_raises_and_get_or_none_returns_none(self, store: EventStore) -> None:
        repo = carts(store)
        missing = uuid4()
        with pytest.raises(AggregateNotFoundError):
            await repo.load(missing)
        assert await repo.get_or_none(missing) is None
        assert not await repo.exists(missing)

    @pytest.mark.asyncio
    async def test_exists_after_save(self, store: EventStore) -> None:
        repo = carts(store)
        cart = repo.create_new(uuid4())
        assert not await repo.exists(cart.aggregate_id)
        cart.add("A")
        await repo.save(cart)
        assert await repo.exists(cart.aggregate_id)
        assert await repo.get_or_none(cart.aggregate_id) is not None

    @pytest.mark.asyncio
    async def test_saving_without_new_events_writes_nothing(self, store: EventStore) -> None:
        repo = carts(store)
        await repo.save(repo.create_new(uuid4()))
        assert await store.get_global_position() == 0

    @pytest.mark.asyncio
    async def test_concurrent_modification_raises_optimistic_lock_error(self, store: EventStore) -> None:
        repo = carts(store)
        cart = repo.create_new(uuid4())
        cart.add("A")
        await repo.save(cart)
        first, second = await repo.load(cart.aggregate_id), await repo.load(cart.aggregate_id)
        first.add("B")
        await repo.save(first)
        second.add("C")
        with pytest.raises(OptimisticLockError) as caught:
            await repo.save(second)
        assert caught.value.actual == 2
        assert (await repo.load(cart.aggregate_id)).state.skus == ["A", "B"]

    @pytest.mark.asyncio
    async def test_creating_an_aggregate_twice_raises_optimistic_lock_error(self, store: EventStore) -> None:
        repo = carts(store)
        aggregate_id = uuid4()
        for sku in ("first", "second"):
            cart = repo.create_new(aggregate_id)
            cart.add(sku)
            if sku == "first":
                await repo.save(cart)
            else:
                with pytest.raises(OptimisticLockError):
                    await repo.save(cart)
        assert (await repo.load(aggregate_id)).state.skus == ["first"]

    @pytest.mark.asyncio
    async def test_repository_reads_only_its_aggregate_type(self, store: EventStore) -> None:
        repo = carts(store)
        cart = repo.create_new(uuid4())
        cart.add("A")
        await repo.save(cart)
        invoices = AggregateRepository(store, Cart, "Invoice")
        assert await invoices.get_or_none(cart.aggregate_id) is None

    # -- the event bus ----------------------------------------------------------------------------

    @pytest.mark.asyncio
    async def test_bus_hears_saved_events_in_order_and_filters_by_type(self, store: EventStore) -> None:
        bus = InMemoryEventBus()
        heard: list[str] = []
        removed: list[str] = []

        async def everything(event: DomainEvent) -> None:
            heard.append(f"{event.event_type}@{event.aggregate_version}")

        async def removals(event: DomainEvent) -> None:
            removed.append(event.event_type)

        bus.subscribe(everything)
        bus.subscribe(removals, event_types=["test.ItemRemoved"])
        repo = carts(store, bus)
        cart = repo.create_new(uuid4())
        cart.add("A")
        cart.add("B")
        cart.remove("A")
        await repo.save(cart)
        assert heard == ["test.ItemAdded@1", "test.ItemAdded@2", "test.ItemRemoved@3"]
        assert removed == ["test.ItemRemoved"]

    @pytest.mark.asyncio
    async def test_bus_hears_nothing_when_a_save_fails(self, store: EventStore) -> None:
        bus = InMemoryEventBus()
        heard: list[DomainEvent] = []

        async def listen(event: DomainEvent) -> None:
            heard.append(event)

        bus.subscribe(listen)
        repo = carts(store, bus)
        aggregate_id = uuid4()
        winner, loser = repo.create_new(aggregate_id), repo.create_new(aggregate_id)
        winner.add("A")
        loser.add("B")
        await repo.save(winner)
        with pytest.raises(OptimisticLockError):
            await repo.save(loser)
        assert [e.aggregate_version for e in heard] == [1]
        assert len(loser.uncommitted_events) == 1  # still there for a retry

    # -- TenantAwareRepository --------------------------------------------------------------------

    @pytest.mark.asyncio
    async def test_tenant_aware_repository_round_trip_and_publishing(self, store: EventStore) -> None:
        acme, globex = uuid4(), uuid4()
        bus = InMemoryEventBus()
        heard: list[UUID | None] = []

        async def listen(event: DomainEvent) -> None:
            heard.append(event.tenant_id)

        bus.subscribe(listen)
        repo = TenantAwareRepository(store, lambda aid: Cart(aid, acme), "Cart", tenant_id=acme, event_publisher=bus)
        cart = repo.create_new(uuid4())
        cart.add("A")
        await repo.save(cart)
        assert heard == [acme]
        assert repo.tenant_id == acme
        loaded = await repo.load(cart.aggregate_id)
        assert loaded.state.skus == ["A"]
        other = TenantAwareRepository(store, lambda aid: Cart(aid, globex), "Cart", tenant_id=globex)
        with pytest.raises(TenantMismatchError):
            await other.load(cart.aggregate_id)
        assert await other.get_or_none(uuid4()) is None

    @pytest.mark.asyncio
    async def test_tenant_aware_repository_refuses_a_tenantless_stream(self, store: EventStore) -> None:
        plain = carts(store)
        cart = plain.create_new(uuid4())
        cart.add("A")
        await plain.save(cart)
        repo = TenantAwareRepository(store, Cart, "Cart", tenant_id=uuid4())
        with pytest.raises(TenantMismatchError):
            await repo.load(cart.aggregate_id)
