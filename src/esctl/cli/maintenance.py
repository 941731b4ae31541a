"""``esctl init``: create or migrate the schema, or check that no migration is pending."""

from __future__ import annotations

from typing import Annotated

import typer

from esctl.cli.app import app
from esctl.cli.runtime import note, open_store, run, settings


@app.command(rich_help_panel="Store")
def init(
    check: Annotated[
        bool,
        typer.Option("--check", help="Change nothing; exit 7 when a migration is pending, 5 when the file is missing."),
    ] = False,
    rls: Annotated[
        bool,
        typer.Option(
            "--rls",
            help="PostgreSQL: also turn on row-level security keyed on the tenant context, and say "
            "which role the application must connect as.",
        ),
    ] = False,
) -> None:
    """Create the event store, or migrate it to this esctl's schema.

    Safe to run again, and from several processes at once: each migration runs once, in its
    own transaction. Appends also create and migrate the store on first write; `init` does it
    up front, and `--check` lets CI fail on a store that needs a migration.

    **Examples**

        esctl --db events.db init
        esctl --db prod.db init --check
        esctl --db postgresql://owner@db/events init --rls
    """
    if check:
        run(_check())
        return
    if rls:
        note(f"Row-level security: {run(_enable_rls())}.")
        return
    before, after = run(_migrate())
    if before == 0:
        note(f"Created the event store {settings.shown_db} (schema version {after}).")
    elif before < after:
        note(f"Migrated {settings.shown_db} from schema version {before} to {after}.")
    else:
        note(f"{settings.shown_db} is up to date (schema version {after}).")


async def _check() -> None:
    from esctl.errors import DatabaseUnusableError

    status = await open_store(readonly=True).schema_status()
    if status.pending:
        raise DatabaseUnusableError(
            f"{settings.shown_db} needs {status.pending} migration{'s' if status.pending > 1 else ''} "
            f"(schema version {status.version}; this esctl writes {status.latest})",
            hint="run `esctl init` to migrate it",
        )
    note(f"{settings.shown_db} is up to date (schema version {status.version}).")


async def _migrate() -> tuple[int, int]:
    async with open_store(readonly=False) as store:
        return await store.migrate()


async def _enable_rls() -> str:
    async with open_store(readonly=False) as store:
        return await store.enable_row_level_security()
