"""Projections and the machinery that keeps them up to date.

- ``Projection``, ``DeclarativeProjection``, ``handles``: read models folded from events in
  memory (the tutorial's style).
- ``register_projection``: persist one in the store, beside the events, with a checkpoint.
- ``SQLProjection`` and ``ReadModel``: a persisted projection whose handlers write SQL tables.
- ``ProjectionRunner``: catch-up, rebuild (swapped in atomically), status; ``replay`` runs
  events through a fresh copy in memory.
"""

from esctl.projections.base import DeclarativeProjection, Projection, handles
from esctl.projections.persisted import PersistedProjection, ReadModel, SQLProjection, StateProjection
from esctl.projections.registry import ProjectionRegistry, default_projections, register_projection
from esctl.projections.runner import CatchUpResult, ProjectionRunner, ProjectionStatus, RebuildResult, replay

__all__ = [
    "CatchUpResult",
    "DeclarativeProjection",
    "PersistedProjection",
    "Projection",
    "ProjectionRegistry",
    "ProjectionRunner",
    "ProjectionStatus",
    "ReadModel",
    "RebuildResult",
    "SQLProjection",
    "StateProjection",
    "default_projections",
    "handles",
    "register_projection",
    "replay",
]
