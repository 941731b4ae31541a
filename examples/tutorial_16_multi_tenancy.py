"""Tutorial 16: Multi-Tenancy - Run with: python tutorial_16_multi_tenancy.py"""
import asyncio
from uuid import UUID, uuid4
from pydantic import BaseModel
from esctl import (
    DomainEvent, register_event, AggregateRoot, InMemoryEventStore,
    AggregateRepository, DeclarativeProjection, handles,
)

@register_event
class OrderCreated(DomainEvent):
    event_type: str = "OrderCreated"
    aggregate_type: str = "Order"
    customer_name: str
    total_amount: float

@register_event
class OrderShipped(DomainEvent):
    event_type: str = "OrderShipped"
    aggregate_type: str = "Order"
    tracking_number: str

class OrderState(BaseModel):
    order_id: UUID
    tenant_id: UUID | None = None
    customer_name: str = ""
    total_amount: float = 0.0
    status: str = "draft"
    tracking_number: str | None = None

class TenantOrderAggregate(AggregateRoot[OrderState]):
    aggregate_type = "Order"

    def __init__(self, aggregate_id: UUID, tenant_id: UUID | None = None):
        super().__init__(aggregate_id)
        self._tenant_id = tenant_id

    @property
    def tenant_id(self) -> UUID | None:
        return self._tenant_id

    def _get_initial_state(self) -> OrderState:
        return OrderState(order_id=self.aggregate_id, tenant_id=self._tenant_id)

    def _apply(self, event: DomainEvent) -> None:
        if isinstance(event, OrderCreated):
            self._state = OrderState(
                order_id=self.aggregate_id, tenant_id=event.tenant_id,
                customer_name=event.customer_name, total_amount=event.total_amount, status="created"
            )
            if event.tenant_id:
                self._tenant_id = event.tenant_id
        elif isinstance(event, OrderShipped) and self._state:
            self._state = self._state.model_copy(update={
                "status": "shipped", "tracking_number": event.tracking_number,
            })

    def create(self, customer_name: str, total_amount: float) -> None:
        if self.version > 0:
            raise ValueError("Order already exists")
        if not self._tenant_id:
            raise ValueError("Tenant context required")
        self.apply_event(OrderCreated(
            aggregate_id=self.aggregate_id, tenant_id=self._tenant_id,
            customer_name=customer_name, total_amount=total_amount,
            aggregate_version=self.get_next_version(),
        ))

    def ship(self, tracking_number: str) -> None:
        if not self._state or self._state.status != "created":
            raise ValueError("Cannot ship order in current state")
        self.apply_event(OrderShipped(
            aggregate_id=self.aggregate_id, tenant_id=self._tenant_id,
            tracking_number=tracking_number, aggregate_version=self.get_next_version(),
        ))

class TenantAwareOrderRepository:
    def __init__(self, event_store: InMemoryEventStore, tenant_id: UUID):
        self._tenant_id = tenant_id
        self._inner_repo = AggregateRepository(
            event_store=event_store,
            aggregate_factory=lambda aid: TenantOrderAggregate(aid, tenant_id),
            aggregate_type="Order",
        )

    def create_new(self, order_id: UUID) -> TenantOrderAggregate:
        return TenantOrderAggregate(order_id, self._tenant_id)

    async def save(self, order: TenantOrderAggregate) -> None:
        if order.tenant_id != self._tenant_id:
            raise PermissionError("Cannot save order from different tenant")
        await self._inner_repo.save(order)

    async def load(self, order_id: UUID) -> TenantOrderAggregate:
        order = await self._inner_repo.load(order_id)
        if order.tenant_id != self._tenant_id:
            raise PermissionError("Order belongs to different tenant")
        return order

class TenantOrderProjection(DeclarativeProjection):
    def __init__(self, tenant_id: UUID | None = None):
        super().__init__()
        self._target_tenant = tenant_id
        self.orders_by_tenant: dict[str, list[dict]] = {}

    @handles(OrderCreated)
    async def _on_created(self, event: OrderCreated) -> None:
        if self._target_tenant and event.tenant_id != self._target_tenant:
            return
        tenant_key = str(event.tenant_id) if event.tenant_id else "default"
        if tenant_key not in self.orders_by_tenant:
            self.orders_by_tenant[tenant_key] = []
        self.orders_by_tenant[tenant_key].append({
            "order_id": str(event.aggregate_id), "customer": event.customer_name,
            "total": event.total_amount, "status": "created",
        })

    @handles(OrderShipped)
    async def _on_shipped(self, event: OrderShipped) -> None:
        if self._target_tenant and event.tenant_id != self._target_tenant:
            return
        tenant_key = str(event.tenant_id) if event.tenant_id else "default"
        if tenant_key in self.orders_by_tenant:
            for order in self.orders_by_tenant[tenant_key]:
                if order["order_id"] == str(event.aggregate_id):
                    order["status"] = "shipped"

    async def _truncate_read_models(self) -> None:
        self.orders_by_tenant.clear()

    def get_tenant_orders(self, tenant_id: UUID) -> list[dict]:
        return self.orders_by_tenant.get(str(tenant_id), [])

async def main():
    event_store = InMemoryEventStore()
    tenant_acme = uuid4()
    tenant_globex = uuid4()

    repo_acme = TenantAwareOrderRepository(event_store, tenant_acme)
    repo_globex = TenantAwareOrderRepository(event_store, tenant_globex)

    # Create orders
    order_1 = repo_acme.create_new(uuid4())
    order_1.create("Alice (ACME)", 100.0)
    await repo_acme.save(order_1)

    order_2 = repo_acme.create_new(uuid4())
    order_2.create("Bob (ACME)", 250.0)
    await repo_acme.save(order_2)

    order_3 = repo_globex.create_new(uuid4())
    order_3.create("Charlie (Globex)", 500.0)
    await repo_globex.save(order_3)

    loaded = await repo_acme.load(order_1.aggregate_id)
    loaded.ship("TRACK-ACME-001")
    await repo_acme.save(loaded)

    # Test isolation
    try:
        await repo_globex.load(order_1.aggregate_id)
    except PermissionError as e:
        print(f"Correctly blocked: {e}")

    # Projections
    global_projection = TenantOrderProjection()
    acme_projection = TenantOrderProjection(tenant_id=tenant_acme)

    async for stored in event_store.read_all():
        await global_projection.handle(stored.event)
        await acme_projection.handle(stored.event)

    print(f"ACME orders: {len(global_projection.get_tenant_orders(tenant_acme))}")
    print(f"Globex orders: {len(global_projection.get_tenant_orders(tenant_globex))}")


if __name__ == "__main__":
    asyncio.run(main())
