"""Catching a persisted projection up: a batch per transaction, read model and checkpoint together.

Inside one transaction: read the checkpoint, read the next events after it (in position order),
apply them to the read model, move the checkpoint. A crash anywhere loses the whole batch or none
of it, so each event is applied exactly once. A handler that raises stops only its projection:
the batch is rolled back, the events before the failing one are applied again, and the checkpoint
stops just before it with the failure recorded (position, event id, message). ``skip=True``
turns the recorded event into a dead letter that the projection skips from then on.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

from esctl.errors import ProjectionError
from esctl.projections.pages import (
    apply_for_a_while,
    apply_range,
    create_tables,
    live_model,
    next_page,
    read_options,
)
from esctl.projections.persisted import Applier, HandlerFailure, PersistedProjection
from esctl.store.interface import EventStore
from esctl.store.readmodel import Checkpoint, DeadLetter, ProjectionFailure, ProjectionStorage
from esctl.timeutil import now_micros

Progress = Callable[[str, int, int], None]
"""Called after each batch with the projection's name, the position reached, and the head."""


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


@dataclass(slots=True)
class Live:
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


async def catch_up_one(
    store: EventStore,
    spec: PersistedProjection,
    live: Live,
    limit: int,
    *,
    skip: bool = False,
    max_batches: int | None = None,
    progress: Progress | None = None,
) -> CatchUpResult:
    """Advance one projection from its checkpoint towards the head, a batch per transaction.

    A handler failure stops it at the failing event (recorded in its checkpoint).
    """
    skipped = None
    if skip:
        skipped = await store.run_projection_transaction(lambda s: skip_failed(s, spec.name))
    events = batches = 0
    while True:
        try:
            step = await store.run_projection_transaction(lambda s: _live_step(s, spec, live, limit))
        except HandlerFailure as failure:
            live.forget()
            checkpoint, head, applied = await _record_failure(store, spec, live, failure, limit)
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


def _live_step(storage: ProjectionStorage, spec: PersistedProjection, live: Live, limit: int) -> _Step:
    checkpoint = storage.get_checkpoint(spec.name) or Checkpoint(spec.name)
    model = live_model(storage, spec)
    create_tables(model, spec)
    head = storage.head()
    # Before anything else, even when there is nothing new: the caller marks the applier's
    # state as matching this checkpoint.
    live.check(checkpoint)
    if checkpoint.position >= head:
        return _Step(checkpoint, head, 0, True)
    rows, upper = next_page(storage, spec, checkpoint.position, head, limit, read_options(spec))
    applied = apply_for_a_while(live.applier, model, rows)
    if len(applied) < len(rows):
        upper = applied[-1][0]  # the budget ran out: the checkpoint stops after the last one applied
    advanced = checkpoint.advanced(upper, now_micros())
    storage.put_checkpoint(advanced)
    return _Step(advanced, head, len(applied), upper >= head)


async def _record_failure(
    store: EventStore, spec: PersistedProjection, live: Live, failure: HandlerFailure, limit: int
) -> tuple[Checkpoint, int, int]:
    """Apply the events before the failing one and stop the checkpoint just before it.

    Returns:
        The checkpoint afterwards, the head, and how many events were applied.
    """
    for _ in range(3):
        try:
            result = await store.run_projection_transaction(
                functools.partial(_fail_step, spec=spec, live=live, failure=failure, limit=limit)
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
    storage: ProjectionStorage, spec: PersistedProjection, live: Live, failure: HandlerFailure, limit: int
) -> tuple[Checkpoint, int, int]:
    checkpoint = storage.get_checkpoint(spec.name) or Checkpoint(spec.name)
    head = storage.head()
    if checkpoint.position >= failure.position:
        return checkpoint, head, 0  # another runner got past it meanwhile
    live.applier.reset()
    model = live_model(storage, spec)
    stop = failure.position - 1
    count = apply_range(storage, spec, live.applier, model, checkpoint.position, stop, limit, read_options(spec))
    error = ProjectionFailure(failure.position, failure.event_id, failure.message, now_micros())
    failed = checkpoint.failed(stop, error)
    storage.put_checkpoint(failed)
    return failed, head, count


def skip_failed(storage: ProjectionStorage, name: str) -> DeadLetter | None:
    checkpoint = storage.get_checkpoint(name)
    if checkpoint is None or checkpoint.status != "failed" or checkpoint.error is None:
        return None
    error = checkpoint.error
    letter = DeadLetter(error.position, error.event_id, error.message, now_micros())
    storage.add_dead_letter(name, letter)
    storage.put_checkpoint(checkpoint.advanced(checkpoint.position, letter.at))
    return letter
