"""A demo: an online shop's order history for several tenants, and the event classes it uses.

``esctl demo`` fills an empty store with it; ``--app esctl.demo`` registers the classes, so
``esctl verify`` validates the demo's payloads and ``esctl types`` lists them. The history is
generated from a seed: the same seed and end moment give the same events (ids included).

Example:
    >>> # async with SQLiteEventStore("demo.db") as store:
    >>> #     summary = await load_demo(store)
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from esctl.errors import UsageError
from esctl.events import DomainEvent
from esctl.registry import register_event
from esctl.store.interface import EventStore
from esctl.store.types import AppendChunk, ReadOptions
from esctl.timeutil import to_micros

DEMO_TENANTS: dict[str, UUID] = {
    "acme": UUID("00000000-0000-4000-8000-00000000000a"),
    "globex": UUID("00000000-0000-4000-8000-00000000000b"),
    "initech": UUID("00000000-0000-4000-8000-00000000000c"),
    "umbrella": UUID("00000000-0000-4000-8000-00000000000d"),
}
"""The demo's tenants: fixed ids, so documentation can name them."""

_ORDERS_PER_DAY = {"acme": 14.0, "globex": 9.0, "initech": 5.0, "umbrella": 2.0}
_CATALOG = [
    ("SKU-1001", "Espresso beans 1 kg", 2490),
    ("SKU-1002", "Filter coffee 500 g", 1190),
    ("SKU-2001", "Ceramic mug", 890),
    ("SKU-2002", "Travel mug", 1990),
    ("SKU-3001", "Hand grinder", 5490),
    ("SKU-3002", "Pour-over kettle", 4490),
    ("SKU-4001", "Paper filters (100)", 390),
    ("SKU-5001", "Barista course voucher", 8900),
]
_FIRST_NAMES = ["Alice", "Bob", "Chen", "Dana", "Emil", "Fatima", "Goran", "Hana", "Ivan", "Jun", "Kai", "Lena"]
_LAST_NAMES = ["Novak", "Schmidt", "Rossi", "Kowalski", "Okafor", "Tanaka", "Silva", "Jensen", "Dubois", "Moreau"]
_COUNTRIES = ["DE", "FR", "NL", "PL", "IT", "ES", "SE"]
_CARRIERS = ["DHL", "UPS", "DPD", "GLS"]
_CANCEL_REASONS = ["customer changed their mind", "payment failed", "out of stock"]
_REFUND_REASONS = ["damaged in transit", "wrong item", "not as described"]


class OrderLine(BaseModel):
    """One line of an order."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sku: str
    name: str
    quantity: int
    unit_price_cents: int


@register_event
class CustomerRegistered(DomainEvent):
    """A shopper created an account."""

    aggregate_type: str = "Customer"
    name: str
    email: str
    country: str


@register_event
class OrderPlaced(DomainEvent):
    """A customer placed an order."""

    aggregate_type: str = "Order"
    customer_id: UUID
    lines: list[OrderLine]
    total_cents: int
    currency: str = "EUR"


@register_event
class PaymentCaptured(DomainEvent):
    """The order was paid."""

    aggregate_type: str = "Order"
    amount_cents: int
    method: Literal["card", "paypal", "invoice"]


@register_event
class ShipmentDispatched(DomainEvent):
    """The order left the warehouse."""

    aggregate_type: str = "Order"
    carrier: str
    tracking_number: str


@register_event
class ShipmentDelivered(DomainEvent):
    """The order reached the customer."""

    aggregate_type: str = "Order"
    signed_by: str | None = None


@register_event
class OrderCancelled(DomainEvent):
    """The order was cancelled before it was dispatched."""

    aggregate_type: str = "Order"
    reason: str


@register_event
class RefundIssued(DomainEvent):
    """Money went back to the customer after delivery."""

    aggregate_type: str = "Order"
    amount_cents: int
    reason: str


@register_event
class CatalogPublished(DomainEvent):
    """The shared product catalog got a new version (an event with no tenant)."""

    aggregate_type: str = "Catalog"
    catalog_version: int
    products: int


@dataclass(frozen=True, slots=True)
class DemoSummary:
    """What ``load_demo`` did.

    Attributes:
        events: Events in the store afterwards: the demo history just written, or the events
            the store already held.
        appended: Events written (0 when the store already held the demo).
        tenants: The demo's tenants by name.
        first_occurred_at: The earliest event's time (``None`` when nothing was written).
        last_occurred_at: The latest event's time (``None`` when nothing was written).
    """

    events: int
    appended: int
    first_occurred_at: datetime | None
    last_occurred_at: datetime | None
    tenants: dict[str, UUID] = field(default_factory=lambda: dict(DEMO_TENANTS))


DEMO_CHUNK = 2000
"""Events per chunk of ``load_demo``'s append (one transaction for them all)."""


