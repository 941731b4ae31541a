"""``esctl demo``: fill an empty store with a multi-tenant order history to explore."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from esctl.cli.app import app
from esctl.cli.runtime import note, open_store, plural, run, settings

if TYPE_CHECKING:
    from datetime import datetime

    from esctl.demo import DemoSummary


@app.command(rich_help_panel="Store")
def demo(
    seed: Annotated[int, typer.Option("--seed", help="Random seed: the same seed and --end give the same events.")] = 7,
    days: Annotated[int, typer.Option("--days", min=1, max=3650, help="Days of history.")] = 42,
    end: Annotated[
        str | None, typer.Option("--end", metavar="WHEN", help="When the history ends (default: now).")
    ] = None,
) -> None:
    """Fill an empty database with a demo: an online shop's orders for four tenants.

    About 4,300-4,800 events over six weeks (it depends on the seed): customers registering,
    orders placed, paid, dispatched, delivered, some cancelled or refunded, and a weekly catalog
    event with no tenant. The tenants have fixed ids (acme is
    `00000000-0000-4000-8000-00000000000a`). A database that already holds orders of acme (the
    demo, or a copy of part of it) is left alone; one holding any other events is refused
    (exit 2). The demo is
    written in ONE transaction: Ctrl-C stops it promptly (exit 130) and leaves the database
    without any of it. Load the demo's event classes with `--app esctl.demo` to validate or
    list them.

    **Examples**

        esctl --db demo.db demo
        esctl --db demo.db demo --seed 1 --days 90
    """
    from esctl.timeutil import parse_timestamp

    until = None if end is None else parse_timestamp(end, field="--end")
    summary = run(_demo(seed, days, until))
    _print_next_steps(summary)


async def _demo(seed: int, days: int, end: datetime | None) -> DemoSummary:
    from esctl.demo import load_demo

    async with open_store(readonly=False) as store:
        return await load_demo(store, seed=seed, days=days, end=end)


def _print_next_steps(summary: DemoSummary) -> None:
    import shlex

    db = "" if str(settings.db) == "events.db" else f" --db {shlex.quote(settings.shown_db)}"
    acme = summary.tenants["acme"]
    if summary.appended and summary.first_occurred_at and summary.last_occurred_at:
        note(
            f"Filled {settings.shown_db} with {plural(summary.appended, 'event')} of "
            f"{plural(len(summary.tenants), 'tenant')}, "
            f"{summary.first_occurred_at:%Y-%m-%d} to {summary.last_occurred_at:%Y-%m-%d}."
        )
    elif summary.events:
        note(f"{settings.shown_db} already holds the demo ({plural(summary.events, 'event')}); nothing to do.")
    else:
        note(f"The demo history of these options is empty; {settings.shown_db} is unchanged.")
    note(
        "\nTry next:\n"
        f"  esctl{db} tenants\n"
        f"  esctl{db} stats --tenant {acme}\n"
        f"  esctl{db} dump --tenant {acme} --since 7d --limit 5\n"
        f"  esctl{db} dump --type OrderPlaced --since 2d --format csv\n"
        f"  esctl{db} --app esctl.demo verify\n"
        f"  esctl{db} --app esctl.demo types"
    )
