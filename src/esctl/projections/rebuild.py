"""Rebuilding a persisted projection: fresh storage filled from position 0, then swapped in.

A rebuild fills fresh storage from position 0 in batches (writers keep appending), then in one
last transaction — holding the write lock — applies what was appended meanwhile and swaps the
fresh storage in, so readers see the old read model or the new one, never half of one. A claim
stored as it begins keeps two rebuilds of one projection apart (``_rebuild_begin``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from dataclasses import dataclass
from uuid import UUID, uuid4

from esctl.errors import ProjectionError, UsageError
from esctl.projections.catchup import Live, Progress, catch_up_one
from esctl.projections.pages import (
    apply_for_a_while,
    apply_range,
    create_tables,
    live_model,
    next_page,
    read_options,
)
from esctl.projections.persisted import Applier, HandlerFailure, PersistedProjection, ReadModel
from esctl.store.interface import EventStore
from esctl.store.readmodel import NO_TENANT, Checkpoint, Document, ProjectionStorage
from esctl.store.types import ReadOptions
from esctl.timeutil import now_micros

REBUILD_SUFFIX = "@rebuild"
"""Appended to a projection's name to name the documents of its rebuilds: the claim of the one
under way (``_claims``), and, with the claim appended, the fresh documents it fills."""


@dataclass(frozen=True, slots=True)
class RebuildResult:
    """What a rebuild did.

    Attributes:
        name: The projection.
        tenant_id: The one tenant rebuilt, or ``None`` for all.
        events: Events applied to the fresh read model.
        position: The checkpoint after the swap (the head at that moment).
        generation: The read model's generation after the swap.
        seconds: Wall time.
    """

    name: str
    tenant_id: UUID | None
    events: int
    position: int
    generation: int
    seconds: float


@dataclass(frozen=True, slots=True)
class _Fresh:
    """Where a rebuild writes: the fresh documents' namespace and tables' names, by its claim."""

    claim: str
    namespace: str
    tables: dict[str, str]
    applier: Applier

    def model(self, storage: ProjectionStorage) -> ReadModel:
        return ReadModel(storage, self.namespace, self.tables)


async def rebuild_projection(
    store: EventStore,
    spec: PersistedProjection,
    live: Live,
    limit: int,
    *,
    tenant_id: UUID | None = None,
    progress: Progress | None = None,
) -> RebuildResult:
    """Do ``ProjectionRunner.rebuild`` (whose docstring says what a rebuild promises) for ``spec``.

    Args:
        store: The store holding the events, the read model and its checkpoint.
        spec: The projection.
        live: The runner's applier for the live read model (forgotten afterwards: the swap
            replaces what it had cached).
        limit: Events per transaction.
        tenant_id: Rebuild only this tenant's part.
        progress: Called after each batch with the position reached and the head.
    """
    started = asyncio.get_running_loop().time()
    name = spec.name
    tenant_id = rebuild_tenant(spec, tenant_id)
    if tenant_id is not None:
        # The other tenants' part must be current and healthy: the swap moves the checkpoint.
        caught_up = await catch_up_one(store, spec, live, limit)
        if caught_up.failure is not None:
            raise ProjectionError(
                f"projection {name} is stopped at position {caught_up.failure.position} "
                f"({caught_up.failure.message}); one tenant cannot be rebuilt while it is",
                hint=f"rebuild all of it, or skip the event with `esctl catch-up {name} --skip`",
            )
    claim = await store.run_projection_transaction(lambda s: _rebuild_begin(s, spec, tenant_id))
    fresh = _Fresh(claim, _fresh_namespace(spec, claim), _fresh_tables(spec, claim), spec.open())
    options = read_options(spec, tenant_id)
    position = events = 0
    try:
        while True:
            position, head, count = await store.run_projection_transaction(
                functools.partial(_fresh_step, spec=spec, fresh=fresh, after=position, limit=limit, options=options)
            )
            events += count
            if progress is not None:
                progress(name, position, head)
            if position >= head:
                break
        after = position
        checkpoint, count = await store.run_projection_transaction(
            lambda s: _swap(s, spec, live, fresh, after, tenant_id, limit)
        )
        events += count
        if progress is not None:
            progress(name, checkpoint.position, checkpoint.position)
    except _Superseded:
        await _drop_fresh(store, spec, fresh)
        raise ProjectionError(
            f"rebuilding {name} stopped: another rebuild of it (whole, or of one tenant) started "
            "meanwhile and took it over; the read model in use is unchanged by this one",
            hint=f"`esctl projections` shows {name}'s state; rebuild again once the other one has ended",
        ) from None
    except HandlerFailure as failure:
        await _drop_fresh(store, spec, fresh)
        raise ProjectionError(
            f"rebuilding {name} failed at position {failure.position} (event {failure.event_id}): "
            f"{failure.message}; the read model in use is unchanged",
            hint="fix the handler and rebuild again",
        ) from None
    except BaseException:
        await asyncio.shield(_drop_fresh(store, spec, fresh))
        raise
    finally:
        live.forget()
    seconds = asyncio.get_running_loop().time() - started
    return RebuildResult(name, tenant_id, events, checkpoint.position, checkpoint.generation, seconds)


def _swap(
    storage: ProjectionStorage,
    spec: PersistedProjection,
    live: Live,
    fresh: _Fresh,
    after: int,
    tenant_id: UUID | None,
    limit: int,
) -> tuple[Checkpoint, int]:
    _check_claim(storage, spec, fresh.claim)
    head = storage.head()
    count = apply_range(
        storage, spec, fresh.applier, fresh.model(storage), after, head, limit, read_options(spec, tenant_id)
    )
    checkpoint = storage.get_checkpoint(spec.name) or Checkpoint(spec.name)
    if tenant_id is None:
        for table, fresh_table in fresh.tables.items():
            storage.replace_table(fresh_table, table)
        storage.move_documents(fresh.namespace, spec.name)
    else:
        # Bring the other tenants' part to the same head, so one checkpoint covers both.
        live.check(checkpoint)
        model = live_model(storage, spec)
        apply_range(storage, spec, live.applier, model, checkpoint.position, head, limit, read_options(spec), tenant_id)
        tenant = str(tenant_id)
        for table, fresh_table in fresh.tables.items():
            storage.replace_tenant_rows(fresh_table, table, column=spec.tenant_column or "", tenant=tenant)
        storage.move_documents(fresh.namespace, spec.name, tenant=tenant)
    generation = checkpoint.generation + 1
    swapped = Checkpoint(spec.name, position=head, updated_at=now_micros(), status="ok", generation=generation)
    storage.put_checkpoint(swapped)
    storage.delete_documents(_claims(spec))
    return swapped, count


async def _drop_fresh(store: EventStore, spec: PersistedProjection, fresh: _Fresh) -> None:
    def drop(storage: ProjectionStorage) -> None:
        _drop_leftovers(storage, spec, fresh.claim)
        if _claim(storage, spec) == fresh.claim:  # not when a newer rebuild holds it
            storage.delete_documents(_claims(spec))

    # Best effort: the next rebuild drops leftovers first anyway.
    with contextlib.suppress(Exception):
        await store.run_projection_transaction(drop)


def _fresh_namespace(spec: PersistedProjection, claim: str) -> str:
    """The documents' namespace of the rebuild holding ``claim``, until its swap."""
    return f"{spec.name}{REBUILD_SUFFIX}-{claim}"


