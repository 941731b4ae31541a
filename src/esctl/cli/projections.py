"""Projection commands: ``projections``, ``catch-up``, ``rebuild-projection``, ``replay``, ``projection show``.

Each parses its options, makes one library call (``esctl.projections``) and prints the result:
data on stdout in the shared ``--format``, progress and summaries on stderr.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from esctl.cli.app import app
from esctl.cli.confirm import confirm
from esctl.cli.filters import (
    EventTypeOption,
    FromPositionOption,
    SinceOption,
    TenantOption,
    ToPositionOption,
    UntilOption,
)
from esctl.cli.output import FormatOption, OutputFormat, RowWriter, resolve_format, screenful
from esctl.cli.runtime import load_app, load_projections, note, open_store, plural, run, settings
from esctl.cli.selection import EventFilter, parse_uuid

if TYPE_CHECKING:
    from uuid import UUID

    from rich.progress import Progress, Task
    from rich.text import Text

    from esctl.projections.persisted import PersistedProjection
    from esctl.projections.registry import ProjectionRegistry
    from esctl.projections.runner import CatchUpResult, ProjectionRunner, ProjectionStatus
    from esctl.store.interface import EventStore
    from esctl.store.types import ReadOptions

T = TypeVar("T")
PANEL = "Projections"

projection_app = typer.Typer(
    name="projection",
    help="Look at one persisted projection.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(projection_app, rich_help_panel=PANEL)

STATUS_COLUMNS = (
    "name",
    "kind",
    "position",
    "head",
    "lag",
    "status",
    "dead_letters",
    "updated_at",
    "generation",
    "error",
    "description",
)
STATUS_TABLE = ("name", "kind", "position", "head", "lag", "status", "last_error")
REPLAY_TABLE = ("count", "position", "occurred_at", "tenant_id", "event_type", "stream", "version")

BatchSizeOption = Annotated[
    int | None,
    typer.Option("--batch-size", min=1, metavar="N", help="Events per transaction (default: per projection)."),
]
ProjectionTenantOption = Annotated[
    str | None, typer.Option("--tenant", "-t", metavar="UUID", help="Only this tenant's part of the read model.")
]


@app.command("projections", rich_help_panel=PANEL)
def list_projections(fmt: FormatOption = None) -> None:
    """List projections: checkpoint, head position, lag, status and last error.

    Built-ins (`tenant-stats`, `stream-index`) are always there; yours come from `--app`.
    A projection whose handler failed shows `failed` with the position, event id and message
    it stopped at, and the command then exits 8 (after the listing). Projections stored in the
    database but not loaded show `not loaded`.

    **Examples**

        esctl projections
        esctl --app myapp.projections projections --format json
    """
    registry = load_projections()
    statuses = run(_statuses(registry))
    writer = RowWriter(resolve_format(fmt), STATUS_COLUMNS, table_columns=STATUS_TABLE)
    writer.write(_status_row(status) for status in statuses)
    writer.close()
    _fail_if_failed(statuses)


def _fail_if_failed(statuses: list[ProjectionStatus]) -> None:
    from esctl.errors import ProjectionError

    failed = [status.name for status in statuses if status.status == "failed"]
    if failed:
        raise ProjectionError(
            f"{plural(len(failed), 'projection')} stopped by a failing handler ({', '.join(failed)}); "
            "the listing shows where and why",
            hint=_skip_hint(failed),
        )


async def _statuses(registry: ProjectionRegistry) -> list[ProjectionStatus]:
    from esctl.projections.runner import ProjectionRunner

    async with open_store(readonly=True) as store:
        return await ProjectionRunner(store, registry).statuses()


def _status_row(status: ProjectionStatus) -> dict[str, Any]:
    from esctl.timeutil import format_micros

    checkpoint = status.checkpoint
    error = None if checkpoint is None else checkpoint.error
    return {
        "name": status.name,
        "kind": status.kind or None,
        "position": status.position,
        "head": status.head,
        "lag": status.lag,
        "status": status.status,
        "dead_letters": status.dead_letters,
        "updated_at": None if checkpoint is None or not checkpoint.updated_at else format_micros(checkpoint.updated_at),
        "generation": 0 if checkpoint is None else checkpoint.generation,
        "error": None
        if error is None
        else {"position": error.position, "event_id": error.event_id, "message": error.message},
        "last_error": None
        if error is None
        else f"at position {error.position} (event {error.event_id}): {error.message}",
        "description": status.description,
    }


@app.command("catch-up", rich_help_panel=PANEL)
def catch_up(
    names: Annotated[
        list[str] | None, typer.Argument(metavar="NAME", help="Projections to advance (default: all).")
    ] = None,
    follow: Annotated[
        bool,
        typer.Option(
            "--follow",
            help="Keep applying new events until interrupted (Ctrl-C exits 130): woken by each append on "
            "PostgreSQL, else every --interval.",
        ),
    ] = False,
    interval: Annotated[
        float,
        typer.Option(
            "--interval",
            min=0.05,
            metavar="SECONDS",
            help="With --follow: seconds between polls (on PostgreSQL, the fallback to the wake-up).",
        ),
    ] = 1.0,
    skip: Annotated[
        bool,
        typer.Option(
            "--skip",
            help="First skip the event each failed projection stopped at (recorded as a dead letter).",
        ),
    ] = False,
    batch_size: BatchSizeOption = None,
) -> None:
    """Advance projections from their checkpoints to the head.

    Each batch of events and the checkpoint commit in one transaction, so an interrupted
    catch-up loses nothing and applies nothing twice. A projection whose handler raises stops
    just before that event (see `esctl projections`) while the others go on; the command then
    exits 8. Run it again after fixing the handler, or pass `--skip` to move past the event.

    **Examples**

        esctl catch-up
        esctl --app myapp.projections catch-up order-totals --follow
        esctl --app myapp.projections catch-up order-totals --skip
    """
    registry = load_projections()
    for name in names or ():
        registry.get(name)
    if follow:
        _run_interruptible(_follow(registry, names or None, interval, skip, batch_size), _CHECKPOINTS_SAFE)
        return
    results = _run_interruptible(_catch_up(registry, names or None, skip, batch_size), _CHECKPOINTS_SAFE)
    for result in results:
        _report_catch_up(result, failure=False)  # failures: once, in the error below
    _fail_if_stopped(results)


async def _catch_up(
    registry: ProjectionRegistry, names: Sequence[str] | None, skip: bool, batch_size: int | None
) -> list[CatchUpResult]:
    async with open_store(readonly=False, create=False) as store:
        runner = _runner(store, registry, batch_size)
        with _ProgressBar(settings.show_progress, "Catching up") as bar:
            return await runner.catch_up(names, skip=skip, progress=bar.update)


async def _follow(
    registry: ProjectionRegistry, names: Sequence[str] | None, interval: float, skip: bool, batch_size: int | None
) -> None:
    reported: dict[str, object] = {}

    def on_results(results: list[CatchUpResult]) -> None:
        for result in results:
            # Say what changed: events applied, or a failure not reported yet.
            if (
                result.events
                or result.skipped
                or (result.failure is not None and reported.get(result.name) != result.failure)
            ):
                _report_catch_up(result, failure=True)
            reported[result.name] = result.failure

    async with open_store(readonly=False, create=False) as store:
        runner = _runner(store, registry, batch_size)
        if skip:
            on_results(await runner.catch_up(names, skip=True))
        note(f"Following {', '.join(names or runner.names)}; Ctrl-C to stop.")
        await runner.follow(names, interval=interval, on_results=on_results)


def _report_catch_up(result: CatchUpResult, *, failure: bool) -> None:
    """Say what catching ``result.name`` up did; a failure only when ``failure`` (``--follow``)."""
    if result.skipped is not None:
        note(
            f"{result.name}: skipped the event at position {result.skipped.position} "
            f"(event {result.skipped.event_id}), recorded as a dead letter."
        )
    if result.failure is not None:
        if failure:
            note(f"{result.name}: FAILED {_failure_detail(result)}.")
        return
    note(
        f"{result.name}: applied {plural(result.events, 'event')}; at position {result.position:,} of {result.head:,}."
    )


def _fail_if_stopped(results: list[CatchUpResult]) -> None:
    from esctl.errors import ProjectionError

    failed = [r for r in results if r.failure is not None]
    if not failed:
        return
    names = [r.name for r in failed]
    details = "; ".join(f"{r.name} {_failure_detail(r)}" for r in failed)
    raise ProjectionError(
        f"{plural(len(failed), 'projection')} stopped by a failing handler ({', '.join(names)}): {details}",
        hint=_skip_hint(names),
    )


def _skip_hint(names: list[str]) -> str:
    return (
        "fix the handler and run `esctl catch-up` again, "
        f"or skip the event with `esctl catch-up {' '.join(names)} --skip`"
    )


def _failure_detail(result: CatchUpResult) -> str:
    """``at position P (event ID): MESSAGE; stopped at Q after N events`` for a failed result."""
    failure = result.failure
    assert failure is not None
    return (
        f"at position {failure.position} (event {failure.event_id}): {failure.message}; "
        f"stopped at {result.position:,} after {plural(result.events, 'event')}"
    )


@app.command("rebuild-projection", rich_help_panel=PANEL)
def rebuild_projection(
    name: Annotated[str | None, typer.Argument(metavar="NAME", help="The projection to rebuild.")] = None,
    tenant: ProjectionTenantOption = None,
    all_projections: Annotated[bool, typer.Option("--all", help="Rebuild every projection.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what would be rebuilt; change nothing.")] = False,
    batch_size: BatchSizeOption = None,
) -> None:
    """Rebuild a projection from position 0 into fresh storage, then swap it in atomically.

    Readers see the old read model until the swap and the new one after it, never half of one.
    Writers may keep appending: the rebuild catches up with them before the swap. With
    `--tenant`, only that tenant's part is rebuilt and every other tenant's rows stay exactly
    as they were. A progress bar (events/s, ETA) shows on a terminal, never with `-q`.

    **Examples**

        esctl rebuild-projection tenant-stats --yes
        esctl rebuild-projection tenant-stats --tenant 00000000-0000-4000-8000-00000000000a --dry-run
        esctl --app myapp.projections rebuild-projection --all --yes
    """
    if all_projections == (name is not None):
        raise typer.BadParameter("give a projection NAME, or --all (not both)", param_hint="NAME")
    tenant_id = None if tenant is None else parse_uuid(tenant, "--tenant")
    registry = load_projections()
    names = registry.names() if all_projections else [registry.get(name or "").name]
    if dry_run:
        for line in run(_plan(registry, names, tenant_id)):
            print(line, file=sys.stderr)
        return
    if not yes:
        _confirm_rebuild(names, tenant_id)
    progress = _RebuildProgress()
    _run_interruptible(
        _rebuild(registry, names, tenant_id, batch_size, progress), lambda: _interrupted_rebuild(progress)
    )


def _confirm_rebuild(names: list[str], tenant_id: UUID | None) -> None:
    what = names[0] if len(names) == 1 else f"{len(names)} projections ({', '.join(names)})"
    part = f" for tenant {tenant_id}" if tenant_id else ""
    confirm(f"rebuild of {what}{part}", f"Rebuild {what}{part} from the first event?")


@dataclass
class _RebuildProgress:
    """How far ``rebuild-projection`` got, so an interruption can say what state it left."""

    done: list[str] = field(default_factory=list)
    current: str | None = None
    generation: int = 0
    """The current projection's read-model generation before its rebuild (the swap raises it)."""


