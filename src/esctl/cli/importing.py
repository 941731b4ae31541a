"""The body of ``esctl append FILE``: read the input into the store, report what was appended.

Free of Typer, so that both the ``append`` command and the quick path (``quick``) run exactly
this code.
"""

from __future__ import annotations

import enum
import sys
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar

from esctl.cli.runtime import note, open_store, plural, run, settings

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    from esctl.ingest import EventReader, ImportResult, InputEvent
    from esctl.store.interface import EventStore
    from esctl.store.types import Expected

T = TypeVar("T")


class SummaryFormat(enum.StrEnum):
    """How ``append`` reports what it did."""

    text = "text"
    json = "json"


def parse_expected(text: str | None) -> Expected:
    """Return the expected version ``--expected-version`` gives (``any`` when not given).

    Raises:
        ValueError: ``text`` is not a version, ``no-stream``, ``exists`` or ``any``.
    """
    from esctl.store.types import ExpectedVersion

    if text is None or text.strip().lower() == "any":
        return ExpectedVersion.ANY
    value = text.strip().lower()
    if value in ("no-stream", "no_stream", "none"):
        return ExpectedVersion.NO_STREAM
    if value in ("exists", "stream-exists", "stream_exists"):
        return ExpectedVersion.STREAM_EXISTS
    if value.isdigit():
        return int(value)
    raise ValueError(f"{text!r} is not a version: use a number, no-stream, exists or any")


@dataclass(frozen=True, slots=True)
class AppendOptions:
    """How ``append`` reads and writes its input (the command's options, parsed).

    Attributes:
        expected: The version each touched stream must be at first.
        strict: Refuse event types no ``--app`` class registers.
        batch_size: Commit every this many events (``None``: one transaction).
        allow_empty: An input without events is not an error.
        allow_future: Accept ``occurred_at`` more than a day ahead of now.
        max_line_bytes: The longest input line (and JSON-array input) accepted.
        dry_run: Read and check everything against the store, opened read-only; write nothing.
    """

    expected: Expected
    strict: bool = False
    batch_size: int | None = None
    allow_empty: bool = False
    allow_future: bool = False
    max_line_bytes: int | None = None
    dry_run: bool = False


def append_input(file: str | None, options: AppendOptions) -> dict[str, Any]:
    """Append the events of ``file`` (``None`` or ``-``: stdin) to the ``--db`` store.

    Returns:
        The summary ``report_append`` prints.

    Raises:
        NotFoundError: ``file`` does not exist.
        InvalidInputError: The input is empty (unless ``allow_empty``) or an event is invalid.
        EsctlError: The store's errors (conflicts, busy, unusable).
    """
    from esctl.errors import InvalidInputError, NotFoundError, UsageError

    with ExitStack() as stack:
        if file is None or file == "-":
            stream: IO[bytes] = sys.stdin.buffer
            name = "stdin"
        else:
            path = Path(file)
            if path.is_dir():
                raise UsageError(
                    f"input file {file} is a directory", hint="give an NDJSON or JSON file, or - for stdin"
                )
            if not path.is_file():
                raise NotFoundError(f"input file {file} not found", hint="check the path")
            stream = stack.enter_context(path.open("rb"))
            name = file
        committed: list[ImportResult] = []  # the totals after each committed batch
        try:
            if options.dry_run:
                result = run(_dry_run(stream, options))
            else:
                result = _without_cyclic_gc(lambda: run(_import(stream, options, committed.append)))
        except KeyboardInterrupt:
            _report_interrupt(committed[-1] if committed else None, name)
            raise
    if result.events == 0 and not options.allow_empty:
        raise InvalidInputError(
            f"no events in {name}: the input is empty", hint="pass --allow-empty if an empty input is expected"
        )
    return summary_of(result) | ({"dry_run": True} if options.dry_run else {})


