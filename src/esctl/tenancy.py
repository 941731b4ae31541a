"""Tenancy: the current tenant as a context variable (``TenantAwareRepository`` enforces it).

Each asyncio task runs in a copy of the context it was created in, so a tenant set in one
request's task is never seen by another's.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from types import TracebackType
from uuid import UUID

from esctl.errors import TenantContextNotSetError

tenant_context: ContextVar[UUID | None] = ContextVar("esctl_current_tenant", default=None)
"""The context variable holding the current tenant (``None``: no tenant)."""


def get_current_tenant() -> UUID | None:
    """Return the tenant of the current context, or ``None``."""
    return tenant_context.get()


def set_current_tenant(tenant_id: UUID | None) -> Token[UUID | None]:
    """Set the tenant of the current context (``None`` clears it).

    Returns:
        A token: ``tenant_context.reset(token)`` restores the tenant that was set before.

    Example:
        >>> from uuid import uuid4
        >>> token = set_current_tenant(uuid4())
        >>> tenant_context.reset(token)
        >>> get_current_tenant() is None
        True
    """
    return tenant_context.set(tenant_id)


def clear_tenant_context() -> None:
    """Forget the current context's tenant."""
    tenant_context.set(None)


def get_required_tenant() -> UUID:
    """Return the current tenant.

    Raises:
        TenantContextNotSetError: No tenant is set (also a ``ValueError``).
    """
    tenant_id = tenant_context.get()
    if tenant_id is None:
        raise TenantContextNotSetError()
    return tenant_id


require_tenant = get_required_tenant
"""esctl's earlier name for ``get_required_tenant``."""


class tenant_scope:  # a function in the classic API; a class, so it serves `with` and `async with`
    """Set the current tenant for a block, and restore the previous one after.

    Works as ``with tenant_scope(t):`` and as ``async with tenant_scope(t):``; either way the
    tenant is set in the current context only (the running task's, under asyncio).

    Args:
        tenant_id: The tenant for the block (``None``: no tenant).

    Example:
        >>> from uuid import uuid4
        >>> acme = uuid4()
        >>> with tenant_scope(acme):
        ...     assert get_current_tenant() == acme
        >>> get_current_tenant() is None
        True
    """

    def __init__(self, tenant_id: UUID | None) -> None:
        self.tenant_id = tenant_id
        self._tokens: list[Token[UUID | None]] = []

    def __enter__(self) -> UUID | None:
        # A stack, so one scope object may be entered again inside itself.
        self._tokens.append(tenant_context.set(self.tenant_id))
        return self.tenant_id

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        tenant_context.reset(self._tokens.pop())

    async def __aenter__(self) -> UUID | None:
        return self.__enter__()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.__exit__(exc_type, exc, traceback)


@contextmanager
def tenant_scope_sync(tenant_id: UUID | None) -> Iterator[UUID | None]:
    """``tenant_scope`` for ``with`` only, as the classic API names it."""
    with tenant_scope(tenant_id) as tenant:
        yield tenant
