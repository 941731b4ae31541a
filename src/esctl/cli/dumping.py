"""The body of ``esctl dump``: selected events out as NDJSON lines, shared by both parsers.

The Typer command and the quick path (``quick``) both read through ``event_line_pages``, the
store's blocking ``export_json_lines``, so that they write the same bytes. Neither Typer nor the
event models are imported here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import TYPE_CHECKING

from esctl.cli.jsonlines import JsonLines
from esctl.cli.runtime import open_store, stdout_bytes

if TYPE_CHECKING:
    from esctl.store.types import ReadOptions


def event_line_pages(options: ReadOptions, *, tenantless: bool = False) -> Iterator[list[bytes]]:
    """Yield the events ``options`` selects in ``--db``, as pages of NDJSON lines.

    Args:
        tenantless: Only events without a tenant (``--no-tenant``). The store's filters know
            tenants, not their absence, so these are picked from the pages as they stream by
            (``options.limit`` counts the events kept).
    """
    pages = open_store(readonly=True).export_json_lines(
        options if not tenantless else dataclasses.replace(options, limit=None)
    )
    if not tenantless:
        yield from pages
        return
    left = options.limit
    for lines in pages:
        # Lines are esctl's own JSON: the envelope's tenant is the only unescaped "tenant_id" key.
        kept = [line for line in lines if _NO_TENANT in line]
        if left is not None:
            kept = kept[:left]
            left -= len(kept)
        if kept:
            yield kept
        if left == 0:
            return


_NO_TENANT = b'"tenant_id":null'


def dump_lines(options: ReadOptions, *, array: bool, tenantless: bool = False) -> None:
    """Write the selected events to stdout as NDJSON, or as one JSON array."""
    writer = JsonLines(stdout_bytes(), array=array)
    for lines in event_line_pages(options, tenantless=tenantless):
        writer.write(lines)
    writer.close()
    note_unknown_names(options)


def note_unknown_names(options: ReadOptions) -> None:
    """Say on stderr which ``--type`` / ``--aggregate-type`` names no event in the store has.

    A misspelt name (``Ordr``, ``orderplaced``) selects nothing, silently, like a filter that
    matches nothing on purpose: the note tells the two apart. Each name costs one indexed lookup.
    """
    import dataclasses

    from esctl.cli.runtime import note
    from esctl.store.types import ReadOptions

    store = open_store(readonly=True)
    unknown = []
    for name in options.event_types:
        probe = ReadOptions(event_types=(name,), limit=1)
        if not any(store.export_json_lines(probe)):
            unknown.append(f"event type {name!r}")
    if options.aggregate_type is not None:
        probe = dataclasses.replace(ReadOptions(limit=1), aggregate_type=options.aggregate_type)
        if not any(store.export_json_lines(probe)):
            unknown.append(f"aggregate type {options.aggregate_type!r}")
    if unknown:
        note(
            f"Note: no event in the store has {' or '.join(unknown)} "
            "(names are case-sensitive; `esctl stats` lists them)."
        )
