"""The examples run, print what the tutorial promises, and the tutorial's code is unchanged."""

from __future__ import annotations

import asyncio
import difflib
import importlib.util
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import ModuleType
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient

from esctl import DomainEvent, EventStore, ReadOptions, SQLiteEventStore, StoredEvent
from esctl.store import open_store

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
SEED = ROOT.parent / "shared" / "seeds" / "000_d3547a5309ba322d.txt"


def run_example(name: str, *args: str, cwd: Path | None = None) -> str:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def assert_tutorial_output(out: str) -> None:
    assert re.search(r"^Correctly blocked: .*different tenant", out, re.MULTILINE), out
    assert re.search(r"^ACME orders: 2$", out, re.MULTILINE), out
    assert re.search(r"^Globex orders: 1$", out, re.MULTILINE), out


# -- the tutorial's complete example ------------------------------------------------------------


def test_tutorial_example_blocks_cross_tenant_loads_and_counts_orders(tmp_path: Path) -> None:
    assert_tutorial_output(run_example("tutorial_16_multi_tenancy.py", cwd=tmp_path))


def test_tutorial_example_differs_from_the_tutorial_only_in_its_import_line() -> None:
    if not SEED.is_file():
        pytest.skip(f"the tutorial text is not at {SEED} (it lives next to the repository in ../shared)")
    text = SEED.read_text()
    section = text[text.index("## Complete Example") :]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match, "no python block under '## Complete Example'"
    published = match.group(1).splitlines()
    ours = (EXAMPLES / "tutorial_16_multi_tenancy.py").read_text().splitlines()
    changes = [line for line in difflib.ndiff(published, ours) if line[:2] in ("- ", "+ ")]
    assert changes == ["- from eventsource import (", "+ from esctl import ("]


# -- the same flow on a SQLite file ----------------------------------------------------------------


def test_sqlite_example_survives_reopening_the_file(tmp_path: Path) -> None:
    db = tmp_path / "orders.db"
    out = run_example("tutorial_16_sqlite.py", str(db))
    assert_tutorial_output(out)
    assert "Reopened orders.db: ACME orders: 2, Globex orders: 1" in out
    assert "Reopened order status: shipped (TRACK-ACME-001)" in out
    assert "Globex events in the store: 1" in out
    events = _events_in(db)
    assert len(events) == 4  # three orders created, one shipped
    assert len({tenant for tenant, _ in events}) == 2

    again = run_example("tutorial_16_sqlite.py", str(db))  # new tenants each run: same counts
    assert_tutorial_output(again)
    assert len(_events_in(db)) == 8


def test_sqlite_example_without_a_path_uses_a_temporary_file(tmp_path: Path) -> None:
    out = run_example("tutorial_16_sqlite.py", cwd=tmp_path)
    assert_tutorial_output(out)
    assert "Reopened orders.db: ACME orders: 2, Globex orders: 1" in out
    assert list(tmp_path.iterdir()) == []


def _events_in(db: Path) -> list[tuple[object, str]]:
    async def read() -> list[tuple[object, str]]:
        async with SQLiteEventStore(db, readonly=True) as store:
            return [(s.event.tenant_id, s.event.event_type) async for s in store.read_all()]

    return asyncio.run(read())


# -- FastAPI ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fastapi_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fastapi_tenants_example", EXAMPLES / "fastapi_tenants.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
async def api_store() -> AsyncIterator[EventStore]:
    # The example's default store (no ESCTL_DB). The same app on a SQLite file, as ESCTL_DB makes
    # it: test_the_app_keeps_its_orders_in_the_file_esctl_db_names.
    store = open_store("memory:")
    yield store
    await store.close()


@pytest.fixture
def client(fastapi_example: ModuleType, api_store: EventStore) -> Iterator[TestClient]:
    with TestClient(fastapi_example.create_app(api_store)) as test_client:
        yield test_client


ACME = {"X-Tenant-ID": str(uuid4())}
GLOBEX = {"X-Tenant-ID": str(uuid4())}


def _create(client: TestClient, headers: dict[str, str], customer: str = "Alice") -> str:
    response = client.post("/orders", params={"customer_name": customer, "total_amount": 100.0}, headers=headers)
    assert response.status_code == 200, response.text
    order_id: str = response.json()["order_id"]
    return order_id


def test_a_request_without_a_tenant_is_401(client: TestClient) -> None:
    assert client.post("/orders", params={"customer_name": "A", "total_amount": 1}).status_code == 401
    assert client.get("/orders").status_code == 401
    response = client.get(f"/orders/{uuid4()}")
    assert response.status_code == 401
    assert response.json() == {"detail": "Tenant context required"}


