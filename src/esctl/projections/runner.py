"""``ProjectionRunner``: checkpoints, catch-up, rebuild and status of persisted projections.

Every batch is one call to ``EventStore.run_projection_transaction``: inside one transaction the
runner reads the checkpoint, reads the next events after it (in position order), applies them to
the read model and moves the checkpoint. A crash anywhere loses the whole batch or none of it, so
each event is applied exactly once.

A handler that raises stops only its projection: the batch is rolled back, the events before the
failing one are applied again, and the checkpoint stops just before it with the failure recorded
(position, event id, message). ``catch_up(skip=True)`` turns the recorded event into a dead letter
that the projection skips from then on.

A rebuild fills fresh storage from position 0 in batches (writers keep appending), then in one
last transaction — holding the write lock — applies what was appended meanwhile and swaps the
fresh storage in, so readers see the old read model or the new one, never half of one.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid4

from esctl.errors import ProjectionError, ProjectionNotFoundError, UsageError
from esctl.projections.persisted import Applier, HandlerFailure, PersistedProjection, ReadModel, is_store_failure
from esctl.store.interface import EventStore
from esctl.store.readmodel import NO_TENANT, Checkpoint, DeadLetter, Document, ProjectionFailure, ProjectionStorage, Row
from esctl.store.types import ReadOptions
from esctl.timeutil import now_micros

Progress = Callable[[str, int, int], None]
"""Called after each batch with the projection's name, the position reached, and the head."""

REBUILD_SUFFIX = "@rebuild"
"""Appended to a projection's name to name the documents of its rebuilds: the claim of the one
under way (``_claims``), and, with the claim appended, the fresh documents it fills."""


@dataclass(frozen=True, slots=True)
class CatchUpResult:
    """What catching one projection up did.

    Attributes:
        name: The projection.
        events: Events read and applied (dead letters and other projections' types excluded).
        position: Its checkpoint afterwards.
        head: The store's head position when it last looked.
        failure: The handler failure that stopped it, if one did.
        skipped: The dead letter recorded by ``skip=True``, if any.
    """

    name: str
    events: int
    position: int
    head: int
    failure: ProjectionFailure | None = None
    skipped: DeadLetter | None = None

    @property
    def ok(self) -> bool:
        """True when no handler failed."""
        return self.failure is None


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
class ProjectionStatus:
    """One projection's state, for ``esctl projections``.

    Attributes:
        name: The projection.
        kind: ``builtin``, ``sql``, ``state``, or ``""`` when it is stored but not registered
            in this process (its ``--app`` module was not loaded).
        description: One line about it.
        checkpoint: Its stored checkpoint, or ``None`` if it never ran.
        head: The store's head position.
        dead_letters: How many events it skips on purpose.
    """

    name: str
    kind: str
    description: str
    checkpoint: Checkpoint | None
    head: int
    dead_letters: int

    @property
    def position(self) -> int:
        """The checkpoint position (0 if it never ran)."""
        return 0 if self.checkpoint is None else self.checkpoint.position

    @property
    def lag(self) -> int:
        """Positions between the checkpoint and the head."""
        return max(self.head - self.position, 0)

    @property
    def status(self) -> str:
        """``new``, ``ok``, ``failed``, or ``not loaded`` (stored, but not registered here)."""
        if not self.kind:
            return "not loaded"
        return "new" if self.checkpoint is None else self.checkpoint.status


@dataclass(slots=True)
class _Live:
    """The runner's applier for a projection's live read model, and what its cache matches."""

    applier: Applier
    synced: tuple[int, int] | None = None

    def forget(self) -> None:
        self.applier.reset()
        self.synced = None

    def check(self, checkpoint: Checkpoint) -> None:
        """Drop the applier's cached state unless it matches ``checkpoint`` (a rebuild may have
        swapped in another read model since)."""
        if self.synced != (checkpoint.position, checkpoint.generation):
            self.applier.reset()


