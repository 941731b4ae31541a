"""A small application module for ``esctl --app``: the demo shop's events and a projection.

Load it to have ``esctl`` validate the demo's payloads, list their types, and keep the
``revenue`` projection::

    esctl --db demo.db --app examples/orders_app.py verify
    esctl --db demo.db --app examples/orders_app.py types
    esctl --db demo.db --app examples/orders_app.py catch-up revenue

A real application defines its own event classes here (``@register_event`` on ``DomainEvent``
subclasses); this one imports the demo's, so that a store filled by ``esctl demo`` validates.
"""

from __future__ import annotations

from esctl import DeclarativeProjection, handles
from esctl.demo import (
    CatalogPublished,
    CustomerRegistered,
    OrderCancelled,
    OrderPlaced,
    PaymentCaptured,
    RefundIssued,
    ShipmentDelivered,
    ShipmentDispatched,
)


class Revenue(DeclarativeProjection):
    """Captured payments minus refunds, in cents, per tenant."""

    name = "revenue"

    def __init__(self) -> None:
        super().__init__()
        self.cents_by_tenant: dict[str, int] = {}
        self.orders_by_tenant: dict[str, int] = {}

    @handles(OrderPlaced)
    async def _on_placed(self, event: OrderPlaced) -> None:
        key = str(event.tenant_id)
        self.orders_by_tenant[key] = self.orders_by_tenant.get(key, 0) + 1

    @handles(PaymentCaptured)
    async def _on_paid(self, event: PaymentCaptured) -> None:
        key = str(event.tenant_id)
        self.cents_by_tenant[key] = self.cents_by_tenant.get(key, 0) + event.amount_cents

    @handles(RefundIssued)
    async def _on_refund(self, event: RefundIssued) -> None:
        key = str(event.tenant_id)
        self.cents_by_tenant[key] = self.cents_by_tenant.get(key, 0) - event.amount_cents

    async def _truncate_read_models(self) -> None:
        self.cents_by_tenant.clear()
        self.orders_by_tenant.clear()


projections = [Revenue]
"""Projections ``esctl`` keeps for this app (``esctl projections``, ``catch-up``, ``replay``)."""

__all__ = [
    "CatalogPublished",
    "CustomerRegistered",
    "OrderCancelled",
    "OrderPlaced",
    "PaymentCaptured",
    "RefundIssued",
    "Revenue",
    "ShipmentDelivered",
    "ShipmentDispatched",
    "projections",
]
