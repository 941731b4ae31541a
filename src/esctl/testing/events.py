"""The events, aggregates and projections the contract suites write and read.

They live in their own ``EventRegistry`` (``REGISTRY``), never in esctl's default one, so they
cannot clash with the event classes of the application under test. A store under test must
read events back with the registry ``make_store`` is given (``REGISTRY``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from pydantic import BaseModel, Field

from esctl.aggregates import AggregateRoot
from esctl.events import DomainEvent, GenericEvent
from esctl.projections.base import DeclarativeProjection, handles
from esctl.projections.persisted import ReadModel, SQLProjection
from esctl.projections.registry import ProjectionRegistry
from esctl.registry import EventRegistry, register_event

REGISTRY = EventRegistry()
"""The registry of the test event classes below; a store under test reads with it."""

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
"""A fixed moment the tests' ``occurred_at`` values count from."""

# -- carts and invoices (the event store contract) ----------------------------------------------


@register_event(registry=REGISTRY)
class ItemAdded(DomainEvent):
    """A cart got an item (payload of several JSON types)."""

    event_type: str = "test.ItemAdded"
    aggregate_type: str = "Cart"
    sku: str
    quantity: int
    price: float
    tags: list[str] = Field(default_factory=list)
    note: str | None = None


@register_event(registry=REGISTRY)
class ItemRemoved(DomainEvent):
    """A cart lost an item."""

    event_type: str = "test.ItemRemoved"
    aggregate_type: str = "Cart"
    sku: str


@register_event(registry=REGISTRY)
class InvoiceIssued(DomainEvent):
    """An invoice was issued (a second aggregate type)."""

    event_type: str = "test.InvoiceIssued"
    aggregate_type: str = "Invoice"
    amount_cents: int
    due: datetime


def item(
    aggregate_id: UUID,
    version: int,
    *,
    tenant_id: UUID | None = None,
    sku: str = "SKU-1",
    occurred_at: datetime | None = None,
    **fields: Any,
) -> ItemAdded:
    """Return an ``ItemAdded`` for ``aggregate_id`` at ``version``."""
    return ItemAdded(
        aggregate_id=aggregate_id,
        aggregate_version=version,
        tenant_id=tenant_id,
        sku=sku,
        quantity=fields.pop("quantity", 1),
        price=fields.pop("price", 9.5),
        occurred_at=occurred_at if occurred_at is not None else T0 + timedelta(seconds=version),
        **fields,
    )


class CartState(BaseModel):
    """Items in a cart, and how often the state was folded."""

    skus: list[str] = []
    folds: int = 0


class Cart(AggregateRoot[CartState]):
    """A cart: add and remove items. Without a tenant given, it takes its first event's."""

    aggregate_type = "Cart"

    def __init__(self, aggregate_id: UUID, tenant_id: UUID | None = None) -> None:
        super().__init__(aggregate_id)
        self.tenant_id = tenant_id

    def _get_initial_state(self) -> CartState:
        return CartState()

    def _apply(self, event: DomainEvent) -> None:
        if self.tenant_id is None:
            self.tenant_id = event.tenant_id
        skus = list(self.state.skus)
        if isinstance(event, ItemAdded):
            skus.append(event.sku)
        elif isinstance(event, ItemRemoved):
            skus.remove(event.sku)
        self._state = CartState(skus=skus, folds=self.state.folds + 1)

    def add(self, sku: str) -> None:
        """Add an item."""
        self.apply_event(
            ItemAdded(
                aggregate_id=self.aggregate_id,
                aggregate_version=self.get_next_version(),
                tenant_id=self.tenant_id,
                sku=sku,
                quantity=1,
                price=2.5,
            )
        )

    def remove(self, sku: str) -> None:
        """Remove an item that is in the cart.

        Raises:
            ValueError: The item is not in the cart.
        """
        if sku not in self.state.skus:
            raise ValueError(f"{sku} is not in the cart")
        self.apply_event(
            ItemRemoved(
                aggregate_id=self.aggregate_id,
                aggregate_version=self.get_next_version(),
                tenant_id=self.tenant_id,
                sku=sku,
            )
        )


# -- accounts (the projection storage contract) -------------------------------------------------

TENANTS = (UUID(int=0xA), UUID(int=0xB), UUID(int=0xC))
"""The tenants accounts belong to (see ``account_tenant``)."""


@register_event(registry=REGISTRY)
class Opened(DomainEvent):
    """An account was opened with a first amount."""

    event_type: str = "pt.Opened"
    aggregate_type: str = "Account"
    amount: int


