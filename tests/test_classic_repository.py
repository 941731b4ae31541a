"""The classic repository API: load_or_create, get_or_raise, get_version, exists, an inferred
aggregate_type, and TenantAwareRepository around a repository; on every store."""

from __future__ import annotations

from uuid import uuid4

import pytest

from classic_support import any_store
from esctl import (
    AggregateNotFoundError,
    AggregateRepository,
    DeclarativeAggregate,
    DomainEvent,
    EventStore,
    TenantAwareRepository,
    TenantContextNotSetError,
    TenantMismatchError,
    UsageError,
    handles,
    register_event,
    tenant_scope,
)

__all__ = ["any_store"]


@register_event
class Counted(DomainEvent):
    event_type: str = "classic_repo.Counted"
    aggregate_type: str = "Counter"


class Counter(DeclarativeAggregate[int]):
    aggregate_type = "Counter"

    def _get_initial_state(self) -> int:
        return 0

    @handles(Counted)
    def _counted(self, event: Counted) -> None:
        self._state = self.state + 1

    def count(self) -> None:
        self.apply_event(self.create_event(Counted))


async def test_the_classic_repository_methods(any_store: EventStore) -> None:
    repo = AggregateRepository(any_store, Counter)  # aggregate_type from the class
    assert repo.aggregate_type == "Counter"
    counter_id = uuid4()
    assert not await repo.exists(counter_id)
    assert await repo.get_version(counter_id) == 0
    with pytest.raises(AggregateNotFoundError) as caught:
        await repo.get_or_raise(counter_id)
    assert (caught.value.aggregate_id, caught.value.aggregate_type) == (counter_id, "Counter")
    fresh = await repo.load_or_create(counter_id)
    assert (fresh.version, fresh.state) == (0, 0)
    fresh.count()
    fresh.count()
    await repo.save(fresh)
    assert await repo.exists(counter_id)
    assert await repo.get_version(counter_id) == 2
    loaded = await repo.load_or_create(counter_id)
    assert (loaded.version, loaded.state) == (2, 2)
    assert (await repo.get_or_raise(counter_id)) == loaded


def test_an_aggregate_type_that_cannot_be_inferred_is_a_usage_error() -> None:
    from esctl import InMemoryEventStore

    with pytest.raises(UsageError):
        AggregateRepository(InMemoryEventStore(), lambda aid: Counter(aid))
    assert AggregateRepository(InMemoryEventStore(), lambda aid: Counter(aid), "Counter").aggregate_type == "Counter"


async def test_tenant_aware_repository_around_a_repository(any_store: EventStore) -> None:
    inner = AggregateRepository(any_store, Counter)
    repo = TenantAwareRepository(inner)
    assert repo.repository is inner
    assert repo.aggregate_type == "Counter"
    acme, globex = uuid4(), uuid4()
    counter_id = uuid4()
    with pytest.raises(TenantContextNotSetError):
        await repo.load_or_create(counter_id)
    async with tenant_scope(acme):
        counter = await repo.load_or_create(counter_id)
        counter.count()  # create_event takes the context's tenant
        await repo.save(counter)
        assert await repo.exists(counter_id)
        assert (await repo.load_or_create(counter_id)).version == 1
    async with tenant_scope(globex):
        assert await repo.exists(counter_id)  # existence says nothing of the tenant
        with pytest.raises(TenantMismatchError):
            await repo.load_or_create(counter_id)
        intruder = Counter(counter_id)
        intruder.apply_event(Counted(aggregate_id=counter_id, tenant_id=acme))
        with pytest.raises(TenantMismatchError):
            await repo.save(intruder)
    assert await any_store.get_stream_version(counter_id, "Counter") == 1


async def test_enforcement_can_be_switched_off(any_store: EventStore) -> None:
    acme, globex = uuid4(), uuid4()
    counter_id = uuid4()
    async with tenant_scope(acme):
        counter = Counter(counter_id)
        counter.count()
        await AggregateRepository(any_store, Counter).save(counter)
    lenient = TenantAwareRepository(AggregateRepository(any_store, Counter), enforce_on_load=False)
    async with tenant_scope(globex):
        assert (await lenient.load(counter_id)).version == 1
    assert (await lenient.load(counter_id)).version == 1  # no tenant needed when not enforcing
    unchecked = TenantAwareRepository(
        AggregateRepository(any_store, Counter), enforce_on_load=False, validate_on_save=False
    )
    other = Counter(uuid4())
    other.apply_event(Counted(aggregate_id=other.aggregate_id, tenant_id=globex))
    async with tenant_scope(acme):
        await unchecked.save(other)  # the store still keeps each stream to one tenant
    assert await any_store.get_stream_version(other.aggregate_id, "Counter") == 1
