"""The pieces every projection transaction is made of: which events a projection reads, a page
of them, applying a range, and the read model's tables.

Catch-up (``catchup``), rebuild (``rebuild``) and replay (``replay``) are each a sequence of
transactions built from these; each function here runs inside one, on the store's thread.
"""

from __future__ import annotations

import dataclasses
import time
from uuid import UUID

from esctl.errors import UsageError
from esctl.projections.persisted import Applier, PersistedProjection, ReadModel, is_store_failure
from esctl.store.readmodel import ProjectionStorage, Row
from esctl.store.types import ReadOptions


def read_options(
    spec: PersistedProjection, tenant_id: UUID | None = None, *, base: ReadOptions | None = None
) -> ReadOptions | None:
    """Return the filters of the events ``spec`` reads (``None``: nothing can match)."""
    base = base or ReadOptions()
    tenants: tuple[UUID, ...] = base.tenants
    if tenant_id is not None:
        tenants = (tenant_id,) if not tenants or tenant_id in tenants else ()
        if not tenants:
            return None
    if spec.tenant_id is not None:
        if tenants and spec.tenant_id not in tenants:
            return None
        tenants = (spec.tenant_id,)
    types = base.event_types
    if spec.event_types is not None:
        types = tuple(sorted(spec.event_types if not types else spec.event_types.intersection(types)))
        if not types:
            return None
    return dataclasses.replace(base, tenant_id=None, tenant_ids=tenants, event_types=types, limit=None)


def live_model(storage: ProjectionStorage, spec: PersistedProjection) -> ReadModel:
    """The projection's live read model: its own namespace and declared table names."""
    return ReadModel(storage, spec.name, {table: table for table in spec.tables})


def _read(
    storage: ProjectionStorage,
    spec: PersistedProjection,
    after: int,
    upper: int,
    limit: int,
    options: ReadOptions | None,
    exclude_tenant: UUID | None = None,
) -> list[Row]:
    if options is None or after >= upper:
        return []
    return storage.read_rows(after, upper, limit, columns=spec.columns, options=options, exclude_tenant=exclude_tenant)


def next_page(
    storage: ProjectionStorage,
    spec: PersistedProjection,
    after: int,
    upper: int,
    limit: int,
    options: ReadOptions | None,
    exclude_tenant: UUID | None = None,
    dead: set[int] | None = None,
) -> tuple[list[Row], int]:
    """Read the next page of ``(after, upper]`` that ``spec`` reads, without its dead letters.

    Args:
        dead: The projection's dead-letter positions, when the caller has read them already.

    Returns:
        The rows to apply, and the position the page reaches (``upper`` when it is the last).
    """
    rows = _read(storage, spec, after, upper, limit, options, exclude_tenant)
    reached = rows[-1][0] if len(rows) >= limit else upper
    if rows:
        dead = dead_positions(storage, spec) if dead is None else dead
        if dead:
            rows = [row for row in rows if row[0] not in dead]
    return rows, reached


TRANSACTION_BUDGET = 0.075
"""Seconds of handler work one projection transaction may take (then it commits and lets writers
in): a transaction holds the store's write lock while its handlers run, and a page of 1,000
events at 5 ms each held it for five seconds, past every writer's busy timeout."""


def apply_for_a_while(
    applier: Applier, model: ReadModel, rows: list[Row], budget: float = TRANSACTION_BUDGET
) -> list[Row]:
    """Apply a prefix of ``rows``, stopping once ``budget`` seconds have gone; return that prefix.

    At least one row is applied (so every transaction makes progress). Rows go to the applier in
    slices sized from the time the slices before took: a handful first, then as many as the rest
    of the budget should hold. Fast projections so take all the rows in two calls; a projection
    whose handlers take milliseconds commits after about ``budget`` seconds of them.
    """
    started = time.monotonic()
    done = 0
    size = 4
    while done < len(rows):
        applier.apply(model, rows[done : done + size])
        done = min(done + size, len(rows))
        spent = time.monotonic() - started
        if spent >= budget:
            break
        per_row = spent / done
        size = max(1, int((budget - spent) / per_row) if per_row > 0 else len(rows))
    return rows[:done]


def dead_positions(storage: ProjectionStorage, spec: PersistedProjection) -> set[int]:
    return {letter.position for letter in storage.dead_letters(spec.name)}


def apply_range(
    storage: ProjectionStorage,
    spec: PersistedProjection,
    applier: Applier,
    model: ReadModel,
    after: int,
    upper: int,
    limit: int,
    options: ReadOptions | None,
    exclude_tenant: UUID | None = None,
) -> int:
    """Apply every event in ``(after, upper]`` that ``spec`` reads; return how many were applied.

    Dead letters are skipped and not counted, as in a catch-up batch.
    """
    count = 0
    dead = dead_positions(storage, spec) if after < upper else set()  # once: one transaction
    while after < upper:
        rows, after = next_page(storage, spec, after, upper, limit, options, exclude_tenant, dead)
        count += len(rows)
        applier.apply(model, rows)
    return count


def create_tables(model: ReadModel, spec: PersistedProjection) -> None:
    """Create the projection's declared tables (under ``model``'s names) that do not exist yet."""
    for table, statements in spec.tables.items():
        if model.storage.table_columns(model.table(table)):
            continue
        for statement in statements:
            try:
                model.execute(statement)
            except Exception as error:
                if is_store_failure(error):
                    raise
                raise UsageError(
                    f"projection {spec.name}: creating table {table} failed: {error}", hint="check its DDL"
                ) from None
