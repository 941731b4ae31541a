"""Serialized JSON lines out to a binary stream: as NDJSON, or framed as one JSON array.

The NDJSON and JSON formats of every listing command end here (through ``output.RowWriter``),
and so does the quick ``dump`` (``quick``), which must write the same bytes without Typer.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import IO


class JsonLines:
    """Writes JSON lines (each ending in a newline) as they come.

    Args:
        out: The binary stream to write to.
        array: Frame the lines as one JSON array (``[``, items on their own lines, ``]``)
            instead of writing them as NDJSON.
    """

    def __init__(self, out: IO[bytes], *, array: bool) -> None:
        self.count = 0
        self._out = out
        self._array = array

    def write(self, lines: Iterable[bytes]) -> None:
        """Write a batch of lines, in one write."""
        if not self._array:
            chunk = list(lines)
            self.count += len(chunk)
            self._out.write(b"".join(chunk))
            return
        parts: list[bytes] = []
        for line in lines:
            parts.append(b"[\n" if self.count == 0 else b",\n")
            parts.append(line.rstrip(b"\n"))
            self.count += 1
        self._out.write(b"".join(parts))

    def close(self) -> None:
        """Close the array (``[]`` when there were no lines) and flush."""
        if self._array:
            self._out.write(b"[]\n" if self.count == 0 else b"\n]\n")
        self._out.flush()