def _report_interrupt(committed: ImportResult | None, name: str) -> None:
    """Say, on one line, what an interrupted append committed and how to resume it."""
    if committed is None or not committed.batches:
        print(
            "Interrupted: nothing was appended (each batch is all-or-nothing); run the same command again to append "
            f"{name}.",
            file=sys.stderr,
        )
        return
    skipped = f" ({plural(committed.skipped, 'event')} already stored)" if committed.skipped else ""
    batches = f"{committed.batches:,} batch{'' if committed.batches == 1 else 'es'}"
    through = f", through input line {committed.last_line:,}" if committed.last_line is not None else ""
    print(
        f"Interrupted: {committed.appended:,} events appended in {batches}{through}"
        f"{skipped}. Run the same command again to resume: events already stored are skipped (same event_id).",
        file=sys.stderr,
    )


def summary_of(result: ImportResult) -> dict[str, Any]:
    """The counts ``append`` reports, in the order its JSON summary lists them."""
    return {
        "events": result.events,
        "appended": result.appended,
        "skipped": result.skipped,
        "first_position": result.first_position,
        "last_position": result.last_position,
        "streams": result.streams,
        "batches": result.batches,
    }


def _without_cyclic_gc(work: Callable[[], T]) -> T:
    """Run ``work`` with the cyclic garbage collector off (reference counting still frees).

    An import allocates a few container objects per input line and keeps none of them, so the
    collector finds nothing, yet its passes over the chunk in flight (and over everything
    start-up imported) cost ~5% of a bulk append. Nothing an import does makes cycles worth
    waiting for; the collector is back on as soon as it ends.
    """
    import gc

    if not gc.isenabled():
        return work()
    gc.disable()
    try:
        return work()
    finally:
        gc.enable()


def _reader(stream: IO[bytes], options: AppendOptions) -> EventReader:
    from esctl.ingest import MAX_LINE_BYTES, EventReader

    return EventReader(
        stream,
        strict=options.strict,
        allow_future=options.allow_future,
        max_line_bytes=options.max_line_bytes or MAX_LINE_BYTES,
    )


async def _dry_run(stream: IO[bytes], options: AppendOptions) -> ImportResult:
    """Check an input as an append would, against the store opened read-only; write nothing.

    Every line is read and validated (the same reader, the same errors). Then, per event: an id
    already stored (or met earlier in the input) would be skipped; a stream's expected version
    is checked against its version in the store; an explicit ``aggregate_version`` must follow
    the stream's head. What only the write itself finds (a stored id with other content, a
    stream's tenant) is left to the append. A store that does not exist counts as empty, and is
    not created.
    """
    from uuid import UUID

    from esctl.errors import DatabaseNotFoundError, OptimisticLockError
    from esctl.ingest import ImportResult
    from esctl.store.rules import expected_holds
    from esctl.store.types import ExpectedVersion

    reader = _reader(stream, options)
    opened = open_store(readonly=True)
    store: EventStore | None = opened
    try:
        await opened.get_global_position()
    except DatabaseNotFoundError:
        await opened.close()
        store = None
    events = appended = skipped = 0
    seen: set[str] = set()
    heads: dict[tuple[str, str], int] = {}
    try:
        for item in reader:
            events += 1
            event_id = item.row[0] if item.row is not None else str(item.event.event_id)
            if event_id in seen or (store is not None and await store.event_exists(UUID(event_id))):
                skipped += 1
                continue
            seen.add(event_id)
            key = item.stream
            head = heads.get(key)
            if head is None:
                head = 0 if store is None else await store.get_stream_version(UUID(key[1]), key[0])
                if options.expected is not ExpectedVersion.ANY and not expected_holds(options.expected, head):
                    raise OptimisticLockError(
                        f"line {reader.line_of(item)}, field 'aggregate_version': stream {key[0]}:{key[1]} is at "
                        f"version {head}, expected {options.expected}"
                    )
            if not item.auto_version and item.event.aggregate_version != head + 1:
                raise OptimisticLockError(
                    f"line {reader.line_of(item)}, field 'aggregate_version': stream {key[0]}:{key[1]} is at "
                    f"version {head}, so its next event is version {head + 1}, not {item.event.aggregate_version}"
                )
            heads[key] = head + 1
            appended += 1
    finally:
        if store is not None:
            await store.close()
    return ImportResult(events, appended, skipped, None, None, len(heads), 0)