def _fresh_tables(spec: PersistedProjection, claim: str) -> dict[str, str]:
    """The names the rebuild holding ``claim`` gives the projection's tables until its swap."""
    return {table: f"{table}__r{claim}" for table in spec.tables}


def rebuild_tenant(spec: PersistedProjection, tenant_id: UUID | None) -> UUID | None:
    if tenant_id is None:
        return None
    if spec.tenant_id is not None:
        if tenant_id != spec.tenant_id:
            raise UsageError(f"projection {spec.name} only reads tenant {spec.tenant_id}")
        return None  # its only tenant: a full rebuild
    if not spec.per_tenant:
        raise UsageError(
            f"projection {spec.name} is not kept per tenant, so one tenant cannot be rebuilt alone",
            hint="rebuild all of it (leave out --tenant), or register it with per_tenant=True",
        )
    return tenant_id


def _rebuild_begin(storage: ProjectionStorage, spec: PersistedProjection, tenant_id: UUID | None) -> str:
    """Claim the projection for a new rebuild, create its fresh tables; return the claim.

    The claim (a random token) is stored at once, in the documents' namespace ``_claims``. A
    rebuild of the same projection still under way, in this process or another, finds at its
    next step that the claim is no longer its own and stops (``_check_claim``): two rebuilds
    never write into one fresh read model, and the newer one carries on. Its fresh tables and
    documents are named by the claim, so stopping one rebuild never touches another's. What a
    rebuild that held the claim before left behind (it crashed, or is about to stop) is dropped
    here; the swap, or a rebuild that ends without one, gives the claim up.
    """
    previous = _claim(storage, spec)
    if previous is not None:
        _drop_leftovers(storage, spec, previous)
    claim = uuid4().hex[:12]
    body = f'"{claim}"'.encode()  # a JSON string, as every document body is JSON
    storage.put_documents(_claims(spec), [Document(NO_TENANT, _CLAIM_KEY, body)])
    create_tables(ReadModel(storage, _fresh_namespace(spec, claim), _fresh_tables(spec, claim)), spec)
    if tenant_id is not None:
        create_tables(live_model(storage, spec), spec)
    return claim