def demo_events(*, seed: int = 7, days: int = 42, end: datetime | None = None) -> list[DomainEvent]:
    """Generate the demo history: ``days`` days of orders for the demo tenants, up to ``end``.

    Args:
        seed: The random seed.
        days: How many days of history.
        end: The moment the history ends (default: now).

    Returns:
        The events in the order they happened, with their stream versions set.
    """
    history = _History.starting(seed, days, end)
    for _ in history.generate(days):
        pass
    return list(history.numbered())


async def load_demo(store: EventStore, *, seed: int = 7, days: int = 42, end: datetime | None = None) -> DemoSummary:
    """Fill an empty store with the demo history, in one atomic append.

    The store is checked first: one that already holds acme's orders (the demo, or part of it)
    is left as it is, without generating anything. The history is generated a day at a time, yielding to the event loop
    in between, and appended in chunks of ``DEMO_CHUNK`` events within ONE transaction, so a
    cancelled ``load_demo`` (Ctrl-C) stops promptly and writes nothing.

    Raises:
        UsageError: The store holds other events.
    """
    import asyncio

    held = await store.get_global_position()
    if held:
        demo_orders = ReadOptions(tenant_id=DEMO_TENANTS["acme"], event_types=("OrderPlaced",), limit=1)
        if await store.count_events(demo_orders):
            return DemoSummary(held, 0, None, None)
        raise UsageError(
            f"the store already holds {held:,} events that are not the demo's; the demo only fills an empty store",
            hint="fill a new database instead, e.g. `esctl --db demo.db demo`",
        )
    history = _History.starting(seed, days, end)
    for _ in history.generate(days):
        await asyncio.sleep(0)  # where a cancellation (Ctrl-C) gets in
    count = len(history.events)
    if not count:
        return DemoSummary(0, 0, None, None)
    first, last = history.first_and_last()
    result = await store.append_chunks(history.chunks(DEMO_CHUNK))
    return DemoSummary(count, result.appended, first, last)


@dataclass(frozen=True, slots=True)
class _ModelOnly:
    """A demo event on its way into the store: a model, no pre-encoded row."""

    event: DomainEvent
    row: list[Any] | None = None