@dataclass(frozen=True, slots=True)
class _Step:
    checkpoint: Checkpoint
    head: int
    events: int
    done: bool


@dataclass(frozen=True, slots=True)
class _Fresh:
    """Where a rebuild writes: the fresh documents' namespace and tables' names, by its claim."""

    claim: str
    namespace: str
    tables: dict[str, str]
    applier: Applier

    def model(self, storage: ProjectionStorage) -> ReadModel:
        return ReadModel(storage, self.namespace, self.tables)


class ProjectionRunner:
    """Keeps persisted projections up to date in a store.

    Args:
        store: The event store; its read models and checkpoints live in it too.
        projections: The projections this runner knows (a ``ProjectionRegistry`` works).
        batch_size: Events per transaction (default: each projection's own).

    Example:
        >>> # runner = ProjectionRunner(store, default_projections)
        >>> # results = await runner.catch_up()
        >>> # await runner.rebuild("tenant-stats")
    """

    def __init__(
        self,
        store: EventStore,
        projections: Iterable[PersistedProjection],
        *,
        batch_size: int | None = None,
    ) -> None:
        if batch_size is not None and batch_size < 1:
            raise UsageError("batch size must be at least 1")
        self.store = store
        self._projections = {p.name: p for p in projections}
        self._batch_size = batch_size
        self._live: dict[str, _Live] = {}

    @property
    def names(self) -> list[str]:
        """The names of the projections this runner knows."""
        return list(self._projections)

    def projection(self, name: str) -> PersistedProjection:
        """Return the projection called ``name``.

        Raises:
            ProjectionNotFoundError: No such projection.
        """
        try:
            return self._projections[name]
        except KeyError:
            known = ", ".join(sorted(self._projections)) or "none"
            raise ProjectionNotFoundError(
                f"no projection named {name!r} (known: {known})",
                hint="load the module that registers it with --app",
            ) from None

    # -- catching up --------------------------------------------------------------------------

    async def catch_up(
        self,
        names: Sequence[str] | None = None,
        *,
        skip: bool = False,
        max_batches: int | None = None,
        progress: Progress | None = None,
    ) -> list[CatchUpResult]:
        """Advance projections from their checkpoints to the head, each on its own.

        A projection whose handler fails stops at that event (recorded, see ``statuses``); the
        others go on. A failed projection is tried again from its checkpoint on every call.

        Args:
            names: The projections (default: all).
            skip: For each failed projection, skip the event it failed on (a dead letter) first.
            max_batches: Stop each projection after this many batches (default: at the head).
            progress: Called after each batch.

        Returns:
            One result per projection, in order.
        """
        chosen = [self.projection(n) for n in names] if names else list(self._projections.values())
        results = []
        for spec in chosen:
            results.append(await self._catch_up_one(spec, skip=skip, max_batches=max_batches, progress=progress))
        return results

    async def follow(
        self,
        names: Sequence[str] | None = None,
        *,
        interval: float = 1.0,
        on_results: Callable[[list[CatchUpResult]], None] | None = None,
        stop: asyncio.Event | None = None,
    ) -> None:
        """Catch up, then keep polling for new events every ``interval`` seconds until ``stop`` is set.

        Cancelling it (Ctrl-C) is safe at any moment: each batch commits whole or not at all.
        """
        stop = stop or asyncio.Event()
        seen = -1
        while not stop.is_set():
            # A cheap read first: no write transaction while nothing was appended.
            head = await self.store.get_global_position()
            if head != seen:
                results = await self.catch_up(names)
                if on_results is not None:
                    on_results(results)
                seen = head
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)

    async def _catch_up_one(
        self, spec: PersistedProjection, *, skip: bool, max_batches: int | None, progress: Progress | None
    ) -> CatchUpResult:
        live = self._live_for(spec)
        skipped = None
        if skip:
            skipped = await self.store.run_projection_transaction(lambda s: _skip_failed(s, spec.name))
        limit = self._batch_size or spec.batch_size
        events = batches = 0
        while True:
            try:
                step = await self.store.run_projection_transaction(lambda s: self._live_step(s, spec, live, limit))
            except HandlerFailure as failure:
                live.forget()
                checkpoint, head, applied = await self._record_failure(spec, live, failure, limit)
                # The failing batch was rolled back; the events before the failing one were
                # applied again by _record_failure, and they count.
                events += applied
                return CatchUpResult(spec.name, events, checkpoint.position, head, checkpoint.error, skipped)
            except BaseException:
                live.forget()
                raise
            live.synced = (step.checkpoint.position, step.checkpoint.generation)
            events += step.events
            batches += 1
            if progress is not None:
                progress(spec.name, step.checkpoint.position, step.head)
            if step.done or (max_batches is not None and batches >= max_batches):
                return CatchUpResult(spec.name, events, step.checkpoint.position, step.head, None, skipped)

    def _live_step(self, storage: ProjectionStorage, spec: PersistedProjection, live: _Live, limit: int) -> _Step:
        checkpoint = storage.get_checkpoint(spec.name) or Checkpoint(spec.name)
        model = _live_model(storage, spec)
        _create_tables(model, spec)
        head = storage.head()
        # Before anything else, even when there is nothing new: the caller marks the applier's
        # state as matching this checkpoint.
        live.check(checkpoint)
        if checkpoint.position >= head:
            return _Step(checkpoint, head, 0, True)
        rows, upper = _page(storage, spec, checkpoint.position, head, limit, _options(spec))
        live.applier.apply(model, rows)
        advanced = checkpoint.advanced(upper, now_micros())
        storage.put_checkpoint(advanced)
        return _Step(advanced, head, len(rows), upper >= head)

    async def _record_failure(
        self, spec: PersistedProjection, live: _Live, failure: HandlerFailure, limit: int
    ) -> tuple[Checkpoint, int, int]:
        """Apply the events before the failing one and stop the checkpoint just before it.

        Returns:
            The checkpoint afterwards, the head, and how many events were applied.
        """
        for _ in range(3):
            try:
                result = await self.store.run_projection_transaction(
                    functools.partial(self._fail_step, spec=spec, live=live, failure=failure, limit=limit)
                )
            except HandlerFailure as earlier:
                # Re-applying failed sooner than the first time (a handler that is not
                # deterministic): stop at that event instead.
                live.forget()
                failure = earlier
                continue
            except BaseException:
                live.forget()
                raise
            checkpoint = result[0]
            live.synced = (checkpoint.position, checkpoint.generation)
            return result
        raise ProjectionError(
            f"projection {spec.name}: handlers fail at different events on every try (last: {failure})",
            hint="make the projection's handlers deterministic",
        )

    def _fail_step(
        self, storage: ProjectionStorage, spec: PersistedProjection, live: _Live, failure: HandlerFailure, limit: int
    ) -> tuple[Checkpoint, int, int]:
        checkpoint = storage.get_checkpoint(spec.name) or Checkpoint(spec.name)
        head = storage.head()
        if checkpoint.position >= failure.position:
            return checkpoint, head, 0  # another runner got past it meanwhile
        live.applier.reset()
        model = _live_model(storage, spec)
        stop = failure.position - 1
        count = _apply_range(storage, spec, live.applier, model, checkpoint.position, stop, limit, _options(spec))
        error = ProjectionFailure(failure.position, failure.event_id, failure.message, now_micros())
        failed = checkpoint.failed(stop, error)
        storage.put_checkpoint(failed)
        return failed, head, count

    def _live_for(self, spec: PersistedProjection) -> _Live:
        live = self._live.get(spec.name)
        if live is None:
            live = self._live[spec.name] = _Live(spec.open())
        return live

    # -- rebuilding -----------------------------------------------------------------------------

    async def rebuild(
        self, name: str, *, tenant_id: UUID | None = None, progress: Progress | None = None
    ) -> RebuildResult:
        """Rebuild a projection from position 0 into fresh storage, then swap it in atomically.

        Writers may append meanwhile: the last transaction applies what they appended before
        the swap, so the checkpoint after the swap is the head at that moment.

        Args:
            name: The projection.
            tenant_id: Rebuild only this tenant's part (the projection must be kept per tenant);
                every other tenant's documents and rows are left exactly as they are.
            progress: Called after each batch with the position reached and the head.

        Returns:
            What was done.

        Raises:
            ProjectionNotFoundError: No such projection.
            UsageError: ``tenant_id`` for a projection not kept per tenant.
            ProjectionError: A handler failed, or another rebuild of the projection started
                meanwhile and took it over; the live read model is unchanged by this one.
        """
        started = asyncio.get_running_loop().time()
        spec = self.projection(name)
        tenant_id = _rebuild_tenant(spec, tenant_id)
        if tenant_id is not None:
            # The other tenants' part must be current and healthy: the swap moves the checkpoint.
            caught_up = await self._catch_up_one(spec, skip=False, max_batches=None, progress=None)
            if caught_up.failure is not None:
                raise ProjectionError(
                    f"projection {name} is stopped at position {caught_up.failure.position} "
                    f"({caught_up.failure.message}); one tenant cannot be rebuilt while it is",
                    hint=f"rebuild all of it, or skip the event with `esctl catch-up {name} --skip`",
                )
        claim = await self.store.run_projection_transaction(lambda s: _rebuild_begin(s, spec, tenant_id))
        fresh = _Fresh(claim, _fresh_namespace(spec, claim), _fresh_tables(spec, claim), spec.open())
        options = _options(spec, tenant_id)
        limit = self._batch_size or spec.batch_size
        live = self._live_for(spec)
        position = events = 0
        try:
            while True:
                position, head, count = await self.store.run_projection_transaction(
                    functools.partial(_fresh_step, spec=spec, fresh=fresh, after=position, limit=limit, options=options)
                )
                events += count
                if progress is not None:
                    progress(name, position, head)
                if position >= head:
                    break
            after = position
            checkpoint, count = await self.store.run_projection_transaction(
                lambda s: self._swap(s, spec, live, fresh, after, tenant_id, limit)
            )
            events += count
            if progress is not None:
                progress(name, checkpoint.position, checkpoint.position)
        except _Superseded:
            await self._drop_fresh(spec, fresh)
            raise ProjectionError(
                f"rebuilding {name} stopped: another rebuild of it (whole, or of one tenant) started "
                "meanwhile and took it over; the read model in use is unchanged by this one",
                hint=f"`esctl projections` shows {name}'s state; rebuild again once the other one has ended",
            ) from None
        except HandlerFailure as failure:
            await self._drop_fresh(spec, fresh)
            raise ProjectionError(
                f"rebuilding {name} failed at position {failure.position} (event {failure.event_id}): "
                f"{failure.message}; the read model in use is unchanged",
                hint="fix the handler and rebuild again",
            ) from None
        except BaseException:
            await asyncio.shield(self._drop_fresh(spec, fresh))
            raise
        finally:
            live.forget()
        seconds = asyncio.get_running_loop().time() - started
        return RebuildResult(name, tenant_id, events, checkpoint.position, checkpoint.generation, seconds)

    def _swap(
        self,
        storage: ProjectionStorage,
        spec: PersistedProjection,
        live: _Live,
        fresh: _Fresh,
        after: int,
        tenant_id: UUID | None,
        limit: int,
    ) -> tuple[Checkpoint, int]:
        _check_claim(storage, spec, fresh.claim)
        head = storage.head()
        count = _apply_range(
            storage, spec, fresh.applier, fresh.model(storage), after, head, limit, _options(spec, tenant_id)
        )
        checkpoint = storage.get_checkpoint(spec.name) or Checkpoint(spec.name)
        if tenant_id is None:
            for table, fresh_table in fresh.tables.items():
                storage.replace_table(fresh_table, table)
            storage.move_documents(fresh.namespace, spec.name)
        else:
            # Bring the other tenants' part to the same head, so one checkpoint covers both.
            live.check(checkpoint)
            model = _live_model(storage, spec)
            _apply_range(
                storage, spec, live.applier, model, checkpoint.position, head, limit, _options(spec), tenant_id
            )
            tenant = str(tenant_id)
            for table, fresh_table in fresh.tables.items():
                storage.replace_tenant_rows(fresh_table, table, column=spec.tenant_column or "", tenant=tenant)
            storage.move_documents(fresh.namespace, spec.name, tenant=tenant)
        generation = checkpoint.generation + 1
        swapped = Checkpoint(spec.name, position=head, updated_at=now_micros(), status="ok", generation=generation)
        storage.put_checkpoint(swapped)
        storage.delete_documents(_claims(spec))
        return swapped, count

    async def _drop_fresh(self, spec: PersistedProjection, fresh: _Fresh) -> None:
        def drop(storage: ProjectionStorage) -> None:
            _drop_leftovers(storage, spec, fresh.claim)
            if _claim(storage, spec) == fresh.claim:  # not when a newer rebuild holds it
                storage.delete_documents(_claims(spec))

        # Best effort: the next rebuild drops leftovers first anyway.
        with contextlib.suppress(Exception):
            await self.store.run_projection_transaction(drop)

    async def plan_rebuild(self, name: str, *, tenant_id: UUID | None = None) -> tuple[int, int]:
        """Say what ``rebuild`` would do, changing nothing (``--dry-run``).

        Returns:
            The number of events it would read, and the current head position.

        Raises:
            ProjectionNotFoundError: No such projection.
            UsageError: ``tenant_id`` for a projection not kept per tenant.
        """
        spec = self.projection(name)
        options = _options(spec, _rebuild_tenant(spec, tenant_id))
        head = await self.store.get_global_position()
        if options is None:
            return 0, head
        return await self.store.count_events(dataclasses.replace(options, to_position=head)), head

    # -- status ---------------------------------------------------------------------------------

    async def statuses(self) -> list[ProjectionStatus]:
        """Return every known or stored projection's checkpoint, lag, status and last error."""

        def read(storage: ProjectionStorage) -> tuple[int, list[Checkpoint], dict[str, int]]:
            checkpoints = storage.checkpoints()
            names = set(self._projections) | {c.name for c in checkpoints}
            return storage.head(), checkpoints, {n: len(storage.dead_letters(n)) for n in names}

        head, checkpoints, dead = await self.store.run_projection_transaction(read, write=False)
        stored = {c.name: c for c in checkpoints}
        statuses = [
            ProjectionStatus(p.name, p.kind, p.description, stored.get(p.name), head, dead.get(p.name, 0))
            for p in self._projections.values()
        ]
        statuses.extend(
            ProjectionStatus(name, "", "", checkpoint, head, dead.get(name, 0))
            for name, checkpoint in stored.items()
            if name not in self._projections
        )
        return statuses

    async def checkpoint(self, name: str) -> Checkpoint | None:
        """Return the stored checkpoint of ``name`` (registered here or not), or ``None``."""
        return await self.store.run_projection_transaction(lambda s: s.get_checkpoint(name), write=False)

    async def view(self, name: str, *, tenant_id: UUID | None = None) -> list[dict[str, Any]]:
        """Return the persisted read model as rows (``esctl projection show``).

        Raises:
            ProjectionNotFoundError: No such projection.
            UsageError: ``tenant_id`` for a projection not kept per tenant.
        """
        spec = self.projection(name)
        if tenant_id is not None and not spec.per_tenant and spec.tenant_id != tenant_id:
            raise UsageError(f"projection {name} is not kept per tenant", hint="leave out --tenant")
        tenant = None if tenant_id is None or not spec.per_tenant else str(tenant_id)

        def read(storage: ProjectionStorage) -> list[dict[str, Any]]:
            model = _live_model(storage, spec)
            return spec.view(model, tenant=tenant)

        return await self.store.run_projection_transaction(read, write=False)


