"""The classic API's error classes: its constructors and attributes, esctl's exit codes and one-line messages."""

from __future__ import annotations

from uuid import uuid4

import pytest

import esctl
from esctl.cli.status import exit_status
from esctl.errors import ExitStatus


def test_every_library_error_is_an_event_source_error() -> None:
    for name in (
        "OptimisticLockError",
        "AggregateNotFoundError",
        "EventVersionError",
        "UnhandledEventError",
        "EventTypeNotFoundError",
        "DuplicateEventTypeError",
        "TenantContextNotSetError",
        "TenantMismatchError",
        "DatabaseBusyError",
    ):
        assert issubclass(getattr(esctl, name), esctl.EventSourceError), name
    assert esctl.EventSourceError is esctl.EsctlError


def test_optimistic_lock_error_in_the_classic_form() -> None:
    order = uuid4()
    error = esctl.OptimisticLockError(order, 3, 5)
    assert (error.aggregate_id, error.expected_version, error.actual_version) == (order, 3, 5)
    assert (error.expected, error.actual) == (3, 5)
    assert str(error) == f"aggregate {order} is at version 5, expected version 3"
    assert error.exit_code == ExitStatus.CONFLICT


def test_optimistic_lock_error_keeps_the_esctl_form() -> None:
    error = esctl.OptimisticLockError("stream X is at version 2", aggregate_id=None, expected=1, actual=2)
    assert str(error) == "stream X is at version 2"
    assert (error.expected_version, error.actual_version) == (1, 2)
    with pytest.raises(TypeError):
        esctl.OptimisticLockError(uuid4(), 1)


def test_aggregate_not_found_error_in_both_forms() -> None:
    order = uuid4()
    error = esctl.AggregateNotFoundError(order, "Order")
    assert (error.aggregate_id, error.aggregate_type) == (order, "Order")
    assert str(error) == f"Order {order} not found"
    assert esctl.AggregateNotFoundError(order).aggregate_type is None
    assert str(esctl.AggregateNotFoundError("nothing here")) == "nothing here"
    assert error.exit_code == ExitStatus.NOT_FOUND


def test_event_version_error() -> None:
    event_id, order = uuid4(), uuid4()
    error = esctl.EventVersionError(2, 5, event_id, order)
    assert (error.expected_version, error.actual_version, error.event_id, error.aggregate_id) == (2, 5, event_id, order)
    assert str(error) == f"event {event_id} has version 5; aggregate {order} expected 2"
    assert error.exit_code == ExitStatus.CONFLICT


def test_unhandled_event_error() -> None:
    event_id = uuid4()
    error = esctl.UnhandledEventError("OrderShipped", event_id, "Order", ["OrderCreated"])
    assert error.event_type == "OrderShipped"
    assert error.event_id == event_id
    assert error.handler_class == "Order"
    assert error.available_handlers == ["OrderCreated"]
    assert "OrderShipped" in str(error)
    assert "OrderCreated" in str(error)
    assert error.exit_code == ExitStatus.VERIFICATION


def test_event_type_not_found_error_is_a_key_error_with_a_readable_message() -> None:
    error = esctl.EventTypeNotFoundError("Nope", ["B", "A"])
    assert isinstance(error, KeyError)
    assert isinstance(error, esctl.UnknownEventTypeError)
    assert error.available_types == ["B", "A"]
    assert str(error) == "no event class is registered as 'Nope' (registered: A, B)"
    assert error.exit_code == ExitStatus.NOT_FOUND


def test_duplicate_event_type_error_is_a_value_error() -> None:
    error = esctl.DuplicateEventTypeError("X", int, str)
    assert isinstance(error, ValueError)
    assert isinstance(error, esctl.EventRegistrationError)
    assert (error.event_type, error.existing_class, error.new_class) == ("X", int, str)
    assert "builtins.int" in str(error)
    assert "builtins.str" in str(error)
    assert error.exit_code == ExitStatus.USAGE


def test_tenant_context_not_set_error_is_a_value_error() -> None:
    error = esctl.TenantContextNotSetError()
    assert isinstance(error, ValueError)
    assert str(error) == "Tenant context not set"
    assert error.exit_code == ExitStatus.USAGE


def test_tenant_mismatch_error_in_both_forms() -> None:
    acme, globex, event_id = uuid4(), uuid4(), uuid4()
    error = esctl.TenantMismatchError(acme, globex, [event_id])
    assert (error.expected, error.actual, error.event_ids) == (acme, globex, [event_id])
    assert isinstance(error, PermissionError)
    assert str(error) == f"tenant mismatch: expected tenant {acme}, got {globex} (1 event(s), first {event_id})"
    assert esctl.TenantMismatchError(acme, None).event_ids == []
    plain = esctl.TenantMismatchError("stream X belongs to tenant A", field="tenant_id")
    assert str(plain) == "field 'tenant_id': stream X belongs to tenant A"
    assert plain.at_line(4).line == 4
    assert error.exit_code == ExitStatus.INVALID_INPUT


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (esctl.OptimisticLockError(uuid4(), 1, 2), 4),
        (esctl.AggregateNotFoundError(uuid4(), "Order"), 5),
        (esctl.EventTypeNotFoundError("X"), 5),
        (esctl.DuplicateEventTypeError("X", int, str), 2),
        (esctl.TenantContextNotSetError(), 2),
        (esctl.TenantMismatchError(uuid4(), uuid4()), 3),
        (esctl.EventVersionError(1, 2, uuid4(), uuid4()), 4),
        (esctl.UnhandledEventError("X", uuid4(), "Order"), 8),
    ],
)
def test_the_command_line_reports_each_on_one_line_with_its_code(
    error: esctl.EsctlError, status: int, capsys: pytest.CaptureFixture[str]
) -> None:
    assert exit_status(error) == status
    err = capsys.readouterr().err
    assert err.startswith("Error: ")
    assert err.count("\n") == 1
