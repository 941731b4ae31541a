"""The tenancy contract: a stream keeps its tenant, and no tenant sees or changes another's events,
straight at the store and through ``TenantAwareRepository``."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest

from esctl.errors import AggregateNotFoundError, OptimisticLockError, TenantMismatchError
from esctl.repository import TenantAwareRepository
from esctl.store.interface import EventStore
from esctl.store.types import ExpectedVersion, ReadOptions
from esctl.tenancy import get_current_tenant, tenant_scope
from esctl.testing.base import StoreContract
from esctl.testing.events import Cart, ItemRemoved, item


def tenant_repo(store: EventStore, tenant: UUID | None = None) -> TenantAwareRepository[Cart]:
    """A repository of carts fixed to ``tenant``."""
    return TenantAwareRepository(store, lambda aid: Cart(aid, tenant), "Cart", tenant_id=tenant)


async def cart_of(repo: TenantAwareRepository[Cart], *skus: str) -> Cart:
    """Save a new cart holding ``skus`` through ``repo``."""
    cart = repo.create_new(uuid4())
    for sku in skus:
        cart.add(sku)
    await repo.save(cart)
    return cart


async def _cart_of_id(repo: TenantAwareRepository[Cart], aggregate_id: UUID) -> None:
    cart = repo.create_new(aggregate_id)
    cart.add("SAME-ID")
    await repo.save(cart)


class TenancyContract(StoreContract):
    """Tenant isolation, in both directions."""

    @pytest.mark.asyncio
    @pytest.mark.parametrize("direction", ["acme->globex", "globex->acme"])
    async def test_neither_tenant_can_load_the_others_aggregate(self, store: EventStore, direction: str) -> None:
        acme, globex = uuid4(), uuid4()
        owner, intruder = (acme, globex) if direction == "acme->globex" else (globex, acme)
        cart = await cart_of(tenant_repo(store, owner), "A", "B")
        with pytest.raises(TenantMismatchError):
            await tenant_repo(store, intruder).load(cart.aggregate_id)
        with pytest.raises(PermissionError):  # the tutorial's `except PermissionError` catches it
            await tenant_repo(store, intruder).get_or_none(cart.aggregate_id)
        loaded = await tenant_repo(store, owner).load(cart.aggregate_id)
        assert loaded.state.skus == ["A", "B"]
        assert loaded.version == 2

    @pytest.mark.asyncio
    @pytest.mark.parametrize("direction", ["acme->globex", "globex->acme"])
    async def test_neither_tenant_can_append_to_the_others_stream(self, store: EventStore, direction: str) -> None:
        acme, globex = uuid4(), uuid4()
        owner, intruder = (acme, globex) if direction == "acme->globex" else (globex, acme)
        cart = await cart_of(tenant_repo(store, owner), "A")
        before = await store.get_global_position()

        # Through a repository: a forged aggregate with the victim's id, at the right version.
        forged = Cart(cart.aggregate_id, intruder)
        forged.load_from_history([s.event async for s in store.read_stream(cart.aggregate_id, "Cart")])
        forged.add("STOLEN")  # version 2, expected version 1: only the tenant check can refuse it
        with pytest.raises(TenantMismatchError):
            await tenant_repo(store, intruder).save(forged)

        # Straight at the store, at the right version: the store itself refuses.
        with pytest.raises(TenantMismatchError) as caught:
            await store.append_events(cart.aggregate_id, "Cart", [item(cart.aggregate_id, 2, tenant_id=intruder)], 1)
        assert isinstance(caught.value, PermissionError)
        assert caught.value.field == "tenant_id"

        # The same stream id created fresh under the other tenant is the same stream: refused.
        with pytest.raises((TenantMismatchError, OptimisticLockError)):
            await _cart_of_id(tenant_repo(store, intruder), cart.aggregate_id)
        assert await store.get_global_position() == before
        assert [s.event.tenant_id async for s in store.read_stream(cart.aggregate_id, "Cart")] == [owner]

    @pytest.mark.asyncio
    async def test_repository_refuses_to_save_events_of_another_tenant(self, store: EventStore) -> None:
        acme, globex = uuid4(), uuid4()
        cart = Cart(uuid4(), globex)
        cart.add("X")
        with pytest.raises(TenantMismatchError):
            await tenant_repo(store, acme).save(cart)
        assert await store.get_global_position() == 0

    @pytest.mark.asyncio
    async def test_store_rejects_tenant_changes_to_and_from_no_tenant(self, store: EventStore) -> None:
        acme = uuid4()
        tenantless, owned = uuid4(), uuid4()
        await store.append_events(tenantless, "Cart", [item(tenantless, 1)])
        await store.append_events(owned, "Cart", [item(owned, 1, tenant_id=acme)])
        with pytest.raises(TenantMismatchError):
            await store.append_events(tenantless, "Cart", [item(tenantless, 2, tenant_id=acme)], 1)
        with pytest.raises(TenantMismatchError):
            await store.append_events(owned, "Cart", [item(owned, 2)], 1)
        # A new stream may not mix tenants within one batch either.
        fresh = uuid4()
        with pytest.raises(TenantMismatchError):
            await store.append_events(fresh, "Cart", [item(fresh, 1, tenant_id=acme), item(fresh, 2)])
        assert await store.get_global_position() == 2

    @pytest.mark.asyncio
    @pytest.mark.parametrize("direction", ["acme", "globex"])
    async def test_tenant_filtered_reads_never_show_another_tenants_events(
        self, store: EventStore, direction: str
    ) -> None:
        acme, globex = uuid4(), uuid4()
        mine = acme if direction == "acme" else globex
        for tenant in (acme, globex, None, acme, globex, None):
            aggregate_id = uuid4()
            await store.append_events(
                aggregate_id,
                "Cart",
                [
                    item(aggregate_id, 1, tenant_id=tenant),
                    ItemRemoved(aggregate_id=aggregate_id, aggregate_version=2, tenant_id=tenant, sku="x"),
                ],
            )
        reads = {
            "read_all(tenant_id)": [s.event async for s in store.read_all(ReadOptions(tenant_id=mine))],
            "read_all(tenant_ids)": [s.event async for s in store.read_all(ReadOptions(tenant_ids=(mine,)))],
            "read_all(tenant, type)": [
                s.event async for s in store.read_all(ReadOptions(tenant_id=mine, event_types=("test.ItemRemoved",)))
            ],
            "get_events_by_type": await store.get_events_by_type("Cart", tenant_id=mine),
        }
        for name, events in reads.items():
            assert events, name
            assert {e.tenant_id for e in events} == {mine}, name
        assert len(reads["read_all(tenant_id)"]) == 4
        every = [s.event async for s in store.read_all()]
        assert sum(e.tenant_id is None for e in every) == 4

    @pytest.mark.asyncio
    async def test_events_without_a_tenant_never_match_a_tenant_filter(self, store: EventStore) -> None:
        tenantless = uuid4()
        await store.append_events(tenantless, "Cart", [item(tenantless, 1)])
        acme = uuid4()
        owned = uuid4()
        await store.append_events(owned, "Cart", [item(owned, 1, tenant_id=acme)])
        for options, expected in (
            (ReadOptions(tenant_id=acme), [acme]),
            (ReadOptions(tenant_ids=(acme, uuid4())), [acme]),
            (ReadOptions(tenant_id=uuid4()), []),
        ):
            assert [s.event.tenant_id async for s in store.read_all(options)] == expected
        assert await store.get_events_by_type("Cart", tenant_id=uuid4()) == []
        assert len([s async for s in store.read_all()]) == 2

    @pytest.mark.asyncio
    async def test_tutorial_style_isolation_test(self, store: EventStore) -> None:
        repo_a, repo_b = tenant_repo(store, uuid4()), tenant_repo(store, uuid4())
        order_a = repo_a.create_new(uuid4())
        order_a.add("Alice")
        await repo_a.save(order_a)
        with pytest.raises(PermissionError):
            await repo_b.load(order_a.aggregate_id)

    @pytest.mark.asyncio
    async def test_repository_without_a_fixed_tenant_uses_the_context(self, store: EventStore) -> None:
        acme, globex = uuid4(), uuid4()
        repo = TenantAwareRepository(store, lambda aid: Cart(aid, get_current_tenant()), "Cart")
        with tenant_scope(acme):
            cart = await cart_of(repo, "A")
            assert (await repo.load(cart.aggregate_id)).state.skus == ["A"]
        with tenant_scope(globex), pytest.raises(TenantMismatchError):
            await repo.load(cart.aggregate_id)
        with pytest.raises(ValueError, match="Tenant context not set"):
            await repo.load(cart.aggregate_id)
        with tenant_scope(acme), pytest.raises(AggregateNotFoundError):
            await repo.load(uuid4())

    @pytest.mark.asyncio
    async def test_new_stream_id_under_two_tenants_is_first_come(self, store: EventStore) -> None:
        acme, globex = uuid4(), uuid4()
        shared_id = uuid4()
        await store.append_events(shared_id, "Cart", [item(shared_id, 1, tenant_id=acme)], ExpectedVersion.NO_STREAM)
        with pytest.raises(OptimisticLockError):
            await store.append_events(
                shared_id, "Cart", [item(shared_id, 1, tenant_id=globex)], ExpectedVersion.NO_STREAM
            )
        with pytest.raises(TenantMismatchError):
            await store.append_events(shared_id, "Cart", [item(shared_id, 2, tenant_id=globex)], ExpectedVersion.ANY)
        assert [s.event.tenant_id async for s in store.read_all(ReadOptions(tenant_id=globex))] == []
