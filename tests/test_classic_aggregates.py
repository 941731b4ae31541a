"""The classic aggregate API: uncommitted events, version validation, equality, repr, DeclarativeAggregate."""

from __future__ import annotations

import warnings
from uuid import UUID, uuid4

import pytest
from pydantic import BaseModel

from esctl import (
    AggregateRoot,
    DeclarativeAggregate,
    DomainEvent,
    EventVersionError,
    UnhandledEventError,
    get_handled_event_type,
    handles,
    is_event_handler,
    tenant_scope,
)


class Opened(DomainEvent):
    aggregate_type: str = "Account"
    owner: str


class Deposited(DomainEvent):
    aggregate_type: str = "Account"
    amount: int


class Frozen(DomainEvent):
    aggregate_type: str = "Account"


class BigDeposit(Deposited):
    """A subclass: handled by the Deposited handler (nearest base)."""


class AccountState(BaseModel):
    owner: str = ""
    balance: int = 0


class Account(DeclarativeAggregate[AccountState]):
    aggregate_type = "Account"

    def _get_initial_state(self) -> AccountState:
        return AccountState()

    @handles(Opened)
    def _on_opened(self, event: Opened) -> None:
        self._state = AccountState(owner=event.owner)

    @handles(Deposited)
    def _on_deposited(self, event: Deposited) -> None:
        self._state = self.state.model_copy(update={"balance": self.state.balance + event.amount})

    def open(self, owner: str) -> None:
        self._raise_event(self.create_event(Opened, owner=owner))

    def deposit(self, amount: int) -> None:
        self.apply_event(self.create_event(Deposited, amount=amount))


class StrictAccount(Account):
    unregistered_event_handling = "error"


class WarningAccount(Account):
    unregistered_event_handling = "warn"


def test_handlers_dispatch_by_class_and_nearest_base() -> None:
    account = Account(uuid4())
    account.open("ada")
    account.deposit(5)
    account.apply_event(BigDeposit(aggregate_id=account.aggregate_id, amount=7))
    assert account.state == AccountState(owner="ada", balance=12)
    assert account.version == 3
    assert [e.aggregate_version for e in account.uncommitted_events] == [1, 2, 3]


def test_create_event_fills_id_type_version_and_tenant() -> None:
    account = Account(uuid4())
    tenant = uuid4()
    with tenant_scope(tenant):
        event = account.create_event(Opened, owner="ada")
    assert (event.aggregate_id, event.aggregate_type, event.aggregate_version) == (account.aggregate_id, "Account", 1)
    assert event.tenant_id == tenant
    assert account.version == 0  # created, not applied
    assert not account.has_uncommitted_events
    assert account.create_event(Opened, owner="x").tenant_id is None
    given = uuid4()
    assert account.create_event(Opened, owner="x", tenant_id=given).tenant_id == given


def test_create_event_prefers_the_aggregates_own_tenant() -> None:
    class TenantAccount(Account):
        def __init__(self, aggregate_id: UUID, tenant_id: UUID) -> None:
            super().__init__(aggregate_id)
            self.tenant_id = tenant_id

    own, context = uuid4(), uuid4()
    with tenant_scope(context):
        assert TenantAccount(uuid4(), own).create_event(Opened, owner="a").tenant_id == own


def test_unhandled_events_are_ignored_warned_about_or_refused() -> None:
    frozen = Frozen(aggregate_id=uuid4(), aggregate_version=1)
    quiet = Account(frozen.aggregate_id)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        quiet.apply_event(frozen)
    assert quiet.version == 1
    loud = WarningAccount(frozen.aggregate_id)
    with pytest.warns(RuntimeWarning, match="Frozen"):
        loud.apply_event(frozen)
    assert loud.version == 1
    strict = StrictAccount(frozen.aggregate_id)
    with pytest.raises(UnhandledEventError) as caught:
        strict.apply_event(frozen)
    assert caught.value.event_type == "Frozen"
    assert caught.value.handler_class == "StrictAccount"
    assert caught.value.available_handlers == ["Deposited", "Opened"]
    assert strict.version == 0
    assert not strict.has_uncommitted_events


def test_validate_versions_refuses_an_event_out_of_order() -> None:
    account = Account(uuid4())
    account.open("ada")
    skipped = Deposited(aggregate_id=account.aggregate_id, aggregate_version=3, amount=1)
    with pytest.raises(EventVersionError) as caught:
        account.apply_event(skipped)
    error = caught.value
    assert (error.expected_version, error.actual_version) == (2, 3)
    assert (error.event_id, error.aggregate_id) == (skipped.event_id, account.aggregate_id)
    assert account.version == 1
    assert account.state.balance == 0

    class Lenient(Account):
        validate_versions = False

    lenient = Lenient(account.aggregate_id)
    lenient.apply_event(skipped)
    assert lenient.version == 3


def test_an_event_without_a_version_gets_the_next_one() -> None:
    account = Account(uuid4())
    account.apply_event(Opened(aggregate_id=account.aggregate_id, owner="a"))
    account.apply_event(Deposited(aggregate_id=account.aggregate_id, amount=2))
    assert account.version == 2
    assert [e.aggregate_version for e in account.uncommitted_events] == [1, 2]


def test_uncommitted_events_can_be_cleared_and_returned() -> None:
    account = Account(uuid4())
    assert not account.has_uncommitted_events
    account.open("ada")
    account.deposit(1)
    assert account.has_uncommitted_events
    cleared = account.clear_uncommitted_events()
    assert [type(e) for e in cleared] == [Opened, Deposited]
    assert not account.has_uncommitted_events
    assert account.uncommitted_events == []
    assert account.version == 2


def test_equality_and_hash_by_class_type_and_id() -> None:
    same = uuid4()
    a, b = Account(same), Account(same)
    b.open("x")
    assert a == b
    assert hash(a) == hash(b)
    assert a != Account(uuid4())
    assert a != StrictAccount(same)
    assert len({a, b, Account(uuid4())}) == 2
    assert a != "not an aggregate"


def test_repr() -> None:
    account = Account(uuid4())
    account.open("ada")
    assert repr(account) == f"Account(id={account.aggregate_id}, version=1, uncommitted=1)"


def test_plain_aggregate_root_still_works() -> None:
    class Counter(AggregateRoot[int]):
        aggregate_type = "Counter"

        def _get_initial_state(self) -> int:
            return 0

        def _apply(self, event: DomainEvent) -> None:
            self._state = self.state + 1

    counter = Counter(uuid4())
    counter.load_from_history(
        [DomainEvent(aggregate_id=counter.aggregate_id, aggregate_type="Counter", aggregate_version=v) for v in (1, 2)]
    )
    assert (counter.state, counter.version, counter.has_uncommitted_events) == (2, 2, False)


def test_handler_introspection() -> None:
    assert get_handled_event_type(Account._on_opened) is Opened
    assert is_event_handler(Account._on_deposited)
    assert not is_event_handler(Account.open)
    assert get_handled_event_type(Account.open) is None