async def replay(
    store: EventStore,
    spec: PersistedProjection,
    options: ReadOptions | None = None,
    *,
    batch_size: int = 1000,
) -> list[dict[str, Any]]:
    """Run selected events through a fresh copy of a projection, in memory, and return its rows.

    Nothing stored changes: not the read model, not the checkpoint. With ``to_timestamp`` it
    answers what the read model looked like at that moment.

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
    selected = _options(spec, base=options)
    with store.scratch_projection_storage() as scratch:
        model = _live_model(scratch, spec)
        _create_tables(model, spec)
        applier = spec.open()
        if selected is not None:
            head = await store.get_global_position()
            after, upper = await store.run_projection_transaction(
                lambda s: s.event_range(
                    max((selected.from_position or 1) - 1, 0),
                    head if selected.to_position is None else min(head, selected.to_position),
                    selected,
                ),
                write=False,
            )

            def page(storage: ProjectionStorage, after: int) -> tuple[list[Row], int]:
                return _page(storage, spec, after, upper, batch_size, selected)

            while after < upper:
                rows, after = await store.run_projection_transaction(functools.partial(page, after=after), write=False)
                try:
                    applier.apply(model, rows)
                except HandlerFailure as failure:
                    raise ProjectionError(
                        f"replaying {spec.name} failed at position {failure.position} "
                        f"(event {failure.event_id}): {failure.message}"
                    ) from None
        return spec.view(model)


# -- the pieces each transaction is made of -------------------------------------------------------


def _options(
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


def _live_model(storage: ProjectionStorage, spec: PersistedProjection) -> ReadModel:
    """The projection's live read model: its own namespace and declared table names."""
    return ReadModel(storage, spec.name, {table: table for table in spec.tables})


