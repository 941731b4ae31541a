"""Which persisted projections exist: the built-ins, and the ones the user's modules register.

A module loaded with ``esctl --app`` registers its projections in either of two ways::

    from esctl.projections import register_projection

    register_projection(TenantOrderProjection, name="tenant-orders", per_tenant=True)

or, for projections that need no options, a module-level list::

    projections = [OrderTotals(), TenantOrderProjection]
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any, TypeVar, overload
from uuid import UUID

from esctl.errors import ProjectionNotFoundError, UsageError
from esctl.projections.base import Projection
from esctl.projections.builtin import BUILTIN_PROJECTIONS
from esctl.projections.persisted import PersistedProjection, SQLProjection, SQLTableProjection, StateProjection

P = TypeVar("P")


class ProjectionRegistry:
    """Persisted projections by name, the built-ins included.

    Args:
        builtins: Register ``tenant-stats`` and ``stream-index`` (default: yes).

    Example:
        >>> registry = ProjectionRegistry()
        >>> registry.names()
        ['stream-index', 'tenant-stats']
    """

    def __init__(self, *, builtins: bool = True) -> None:
        self._projections: dict[str, PersistedProjection] = {}
        self._sources: dict[str, str] = {}
        if builtins:
            for cls in BUILTIN_PROJECTIONS:
                self.add(cls())

    def add(self, projection: PersistedProjection, *, source: str | None = None) -> PersistedProjection:
        """Register a ready-made ``PersistedProjection``.

        Args:
            projection: The projection.
            source: What it was made from (a class path): registering the same source under the
                same name again, as when a module is imported twice, replaces it.

        Returns:
            The projection.

        Raises:
            UsageError: Another projection already has that name (exit code 2).
        """
        name = projection.name
        origin = source or _identity(type(projection))
        if name in self._projections and self._sources[name] != origin:
            raise UsageError(
                f"a projection named {name!r} is already registered ({self._sources[name]})",
                hint="give one of them another name",
            )
        self._projections[name] = projection
        self._sources[name] = origin
        return projection

    def register(
        self,
        projection: Any,
        *,
        name: str | None = None,
        tenant_id: UUID | None = None,
        per_tenant: bool = False,
    ) -> PersistedProjection:
        """Register a projection of any supported kind; see ``register_projection``.

        Raises:
            UsageError: ``projection`` is not something that can be persisted.
            UsageError: The name is taken.
        """
        if isinstance(projection, PersistedProjection):
            if name is not None or tenant_id is not None or per_tenant:
                raise UsageError(f"projection {projection.name} is ready-made: it takes no options")
            return self.add(projection)
        if isinstance(projection, type) and issubclass(projection, SQLProjection):
            projection = projection()
        if isinstance(projection, SQLProjection):
            if per_tenant and projection.tenant_column is None:
                raise UsageError(
                    f"SQL projection {projection.projection_name} needs a tenant_column to be kept per tenant"
                )
            spec: PersistedProjection = SQLTableProjection(projection, name=name, tenant_id=tenant_id)
            return self.add(spec, source=_identity(type(projection)))
        factory = _factory(projection)
        if factory is None:
            raise UsageError(
                f"cannot persist {projection!r}",
                hint="register a Projection (class, instance or factory), a SQLProjection, or a PersistedProjection",
            )
        spec = StateProjection(factory, name=name, tenant_id=tenant_id, per_tenant=per_tenant)
        source = projection if isinstance(projection, type) else type(projection)
        return self.add(spec, source=_identity(source))

    def register_module(self, module: ModuleType) -> list[PersistedProjection]:
        """Register each entry of the module's ``projections`` list, if it has one."""
        entries = getattr(module, "projections", None)
        if entries is None:
            return []
        if not isinstance(entries, list | tuple):
            raise UsageError(f"{module.__name__}.projections must be a list")
        return [self.register(entry) for entry in entries]

    def get(self, name: str) -> PersistedProjection:
        """Return the projection called ``name``.

        Raises:
            ProjectionNotFoundError: None is.
        """
        try:
            return self._projections[name]
        except KeyError:
            raise ProjectionNotFoundError(
                f"no projection named {name!r} (known: {', '.join(self.names()) or 'none'})",
                hint="load the module that registers it with --app",
            ) from None

    def names(self) -> list[str]:
        """Return the registered names, sorted."""
        return sorted(self._projections)

    def __iter__(self) -> Iterator[PersistedProjection]:
        return iter([self._projections[name] for name in self.names()])

    def __len__(self) -> int:
        return len(self._projections)

    def __contains__(self, name: object) -> bool:
        return name in self._projections


@overload
def register_projection(
    projection: P,
    /,
    *,
    name: str | None = None,
    tenant_id: UUID | None = None,
    per_tenant: bool = False,
    registry: ProjectionRegistry | None = None,
) -> P: ...


@overload
def register_projection(
    *,
    name: str | None = None,
    tenant_id: UUID | None = None,
    per_tenant: bool = False,
    registry: ProjectionRegistry | None = None,
) -> Callable[[P], P]: ...


def register_projection(
    projection: Any = None,
    /,
    *,
    name: str | None = None,
    tenant_id: UUID | None = None,
    per_tenant: bool = False,
    registry: ProjectionRegistry | None = None,
) -> Any:
    """Register a projection to be persisted in the store; bare, with arguments, or as a decorator.

    Accepted: a ``Projection`` class (called with no arguments for each fresh copy), a
    ``Projection`` instance (deep-copied while still empty, so register it before use), a
    function returning a new ``Projection``, a ``SQLProjection`` class or instance, or a
    ready-made ``PersistedProjection``.

    Args:
        projection: The projection (absent when used as ``@register_projection(...)``).
        name: Its name (default: its ``name`` attribute, else its class name).
        tenant_id: Read only this tenant's events (a tenant-scoped projection).
        per_tenant: Keep its state per tenant (one document each), so that
            ``esctl rebuild-projection NAME --tenant T`` can rebuild one tenant alone.
        registry: Where to register (default: ``default_projections``).

    Returns:
        What was given, unchanged (so it works as a decorator).

    Raises:
        UsageError: It is not something that can be persisted.
        UsageError: The name is taken by another projection.

    Example:
        >>> # register_projection(TenantOrderProjection, name="tenant-orders", per_tenant=True)
    """
    target = registry if registry is not None else default_projections

    def decorator(item: P) -> P:
        target.register(item, name=name, tenant_id=tenant_id, per_tenant=per_tenant)
        return item

    if projection is not None:
        return decorator(projection)
    return decorator


def _factory(projection: Any) -> Callable[[], Projection] | None:
    if isinstance(projection, type) and issubclass(projection, Projection):
        cls: type[Projection] = projection
        return cls
    if isinstance(projection, Projection):
        template = copy.deepcopy(projection)
        return lambda: copy.deepcopy(template)
    if callable(projection):
        function: Callable[[], Any] = projection

        def make() -> Projection:
            made = function()
            if not isinstance(made, Projection):
                raise UsageError(f"{function!r} returned {made!r}, not a Projection")
            return made

        return make
    return None


def _identity(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


default_projections = ProjectionRegistry()
"""The registry ``register_projection`` uses when none is given, and the one ``esctl`` reads."""
