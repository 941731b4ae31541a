"""``ProjectionRunner``: checkpoints, catch-up, rebuild and status of persisted projections.

A thin facade over the runner's three jobs, each in a module of its own: catching up
(``catchup``: a batch per transaction, read model and checkpoint together, exactly once),
rebuilding (``rebuild``: fresh storage, then one swap) and replaying (``replay``: selected events
through a scratch copy, nothing stored changes). Every transaction is one call to
``EventStore.run_projection_transaction``, run on the store's own thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from esctl.errors import ProjectionNotFoundError, UsageError
from esctl.projections.catchup import CatchUpResult, Live, Progress, catch_up_one
from esctl.projections.pages import live_model, read_options
from esctl.projections.persisted import PersistedProjection
from esctl.projections.rebuild import RebuildResult, rebuild_projection, rebuild_tenant
from esctl.projections.replay import replay
from esctl.store.interface import EventStore
from esctl.store.readmodel import Checkpoint, ProjectionStorage

__all__ = ["CatchUpResult", "ProjectionRunner", "ProjectionStatus", "RebuildResult", "replay"]


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
        self._live: dict[str, Live] = {}

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
            live, limit = self._live_for(spec), self._limit(spec)
            results.append(
                await catch_up_one(self.store, spec, live, limit, skip=skip, max_batches=max_batches, progress=progress)
            )
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

        Between polls it also wakes when the store says events were appended
        (``EventStore.wait_for_appends``: PostgreSQL's ``LISTEN/NOTIFY``); the poll stays the
        fallback for a wake-up that never came. Cancelling it (Ctrl-C) is safe at any moment:
        each batch commits whole or not at all.
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
            stopped = asyncio.ensure_future(stop.wait())
            woken = asyncio.ensure_future(self.store.wait_for_appends(interval))
            try:
                await asyncio.wait({stopped, woken}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiting in (stopped, woken):
                    waiting.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await waiting

    def _limit(self, spec: PersistedProjection) -> int:
        return self._batch_size or spec.batch_size

    def _live_for(self, spec: PersistedProjection) -> Live:
        live = self._live.get(spec.name)
        if live is None:
            live = self._live[spec.name] = Live(spec.open())
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
        spec = self.projection(name)
        return await rebuild_projection(
            self.store, spec, self._live_for(spec), self._limit(spec), tenant_id=tenant_id, progress=progress
        )

    async def plan_rebuild(self, name: str, *, tenant_id: UUID | None = None) -> tuple[int, int]:
        """Say what ``rebuild`` would do, changing nothing (``--dry-run``).

        Returns:
            The number of events it would read, and the current head position.

        Raises:
            ProjectionNotFoundError: No such projection.
            UsageError: ``tenant_id`` for a projection not kept per tenant.
        """
        spec = self.projection(name)
        options = read_options(spec, rebuild_tenant(spec, tenant_id))
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
            model = live_model(storage, spec)
            return spec.view(model, tenant=tenant)

        return await self.store.run_projection_transaction(read, write=False)