def _fresh_namespace(spec: PersistedProjection, claim: str) -> str:
    """The documents' namespace of the rebuild holding ``claim``, until its swap."""
    return f"{spec.name}{REBUILD_SUFFIX}-{claim}"


def _fresh_tables(spec: PersistedProjection, claim: str) -> dict[str, str]:
    """The names the rebuild holding ``claim`` gives the projection's tables until its swap."""
    return {table: f"{table}__r{claim}" for table in spec.tables}


def _rebuild_tenant(spec: PersistedProjection, tenant_id: UUID | None) -> UUID | None:
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


def _page(
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
        dead = _dead_positions(storage, spec) if dead is None else dead
        if dead:
            rows = [row for row in rows if row[0] not in dead]
    return rows, reached


def _dead_positions(storage: ProjectionStorage, spec: PersistedProjection) -> set[int]:
    return {letter.position for letter in storage.dead_letters(spec.name)}


def _apply_range(
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
    dead = _dead_positions(storage, spec) if after < upper else set()  # once: one transaction
    while after < upper:
        rows, after = _page(storage, spec, after, upper, limit, options, exclude_tenant, dead)
        count += len(rows)
        applier.apply(model, rows)
    return count


def _create_tables(model: ReadModel, spec: PersistedProjection) -> None:
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


def _skip_failed(storage: ProjectionStorage, name: str) -> DeadLetter | None:
    checkpoint = storage.get_checkpoint(name)
    if checkpoint is None or checkpoint.status != "failed" or checkpoint.error is None:
        return None
    error = checkpoint.error
    letter = DeadLetter(error.position, error.event_id, error.message, now_micros())
    storage.add_dead_letter(name, letter)
    storage.put_checkpoint(checkpoint.advanced(checkpoint.position, letter.at))
    return letter


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
    _create_tables(ReadModel(storage, _fresh_namespace(spec, claim), _fresh_tables(spec, claim)), spec)
    if tenant_id is not None:
        _create_tables(_live_model(storage, spec), spec)
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
    rows, upper = _page(storage, spec, after, head, limit, options)  # dead letters: skipped, not counted
    fresh.applier.apply(fresh.model(storage), rows)
    return upper, head, len(rows)