@register_event(registry=REGISTRY)
class Moved(DomainEvent):
    """Money moved in or out of an account."""

    event_type: str = "pt.Moved"
    aggregate_type: str = "Account"
    amount: int
    poison: bool = False


class Balances(DeclarativeProjection):
    """Python state, the tutorial's style: a balance per account."""

    def __init__(self) -> None:
        super().__init__()
        self.balances: dict[str, int] = {}
        self.events = 0

    @handles(Opened)
    async def _opened(self, event: Opened) -> None:
        self.balances[str(event.aggregate_id)] = event.amount
        self.events += 1

    @handles(Moved)
    async def _moved(self, event: Moved) -> None:
        if event.poison:
            raise ValueError("poisoned move")
        key = str(event.aggregate_id)
        self.balances[key] = self.balances.get(key, 0) + event.amount
        self.events += 1


class Seen(DeclarativeProjection):
    """Counts the events it sees per tenant (of every type, unknown ones included)."""

    def __init__(self) -> None:
        super().__init__()
        self.tenants: dict[str, int] = {}

    @handles(DomainEvent)
    async def _any(self, event: DomainEvent) -> None:
        key = str(event.tenant_id)
        self.tenants[key] = self.tenants.get(key, 0) + 1


class Moves(DeclarativeProjection):
    """Counts the moves it applied; raises on a poisoned one."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    @handles(Moved)
    async def _moved(self, event: Moved) -> None:
        if event.poison:
            raise ValueError("poisoned move")
        self.count += 1


class Ledger(SQLProjection):
    """SQL rows, one per event, counting how often each was applied."""

    name = "ledger"
    tenant_column = "tenant_id"
    tables = {  # noqa: RUF012 - the class attribute SQLProjection reads
        "ledger": (
            "CREATE TABLE {ledger} (event_id TEXT PRIMARY KEY, tenant_id TEXT, account TEXT,"
            " amount INTEGER, times INTEGER NOT NULL)",
            "CREATE INDEX {ledger}_account ON {ledger} (account)",
        )
    }

    @handles(Opened)
    def _opened(self, db: ReadModel, event: Opened) -> None:
        self._write(db, event, event.amount)

    @handles(Moved)
    def _moved(self, db: ReadModel, event: Moved) -> None:
        if event.poison:
            raise ValueError("poisoned move")
        self._write(db, event, event.amount)

    def _write(self, db: ReadModel, event: DomainEvent, amount: int) -> None:
        db.execute(
            "INSERT INTO {ledger} (event_id, tenant_id, account, amount, times) VALUES (?, ?, ?, ?, 1)"
            " ON CONFLICT (event_id) DO UPDATE SET times = {ledger}.times + 1",
            (str(event.event_id), str(event.tenant_id), str(event.aggregate_id), amount),
        )


def projections(*, sql: bool) -> ProjectionRegistry:
    """The built-ins, Balances per tenant and whole, a tenant-scoped Seen, and (``sql``) Ledger."""
    registry = ProjectionRegistry()
    registry.register(Balances, name="balances", per_tenant=True)
    registry.register(Balances, name="balances-all")
    registry.register(Seen, name="seen-a", tenant_id=TENANTS[0])
    if sql:
        registry.register(Ledger)
    return registry


def account_tenant(account: int) -> UUID | None:
    """The tenant account number ``account`` belongs to (every fourth has none)."""
    return None if account % 4 == 3 else TENANTS[account % 4]


@dataclass
class History:
    """Builds events for a few accounts, each account belonging to one tenant (or none)."""

    versions: dict[int, int] = field(default_factory=dict)
    ids: dict[int, UUID] = field(default_factory=dict)
    clock: int = 0

    def event(self, account: int, kind: str, amount: int, poison: bool = False) -> DomainEvent:
        """Return the account's next event: ``Opened`` first, then ``Moved`` (or, for
        ``kind="unknown"``, an event of a type no class is registered for)."""
        aggregate_id = self.ids.setdefault(account, uuid4())
        version = self.versions.get(account, 0) + 1
        self.versions[account] = version
        self.clock += 1
        common: dict[str, Any] = {
            "aggregate_id": aggregate_id,
            "aggregate_version": version,
            "tenant_id": account_tenant(account),
            "occurred_at": T0 + timedelta(minutes=self.clock),
        }
        if version == 1:
            return Opened(amount=amount, **common)
        if kind == "unknown":
            return GenericEvent(event_type="pt.Unknown", aggregate_type="Account", note=f"n{amount}", **common)
        return Moved(amount=amount, poison=poison, **common)