_CLAIM_KEY = "claim"


def _claims(spec: PersistedProjection) -> str:
    """The documents' namespace holding the claim of the projection's rebuild under way, if any."""
    return spec.name + REBUILD_SUFFIX


def _claim(storage: ProjectionStorage, spec: PersistedProjection) -> str | None:
    """The claim of the projection's newest rebuild not yet ended, or ``None``."""
    for document in storage.get_documents(_claims(spec)):
        if document.key == _CLAIM_KEY:
            return document.body.decode().strip('"')
    return None


def _drop_leftovers(storage: ProjectionStorage, spec: PersistedProjection, claim: str) -> None:
    """Drop the fresh documents and tables of the rebuild that holds (or held) ``claim``."""
    storage.delete_documents(_fresh_namespace(spec, claim))
    for table in _fresh_tables(spec, claim).values():
        storage.drop_table(table)


def _check_claim(storage: ProjectionStorage, spec: PersistedProjection, claim: str) -> None:
    """Stop the rebuild holding ``claim`` when a newer rebuild of the same projection has started.

    Raises:
        _Superseded: The projection's claim is another rebuild's.
    """
    if _claim(storage, spec) != claim:
        raise _Superseded


class _Superseded(Exception):
    """A newer rebuild of the same projection started: this one must stop writing."""


def _fresh_step(
    storage: ProjectionStorage,
    spec: PersistedProjection,
    fresh: _Fresh,
    after: int,
    limit: int,
    options: ReadOptions | None,
) -> tuple[int, int, int]:
    """Apply the next batch to the fresh read model; return the position reached, head, events applied."""
    _check_claim(storage, spec, fresh.claim)
    head = storage.head()
    rows, upper = next_page(storage, spec, after, head, limit, options)  # dead letters: skipped, not counted
    applied = apply_for_a_while(fresh.applier, fresh.model(storage), rows)
    if len(applied) < len(rows):
        upper = applied[-1][0]  # the budget ran out: the next step starts after the last one applied
    return upper, head, len(applied)
