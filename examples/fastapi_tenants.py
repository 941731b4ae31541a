"""Tutorial 16's FastAPI tenant middleware and dependency, on esctl.

Every request names its tenant in the ``X-Tenant-ID`` header. The middleware puts it in the
tenancy context (``tenant_scope``), the ``get_tenant_id`` dependency requires it, and the order
endpoints use a ``TenantAwareRepository`` bound to it, so one tenant can neither read nor change
another tenant's orders. (In production the tenant comes from a verified token, not from a raw
header; see the tutorial's security notes.)

Run (needs the ``fastapi`` extra and uvicorn):
    cd examples && ESCTL_DB=orders.db uvicorn fastapi_tenants:app
    curl -X POST -H 'X-Tenant-ID: 1b4e28ba-2fa1-11d2-883f-0016d3cca427' \
        'localhost:8000/orders?customer_name=Alice&total_amount=100'

Without ``ESCTL_DB`` the orders live in memory.
"""

# No `from __future__ import annotations`: FastAPI reads the endpoints' annotations at runtime,
# and `Orders` below is local to create_app, where a string annotation could not be resolved.
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated
from uuid import UUID, uuid4

from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint

from esctl import (
    AggregateNotFoundError,
    AggregateRoot,
    DomainEvent,
    EventRegistry,
    EventStore,
    InMemoryEventStore,
    OptimisticLockError,
    SQLiteEventStore,
    TenantAwareRepository,
    get_current_tenant,
    register_event,
    tenant_scope,
)

# The example's own registry: importing it next to other code that registers an "OrderCreated"
# (the tutorial example, a test) must not clash in esctl's default registry.
registry = EventRegistry()


@register_event(registry=registry)
class OrderCreated(DomainEvent):
    """An order was placed."""

    event_type: str = "OrderCreated"
    aggregate_type: str = "Order"
    customer_name: str
    total_amount: float


@register_event(registry=registry)
class OrderShipped(DomainEvent):
    """An order left the warehouse."""

    event_type: str = "OrderShipped"
    aggregate_type: str = "Order"
    tracking_number: str


class OrderState(BaseModel):
    """What the API shows of an order."""

    order_id: UUID
    customer_name: str = ""
    total_amount: float = 0.0
    status: str = "draft"
    tracking_number: str | None = None


class Order(AggregateRoot[OrderState]):
    """An order of one tenant."""

    aggregate_type = "Order"

    def __init__(self, aggregate_id: UUID, tenant_id: UUID) -> None:
        super().__init__(aggregate_id)
        self.tenant_id = tenant_id

    def _get_initial_state(self) -> OrderState:
        return OrderState(order_id=self.aggregate_id)

    def _apply(self, event: DomainEvent) -> None:
        if isinstance(event, OrderCreated):
            self._state = OrderState(
                order_id=self.aggregate_id,
                customer_name=event.customer_name,
                total_amount=event.total_amount,
                status="created",
            )
        elif isinstance(event, OrderShipped):
            self._state = self.state.model_copy(update={"status": "shipped", "tracking_number": event.tracking_number})

    def create(self, customer_name: str, total_amount: float) -> None:
        if self.version > 0:
            raise ValueError("Order already exists")
        self.apply_event(
            OrderCreated(
                aggregate_id=self.aggregate_id,
                aggregate_version=self.get_next_version(),
                tenant_id=self.tenant_id,
                customer_name=customer_name,
                total_amount=total_amount,
            )
        )

    def ship(self, tracking_number: str) -> None:
        if self.state.status != "created":
            raise ValueError(f"cannot ship an order that is {self.state.status}")
        self.apply_event(
            OrderShipped(
                aggregate_id=self.aggregate_id,
                aggregate_version=self.get_next_version(),
                tenant_id=self.tenant_id,
                tracking_number=tracking_number,
            )
        )


class TenantMiddleware(BaseHTTPMiddleware):
    """Puts the ``X-Tenant-ID`` header's tenant in the tenancy context for the request."""

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        tenant_header = request.headers.get("X-Tenant-ID")
        if not tenant_header:
            return await call_next(request)  # get_tenant_id answers 401 where a tenant is needed
        try:
            tenant_id = UUID(tenant_header)
        except ValueError:
            # The tutorial raises HTTPException(400) here. Raised inside a BaseHTTPMiddleware it
            # never reaches FastAPI's exception handlers (they sit inside the middleware), so the
            # client would get a 500. The middleware answers the 400 itself instead.
            return JSONResponse(status_code=400, content={"detail": "Invalid tenant ID"})
        # tenant_scope restores the previous tenant when the request is done, like the tutorial's
        # set_current_tenant(None) in `finally`; the endpoint runs in a copy of this context.
        with tenant_scope(tenant_id):
            return await call_next(request)


async def get_tenant_id() -> UUID:
    """The request's tenant, or 401."""
    tenant_id = get_current_tenant()
    if not tenant_id:
        raise HTTPException(status_code=401, detail="Tenant context required")
    return tenant_id


TenantId = Annotated[UUID, Depends(get_tenant_id)]


def create_app(event_store: EventStore | None = None) -> FastAPI:
    """Build the API on ``event_store`` (default: ``ESCTL_DB``'s SQLite file, else memory).

    Example:
        >>> app = create_app(InMemoryEventStore())
    """
    if event_store is None:
        db = os.environ.get("ESCTL_DB")
        event_store = SQLiteEventStore(db, registry=registry) if db else InMemoryEventStore()
    store = event_store

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await store.close()

    app = FastAPI(title="esctl multi-tenant orders", lifespan=lifespan)
    app.add_middleware(TenantMiddleware)

    async def get_order_repository(tenant_id: TenantId) -> TenantAwareRepository[Order]:
        return TenantAwareRepository(store, lambda aid: Order(aid, tenant_id), "Order", tenant_id=tenant_id)

    Orders = Annotated[TenantAwareRepository[Order], Depends(get_order_repository)]

    async def load(repo: TenantAwareRepository[Order], order_id: UUID) -> Order:
        try:
            return await repo.load(order_id)
        except (AggregateNotFoundError, PermissionError):
            # Another tenant's order answers exactly like a missing one: a 403 would tell the
            # caller that the id exists.
            raise HTTPException(status_code=404, detail="Order not found") from None

    @app.post("/orders")
    async def create_order(customer_name: str, total_amount: float, repo: Orders) -> dict[str, str]:
        order_id = uuid4()
        order = repo.create_new(order_id)
        order.create(customer_name=customer_name, total_amount=total_amount)
        await repo.save(order)
        return {"order_id": str(order_id)}

    @app.get("/orders")
    async def list_orders(tenant_id: TenantId) -> list[OrderState]:
        # One tenant-filtered query: the store itself returns only this tenant's events.
        orders: dict[UUID, Order] = {}
        for event in await store.get_events_by_type("Order", tenant_id=tenant_id):
            order = orders.setdefault(event.aggregate_id, Order(event.aggregate_id, tenant_id))
            order.apply_event(event, is_new=False)
        return [order.state for order in orders.values()]

    @app.get("/orders/{order_id}")
    async def get_order(order_id: UUID, repo: Orders) -> OrderState:
        return (await load(repo, order_id)).state

    @app.post("/orders/{order_id}/ship")
    async def ship_order(order_id: UUID, tracking_number: str, repo: Orders) -> OrderState:
        order = await load(repo, order_id)
        try:
            order.ship(tracking_number)
            await repo.save(order)
        except (ValueError, OptimisticLockError) as error:
            raise HTTPException(status_code=409, detail=str(error)) from None
        return order.state

    return app


app = create_app()
