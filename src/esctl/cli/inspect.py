"""What is in the store: ``streams``, ``tenants``, ``stats``, ``types`` and ``verify``."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from esctl.cli.app import app
from esctl.cli.filters import (
    AggregateTypeOption,
    EventTypeOption,
    SinceOption,
    TenantOption,
    UntilOption,
)
from esctl.cli.output import (
    FormatOption,
    OutputFormat,
    RowWriter,
    resolve_format,
    screenful,
    shorten_ids,
    table_console,
)
from esctl.cli.runtime import load_app, note, open_store, plural, run, settings
from esctl.cli.selection import EventFilter, parse_uuid

if TYPE_CHECKING:
    from esctl.store.inspection import StoreStats, VerifyReport

STREAM_COLUMNS = (
    "stream_id",
    "aggregate_type",
    "aggregate_id",
    "tenant_id",
    "version",
    "events",
    "first_position",
    "last_position",
    "first_occurred_at",
    "last_occurred_at",
)
TENANT_COLUMNS = ("tenant_id", "events", "streams", "first_occurred_at", "last_occurred_at")
STATS_COLUMNS = ("dimension", "value", "events")
TYPE_COLUMNS = ("event_type", "class", "aggregate_type", "event_version", "fields", "personal", "schema")
FINDING_COLUMNS = ("check", "position", "stream_id", "message")


@app.command(rich_help_panel="Inspect")
def streams(
    tenant: TenantOption = None,
    aggregate_type: AggregateTypeOption = None,
    limit: Annotated[int | None, typer.Option("--limit", "-n", min=0, help="At most this many streams.")] = None,
    fmt: FormatOption = None,
) -> None:
    """List streams (aggregates) with their type, tenant, version and last event time.

    A table shows a screenful; `--format ndjson`, `json` or `csv` adds
    each stream's event count, first and last positions and first event time.

    **Examples**

        esctl streams --tenant 00000000-0000-4000-8000-00000000000a --limit 20
        esctl streams --aggregate-type Order --format csv > orders.csv
    """
    tenants = tuple(dict.fromkeys(parse_uuid(t, "--tenant") for t in tenant or ()))
    run(_streams(tenants, aggregate_type, limit, resolve_format(fmt)))


async def _streams(tenants: tuple[Any, ...], aggregate_type: str | None, limit: int | None, fmt: OutputFormat) -> None:
    table = fmt is OutputFormat.table
    cap = screenful() if limit is None and table else limit
    # A table without --limit fetches one stream more than it shows, to know that it left some out.
    fetch = cap + 1 if cap is not None and limit is None else cap
    shown_columns = ("aggregate_type", "aggregate_id", "tenant_id", "version", "last_occurred_at")
    writer = RowWriter(fmt, STREAM_COLUMNS, table_columns=shown_columns)
    rows: list[dict[str, Any]] = []
    async with open_store(readonly=True) as store:
        async for info in store.list_streams(tenant_ids=tenants, aggregate_type=aggregate_type, limit=fetch):
            rows.append(info.to_json())
            if len(rows) >= 1000 and not table:
                writer.write(rows)
                rows = []
    more = table and cap is not None and len(rows) > cap
    writer.write(rows[:cap] if more else rows)
    footer = "More streams not shown; use --limit N, or --format ndjson for all of them." if more else None
    writer.close(footer="No streams match." if writer.count == 0 else footer)


@app.command(rich_help_panel="Inspect")
def tenants(fmt: FormatOption = None) -> None:
    """List tenants with their event and stream counts and first and last event time.

    Events without a tenant are counted under a `tenant_id` of null (empty in CSV, "(none)" in
    a table).

    **Examples**

        esctl tenants
        esctl tenants --format json
    """
    fmt = resolve_format(fmt)
    infos = run(_tenants())
    writer = RowWriter(fmt, TENANT_COLUMNS)
    rows = [info.to_json() for info in infos]
    if fmt is OutputFormat.table:
        rows = [{**row, "tenant_id": row["tenant_id"] or "(none)"} for row in rows]
    writer.write(rows)
    writer.close(footer="The store is empty." if not rows else None)


async def _tenants() -> list[Any]:
    async with open_store(readonly=True) as store:
        return await store.list_tenants()


@app.command(rich_help_panel="Inspect")
def stats(
    tenant: TenantOption = None,
    aggregate_type: AggregateTypeOption = None,
    types: EventTypeOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    fmt: FormatOption = None,
) -> None:
    """Count events by type and tenant, and per day (a chart on a terminal).

    With `--format ndjson` or `csv` each row is one count: `dimension` (total, event_type,
    tenant_id or day), `value`, `events`. `--format json` writes one object.

    **Examples**

        esctl stats
        esctl stats --tenant 00000000-0000-4000-8000-00000000000a --since 30d
        esctl stats --format json | jq .by_type
    """
    options = EventFilter(
        tenants=tenant, aggregate_type=aggregate_type, types=types, since=since, until=until
    ).to_read_options()
    fmt = resolve_format(fmt)
    result = run(_stats(options))
    if fmt is OutputFormat.table:
        _print_stats(result)
    elif fmt is OutputFormat.json:
        from esctl import codec

        sys.stdout.buffer.write(codec.dumps(result.to_json()) + b"\n")
        sys.stdout.buffer.flush()
    else:
        writer = RowWriter(fmt, STATS_COLUMNS)
        writer.write(result.rows())
        writer.close()


async def _stats(options: Any) -> StoreStats:
    async with open_store(readonly=True) as store:
        return await store.stats(options)


CHART_DAYS = 120
"""The most days the per-day chart of ``stats``' table draws (the latest ones)."""


