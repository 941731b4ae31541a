"""The one ``--format`` option every listing command shares, and the writers behind it.

``ndjson``, ``json`` and ``csv`` stream: rows are written as they come (a JSON array item by
item), as bytes on stdout. ``table`` collects a screenful and renders it with rich; it is the
default on a terminal, ``ndjson`` the default when stdout is piped.
"""

from __future__ import annotations

import enum
import io
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any

from esctl.cli.filters import typer_option
from esctl.cli.jsonlines import JsonLines
from esctl.cli.runtime import settings, stdout_bytes, stdout_is_terminal
from esctl.cli.spec import DUMP

if TYPE_CHECKING:
    from rich.console import Console, JustifyMethod
    from rich.text import Text


class OutputFormat(enum.StrEnum):
    """How a listing command writes its rows."""

    table = "table"
    ndjson = "ndjson"
    json = "json"
    csv = "csv"


FormatOption = Annotated[OutputFormat | None, typer_option(DUMP["fmt"], case_sensitive=False)]
"""The shared ``--format`` option of listing commands."""


def resolve_format(chosen: OutputFormat | None) -> OutputFormat:
    """Return the format to use: the one chosen, else ``table`` on a terminal, else ``ndjson``."""
    if chosen is not None:
        return chosen
    return OutputFormat.table if stdout_is_terminal() else OutputFormat.ndjson


def table_console() -> Console:
    """Return a rich console on stdout for tables: the terminal's width (or ``COLUMNS``), else 160
    columns when a table is written to a pipe or file (``--format table | less -S``); no colour
    with ``-q`` (rich itself drops colour when stdout is not a terminal, and honours ``NO_COLOR``)."""
    import os

    from rich.console import Console

    # A Console subclass would do, but rich exits 1 on a closed stdout by itself (main() maps it).
    sized = sys.stdout.isatty() or os.environ.get("COLUMNS", "").isdigit()
    return Console(
        file=sys.stdout,
        highlight=False,
        color_system=None if settings.quiet else "auto",
        width=None if sized else 160,
    )


def screenful() -> int:
    """Return how many table rows fit on the terminal (at least 10; 40 lines assumed when piped)."""
    import shutil

    return max(10, shutil.get_terminal_size((80, 48)).lines - 8)


