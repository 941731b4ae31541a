"""The body of ``esctl dump``: selected events out as NDJSON lines, shared by both parsers.

The Typer command and the quick path (``quick``) both read through ``event_line_pages``, the
store's blocking ``export_json_lines``, so that they write the same bytes. Neither Typer nor the
event models are imported here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from esctl.cli.jsonlines import JsonLines
from esctl.cli.runtime import open_store, stdout_bytes

if TYPE_CHECKING:
    from esctl.store.types import ReadOptions


def event_line_pages(options: ReadOptions) -> Iterator[list[bytes]]:
    """Yield the events ``options`` selects in ``--db``, as pages of NDJSON lines."""
    yield from open_store(readonly=True).export_json_lines(options)


def dump_lines(options: ReadOptions, *, array: bool) -> None:
    """Write the selected events to stdout as NDJSON, or as one JSON array."""
    writer = JsonLines(stdout_bytes(), array=array)
    for lines in event_line_pages(options):
        writer.write(lines)
    writer.close()