def _interrupted_rebuild(progress: _RebuildProgress) -> str:
    """Say which read model is in use after Ctrl-C: the old one, or the rebuilt one if the swap committed."""
    done = f"rebuilt and swapped in: {', '.join(progress.done)}; " if progress.done else ""
    name = progress.current
    if name is None:
        return f"{done}nothing else was changed"
    try:
        generation = run(_generation(name))
    except Exception:  # the interruption is what gets reported; this is a detail
        return f"{done}{name}: could not tell whether its rebuild was swapped in (see `esctl projections`)"
    if generation > progress.generation:
        # Its own swap, or that of another rebuild of it that ran meanwhile: the count cannot tell.
        return (
            f"{done}{name}: a rebuild of it was swapped in meanwhile (this one's or another's; see `esctl projections`)"
        )
    return f"{done}{name}: the read model in use is unchanged (its rebuild was not swapped in)"


async def _generation(name: str) -> int:
    from esctl.projections.runner import ProjectionRunner

    async with open_store(readonly=True) as store:
        checkpoint = await ProjectionRunner(store, ()).checkpoint(name)
    return 0 if checkpoint is None else checkpoint.generation


async def _plan(registry: ProjectionRegistry, names: list[str], tenant_id: UUID | None) -> list[str]:
    lines = []
    async with open_store(readonly=True) as store:
        runner = _runner(store, registry, None)
        for name in names:
            events, head = await runner.plan_rebuild(name, tenant_id=tenant_id)
            part = f" for tenant {tenant_id}" if tenant_id else ""
            lines.append(
                f"Would rebuild {name}{part} from {plural(events, 'event')} (head position {head:,}); nothing changed."
            )
    return lines


