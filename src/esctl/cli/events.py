"""``esctl append`` and ``esctl dump``: events in and out.

``dump`` writes the store's NDJSON lines as they come from SQLite, without building models, and
``append`` reads them back unchanged, so ``esctl dump | esctl --db other.db append -`` copies
events exactly (ids, versions, timestamps, payloads).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from esctl.cli.app import app
from esctl.cli.dumping import dump_lines, event_line_pages, note_unknown_names
from esctl.cli.filters import (
    APPEND,
    DUMP,
    AggregateIdOption,
    AggregateTypeOption,
    EventTypeOption,
    FromPositionOption,
    LimitOption,
    SinceOption,
    TenantOption,
    ToPositionOption,
    UntilOption,
    typer_option,
)
from esctl.cli.importing import (
    AppendOptions,
    SummaryFormat,
    append_input,
    parse_expected,
    report_append,
    summary_of,
)
from esctl.cli.output import FormatOption, OutputFormat, RowWriter, resolve_format, screenful
from esctl.cli.runtime import load_app, note, open_store, run
from esctl.cli.selection import EventFilter, parse_uuid

if TYPE_CHECKING:
    from esctl.store.types import Expected, ReadOptions


DUMP_COLUMNS = (
    "position",
    "event_id",
    "event_type",
    "event_version",
    "occurred_at",
    "aggregate_type",
    "aggregate_id",
    "aggregate_version",
    "tenant_id",
    "actor_id",
    "correlation_id",
    "causation_id",
    "stored_at",
    "metadata",
    "payload",
)
"""The CSV columns of ``dump``: the envelope, then metadata and payload as JSON text."""

TABLE_COLUMNS = ("position", "occurred_at", "tenant", "stream", "v", "event_type", "payload")
"""The columns of ``dump``'s table; ids are shortened there (the data formats keep them whole)."""


@app.command(rich_help_panel="Events")
def append(
    file: Annotated[
        str | None,
        typer.Argument(metavar="FILE|-", help="NDJSON or JSON-array file; '-' (or nothing, when piped) reads stdin."),
    ] = None,
    event_type: Annotated[str | None, typer_option(APPEND["event_type"])] = None,
    aggregate_type: Annotated[str | None, typer_option(APPEND["aggregate_type"])] = None,
    aggregate_id: Annotated[str | None, typer_option(APPEND["aggregate_id"])] = None,
    tenant: Annotated[str | None, typer_option(APPEND["tenant"])] = None,
    data: Annotated[str | None, typer_option(APPEND["data"])] = None,
    occurred_at: Annotated[str | None, typer_option(APPEND["occurred_at"])] = None,
    event_id: Annotated[str | None, typer_option(APPEND["event_id"])] = None,
    expected_version: Annotated[str | None, typer_option(APPEND["expected_version"])] = None,
    strict: Annotated[bool, typer_option(APPEND["strict"])] = False,
    batch_size: Annotated[int | None, typer_option(APPEND["batch_size"])] = None,
    allow_empty: Annotated[bool, typer_option(APPEND["allow_empty"])] = False,
    allow_future: Annotated[bool, typer_option(APPEND["allow_future"])] = False,
    max_line_bytes: Annotated[int | None, typer_option(APPEND["max_line_bytes"])] = None,
    dry_run: Annotated[bool, typer_option(APPEND["dry_run"])] = False,
    fmt: Annotated[SummaryFormat | None, typer_option(APPEND["fmt"], case_sensitive=False)] = None,
) -> None:
    """Append events from NDJSON, a JSON array, stdin, or one event given as flags.

    Events of registered types (see `--app`) are validated against their class; other types
    are stored as given unless `--strict`. An event without `aggregate_version` gets the next
    version of its stream. The whole input is one atomic append: on any error nothing is
    written, and the message names the line and the field. Appends are idempotent by
    `event_id`: events already stored with the same content are skipped.

    **Examples**

        esctl append events.ndjson
        esctl dump --tenant 00000000-0000-4000-8000-00000000000a | esctl --db copy.db append -
        esctl append --type NoteAdded --aggregate-type Note --data '{"text": "hello"}'
        esctl append big.ndjson --batch-size 10000 --format json
    """
    try:
        expected = parse_expected(expected_version)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--expected-version") from None
    flags = {"--aggregate-type": aggregate_type, "--aggregate-id": aggregate_id, "--tenant": tenant}
    flags |= {"--data": data, "--occurred-at": occurred_at, "--event-id": event_id}
    if event_type is None:
        given = [name for name, value in flags.items() if value is not None]
        if given:
            raise typer.BadParameter(f"{given[0]} describes an event given as flags; add --type", param_hint="--type")
    elif file is not None:
        raise typer.BadParameter("give either FILE or --type, not both", param_hint="--type")
    load_app()
    if event_type is not None:
        fields = _fields_from_flags(event_type, aggregate_type, aggregate_id, tenant, data, occurred_at, event_id)
        summary = run(_append_one(fields, expected, strict, allow_future))
    else:
        if file is None and sys.stdin.isatty():
            raise typer.BadParameter("give a FILE, '-' for stdin, or an event as flags with --type")
        options = AppendOptions(expected, strict, batch_size, allow_empty, allow_future, max_line_bytes, dry_run)
        summary = append_input(file, options)
    report_append(summary, fmt or SummaryFormat.text)


