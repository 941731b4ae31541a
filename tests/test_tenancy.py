"""The tenancy context helpers. Tenant isolation on each store, in both directions, straight at the
store and through ``TenantAwareRepository``: ``esctl.testing.tenancy`` (``TenancyContract``, run in
test_store_contract.py)."""

from __future__ import annotations

import asyncio
from uuid import UUID, uuid4

import pytest

from esctl import get_current_tenant, require_tenant, set_current_tenant, tenant_scope

# -- context helpers ---------------------------------------------------------------------------


def test_tenant_scope_sets_and_restores_the_current_tenant() -> None:
    acme, globex = uuid4(), uuid4()
    assert get_current_tenant() is None
    with tenant_scope(acme) as scoped:
        assert scoped == acme
        assert require_tenant() == acme
        with tenant_scope(globex):
            assert get_current_tenant() == globex
        assert get_current_tenant() == acme
    assert get_current_tenant() is None
    with pytest.raises(ValueError, match="Tenant context not set"):
        require_tenant()


def test_tenant_scope_restores_after_an_error() -> None:
    with pytest.raises(RuntimeError), tenant_scope(uuid4()):
        raise RuntimeError("boom")
    assert get_current_tenant() is None


async def test_set_current_tenant_is_local_to_each_task() -> None:
    tenants = [uuid4() for _ in range(5)]

    async def work(tenant: UUID) -> UUID:
        set_current_tenant(tenant)
        await asyncio.sleep(0)
        return require_tenant()

    assert await asyncio.gather(*(work(t) for t in tenants)) == tenants
    assert get_current_tenant() is None


def test_set_current_tenant_none_clears_it() -> None:
    set_current_tenant(uuid4())
    set_current_tenant(None)
    assert get_current_tenant() is None