def _print_stats(result: StoreStats) -> None:
    from rich import box
    from rich.table import Column, Table
    from rich.text import Text

    console = table_console()
    if not result.events:
        console.print("No events match.")
        return
    first = result.first_occurred_at.date().isoformat() if result.first_occurred_at else "?"
    last = result.last_occurred_at.date().isoformat() if result.last_occurred_at else "?"
    console.print(
        Text(
            f"{plural(result.events, 'event')} in {plural(result.streams, 'stream')}, "
            f"{plural(sum(1 for t in result.by_tenant if t is not None), 'tenant')}, {first} to {last} (UTC)",
            style="bold",
        )
    )
    counts = Table.grid(padding=(0, 4))
    style: dict[str, Any] = {"box": box.SIMPLE_HEAD, "pad_edge": False, "header_style": "bold"}
    by_type = Table("event type", Column("events", justify="right"), **style)
    for name, count in result.by_type.items():
        by_type.add_row(Text(name), Text(f"{count:,}", justify="right"))
    tenants = [str(tenant_id) if tenant_id else "(none)" for tenant_id in result.by_tenant]
    widest_type = max(map(len, result.by_type), default=0)
    if widest_type + max(map(len, tenants), default=0) + 40 > console.width:
        tenants = shorten_ids(tenants)  # a unique suffix, not a prefix every tenant shares
    by_tenant = Table(
        Column("tenant", no_wrap=True, min_width=max(map(len, tenants), default=6)),
        Column("events", justify="right"),
        **style,
    )
    for tenant, count in zip(tenants, result.by_tenant.values(), strict=True):
        by_tenant.add_row(Text(tenant), Text(f"{count:,}", justify="right"))
    counts.add_row(by_type, by_tenant)
    console.print()
    console.print(counts)
    console.print()
    console.print(Text("events per day (occurred_at, UTC)", style="bold"))
    shown = result.per_day[-CHART_DAYS:]
    if len(result.per_day) > len(shown):
        left = len(result.per_day) - len(shown)
        console.print(
            Text(f"the last {len(shown)} days; {plural(left, 'earlier day')} in --format csv or json", style="dim")
        )
    peak = max(count for _, count in shown) or 1
    width = max(10, min(60, console.width - 24))
    for day, count in shown:
        bar = "█" * round(count / peak * width) if count else ""
        line = Text(f"{day.isoformat()} {day.strftime('%a')} ")
        line.append(bar or "·", style="cyan" if bar else "dim")
        line.append(f" {count:,}")
        console.print(line)