async def _rebuild(
    registry: ProjectionRegistry,
    names: list[str],
    tenant_id: UUID | None,
    batch_size: int | None,
    progress: _RebuildProgress,
) -> None:
    async with open_store(readonly=False, create=False) as store:
        runner = _runner(store, registry, batch_size)
        for name in names:
            checkpoint = await runner.checkpoint(name)
            progress.current, progress.generation = name, 0 if checkpoint is None else checkpoint.generation
            with _ProgressBar(settings.show_progress, "Rebuilding") as bar:
                result = await runner.rebuild(name, tenant_id=tenant_id, progress=bar.update)
            progress.done.append(name)
            progress.current = None
            rate = result.events / result.seconds if result.seconds > 0 else 0.0
            part = f" (tenant {tenant_id})" if tenant_id else ""
            note(
                f"Rebuilt {name}{part}: {plural(result.events, 'event')} in {result.seconds:.2f} s "
                f"({rate:,.0f} events/s); at position {result.position:,}."
            )


@app.command(rich_help_panel=PANEL)
def replay(
    projection: Annotated[
        str | None,
        typer.Option("--projection", "-p", metavar="NAME", help="Run the events through this projection."),
    ] = None,
    tenant: TenantOption = None,
    types: EventTypeOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    from_position: FromPositionOption = None,
    to_position: ToPositionOption = None,
    fmt: FormatOption = None,
) -> None:
    """Run selected events through a projection in memory and print the resulting read model.

    Nothing stored changes: not the read model, not the checkpoint. `--until` answers "what
    did this read model look like at that moment"; `--tenant` limits it to one tenant. Without
    `--projection`, the selected events are printed in order with a running count.

    **Examples**

        esctl replay --projection tenant-stats --tenant 00000000-0000-4000-8000-00000000000a
        esctl --app myapp.projections replay -p tenant-orders --until 2026-11-15T00:00:00Z --format json
        esctl replay --tenant 00000000-0000-4000-8000-00000000000a --type OrderPlaced --since 7d
    """
    options = EventFilter(
        tenants=tenant, types=types, since=since, until=until, from_position=from_position, to_position=to_position
    ).to_read_options()
    chosen = resolve_format(fmt)
    if projection is None:
        load_app()
        run(_replay_events(options, chosen))
        return
    spec = load_projections().get(projection)
    rows = run(_replay_projection(spec, options))
    _write_rows(rows, chosen, empty="The replayed read model is empty.")


