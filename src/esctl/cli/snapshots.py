"""``esctl snapshots``: list the aggregate snapshots per aggregate type and tenant; ``drop`` them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from esctl.cli.app import app
from esctl.cli.confirm import confirm
from esctl.cli.filters import AggregateTypeOption
from esctl.cli.output import FormatOption, OutputFormat, RowWriter, resolve_format
from esctl.cli.runtime import note, open_store, plural, run, settings
from esctl.cli.selection import parse_uuid

if TYPE_CHECKING:
    from uuid import UUID

    from esctl.store.snapshots import SnapshotGroup

SNAPSHOT_COLUMNS = ("aggregate_type", "tenant_id", "snapshots", "min_version", "max_version", "last_created_at")

snapshots_app = typer.Typer(
    name="snapshots",
    help="""List the aggregate snapshots per aggregate type and tenant; `drop` removes them.

    A snapshot is an aggregate's state at one version, which a repository with `snapshot_every`
    loads instead of replaying every event. Snapshots are a cache: dropping them loses nothing,
    the next loads replay the events and the next saves take new ones.

    **Examples**

        esctl snapshots
        esctl snapshots --format json
        esctl snapshots drop --aggregate-type Order --yes
    """,
    invoke_without_command=True,
    no_args_is_help=False,
)
app.add_typer(snapshots_app, rich_help_panel="Store")


@snapshots_app.callback()
def snapshots(ctx: typer.Context, fmt: FormatOption = None) -> None:
    """List snapshots per aggregate type and tenant: how many, their versions, the newest's time."""
    if ctx.invoked_subcommand is not None:
        return
    fmt = resolve_format(fmt)
    groups = run(_groups())
    writer = RowWriter(fmt, SNAPSHOT_COLUMNS)
    rows = [_row(group) for group in groups]
    if fmt is OutputFormat.table:
        rows = [{**row, "tenant_id": row["tenant_id"] or "(none)"} for row in rows]
    writer.write(rows)
    writer.close(footer="No snapshots." if not rows else None)


@snapshots_app.command()
def drop(
    aggregate_type: AggregateTypeOption = None,
    tenant: Annotated[
        str | None, typer.Option("--tenant", help="Only this tenant's snapshots (a UUID).", show_default=False)
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say how many would be dropped; change nothing.")] = False,
) -> None:
    """Drop snapshots (all, or one aggregate type's and/or one tenant's). Events are untouched.

    Loads replay the events of aggregates without a snapshot, and saves take new snapshots, so
    dropping is always safe; do it after changing an aggregate's state without raising its
    `schema_version`.

    **Examples**

        esctl snapshots drop --dry-run
        esctl snapshots drop --aggregate-type Order --tenant 00000000-0000-4000-8000-00000000000a --yes
    """
    tenant_id = None if tenant is None else parse_uuid(tenant, "--tenant")
    what = _described(aggregate_type, tenant_id)
    if dry_run:
        count = run(_count(aggregate_type, tenant_id))
        note(f"Would drop {plural(count, 'snapshot')}{what} from {settings.shown_db}.")
        return
    if not yes:
        _confirm(what)
    dropped = run(_drop(aggregate_type, tenant_id))
    note(f"Dropped {plural(dropped, 'snapshot')}{what} from {settings.shown_db}.")


def _described(aggregate_type: str | None, tenant_id: UUID | None) -> str:
    parts = []
    if aggregate_type is not None:
        parts.append(f"of {aggregate_type}")
    if tenant_id is not None:
        parts.append(f"of tenant {tenant_id}")
    return " " + " ".join(parts) if parts else ""


def _confirm(what: str) -> None:
    confirm(f"dropping snapshots{what}", f"Drop the snapshots{what}?", otherwise="--dry-run to count them")


def _row(group: SnapshotGroup) -> dict[str, Any]:
    from esctl.timeutil import format_micros, to_micros

    return {
        "aggregate_type": group.aggregate_type,
        "tenant_id": None if group.tenant_id is None else str(group.tenant_id),
        "snapshots": group.snapshots,
        "min_version": group.min_version,
        "max_version": group.max_version,
        "last_created_at": format_micros(to_micros(group.last_created_at)),
    }


async def _groups() -> list[SnapshotGroup]:
    async with open_store(readonly=True) as store:
        return await store.snapshot_store().list_snapshot_groups()


async def _count(aggregate_type: str | None, tenant_id: UUID | None) -> int:
    async with open_store(readonly=True) as store:
        return await store.snapshot_store().count_snapshots(aggregate_type=aggregate_type, tenant_id=tenant_id)


async def _drop(aggregate_type: str | None, tenant_id: UUID | None) -> int:
    async with open_store(readonly=False, create=False) as store:
        return await store.snapshot_store().delete_snapshots(aggregate_type=aggregate_type, tenant_id=tenant_id)
