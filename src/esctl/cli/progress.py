"""Progress bars on stderr for long work: a bar, a percentage, a rate and the time left.

Only on a terminal and never with ``-q`` (``settings.show_progress``); commands import this
module only then, so rich is not loaded by a command that shows no bar.
"""

from __future__ import annotations

from types import TracebackType

from rich.filesize import decimal
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from esctl.cli.runtime import settings


class Bar:
    """One task's progress bar on stderr, used as a context manager.

    Args:
        description: What is being done ("appending", "verifying").
        total: The amount of work (bytes, positions), or ``None`` when unknown (a pipe):
            then the bar pulses and only the count and rate are shown.
        unit: ``"bytes"`` (rates read 1.2 MB/s) or a noun for counted things ("events").

    Example:
        >>> # with Bar("verifying", total=head, unit="events") as bar:
        >>> #     bar.update(position)
    """

    def __init__(self, description: str, total: float | None, unit: str) -> None:
        self._progress: Progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            _Rate(unit),
            TimeRemainingColumn(),
            TextColumn("{task.fields[note]}"),
            console=settings.console,
            transient=True,
        )
        self._task = self._progress.add_task(description, total=total, note="")

    def __enter__(self) -> Bar:
        self._progress.start()
        return self

    def total(self, total: float | None) -> None:
        """Set the amount of work, once it is known."""
        self._progress.update(self._task, total=total)

    def update(self, completed: float, note: str = "") -> None:
        """Show ``completed`` units done (and a short ``note``, e.g. an event count)."""
        self._progress.update(self._task, completed=completed, note=note, refresh=True)

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._progress.stop()


class _Rate(ProgressColumn):
    """The rate: bytes as ``12.3 MB/s``, anything else as ``4,500 events/s``."""

    def __init__(self, unit: str) -> None:
        super().__init__()
        self._unit = unit

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        if speed is None:
            return Text("")
        if self._unit == "bytes":
            return Text(f"{decimal(int(speed))}/s")
        return Text(f"{speed:,.0f} {self._unit}/s")