class RowWriter:
    """Writes rows (JSON-ready mappings) to stdout in one format, streaming where it can.

    Args:
        fmt: The output format.
        columns: The columns of ``csv`` and ``table`` output, in order; ``ndjson`` and ``json``
            write each row as it is.
        title: A caption for ``table`` output.
        table_columns: The columns a table shows, if fewer than ``columns``.

    Example:
        >>> # writer = RowWriter(OutputFormat.csv, ["event_type", "events"])
        >>> # writer.write([{"event_type": "OrderPlaced", "events": 3}]); writer.close()
    """

    def __init__(
        self,
        fmt: OutputFormat,
        columns: Sequence[str],
        *,
        title: str | None = None,
        table_columns: Sequence[str] | None = None,
    ) -> None:
        from esctl import codec

        self.fmt = fmt
        self.columns = list(columns)
        self.table_columns = list(table_columns or columns)
        self.title = title
        self.count = 0
        self._dumps = codec.dumps
        self._out = stdout_bytes()
        json_formats = (OutputFormat.ndjson, OutputFormat.json)
        self._lines = JsonLines(self._out, array=fmt is OutputFormat.json) if fmt in json_formats else None
        self._table_rows: list[Mapping[str, Any]] = []
        # The CSV header goes out with the first rows (or at close): a command that fails before
        # it has any rows (no such database, say) leaves stdout empty, as the other formats do.
        self._header: list[list[str]] = [self.columns] if fmt is OutputFormat.csv else []

    def write(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Write rows (a table keeps them until ``close``)."""
        if self.fmt is OutputFormat.table:
            for row in rows:
                self._table_rows.append(row)
                self.count += 1
            return
        if self.fmt is OutputFormat.csv:
            batch = [[_csv_value(row.get(c), self._dumps) for c in self.columns] for row in rows]
            self.count += len(batch)
            self._write_csv(batch)
            return
        self.write_json_lines(self._dumps(row) + b"\n" for row in rows)

    def write_json_lines(self, lines: Iterable[bytes]) -> None:
        """Write already-serialized JSON lines (each ending in a newline): the NDJSON fast path."""
        if self._lines is None:
            raise ValueError(f"write_json_lines does not write {self.fmt.value}")
        self._lines.write(lines)
        self.count = self._lines.count

    def close(self, *, footer: str | None = None) -> None:
        """Finish the output: close a JSON array, render a table (with ``footer`` under it)."""
        if self._lines is not None:
            self._lines.close()
            return
        if self.fmt is OutputFormat.table:
            self._render_table(footer)
        elif self._header:
            self._write_csv([])  # no rows: the header alone
        self._out.flush()

    def _write_csv(self, rows: list[list[str]]) -> None:
        import csv

        text = io.StringIO()
        csv.writer(text, lineterminator="\n").writerows([*self._header, *rows])
        self._header = []
        self._out.write(text.getvalue().encode())

    def _render_table(self, footer: str | None) -> None:
        from rich import box
        from rich.table import Table
        from rich.text import Text

        sys.stdout.flush()
        table = Table(title=self.title, title_justify="left", header_style="bold", box=box.SIMPLE_HEAD, pad_edge=False)
        columns = self.table_columns
        # Counts and positions: right-aligned with thousands separators, as `stats` shows them.
        numeric = {c for c in columns if _all_integers(row.get(c) for row in self._table_rows)}
        cells = [[_table_value(c, row.get(c), self._dumps) for c in columns] for row in self._table_rows]
        console = table_console()
        natural = _natural_widths(columns, cells)
        ids = [i for i, c in enumerate(columns) if _is_id_column(c)]
        if ids and sum(natural) + 3 * len(natural) - 1 > console.width:
            # Ids are never wrapped nor cut by rich: a UUID folded over two lines, or cut to a
            # prefix that every demo tenant shares, can be neither told apart nor copied. When
            # they do not fit whole, each column shows the shortest suffix that still tells its
            # ids apart (8 digits at least).
            for i in ids:
                shortened = shorten_ids([row_cells[i].plain for row_cells in cells])
                for row_cells, text in zip(cells, shortened, strict=True):
                    row_cells[i] = Text(text)
            natural = _natural_widths(columns, cells)
        # Rich squeezes narrow columns to nothing when a cell is wider than the table, so free
        # text (payloads, messages) gets an explicit share of what the other columns leave.
        # Nested values (JSON objects and arrays, as read models hold) are free text too.
        free = [
            i
            for i, c in enumerate(columns)
            if c in _FREE_TEXT or any(isinstance(row.get(c), dict | list) for row in self._table_rows)
        ]
        fixed = sum(w for i, w in enumerate(natural) if i not in free) + 3 * len(natural)
        share = max(6, (console.width - fixed) // len(free)) if free else 0
        for index, column in enumerate(columns):
            if index in free:
                table.add_column(column, overflow="ellipsis", no_wrap=True, max_width=share)
            else:
                # Never squeezed: "posit…" or "…00000…" tell nothing; free text gives way instead.
                justify: JustifyMethod = "right" if column in numeric else "left"
                table.add_column(column, no_wrap=True, min_width=natural[index], justify=justify)
        for row_cells in cells:
            table.add_row(*row_cells)
        console.print(table)
        if footer:
            console.print(footer, style="dim", markup=False)


def _natural_widths(columns: Sequence[str], cells: list[list[Text]]) -> list[int]:
    return [max([len(c), *(row[i].cell_len for row in cells)]) for i, c in enumerate(columns)]


def _is_id_column(column: str) -> bool:
    # `stream` is `Type:<aggregate id>` (replay, dump); `tenant` a tenant id (dump).
    return column.endswith("_id") or column in ("stream", "tenant")


def _all_integers(values: Iterable[Any]) -> bool:
    present = [v for v in values if v is not None]
    return bool(present) and all(isinstance(v, int) and not isinstance(v, bool) for v in present)


_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}([0-9a-fA-F]{8})")


def shorten_ids(texts: Sequence[str], least: int = 8) -> list[str]:
    """Return ``texts`` with each UUID in them cut to ``…`` and the shortest suffix (of at least
    ``least`` characters) that no other UUID in ``texts`` ends with.

    Example:
        >>> shorten_ids(["00000000-0000-4000-8000-00000000000a", "tenant 00000000-0000-4000-8000-00000000000b"])
        ['…0000000a', 'tenant …0000000b']
    """
    found = sorted({match.group(0).lower() for text in texts for match in _UUID.finditer(text)})
    length = least
    while length < 36 and len({uuid[-length:] for uuid in found}) < len(found):
        length += 1
    if length >= 36:
        return list(texts)
    return [_UUID.sub(lambda match: "…" + match.group(0)[-length:], text) for text in texts]


def _csv_value(value: Any, dumps: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return str(dumps(value).decode())
    return str(value)


_FREE_TEXT = frozenset({"payload", "message", "fields", "class"})


def _table_value(column: str, value: Any, dumps: Any) -> Text:
    from rich.text import Text

    if value is None:
        return Text("")
    if isinstance(value, dict | list):
        value = dumps(value).decode()
    elif column.endswith("_at") and isinstance(value, str) and len(value) >= 19:
        # Seconds are enough on screen (data formats keep all), but the zone is not optional.
        value = value[:19].replace("T", " ") + "Z"
    elif isinstance(value, int) and not isinstance(value, bool):
        return Text(f"{value:,}")
    text = str(value)
    if column in _FREE_TEXT and len(text) > 240:
        # Rich squeezes other columns to nothing when one cell is far wider than the table.
        text = text[:239] + "…"
    # Text, not a markup string: stored data must never be read as rich markup.
    return Text(text)