@pytest.mark.parametrize("header", ["not-a-uuid", "1234", "acme"])
def test_a_malformed_tenant_is_400(client: TestClient, header: str) -> None:
    response = client.post("/orders", params={"customer_name": "A", "total_amount": 1}, headers={"X-Tenant-ID": header})
    assert response.status_code == 400
    assert response.json() == {"detail": "Invalid tenant ID"}
    assert client.get("/orders", headers={"X-Tenant-ID": header}).status_code == 400


def test_the_owner_reads_and_ships_its_order(client: TestClient) -> None:
    order_id = _create(client, ACME)
    response = client.get(f"/orders/{order_id}", headers=ACME)
    assert response.status_code == 200
    assert response.json()["customer_name"] == "Alice"
    shipped = client.post(f"/orders/{order_id}/ship", params={"tracking_number": "T-1"}, headers=ACME)
    assert shipped.status_code == 200
    assert shipped.json()["status"] == "shipped"
    assert client.post(f"/orders/{order_id}/ship", params={"tracking_number": "T-2"}, headers=ACME).status_code == 409
    assert [o["order_id"] for o in client.get("/orders", headers=ACME).json()] == [order_id]


@pytest.mark.parametrize(("owner", "intruder"), [(ACME, GLOBEX), (GLOBEX, ACME)])
async def test_one_tenant_cannot_read_or_change_anothers_order(
    client: TestClient, api_store: EventStore, owner: dict[str, str], intruder: dict[str, str]
) -> None:
    order_id = _create(client, owner, customer="Secret Customer")
    read = client.get(f"/orders/{order_id}", headers=intruder)
    assert read.status_code in (403, 404)
    assert "Secret Customer" not in read.text
    ship = client.post(f"/orders/{order_id}/ship", params={"tracking_number": "STOLEN"}, headers=intruder)
    assert ship.status_code in (403, 404)
    assert "Secret Customer" not in client.get("/orders", headers=intruder).text
    assert client.get(f"/orders/{order_id}", headers=owner).json()["status"] == "created"
    intruder_tenant = intruder["X-Tenant-ID"]
    assert [s async for s in api_store.read_all(ReadOptions(tenant_id=uuid4()))] == []
    stored = [s.event async for s in api_store.read_all()]
    assert all(str(e.tenant_id) != intruder_tenant for e in stored if str(e.aggregate_id) == order_id)


def test_the_tenant_does_not_leak_into_the_next_request(client: TestClient) -> None:
    order_id = _create(client, ACME)
    assert client.get(f"/orders/{order_id}", headers=ACME).status_code == 200
    assert client.get(f"/orders/{order_id}").status_code == 401


def test_the_module_level_app_starts_on_memory(fastapi_example: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ESCTL_DB", raising=False)
    with TestClient(fastapi_example.app) as test_client:
        headers = {"X-Tenant-ID": str(uuid4())}
        order_id = _create(test_client, headers)
        assert test_client.get(f"/orders/{order_id}", headers=headers).status_code == 200


def test_the_app_keeps_its_orders_in_the_file_esctl_db_names(
    fastapi_example: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    db = tmp_path / "api.db"
    monkeypatch.setenv("ESCTL_DB", str(db))
    with TestClient(fastapi_example.create_app()) as test_client:
        order_id = _create(test_client, ACME, customer="Secret Customer")
        assert test_client.get(f"/orders/{order_id}", headers=ACME).json()["customer_name"] == "Secret Customer"
        shipped = test_client.post(f"/orders/{order_id}/ship", params={"tracking_number": "T-1"}, headers=ACME)
        assert shipped.json()["status"] == "shipped"
        assert test_client.get(f"/orders/{order_id}", headers=GLOBEX).status_code in (403, 404)
        stolen = test_client.post(f"/orders/{order_id}/ship", params={"tracking_number": "X"}, headers=GLOBEX)
        assert stolen.status_code in (403, 404)
        assert "Secret Customer" not in test_client.get("/orders", headers=GLOBEX).text
    assert db.exists()

    async def read() -> tuple[list[DomainEvent], list[StoredEvent]]:
        async with SQLiteEventStore(db, registry=fastapi_example.registry, readonly=True) as store:
            stored = [s.event async for s in store.read_all()]
            strangers = [s async for s in store.read_all(ReadOptions(tenant_id=uuid4()))]
            return stored, strangers

    stored, strangers = asyncio.run(read())
    assert [type(e).__name__ for e in stored] == ["OrderCreated", "OrderShipped"]  # the example's classes
    assert {str(e.tenant_id) for e in stored} == {ACME["X-Tenant-ID"]}
    assert strangers == []
