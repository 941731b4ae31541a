"""Tenancy: the current tenant as a context variable (``TenantAwareRepository`` enforces it)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from uuid import UUID

_current_tenant: ContextVar[UUID | None] = ContextVar("esctl_current_tenant", default=None)


def get_current_tenant() -> UUID | None:
    """Return the tenant of the current context, or ``None``."""
    return _current_tenant.get()


def set_current_tenant(tenant_id: UUID | None) -> None:
    """Set the tenant of the current context (``None`` clears it)."""
    _current_tenant.set(tenant_id)


def require_tenant() -> UUID:
    """Return the current tenant.

    Raises:
        ValueError: No tenant is set.
    """
    tenant_id = _current_tenant.get()
    if not tenant_id:
        raise ValueError("Tenant context not set")
    return tenant_id


@contextmanager
def tenant_scope(tenant_id: UUID | None) -> Iterator[UUID | None]:
    """Set the current tenant for a ``with`` block and restore the previous one after.

    Example:
        >>> from uuid import uuid4
        >>> acme = uuid4()
        >>> with tenant_scope(acme):
        ...     assert get_current_tenant() == acme
        >>> get_current_tenant() is None
        True
    """
    token = _current_tenant.set(tenant_id)
    try:
        yield tenant_id
    finally:
        _current_tenant.reset(token)