def _fields_from_flags(
    event_type: str,
    aggregate_type: str | None,
    aggregate_id: str | None,
    tenant: str | None,
    data: str | None,
    occurred_at: str | None,
    event_id: str | None,
) -> dict[str, Any]:
    from esctl import codec
    from esctl.errors import InvalidInputError
    from esctl.events import uuid7

    payload: dict[str, Any] = {}
    if data is not None:
        try:
            payload = codec.parse_json_object(data)
        except InvalidInputError as error:
            raise InvalidInputError(error.reason, field="--data") from None
    fields: dict[str, Any] = {**payload, "event_type": event_type}
    if aggregate_type is not None:
        fields["aggregate_type"] = aggregate_type
    if "aggregate_type" not in fields:
        raise typer.BadParameter("an event needs its stream's aggregate type", param_hint="--aggregate-type")
    fields["aggregate_id"] = str(parse_uuid(aggregate_id, "--aggregate-id") if aggregate_id else uuid7())
    if tenant is not None:
        fields["tenant_id"] = str(parse_uuid(tenant, "--tenant"))
    if event_id is not None:
        fields["event_id"] = str(parse_uuid(event_id, "--event-id"))
    if occurred_at is not None:
        from esctl.timeutil import parse_timestamp

        fields["occurred_at"] = parse_timestamp(occurred_at, field="--occurred-at").isoformat()
    return fields


async def _append_one(fields: dict[str, Any], expected: Expected, strict: bool, allow_future: bool) -> dict[str, Any]:
    from esctl.ingest import ImportResult, event_from_fields, future_error, latest_allowed, occurred_micros

    item = event_from_fields(fields, strict=strict)
    event = item.event
    if not allow_future and occurred_micros(item) > latest_allowed():
        raise future_error(event.occurred_at, None, None)
    if event.tenant_id is None:
        note(f"Note: no --tenant given: storing this {event.event_type} without a tenant.")
    key = (event.aggregate_type, event.aggregate_id)
    async with open_store(readonly=False) as store:
        result = await store.append_batch(
            [event], expected_versions={key: expected}, auto_version=[0] if item.auto_version else []
        )
    # One event is one stream in one batch: the same summary an import reports, plus the event.
    totals = ImportResult(
        events=1,
        appended=result.appended,
        skipped=result.skipped,
        first_position=result.first_position,
        last_position=result.last_position,
        streams=1,
        batches=1,
    )
    return {
        **summary_of(totals),
        "event_id": str(event.event_id),
        "aggregate_type": event.aggregate_type,
        "aggregate_id": str(event.aggregate_id),
        "aggregate_version": result.stream_versions.get(key),
    }