async def _import(stream: IO[bytes], options: AppendOptions, committed: Callable[[ImportResult], None]) -> ImportResult:
    from esctl.ingest import import_events

    reader = _reader(stream, options)
    progress = _Progress(stream) if settings.show_progress else None

    def on_batch(totals: ImportResult) -> None:
        committed(totals)
        if progress is not None:
            progress.appended(totals)

    async with open_store(readonly=False) as store:
        # Open (create, migrate) the store before reading: an unusable --db fails fast, and an
        # empty input still leaves a store behind.
        await store.get_global_position()
        try:
            return await import_events(
                store,
                reader if progress is None else progress.counting(reader),
                expected_version=options.expected,
                batch_size=options.batch_size,
                locate=reader.line_of,
                on_batch=on_batch,
            )
        finally:
            if progress is not None:
                progress.stop()


class _Progress:
    """A bar on stderr while an import runs (only on a terminal, never with -q): by bytes read
    for a file, with the rate and the time left; a count and a rate for a pipe."""

    EVERY = 5000

    def __init__(self, stream: IO[bytes]) -> None:
        import os

        from esctl.cli.progress import Bar

        self._stream = stream
        try:
            size: int | None = os.fstat(stream.fileno()).st_size if stream.seekable() else None
        except (OSError, ValueError):
            size = None
        self._sized = bool(size)
        self._read = 0
        self._appended = ""
        self._bar = Bar("appending", size or None, "bytes" if size else "events")
        self._bar.__enter__()

    def counting(self, events: Iterable[InputEvent]) -> Iterator[InputEvent]:
        for item in events:
            self._read += 1
            if self._read % self.EVERY == 0:
                self._show()
            yield item

    def appended(self, totals: ImportResult) -> None:
        self._appended = f", {totals.appended:,} appended"
        self._show()

    def _show(self) -> None:
        done = self._stream.tell() if self._sized else self._read
        self._bar.update(done, f"{self._read:,} events read{self._appended}")

    def stop(self) -> None:
        self._bar.__exit__(None, None, None)


def report_append(summary: dict[str, Any], fmt: SummaryFormat) -> None:
    """Report an append: one line on stderr (text, unless ``-q``), or its JSON on stdout."""
    if fmt is SummaryFormat.json:
        from esctl import codec

        out = sys.stdout.buffer
        out.write(codec.dumps(summary) + b"\n")
        out.flush()
        return
    appended, skipped = summary["appended"], summary["skipped"]
    if summary.get("dry_run"):
        text = f"Dry run: would append {plural(appended, 'event')} to {plural(summary['streams'], 'stream')}"
        if skipped:
            text += f"; {plural(skipped, 'event')} already stored would be skipped"
        note(text + ". Nothing was written.")
        return
    if appended:
        where = (
            f"position {summary['first_position']}"
            if appended == 1
            else f"positions {summary['first_position']}–{summary['last_position']}"
        )
        text = f"Appended {plural(appended, 'event')} at {where}"
        streams = summary["streams"]
        text += f" ({plural(streams, 'stream')})" if "aggregate_id" not in summary else ""
    else:
        text = "Appended nothing"
    if skipped:
        text += f"; {plural(skipped, 'event')} already stored, skipped"
    if "aggregate_id" in summary:
        stream = f"{summary['aggregate_type']}:{summary['aggregate_id']}"
        text += f". Stream {stream} is at version {summary['aggregate_version']}"
    note(text + ".")
