"""The classic tenant-context API: tenant_context, get_required_tenant, set/clear, and tenant_scope."""

from __future__ import annotations

import asyncio
from uuid import UUID, uuid4

import pytest

from esctl import (
    TenantContextNotSetError,
    clear_tenant_context,
    get_current_tenant,
    get_required_tenant,
    require_tenant,
    set_current_tenant,
    tenant_context,
    tenant_scope,
    tenant_scope_sync,
)


@pytest.fixture(autouse=True)
def no_tenant() -> None:
    clear_tenant_context()


def test_get_required_tenant_raises_without_one() -> None:
    with pytest.raises(TenantContextNotSetError):
        get_required_tenant()
    with pytest.raises(ValueError, match="Tenant context not set"):
        require_tenant()


def test_set_current_tenant_returns_a_reset_token() -> None:
    first, second = uuid4(), uuid4()
    set_current_tenant(first)
    token = set_current_tenant(second)
    assert get_required_tenant() == second
    assert tenant_context.get() == second
    tenant_context.reset(token)
    assert get_current_tenant() == first
    clear_tenant_context()
    assert get_current_tenant() is None


def test_tenant_scope_with_restores_the_previous_tenant_even_on_error() -> None:
    outer, inner = uuid4(), uuid4()
    with tenant_scope(outer) as entered:
        assert entered == outer
        seen: list[UUID | None] = []

        def fail_inside() -> None:
            with tenant_scope(inner):
                seen.append(get_current_tenant())
                raise RuntimeError

        with pytest.raises(RuntimeError):
            fail_inside()
        assert seen == [inner]
        assert get_current_tenant() == outer
    assert get_current_tenant() is None
    with tenant_scope_sync(inner) as entered_sync:
        assert entered_sync == inner == get_current_tenant()
    assert get_current_tenant() is None


def test_one_scope_object_entered_twice_restores_each_level() -> None:
    acme = uuid4()
    scope = tenant_scope(acme)
    with scope:
        set_current_tenant(None)
        with scope:
            assert get_current_tenant() == acme
        assert get_current_tenant() is None
    assert get_current_tenant() is None


async def test_async_tenant_scopes_in_concurrent_tasks_do_not_leak() -> None:
    tenants = [uuid4() for _ in range(20)]
    seen: dict[UUID, list[UUID | None]] = {}

    async def request(tenant: UUID) -> None:
        async with tenant_scope(tenant):
            for _ in range(5):
                await asyncio.sleep(0)
                seen.setdefault(tenant, []).append(get_current_tenant())
        seen[tenant].append(get_current_tenant())

    await asyncio.gather(*(request(t) for t in tenants))
    for tenant in tenants:
        assert seen[tenant] == [tenant] * 5 + [None]
    assert get_current_tenant() is None
