"""``esctl purge`` (remove tenants, for offboarding), ``esctl purges`` (the records purges left),
``esctl redact`` (overwrite a person's personal fields) and ``esctl redactions`` (their records).

Every store call goes through the ``EventStore`` interface (``purge_tenant``, ``purges``) and the
projection runner; no SQL here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from esctl.cli.app import app
from esctl.cli.confirm import confirm
from esctl.cli.output import FormatOption, OutputFormat, RowWriter, resolve_format
from esctl.cli.runtime import load_projections, note, open_store, plural, run, settings
from esctl.cli.selection import parse_uuid

if TYPE_CHECKING:
    from uuid import UUID

    from esctl.projections.registry import ProjectionRegistry
    from esctl.store.erasure import PurgeResult, RedactResult

PANEL = "Erasure"
PURGE_COLUMNS = (
    "tenant_id",
    "events",
    "streams",
    "snapshots",
    "documents",
    "dead_letters",
    "first_position",
    "last_position",
)
RECORD_COLUMNS = ("purged_at", *PURGE_COLUMNS, "esctl_version")
REDACT_COLUMNS = ("selection", "events", "streams", "snapshots", "fields", "first_position", "last_position")
REDACTION_RECORD_COLUMNS = ("redacted_at", *REDACT_COLUMNS, "esctl_version")


@app.command(rich_help_panel=PANEL)
def purge(
    tenant: Annotated[
        list[str],
        typer.Option("--tenant", help="A tenant to remove (a UUID); repeat for several.", show_default=False),
    ],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would be removed, by count; change nothing.")
    ] = False,
    compact: Annotated[
        bool,
        typer.Option("--compact", help="Give the freed space back afterwards (SQLite VACUUM, PostgreSQL VACUUM FULL)."),
    ] = False,
    fmt: FormatOption = None,
) -> None:
    """Remove every event, snapshot and projection row of a tenant, for good, and record it.

    Each tenant goes in one transaction: its events, its snapshots, its part of every persisted
    projection, the dead letters of its events. A purge record (tenant, time, counts, first and
    last position, esctl version) stays in the store: `esctl purges` lists them, and `verify`
    takes the positions it removed as expected. Other tenants' events keep their ids,
    positions, times and bytes. On SQLite the deleted bytes are zeroed in the file and the WAL
    is emptied. Afterwards each persisted projection with a checkpoint is corrected: per-tenant
    read models lose the tenant's part, the others are rebuilt (load your projections with
    --app). What esctl cannot reach (backups, earlier dumps, a server's WAL archive) is in the
    README's erasure section.

    Prints one row per tenant with what was (or, with --dry-run, would be) removed.

    **Examples**

        esctl purge --tenant 00000000-0000-4000-8000-00000000000a --dry-run
        esctl purge --tenant 00000000-0000-4000-8000-00000000000a --yes
        esctl purge --tenant "$T1" --tenant "$T2" --yes --compact
    """
    tenants = list(dict.fromkeys(parse_uuid(text, "--tenant") for text in tenant))
    fmt = resolve_format(fmt)
    registry = load_projections()
    if dry_run:
        results, actions = run(_plan(tenants, registry))
        _write(fmt, results, actions)
        for result in results:
            note(f"Would purge {_counts(result)} of tenant {result.tenant_id} from {settings.shown_db}.")
        return
    if not yes:
        _confirm(tenants)
    results, actions = run(_purge(tenants, registry, compact=compact))
    _write(fmt, results, actions)
    for result in results:
        if result.events or result.snapshots or result.documents:
            note(f"Purged {_counts(result)} of tenant {result.tenant_id} from {settings.shown_db}.")
        else:
            note(f"Nothing stored for tenant {result.tenant_id}: nothing purged, no record written.")
        for text in result.notes:
            note(f"Note: {text}.")
    for name, action in actions.items():
        note(f"Projection {name}: {action}.")


@app.command(rich_help_panel=PANEL)
def purges(fmt: FormatOption = None) -> None:
    """List the purge records: which tenant, when, what was removed, by which esctl.

    **Examples**

        esctl purges
        esctl purges --format json
    """
    fmt = resolve_format(fmt)
    records = run(_records())
    writer = RowWriter(fmt, RECORD_COLUMNS)
    writer.write(_record_row(record) for record in records)
    writer.close(footer="No purges." if not records else None)


@app.command(rich_help_panel=PANEL)
def redact(
    aggregate_id: Annotated[
        str | None, typer.Option("--aggregate-id", help="Redact this aggregate's events (a UUID).", show_default=False)
    ] = None,
    tenant: Annotated[
        str | None,
        typer.Option("--tenant", help="With --actor-id: the tenant whose events to redact.", show_default=False),
    ] = None,
    actor_id: Annotated[
        str | None, typer.Option("--actor-id", help="With --tenant: redact this actor's events.", show_default=False)
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what would be overwritten; change nothing.")] = False,
    fmt: FormatOption = None,
) -> None:
    """Overwrite the personal fields of one aggregate's or one actor's events with '[redacted]'.

    Which fields are personal is declared on the event classes (`Annotated[str, Personal]`,
    listed by `esctl types`): load them with --app. Events of a type with no declaration are
    not judged: the command refuses, naming those types, and changes nothing. Each event keeps
    its id, type, versions, position, times, tenant and other fields, and still reads, dumps,
    replays and verifies; the snapshots of the aggregates touched are dropped, and a record
    is kept (`esctl redactions`). On SQLite the old values are zeroed in the file and the WAL.
    Then each stored projection that reads those event types' payloads is rebuilt (load it
    with --app; one that is not loaded is named as still to rebuild).

    **Examples**

        esctl --app myapp.events redact --aggregate-id "$CUSTOMER_ID" --dry-run
        esctl --app myapp.events redact --tenant "$TENANT_ID" --actor-id user-42 --yes
    """
    from esctl.errors import UsageError

    if aggregate_id is not None and (tenant is not None or actor_id is not None):
        raise UsageError("--aggregate-id selects on its own", hint="give --aggregate-id, or --tenant with --actor-id")
    if aggregate_id is None and (tenant is None or actor_id is None):
        raise UsageError("redact needs --aggregate-id, or --tenant with --actor-id", hint="see esctl redact --help")
    selection: dict[str, Any] = (
        {"aggregate_id": parse_uuid(aggregate_id, "--aggregate-id")}
        if aggregate_id is not None
        else {"tenant_id": parse_uuid(tenant or "", "--tenant"), "actor_id": actor_id}
    )
    fmt = resolve_format(fmt)
    registry = load_projections()
    if not dry_run and not yes:
        planned, _ = run(_redact(selection, registry, dry_run=True))
        if planned.events:
            _confirm_redaction(planned)
    result, actions = run(_redact(selection, registry, dry_run=dry_run))
    writer = RowWriter(fmt, (*REDACT_COLUMNS, "projections"), table_columns=REDACT_COLUMNS)
    row = result.to_dict()
    writer.write([{**{c: row[c] for c in REDACT_COLUMNS}, "projections": actions}])
    writer.close()
    verb = "Would redact" if dry_run else "Redacted"
    note(
        f"{verb} {plural(result.events, 'event')} of {plural(result.streams, 'stream')} ({result.selection}); "
        f"{plural(result.snapshots, 'snapshot')} {'would be ' if dry_run else ''}dropped."
    )
    for name, action in actions.items():
        note(f"Projection {name}: {action}.")


@app.command(rich_help_panel=PANEL)
def redactions(fmt: FormatOption = None) -> None:
    """List the redaction records: which events, when, how many, which fields, by which esctl.

    **Examples**

        esctl redactions
        esctl redactions --format json
    """
    fmt = resolve_format(fmt)
    records = run(_redaction_records())
    writer = RowWriter(fmt, REDACTION_RECORD_COLUMNS)
    rows = [record.to_dict() for record in records]
    writer.write({c: row[c] for c in REDACTION_RECORD_COLUMNS} for row in rows)
    writer.close(footer="No redactions." if not records else None)


def _confirm_redaction(planned: RedactResult) -> None:
    what = f"the personal fields of {plural(planned.events, 'event')} ({planned.selection})"
    confirm(
        f"overwriting {what}",
        f"Overwrite {what}? This cannot be undone.",
        otherwise="--dry-run to see what would change",
    )


async def _redact(
    selection: dict[str, Any], registry: ProjectionRegistry, *, dry_run: bool
) -> tuple[RedactResult, dict[str, str]]:
    """Redact, then rebuild each stored projection that reads the redacted types' payloads.

    A projection reads them when it asks for the payload column (the built-ins do not) and for
    those types (or every type); one whose code is not loaded is named as still to rebuild.
    """
    from esctl.projections.runner import ProjectionRunner
    from esctl.registry import default_registry

    async with open_store(readonly=dry_run, create=False) as store:
        result = await store.redact(registry=default_registry, dry_run=dry_run, **selection)
        actions: dict[str, str] = {}
        if not result.events:
            return result, actions
        runner = ProjectionRunner(store, registry)
        types = set(result.fields)
        for status in await runner.statuses():
            if status.checkpoint is None:
                continue
            if not status.kind:
                actions[status.name] = "not loaded: may still hold the old values; rebuild it with --app"
                continue
            spec = registry.get(status.name)
            if "payload" not in spec.columns or (spec.event_types is not None and not spec.event_types & types):
                continue
            if dry_run:
                actions[status.name] = "would be rebuilt"
            else:
                await runner.rebuild(status.name)
                actions[status.name] = "rebuilt"
    return result, actions


async def _redaction_records() -> list[RedactResult]:
    async with open_store(readonly=True) as store:
        return await store.redactions()


def _counts(result: PurgeResult) -> str:
    return ", ".join(
        [
            plural(result.events, "event"),
            plural(result.streams, "stream"),
            plural(result.snapshots, "snapshot"),
            plural(result.documents, "projection document"),
        ]
    )


def _record_row(result: PurgeResult) -> dict[str, Any]:
    row = result.to_dict()
    return {column: row[column] for column in RECORD_COLUMNS}


def _write(fmt: OutputFormat, results: list[PurgeResult], actions: dict[str, str]) -> None:
    columns = (*PURGE_COLUMNS, "projections")
    writer = RowWriter(fmt, columns, table_columns=PURGE_COLUMNS)
    rows = []
    for result in results:
        row = result.to_dict()
        rows.append({**{c: row[c] for c in PURGE_COLUMNS}, "projections": actions})
    writer.write(rows)
    writer.close()


def _confirm(tenants: list[UUID]) -> None:
    what = ", ".join(str(t) for t in tenants)
    confirm(
        f"purging tenant {what}",
        f"Purge every event of tenant {what}? This cannot be undone.",
        otherwise="--dry-run to see what would go",
    )


async def _plan(tenants: list[UUID], registry: ProjectionRegistry) -> tuple[list[PurgeResult], dict[str, str]]:
    from esctl.projections.runner import ProjectionRunner

    async with open_store(readonly=True) as store:
        results = [await store.purge_tenant(tenant, dry_run=True) for tenant in tenants]
        if not _purges_events(results):
            return results, {}  # as the purge: read models change only when events go
        statuses = await ProjectionRunner(store, registry).statuses()
    actions = {s.name: _action(s.kind, registry, s.name, planned=True) for s in statuses if s.checkpoint is not None}
    return results, actions


async def _purge(
    tenants: list[UUID], registry: ProjectionRegistry, *, compact: bool
) -> tuple[list[PurgeResult], dict[str, str]]:
    from esctl.projections.runner import ProjectionRunner

    async with open_store(readonly=False, create=False) as store:
        results = [await store.purge_tenant(tenant, compact=compact) for tenant in tenants]
        runner = ProjectionRunner(store, registry)
        purged = [r.tenant_id for r in results if r.events]
        actions: dict[str, str] = {}
        if not _purges_events(results):
            return results, actions
        for status in await runner.statuses():
            if status.checkpoint is None:
                continue
            action = _action(status.kind, registry, status.name)
            actions[status.name] = action
            if not status.kind:
                continue
            spec = registry.get(status.name)
            if spec.per_tenant:
                for tenant in purged:
                    await runner.rebuild(status.name, tenant_id=tenant)
            else:
                await runner.rebuild(status.name)
    return results, actions


def _purges_events(results: list[PurgeResult]) -> bool:
    """True when a purge removes events, and so the read models built from them must change."""
    return any(result.events for result in results)


def _action(kind: str, registry: ProjectionRegistry, name: str, *, planned: bool = False) -> str:
    """What the purge does to a stored projection's read model, as the output says it."""
    if not kind:
        return "not loaded: its read model may still count the tenant; rebuild it with --app"
    if registry.get(name).per_tenant:
        return "would drop the tenant's part" if planned else "dropped the tenant's part"
    return "would be rebuilt" if planned else "rebuilt"


async def _records() -> list[PurgeResult]:
    async with open_store(readonly=True) as store:
        return await store.purges()
