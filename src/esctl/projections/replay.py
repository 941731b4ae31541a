"""Replaying: selected events through a fresh copy of a projection, in scratch storage.

Nothing stored changes: not the read model, not the checkpoint. Every step — creating the
scratch tables, each page read and applied, reading the result — is one transaction function
handed to the store, so it runs where the store runs its work (the SQLite store: its own
thread), one hop per page, never on the caller's event loop.
"""

from __future__ import annotations

import functools
from typing import Any

from esctl.errors import ProjectionError
from esctl.projections.pages import create_tables, live_model, next_page, read_options
from esctl.projections.persisted import HandlerFailure, PersistedProjection
from esctl.store.interface import EventStore
from esctl.store.readmodel import ProjectionStorage
from esctl.store.types import ReadOptions


async def replay(
    store: EventStore,
    spec: PersistedProjection,
    options: ReadOptions | None = None,
    *,
    batch_size: int = 1000,
) -> list[dict[str, Any]]:
    """Run selected events through a fresh copy of a projection, in memory, and return its rows.

    With ``to_timestamp`` it answers what the read model looked like at that moment.

    Args:
        store: Where the events come from.
        spec: The projection.
        options: Which events (tenant, types, time window, positions); combined with what the
            projection itself reads.
        batch_size: Events read per round trip.

    Returns:
        The read model's rows, as ``esctl projection show`` prints them.

    Raises:
        ProjectionError: A handler failed.
    """
    selected = read_options(spec, base=options)
    applier = spec.open()
    async with store.scratch_projection_storage() as scratch:
        model = live_model(scratch, spec)

        def begin(storage: ProjectionStorage) -> tuple[int, int]:
            create_tables(model, spec)
            if selected is None:
                return 0, 0
            head = storage.head()
            upper = head if selected.to_position is None else min(head, selected.to_position)
            return storage.event_range(selected.from_position, upper, selected)

        def step(storage: ProjectionStorage, after: int, upper: int) -> int:
            rows, reached = next_page(storage, spec, after, upper, batch_size, selected)
            applier.apply(model, rows)
            return reached

        after, upper = await store.run_projection_transaction(begin, write=False)
        try:
            while after < upper:
                after = await store.run_projection_transaction(
                    functools.partial(step, after=after, upper=upper), write=False
                )
        except HandlerFailure as failure:
            raise ProjectionError(
                f"replaying {spec.name} failed at position {failure.position} "
                f"(event {failure.event_id}): {failure.message}"
            ) from None
        return await store.run_projection_transaction(lambda _: spec.view(model), write=False)