async def _replay_projection(spec: PersistedProjection, options: ReadOptions) -> list[dict[str, Any]]:
    from esctl.projections.runner import replay as replay_events

    async with open_store(readonly=True) as store:
        return await replay_events(store, spec, options)


async def _replay_events(options: ReadOptions, fmt: OutputFormat) -> None:
    import dataclasses

    from esctl import codec

    table = fmt is OutputFormat.table
    # A table shows a screenful (like `dump`); the data formats stream every event.
    shown = screenful() if table and options.limit is None else options.limit
    count = 0
    writer = RowWriter(fmt, REPLAY_TABLE, table_columns=REPLAY_TABLE)
    async with open_store(readonly=True) as store:
        async for lines in store.read_json_lines(dataclasses.replace(options, limit=shown)):
            rows = []
            for line in lines:
                count += 1
                event = codec.loads(line)
                if table or fmt is OutputFormat.csv:
                    event["stream"] = f"{event['aggregate_type']}:{event['aggregate_id']}"
                    event["version"] = event["aggregate_version"]
                rows.append({"count": count, **event})
            writer.write(rows)
        total = await store.count_events(options) if table and shown is not None and count >= shown else count
    if not count:
        footer = "No events match."
    elif total > count:
        footer = f"{count:,} of {total:,} events shown; use --format ndjson for all of them."
    else:
        footer = f"{plural(count, 'event')} replayed."
    writer.close(footer=footer)


