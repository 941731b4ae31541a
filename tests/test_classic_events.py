"""The classic API's event helpers: to_dict/from_dict, with_* copies, causation and correlation, TenantDomainEvent."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID, uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from esctl import DomainEvent, TenantDomainEvent


class Priced(DomainEvent):
    aggregate_type: str = "Order"
    amount: float
    note: str = ""


class Invoiced(TenantDomainEvent):
    aggregate_type: str = "Invoice"


@given(
    amount=st.floats(allow_nan=False, allow_infinity=False),
    note=st.text(),
    version=st.integers(1, 10**6),
    when=st.datetimes(timezones=st.just(UTC)),
    metadata=st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=3),
)
def test_to_dict_and_from_dict_round_trip(
    amount: float, note: str, version: int, when: datetime, metadata: dict[str, object]
) -> None:
    event = Priced(
        aggregate_id=uuid4(), aggregate_version=version, occurred_at=when, amount=amount, note=note, metadata=metadata
    )
    data = event.to_dict()
    assert isinstance(data["event_id"], str)
    assert isinstance(data["occurred_at"], str)
    assert Priced.from_dict(data) == event


def test_from_dict_validates() -> None:
    data = Priced(aggregate_id=uuid4(), amount=1.0).to_dict()
    data["aggregate_version"] = 0
    with pytest.raises(ValidationError):
        Priced.from_dict(data)


def test_with_causation_links_cause_and_correlation() -> None:
    cause = Priced(aggregate_id=uuid4(), amount=1.0)
    effect = Priced(aggregate_id=uuid4(), amount=2.0)
    assert not effect.is_caused_by(cause)
    assert not effect.is_correlated_with(cause)
    linked = effect.with_causation(cause)
    assert linked.causation_id == cause.event_id
    assert linked.correlation_id == cause.correlation_id
    assert linked.is_caused_by(cause)
    assert linked.is_correlated_with(cause)
    assert not cause.is_caused_by(linked)
    assert linked.event_id == effect.event_id
    assert linked.amount == 2.0
    assert effect.causation_id is None  # the original is unchanged


def test_with_metadata_merges_and_leaves_the_original() -> None:
    event = Priced(aggregate_id=uuid4(), amount=1.0, metadata={"a": 1, "b": 2})
    copy = event.with_metadata(b=3, c=4)
    assert copy.metadata == {"a": 1, "b": 3, "c": 4}
    assert event.metadata == {"a": 1, "b": 2}


def test_with_aggregate_version_validates_and_marks_the_version_as_set() -> None:
    event = Priced(aggregate_id=uuid4(), amount=1.0)
    assert "aggregate_version" not in event.model_fields_set
    copy = event.with_aggregate_version(7)
    assert copy.aggregate_version == 7
    assert "aggregate_version" in copy.model_fields_set
    assert event.aggregate_version == 1
    with pytest.raises(ValidationError):
        event.with_aggregate_version(0)
    # Other copies keep the version unset, so that a store may still assign it.
    assert "aggregate_version" not in event.with_metadata(x=1).model_fields_set


def test_tenant_domain_event_requires_a_tenant() -> None:
    with pytest.raises(ValidationError):
        Invoiced(aggregate_id=uuid4())
    with pytest.raises(ValidationError):
        Invoiced(aggregate_id=uuid4(), tenant_id=None)
    tenant = uuid4()
    event = Invoiced(aggregate_id=uuid4(), tenant_id=tenant)
    assert isinstance(event.tenant_id, UUID)
    assert event.tenant_id == tenant
    assert event.event_type == "Invoiced"