@app.command(rich_help_panel="Events")
def dump(
    tenant: TenantOption = None,
    aggregate_type: AggregateTypeOption = None,
    aggregate_id: AggregateIdOption = None,
    types: EventTypeOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    from_position: FromPositionOption = None,
    to_position: ToPositionOption = None,
    limit: LimitOption = None,
    no_tenant: Annotated[bool, typer_option(DUMP["no_tenant"])] = False,
    fmt: FormatOption = None,
) -> None:
    """Write events to stdout in position order, filtered.

    Each NDJSON line is the event's JSON plus `position` and `stored_at`; `esctl append` reads
    it back unchanged, so a dump piped into append copies events exactly. Time windows are
    half-open on `occurred_at`: `--since` inclusive, `--until` exclusive. A table shows a
    screenful; use `--limit`, or another `--format`, for more.

    **Examples**

        esctl dump --tenant 00000000-0000-4000-8000-00000000000a --since 7d --limit 5
        esctl dump --type OrderPlaced --since 2026-11-01T00:00:00Z --until 2026-11-08T00:00:00Z -f csv
        esctl dump --tenant 00000000-0000-4000-8000-00000000000a | esctl --db acme.db append -
    """
    event_filter = EventFilter(
        tenants=tenant,
        aggregate_type=aggregate_type,
        aggregate_id=aggregate_id,
        types=types,
        since=since,
        until=until,
        from_position=from_position,
        to_position=to_position,
        limit=limit,
        no_tenant=no_tenant,
    )
    options = event_filter.to_read_options()
    _dump(options, resolve_format(fmt), tenantless=no_tenant)


def _dump(options: ReadOptions, fmt: OutputFormat, *, tenantless: bool) -> None:
    if fmt in (OutputFormat.ndjson, OutputFormat.json):
        dump_lines(options, array=fmt is OutputFormat.json, tenantless=tenantless)
    elif fmt is OutputFormat.csv:
        writer = RowWriter(fmt, DUMP_COLUMNS)
        for lines in event_line_pages(options, tenantless=tenantless):
            writer.write(_split_payload(line) for line in lines)
        writer.close()
        note_unknown_names(options)
    else:
        _dump_table(options, tenantless)
        note_unknown_names(options)


def _dump_table(options: ReadOptions, tenantless: bool) -> None:
    import dataclasses

    shown = options.limit if options.limit is not None else screenful()
    writer = RowWriter(OutputFormat.table, DUMP_COLUMNS, table_columns=TABLE_COLUMNS)
    for lines in event_line_pages(dataclasses.replace(options, limit=shown), tenantless=tenantless):
        writer.write(_table_row(line) for line in lines)
    footer = None
    if tenantless and options.limit is None and writer.count >= shown:
        # The store cannot count what it cannot filter: no total, only the way to see them all.
        footer = f"{writer.count:,} events shown; use --limit N, or --format ndjson for all of them."
    elif options.limit is None and writer.count >= shown:
        total = run(_count(options))
        if total > writer.count:
            footer = f"{writer.count:,} of {total:,} events shown; use --limit N, or --format ndjson for all of them."
    elif writer.count == 0:
        footer = "No events match."
    writer.close(footer=footer)


async def _count(options: ReadOptions) -> int:
    async with open_store(readonly=True) as store:
        return await store.count_events(options)


_ENVELOPE = frozenset(DUMP_COLUMNS) - {"payload"}


def _split_payload(line: bytes) -> dict[str, Any]:
    from esctl import codec

    row: dict[str, Any] = codec.loads(line)
    row["payload"] = {k: v for k, v in row.items() if k not in _ENVELOPE}
    return row


def _table_row(line: bytes) -> dict[str, Any]:
    row = _split_payload(line)
    row["v"] = row["aggregate_version"]
    row["tenant"] = _short_id(row["tenant_id"])
    row["stream"] = f"{row['aggregate_type']}:{_short_id(row['aggregate_id'])}"
    return row


def _short_id(value: str | None) -> str | None:
    # The end of a UUID: the start of a v7 id is its timestamp, alike for neighbouring events.
    return None if value is None else "…" + value[-8:]