@projection_app.command("show")
def projection_show(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The projection.")],
    tenant: ProjectionTenantOption = None,
    fmt: FormatOption = None,
) -> None:
    """Print a persisted read model, as its checkpoint last left it.

    Nothing is applied first: run `esctl catch-up NAME` to bring it up to date. With
    `--tenant`, only that tenant's part of a projection kept per tenant is printed.

    **Examples**

        esctl projection show tenant-stats
        esctl projection show stream-index --tenant 00000000-0000-4000-8000-00000000000a --format json
    """
    tenant_id = None if tenant is None else parse_uuid(tenant, "--tenant")
    registry = load_projections()
    spec = registry.get(name)
    rows = run(_show(registry, spec.name, tenant_id))
    chosen = resolve_format(fmt)
    if chosen is OutputFormat.table and any(isinstance(v, dict | list) for row in rows for v in row.values()):
        # A state of dicts and lists is no table: one truncated cell per attribute told nothing.
        _print_indented_json(rows)  # as --format json has it, indented
        return
    _write_rows(rows, chosen, empty=f"{spec.name} is empty (run `esctl catch-up {spec.name}`).")


def _print_indented_json(value: Any) -> None:
    import json

    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()


async def _show(registry: ProjectionRegistry, name: str, tenant_id: UUID | None) -> list[dict[str, Any]]:
    from esctl.projections.runner import ProjectionRunner

    async with open_store(readonly=True) as store:
        return await ProjectionRunner(store, registry).view(name, tenant_id=tenant_id)


# -- helpers --------------------------------------------------------------------------------------


def _runner(store: EventStore, registry: ProjectionRegistry, batch_size: int | None) -> ProjectionRunner:
    from esctl.projections.runner import ProjectionRunner

    return ProjectionRunner(store, registry, batch_size=batch_size)


def _write_rows(rows: list[dict[str, Any]], fmt: OutputFormat, *, empty: str) -> None:
    columns = list(dict.fromkeys(key for row in rows for key in row))
    writer = RowWriter(fmt, columns)
    writer.write(rows)
    writer.close(footer=None if rows else empty)


_CHECKPOINTS_SAFE = "every checkpoint is at a committed batch"


def _run_interruptible(coroutine: Coroutine[Any, Any, T], state: str | Callable[[], str]) -> T:
    """Run a long command; Ctrl-C ends it with exit code 130 and says what state it left.

    ``state`` is the sentence to say, or a function that finds it out after the interruption.
    """
    try:
        return run(coroutine)
    except KeyboardInterrupt:
        note(f"Interrupted; {state if isinstance(state, str) else state()}.")
        raise typer.Exit(130) from None


class _ProgressBar:
    """A rich progress bar per projection on stderr (events/s, ETA); nothing when disabled."""

    def __init__(self, enabled: bool, verb: str) -> None:
        self._verb = verb
        self._progress: Progress | None = None
        self._tasks: dict[str, Any] = {}
        if enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                _RateColumn(),
                TimeRemainingColumn(),
                console=settings.console,
            )

    def __enter__(self) -> _ProgressBar:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def update(self, name: str, position: int, head: int) -> None:
        """Show ``position`` of ``head`` for projection ``name``."""
        if self._progress is None:
            return
        task = self._tasks.get(name)
        if task is None:
            task = self._tasks[name] = self._progress.add_task(f"{self._verb} {name}", total=head, completed=position)
        else:
            self._progress.update(task, total=head, completed=position)


def _rate_column_class() -> type:
    from rich.progress import ProgressColumn
    from rich.text import Text

    class RateColumn(ProgressColumn):
        """Events per second."""

        def render(self, task: Task) -> Text:
            speed = task.finished_speed or task.speed
            return Text("" if speed is None else f"{speed:,.0f} events/s", style="progress.data.speed")

    return RateColumn


def _RateColumn() -> Any:
    return _rate_column_class()()


__all__ = ["projection_app"]