class _History:
    """Collects events per stream, then orders them by time and numbers each stream's versions."""

    def __init__(self, rng: random.Random, stop: datetime) -> None:
        self.rng = rng
        self.stop = stop
        self.start = stop
        self.events: list[tuple[int, int, DomainEvent]] = []

    @classmethod
    def starting(cls, seed: int, days: int, end: datetime | None) -> _History:
        stop = (end or datetime.now(UTC)).astimezone(UTC)
        history = cls(random.Random(seed), stop)
        history.start = stop - timedelta(days=days)
        return history

    def generate(self, days: int) -> Iterator[None]:
        """Generate the history, yielding after each tenant's day (the same events as in one go)."""
        for week in range(days // 7 + 1):
            moment = self.start + timedelta(days=7 * week, hours=6)
            self.add(None, CatalogPublished, moment, None, catalog_version=week + 1, products=len(_CATALOG))
        for name, tenant in DEMO_TENANTS.items():
            yield from _tenant_orders(self, self.rng, name, tenant, self.start, days)

    def uuid(self, moment: datetime) -> UUID:
        # A UUIDv7 (time-ordered, like esctl's own ids) whose random bits come from the seed.
        millis = to_micros(moment) // 1000
        value = (millis & 0xFFFF_FFFF_FFFF) << 80 | 0x7 << 76 | self.rng.getrandbits(12) << 64
        value |= 0b10 << 62 | self.rng.getrandbits(62)
        return UUID(int=value)

    def add(
        self,
        tenant: UUID | None,
        cls: type[DomainEvent],
        moment: datetime,
        previous: DomainEvent | None,
        aggregate_id: UUID | None = None,
        actor: str | None = None,
        **payload: object,
    ) -> DomainEvent | None:
        if moment >= self.stop:
            return None  # still in the future when the history ends
        event = cls.model_validate(
            {
                "event_id": self.uuid(moment),
                "occurred_at": moment,
                "aggregate_id": aggregate_id if aggregate_id is not None else self.uuid(moment),
                "tenant_id": tenant,
                "actor_id": actor,
                "correlation_id": previous.correlation_id if previous is not None else self.uuid(moment),
                "causation_id": previous.event_id if previous is not None else None,
                "metadata": {"source": self.rng.choice(["web", "web", "mobile", "api"])},
                **payload,
            }
        )
        self.events.append((to_micros(moment), len(self.events), event))
        return event

    def first_and_last(self) -> tuple[datetime, datetime]:
        first = min(self.events, key=lambda item: (item[0], item[1]))[2]
        last = max(self.events, key=lambda item: (item[0], item[1]))[2]
        return first.occurred_at, last.occurred_at

    def numbered(self) -> Iterator[DomainEvent]:
        """Yield the events in time order, each with its stream version set."""
        versions: dict[tuple[str, UUID], int] = {}
        self.events.sort(key=lambda item: (item[0], item[1]))
        for _, _, event in self.events:
            key = (event.aggregate_type, event.aggregate_id)
            versions[key] = versions.get(key, 0) + 1
            yield event.model_copy(update={"aggregate_version": versions[key]})

    def chunks(self, size: int) -> Iterator[AppendChunk]:
        """Yield the numbered events in chunks of ``size`` (plain code: a store may run it on its thread)."""
        numbered = self.numbered()
        while chunk := list(itertools.islice(numbered, size)):
            yield AppendChunk([_ModelOnly(event) for event in chunk])


def _tenant_orders(
    history: _History, rng: random.Random, name: str, tenant: UUID, start: datetime, days: int
) -> Iterator[None]:
    customers: list[tuple[UUID, str]] = []
    for day in range(days):
        yield
        midnight = (start + timedelta(days=day)).replace(hour=0, minute=0, second=0, microsecond=0)
        weekend = midnight.weekday() >= 5
        rate = _ORDERS_PER_DAY[name] * (0.6 if weekend else 1.0) * (0.8 + 0.4 * day / max(days, 1))
        for _ in range(_poisson(rng, rate)):
            placed_at = midnight + timedelta(seconds=rng.uniform(7 * 3600, 23 * 3600))
            if placed_at < start:
                continue
            if not customers or rng.random() < 0.35:
                customer = _register_customer(
                    history, rng, name, tenant, placed_at - timedelta(minutes=rng.uniform(5, 90))
                )
                if customer is not None:
                    customers.append(customer)
            if not customers:
                continue
            _order_flow(history, rng, tenant, rng.choice(customers), placed_at)


def _register_customer(
    history: _History, rng: random.Random, shop: str, tenant: UUID, moment: datetime
) -> tuple[UUID, str] | None:
    first, last = rng.choice(_FIRST_NAMES), rng.choice(_LAST_NAMES)
    full = f"{first} {last}"
    email = f"{first.lower()}.{last.lower()}{rng.randint(1, 99)}@example.{shop}.test"
    event = history.add(
        tenant,
        CustomerRegistered,
        moment,
        None,
        actor=f"customer:{email}",
        name=full,
        email=email,
        country=rng.choice(_COUNTRIES),
    )
    return None if event is None else (event.aggregate_id, email)


def _order_flow(
    history: _History, rng: random.Random, tenant: UUID, customer: tuple[UUID, str], placed_at: datetime
) -> None:
    customer_id, email = customer
    lines = [
        OrderLine(sku=sku, name=title, quantity=rng.choice([1, 1, 1, 2, 3]), unit_price_cents=price)
        for sku, title, price in rng.sample(_CATALOG, rng.choice([1, 1, 2, 2, 3]))
    ]
    total = sum(line.quantity * line.unit_price_cents for line in lines)
    actor = f"customer:{email}"
    placed = history.add(
        tenant, OrderPlaced, placed_at, None, actor=actor, customer_id=customer_id, lines=lines, total_cents=total
    )
    if placed is None:
        return
    order = placed.aggregate_id
    moment = placed_at + timedelta(minutes=rng.uniform(1, 180))
    if rng.random() < 0.06:
        history.add(tenant, OrderCancelled, moment, placed, order, actor, reason=rng.choice(_CANCEL_REASONS))
        return
    method = rng.choice(["card", "card", "card", "paypal", "invoice"])
    paid = history.add(
        tenant, PaymentCaptured, moment, placed, order, "system:payments", amount_cents=total, method=method
    )
    if paid is None:
        return
    moment += timedelta(hours=rng.uniform(4, 60))
    carrier = rng.choice(_CARRIERS)
    tracking = f"{carrier[:2]}{rng.randrange(10**9, 10**10)}"
    sent = history.add(
        tenant, ShipmentDispatched, moment, paid, order, "system:warehouse", carrier=carrier, tracking_number=tracking
    )
    if sent is None:
        return
    moment += timedelta(hours=rng.uniform(18, 96))
    signed_by = rng.choice([None, "neighbour", "recipient", "recipient"])
    delivered = history.add(tenant, ShipmentDelivered, moment, sent, order, f"carrier:{carrier}", signed_by=signed_by)
    if delivered is None or rng.random() >= 0.04:
        return
    moment += timedelta(days=rng.uniform(1, 6))
    history.add(
        tenant,
        RefundIssued,
        moment,
        delivered,
        order,
        "staff:support",
        amount_cents=total,
        reason=rng.choice(_REFUND_REASONS),
    )


def _poisson(rng: random.Random, rate: float) -> int:
    # Knuth's method: fine for the small rates of a demo.
    limit, count, product = pow(2.718281828459045, -rate), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


__all__ = [
    "DEMO_TENANTS",
    "CatalogPublished",
    "CustomerRegistered",
    "DemoSummary",
    "OrderCancelled",
    "OrderLine",
    "OrderPlaced",
    "PaymentCaptured",
    "RefundIssued",
    "ShipmentDelivered",
    "ShipmentDispatched",
    "demo_events",
    "load_demo",
]
