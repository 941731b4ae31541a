"""AggregateRoot, AggregateRepository, TenantAwareRepository and InMemoryEventBus, on both stores."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest
from pydantic import BaseModel

from conftest import ItemAdded, ItemRemoved
from esctl import (
    AggregateNotFoundError,
    AggregateRepository,
    AggregateRoot,
    DomainEvent,
    EventStore,
    InMemoryEventBus,
    OptimisticLockError,
    TenantAwareRepository,
    TenantMismatchError,
)


class CartState(BaseModel):
    """Items in a cart, and how often the state was folded."""

    skus: list[str] = []
    folds: int = 0


class Cart(AggregateRoot[CartState]):
    """A cart: add and remove items."""

    aggregate_type = "Cart"

    def __init__(self, aggregate_id: UUID, tenant_id: UUID | None = None) -> None:
        super().__init__(aggregate_id)
        self.tenant_id = tenant_id

    def _get_initial_state(self) -> CartState:
        return CartState()

    def _apply(self, event: DomainEvent) -> None:
        skus = list(self.state.skus)
        if isinstance(event, ItemAdded):
            skus.append(event.sku)
        elif isinstance(event, ItemRemoved):
            skus.remove(event.sku)
        self._state = CartState(skus=skus, folds=self.state.folds + 1)

    def add(self, sku: str) -> None:
        self.apply_event(
            ItemAdded(
                aggregate_id=self.aggregate_id,
                aggregate_version=self.get_next_version(),
                tenant_id=self.tenant_id,
                sku=sku,
                quantity=1,
                price=2.5,
            )
        )

    def remove(self, sku: str) -> None:
        if sku not in self.state.skus:
            raise ValueError(f"{sku} is not in the cart")
        self.apply_event(
            ItemRemoved(
                aggregate_id=self.aggregate_id,
                aggregate_version=self.get_next_version(),
                tenant_id=self.tenant_id,
                sku=sku,
            )
        )


def carts(store: EventStore, bus: InMemoryEventBus | None = None) -> AggregateRepository[Cart]:
    return AggregateRepository(store, Cart, "Cart", event_publisher=bus)


# -- AggregateRoot -------------------------------------------------------------------------------


def test_a_new_aggregate_has_version_zero_and_the_initial_state() -> None:
    cart = Cart(uuid4())
    assert cart.version == 0
    assert cart.get_next_version() == 1
    assert cart.state == CartState()
    assert cart.uncommitted_events == []


def test_apply_event_folds_state_and_records_new_events() -> None:
    cart = Cart(uuid4())
    cart.add("A")
    cart.add("B")
    cart.remove("A")
    assert cart.state.skus == ["B"]
    assert cart.version == 3
    assert [e.aggregate_version for e in cart.uncommitted_events] == [1, 2, 3]
    copy = cart.uncommitted_events
    copy.clear()
    assert len(cart.uncommitted_events) == 3  # callers get a copy
    cart.mark_events_as_committed()
    assert cart.uncommitted_events == []
    assert cart.version == 3


def test_load_from_history_replays_without_recording() -> None:
    source = Cart(uuid4())
    source.add("A")
    source.add("B")
    replayed = Cart(source.aggregate_id)
    replayed.load_from_history(source.uncommitted_events)
    assert replayed.state.skus == ["A", "B"]
    assert replayed.version == 2
    assert replayed.uncommitted_events == []


def test_apply_event_not_new_is_not_recorded() -> None:
    cart = Cart(uuid4())
    other = Cart(cart.aggregate_id)
    other.add("A")
    cart.apply_event(other.uncommitted_events[0], is_new=False)
    assert cart.version == 1
    assert cart.uncommitted_events == []


def test_a_command_refusing_leaves_the_aggregate_unchanged() -> None:
    cart = Cart(uuid4())
    with pytest.raises(ValueError, match="not in the cart"):
        cart.remove("A")
    assert cart.version == 0
    assert cart.uncommitted_events == []


def test_aggregate_root_is_abstract() -> None:
    with pytest.raises(TypeError):
        AggregateRoot(uuid4())  # type: ignore[abstract]


# -- AggregateRepository ---------------------------------------------------------------------------


async def test_save_then_load_rebuilds_the_same_state(store: EventStore) -> None:
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


async def test_load_of_an_unknown_aggregate_raises_and_get_or_none_returns_none(store: EventStore) -> None:
    repo = carts(store)
    missing = uuid4()
    with pytest.raises(AggregateNotFoundError):
        await repo.load(missing)
    assert await repo.get_or_none(missing) is None
    assert not await repo.exists(missing)


async def test_exists_after_save(store: EventStore) -> None:
    repo = carts(store)
    cart = repo.create_new(uuid4())
    assert not await repo.exists(cart.aggregate_id)
    cart.add("A")
    await repo.save(cart)
    assert await repo.exists(cart.aggregate_id)
    assert await repo.get_or_none(cart.aggregate_id) is not None


async def test_saving_without_new_events_writes_nothing(store: EventStore) -> None:
    repo = carts(store)
    await repo.save(repo.create_new(uuid4()))
    assert await store.get_global_position() == 0


async def test_concurrent_modification_raises_optimistic_lock_error(store: EventStore) -> None:
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


async def test_creating_an_aggregate_twice_raises_optimistic_lock_error(store: EventStore) -> None:
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


async def test_repository_reads_only_its_aggregate_type(store: EventStore) -> None:
    repo = carts(store)
    cart = repo.create_new(uuid4())
    cart.add("A")
    await repo.save(cart)
    invoices = AggregateRepository(store, Cart, "Invoice")
    assert await invoices.get_or_none(cart.aggregate_id) is None


# -- the event bus -----------------------------------------------------------------------------------


async def test_bus_hears_saved_events_in_order_and_filters_by_type(store: EventStore) -> None:
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


async def test_bus_hears_nothing_when_a_save_fails(store: EventStore) -> None:
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


# -- TenantAwareRepository ---------------------------------------------------------------------------


async def test_tenant_aware_repository_round_trip_and_publishing(store: EventStore) -> None:
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


async def test_tenant_aware_repository_refuses_a_tenantless_stream(store: EventStore) -> None:
    plain = carts(store)
    cart = plain.create_new(uuid4())
    cart.add("A")
    await plain.save(cart)
    repo = TenantAwareRepository(store, Cart, "Cart", tenant_id=uuid4())
    with pytest.raises(TenantMismatchError):
        await repo.load(cart.aggregate_id)
