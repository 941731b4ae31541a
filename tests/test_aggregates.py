"""AggregateRoot on its own. Repositories and the bus on each store: ``esctl.testing.aggregates``
(``RepositoryContract``, run in test_store_contract.py)."""

from __future__ import annotations

from uuid import uuid4

import pytest

from esctl import AggregateRoot
from esctl.testing.events import Cart, CartState

# -- AggregateRoot -------------------------------------------------------------------------------


def test_a_new_aggregate_has_version_zero_and_the_initial_state() -> None:
    cart = Cart(uuid4())
    assert cart.version == 0
    assert cart.get_next_version() == 1
    assert cart.state == CartState()
    assert cart.uncommitted_events == []


def test_apply_event_folds_state_and_records_new_events() -> None:
    cart = Cart(uuid4())
    cart.add("A")
    cart.add("B")
    cart.remove("A")
    assert cart.state.skus == ["B"]
    assert cart.version == 3
    assert [e.aggregate_version for e in cart.uncommitted_events] == [1, 2, 3]
    copy = cart.uncommitted_events
    copy.clear()
    assert len(cart.uncommitted_events) == 3  # callers get a copy
    cart.mark_events_as_committed()
    assert cart.uncommitted_events == []
    assert cart.version == 3


def test_load_from_history_replays_without_recording() -> None:
    source = Cart(uuid4())
    source.add("A")
    source.add("B")
    replayed = Cart(source.aggregate_id)
    replayed.load_from_history(source.uncommitted_events)
    assert replayed.state.skus == ["A", "B"]
    assert replayed.version == 2
    assert replayed.uncommitted_events == []


def test_apply_event_not_new_is_not_recorded() -> None:
    cart = Cart(uuid4())
    other = Cart(cart.aggregate_id)
    other.add("A")
    cart.apply_event(other.uncommitted_events[0], is_new=False)
    assert cart.version == 1
    assert cart.uncommitted_events == []


def test_a_command_refusing_leaves_the_aggregate_unchanged() -> None:
    cart = Cart(uuid4())
    with pytest.raises(ValueError, match="not in the cart"):
        cart.remove("A")
    assert cart.version == 0
    assert cart.uncommitted_events == []


def test_aggregate_root_is_abstract() -> None:
    with pytest.raises(TypeError):
        AggregateRoot(uuid4())  # type: ignore[abstract]