@app.command(rich_help_panel="Inspect")
def types(
    name: Annotated[str | None, typer.Argument(metavar="EVENT_TYPE", help="Show only this type.")] = None,
    fmt: FormatOption = None,
) -> None:
    """List the registered event types (from `--app`) with their JSON schemas.

    A table shows each type's class, payload fields and the fields declared personal
    (`Annotated[str, Personal]`, what `esctl redact` overwrites); `--format json` or `ndjson`
    includes the full JSON schema.

    **Examples**

        esctl --app esctl.demo types
        esctl --app myapp.events types OrderPlaced --format json
    """
    from esctl.errors import UnknownEventTypeError
    from esctl.events import ENVELOPE_FIELDS
    from esctl.personal import personal_fields
    from esctl.registry import default_registry

    loaded = load_app()
    fmt = resolve_format(fmt)
    entries = default_registry.items()
    if name is not None:
        entries = [(n, cls) for n, cls in entries if n == name]
        if not entries:
            raise UnknownEventTypeError(
                f"event type {name!r} is not registered",
                hint="check the name with `esctl types`" if loaded else "load the module that defines it with --app",
            )
    rows = []
    for event_type, cls in entries:
        fields = [f for f in cls.model_fields if f not in ENVELOPE_FIELDS]
        rows.append(
            {
                "event_type": event_type,
                "class": f"{cls.__module__}.{cls.__qualname__}",
                "aggregate_type": cls.model_fields["aggregate_type"].default
                if isinstance(cls.model_fields["aggregate_type"].default, str)
                else None,
                "event_version": cls.model_fields["event_version"].default,
                "fields": fields,
                "personal": list(personal_fields(cls)),
                "schema": cls.model_json_schema(),
            }
        )
    writer = RowWriter(fmt, TYPE_COLUMNS, table_columns=("event_type", "aggregate_type", "fields", "personal", "class"))
    if fmt is OutputFormat.table:
        writer.write(
            {**row, "fields": ", ".join(row["fields"]), "personal": ", ".join(row["personal"])} for row in rows
        )
    else:
        writer.write(rows)
    writer.close()
    if not rows:
        # On stderr in every format: piped output would otherwise be silently empty.
        note("Note: no event types registered; load your modules with --app MODULE.")


@app.command(rich_help_panel="Inspect")
def verify(
    max_findings: Annotated[
        int, typer.Option("--max-findings", min=1, help="List at most this many problems (the rest are counted).")
    ] = 1000,
    fmt: FormatOption = None,
) -> None:
    """Check the store: integrity, gapless positions, contiguous versions, valid payloads.

    Runs SQLite's integrity check, then checks that positions have no gaps, that every
    stream's versions run 1, 2, 3 …, that a stream keeps one tenant, and that every stored
    payload decodes and validates against its registered class (load them with `--app`), so
    CI catches a code change that makes stored events unreadable. Exits 8 and lists the
    findings when anything is wrong. The database is opened read-only.

    **Examples**

        esctl verify
        esctl --app myapp.events verify --format json
    """
    from esctl.errors import VerificationError

    load_app()
    fmt = resolve_format(fmt)
    report = run(_verify(max_findings))
    if report.findings or fmt is not OutputFormat.table:  # the data formats: `[]`, a header, …
        writer = RowWriter(fmt, FINDING_COLUMNS)
        writer.write(finding.to_json() for finding in report.findings)
        writer.close()
    _note_unregistered(report)
    if not report.ok:
        total = len(report.findings) + report.omitted
        raise VerificationError(
            f"verify found {plural(total, 'problem')} in {plural(report.events, 'event')}",
            hint="see the findings on stdout" + (f" ({report.omitted:,} not listed)" if report.omitted else ""),
        )
    note(f"OK: {plural(report.events, 'event')} checked in {settings.shown_db}, no problems found.")


async def _verify(max_findings: int) -> VerifyReport:
    import inspect

    async with open_store(readonly=True) as store:
        # Only a store whose verify reports progress (the SQLite store's) gets a bar.
        if not settings.show_progress or "progress" not in inspect.signature(store.verify).parameters:
            return await store.verify(max_findings=max_findings)
        from esctl.cli.progress import Bar

        with Bar("verifying", None, "events") as bar:

            def show(position: int, head: int) -> None:
                bar.total(head)
                bar.update(position, f"position {position:,} of {head:,}")

            # ``EventStore.verify`` itself takes no ``progress``: this store's does.
            verify: Any = store.verify
            report: VerifyReport = await verify(max_findings=max_findings, progress=show)
            return report


def _note_unregistered(report: VerifyReport) -> None:
    if not report.unregistered_types:
        return
    events = sum(report.unregistered_types.values())
    names = ", ".join(f"{name} ({count:,})" for name, count in list(report.unregistered_types.items())[:5])
    if len(report.unregistered_types) > 5:
        names += ", …"
    note(
        f"Note: {plural(events, 'event')} of {plural(len(report.unregistered_types), 'type')} with no registered "
        f"class were decoded but not validated: {names}. Load their classes with --app."
    )
