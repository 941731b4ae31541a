"""``esctl init --rls``: row-level security as a second wall between tenants, on PostgreSQL.

The application connects as a role that does not own the tables; the store sets the caller's
tenant context on its connection for every call, and the server then shows and accepts only that
tenant's events. The owner (esctl's admin commands) sees everything.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from uuid import UUID

import pytest

from cli_support import dumped, invoke, ndjson
from cli_support import event as input_event
from esctl.errors import ConcurrencyError, DatabaseUnusableError
from esctl.store.postgres import PostgresEventStore
from esctl.tenancy import tenant_scope
from esctl.testing import REGISTRY, item
from postgres_support import admin

ACME = UUID("00000000-0000-4000-8000-0000000000a1")
GLOBEX = UUID("00000000-0000-4000-8000-0000000000b2")


@pytest.fixture
def app_url(postgres_url: str) -> Iterator[str]:
    """The store with RLS on (``esctl init --rls`` as the owner), and a URL for an application role."""
    done = invoke(postgres_url, "init", "--rls")
    assert done.exit_code == 0, done.stderr
    assert "do not own the tables" in done.stderr
    assert "GRANT SELECT, INSERT ON events TO app" in done.stderr
    schema = postgres_url.split("search_path%3D", 1)[1]
    role = f"app_{uuid.uuid4().hex[:10]}"
    admin(f"CREATE ROLE {role} LOGIN")
    for grant in (
        f"GRANT USAGE ON SCHEMA {schema} TO {role}",
        f"GRANT SELECT, INSERT ON {schema}.events TO {role}",
        f"GRANT SELECT, UPDATE ON {schema}.esctl_position TO {role}",
        f"GRANT SELECT ON {schema}.esctl_schema TO {role}",
    ):
        admin(grant)
    try:
        yield postgres_url.replace("postgresql://postgres@", f"postgresql://{role}@", 1)
    finally:
        admin(f"DROP OWNED BY {role}")
        admin(f"DROP ROLE {role}")


def test_an_application_role_sees_and_appends_only_its_tenants_events(postgres_url: str, app_url: str) -> None:
    # The owner writes both tenants' events (it bypasses row-level security).
    both = [input_event(1, tenant_id=str(ACME)), input_event(2, tenant_id=str(GLOBEX), aggregate_id=str(uuid.uuid4()))]
    both[1]["aggregate_version"] = 1
    assert invoke(postgres_url, "append", "-", input=ndjson(both)).exit_code == 0
    asyncio.run(_as_the_application(app_url, UUID(both[1]["aggregate_id"])))
    everything = dumped(invoke(postgres_url, "dump").stdout)  # the owner sees all
    assert [e["position"] for e in everything] == list(range(1, 103))
    assert {e["tenant_id"] for e in everything} == {str(ACME), str(GLOBEX)}


async def _as_the_application(app_url: str, globex_cart: UUID) -> None:
    store = PostgresEventStore(app_url, registry=REGISTRY)
    try:
        with tenant_scope(ACME):
            seen = [s.event.tenant_id async for s in store.read_all()]
            assert seen == [ACME]  # no tenant filter asked for: the server applied one
            cart = uuid.uuid4()
            # A batch big enough that the owner's path would COPY (refused under RLS): rows instead.
            result = await store.append_events(cart, "Cart", [item(cart, v, tenant_id=ACME) for v in range(1, 101)])
            assert result.appended == 100
            other = uuid.uuid4()
            with pytest.raises(DatabaseUnusableError, match="row-level security"):
                await store.append_events(other, "Cart", [item(other, 1, tenant_id=GLOBEX)])
            # A stream of another tenant is invisible, but its versions are still taken.
            with pytest.raises(ConcurrencyError, match="rows this role cannot see"):
                await store.append_events(globex_cart, "Cart", [item(globex_cart, 1, tenant_id=ACME)])
        with tenant_scope(GLOBEX):
            assert [s.event.tenant_id async for s in store.read_all()] == [GLOBEX]
        assert [s async for s in store.read_all()] == []  # no tenant context: nothing (fails closed)
    finally:
        await store.close()


def test_rls_is_for_postgresql_stores_only(tmp_path: object) -> None:
    result = invoke(f"{tmp_path}/events.db", "init", "--rls")
    assert result.exit_code == 2
    assert "has no row-level security" in result.stderr
