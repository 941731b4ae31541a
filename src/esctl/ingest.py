"""Reading events from NDJSON or a JSON array, and appending them atomically or in chunks.

This is what ``esctl append`` does, as a library: ``EventReader`` turns an input (a file, stdin)
into validated events, each knowing the line it came from; ``import_events`` appends them in one
atomic batch (or in atomic chunks) and, when the store refuses one, says which input line.

An event without ``aggregate_version`` gets the next version of its stream. One with an
``event_id`` but no ``correlation_id`` starts its own correlation (``correlation_id`` =
``event_id``), so re-sending it is a no-op. A line without ``event_id`` gets one derived from
its content and its place among equal lines (``EventReader._identified``), so re-running an
id-less input adds nothing twice; one without ``occurred_at`` gets the current time, so give
id-less lines a time, or a re-run finds their ids stored with another time (exit 3).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import IO, Any, cast
from uuid import UUID, uuid5

from esctl import codec
from esctl.errors import EsctlError, InvalidInputError, OptimisticLockError
from esctl.events import DomainEvent
from esctl.registry import EventRegistry
from esctl.store.interface import EventStore
from esctl.store.types import AppendChunk, AppendResult, Expected, ExpectedVersion, StreamKey
from esctl.timeutil import to_micros

BOM = b"\xef\xbb\xbf"
"""The UTF-8 byte order mark: some editors write it; it is skipped at the start of an input."""

_DERIVED_IDS = UUID("4f1b5c0e-6f3a-4d7e-9a51-0e5c7a3d2b19")
"""The UUIDv5 namespace of the event ids derived for input lines that carry none."""
_WHITESPACE = re.compile(r"[ \t\n\r]*")
_YIELD_EVERY = 1000
MAX_LINE_BYTES = 8 << 20
"""The default limit on one input line (and on a whole JSON-array input, which is read at once):
a 200 MB line was read whole, 1 GB of memory; an event rarely needs more than a few KB."""
_BLOCK = 1 << 18
"""Bytes read at a time from an NDJSON input (a few hundred lines of a typical event)."""


class InputEvent:
    """An event read from an input, with where it came from.

    An event that ``codec.encode_input`` could encode without a model carries its insert
    ``row``, and its model is built only if something asks for ``event`` (a store without a
    fast path, an error message): for a bulk import that is the difference between a model per
    line and none.

    Attributes:
        event: The validated event (built on first use for an encoded event).
        auto_version: True when the input gave no ``aggregate_version``: the store assigns it.
        line: The 1-based input line the event starts on, when known.
        item: The 1-based item number, for events read from a JSON array.
        row: The event's insert row when it was encoded without a model, else ``None``.
    """

    __slots__ = ("_event", "_registry", "auto_version", "item", "line", "row")

    def __init__(
        self,
        event: DomainEvent | None = None,
        auto_version: bool = False,
        line: int | None = None,
        item: int | None = None,
        row: codec.InsertRow | None = None,
        registry: EventRegistry | None = None,
    ) -> None:
        if event is None and row is None:
            raise TypeError("InputEvent needs an event or a row")
        self._event = event
        self._registry = registry
        self.auto_version = auto_version
        self.line = line
        self.item = item
        self.row = row

    @property
    def event(self) -> DomainEvent:
        """The validated event."""
        if self._event is None:
            assert self.row is not None
            self._event = codec.row_event(self.row, self._registry)
        return self._event

    @property
    def stream(self) -> tuple[str, str]:
        """The event's stream as ``(aggregate_type, aggregate_id as text)``, without building a model."""
        if self.row is not None:
            return self.row[3], self.row[4]
        event = self.event
        return event.aggregate_type, str(event.aggregate_id)

    def __repr__(self) -> str:
        return f"InputEvent(event={self.event!r}, auto_version={self.auto_version}, line={self.line}, item={self.item})"


FUTURE_HORIZON = timedelta(days=1)
"""How far ahead of now an input's ``occurred_at`` may be (``allow_future`` lifts it): one
event dated 9999 made every per-day count span eight thousand years."""


def latest_allowed() -> int:
    """Return the latest ``occurred_at`` (UTC microseconds) an input may carry without ``allow_future``."""
    return to_micros(datetime.now(UTC) + FUTURE_HORIZON)


def occurred_micros(item: InputEvent) -> int:
    """Return an input event's ``occurred_at`` in UTC microseconds (without building a model)."""
    if item.row is not None:
        micros: int = item.row[codec.OCCURRED_AT]
        return micros
    return to_micros(item.event.occurred_at)


def future_error(occurred_at: datetime, line: int | None, item: int | None) -> InvalidInputError:
    """The error for an event dated beyond ``FUTURE_HORIZON``, naming its line and value."""
    reason = f"{occurred_at.isoformat().replace('+00:00', 'Z')} is more than a day ahead of now"
    if item is not None:
        reason += f" (array item {item})"
    return InvalidInputError(
        reason, line=line, field="occurred_at", hint="check the date, or pass --allow-future if it is meant"
    )


def event_from_fields(
    fields: Mapping[str, Any],
    *,
    registry: EventRegistry | None = None,
    strict: bool = False,
    line: int | None = None,
    item: int | None = None,
) -> InputEvent:
    """Build one input event from its JSON form (an NDJSON line, or fields given as flags).

    ``position`` and ``stored_at`` (which a dump adds) are ignored; a missing or null
    ``aggregate_version`` marks the event for automatic versioning; a missing
    ``correlation_id`` is the ``event_id``, when that is given.

    Raises:
        InvalidInputError: A required field is missing or a value does not validate; the
            error names ``line`` and the field.

    Example:
        >>> # event_from_fields({"event_type": "Noted", "aggregate_type": "Note", "aggregate_id": str(uuid4())})
    """
    if not strict and type(fields) is dict:
        row = codec.encode_input(fields, registry)
        if row is not None:
            return InputEvent(None, row[codec.AGGREGATE_VERSION] is None, line, item, row, registry)
    return _from_fields(fields, registry, strict, line, item)


def _from_fields(
    fields: Mapping[str, Any], registry: EventRegistry | None, strict: bool, line: int | None, item: int | None
) -> InputEvent:
    """``event_from_fields`` through the model: validated by the event's class, errors worded."""
    data = dict(fields)
    auto = data.get("aggregate_version") is None
    if auto:
        data.pop("aggregate_version", None)
    if data.get("correlation_id") is None and data.get("event_id") is not None:
        # A random default would make the same input line a different event on every run.
        data["correlation_id"] = data["event_id"]
    try:
        # Parsed JSON may nest deeper than an event can be written back (orjson and pydantic
        # stop at about 255 levels): refuse it here, naming the line, not when it is stored.
        codec.dumps(data)
    except TypeError:
        field = next((k for k, v in data.items() if not codec.serializable({k: v})), None)
        raise _with_place(
            InvalidInputError("is nested too deeply (at most 254 levels of arrays and objects)", field=field),
            line,
            item,
        ) from None
    try:
        event = codec.build_event(data, registry, strict=strict)
    except InvalidInputError as error:
        raise _with_place(error, line, item) from None
    return InputEvent(event, auto, line, item)


class EventReader:
    """The events of an NDJSON or JSON-array input, read and validated one at a time.

    NDJSON is read line by line (memory stays flat however long the input); blank lines are
    skipped. An input whose first non-blank character is ``[`` is read as one JSON array. A UTF-8
    byte order mark at the start is skipped. Every error names the input line (and, in an array,
    the item).

    Args:
        stream: The input, opened in binary mode (a file, ``sys.stdin.buffer``).
        registry: Where event classes are looked up (default: the global registry).
        strict: Refuse event types that have no registered class.
        allow_future: Accept ``occurred_at`` more than ``FUTURE_HORIZON`` ahead of now.
        max_line_bytes: The longest line accepted, and the largest JSON-array input (exit 3
            beyond, naming the line, before the line is read whole).

    Example:
        >>> # with open("events.ndjson", "rb") as f:
        >>> #     events = list(EventReader(f))
    """

    def __init__(
        self,
        stream: IO[bytes],
        *,
        registry: EventRegistry | None = None,
        strict: bool = False,
        allow_future: bool = False,
        max_line_bytes: int = MAX_LINE_BYTES,
    ) -> None:
        self._stream = stream
        self._max_line_bytes = max_line_bytes
        self._registry = registry
        self._strict = strict
        self._latest = None if allow_future else latest_allowed()
        self._array_text: str | None = None
        self._array_first_line = 1
        self._item_lines: list[int] | None = None
        self._seen: dict[bytes, int] = {}  # id-less lines met so far: how often each

    def __iter__(self) -> Iterator[InputEvent]:
        latest = self._latest
        if latest is None:
            yield from self._events()
            return
        for item in self._events():
            if occurred_micros(item) > latest:
                raise future_error(item.event.occurred_at, self.line_of(item), item.item)
            yield item

    def _events(self) -> Iterator[InputEvent]:
        number = 0
        limit = self._max_line_bytes
        while raw := self._stream.readline(limit + 1):
            number += 1
            if number == 1 and raw.startswith(BOM):
                raw = raw[len(BOM) :]
            stripped = raw.strip()
            if not stripped:
                continue
            if stripped.startswith(b"["):
                rest = self._stream.read(limit + 1 - len(raw))
                if len(raw) + len(rest) > limit:
                    raise InvalidInputError(
                        f"a JSON array input is read whole, and this one is over {limit:,} bytes",
                        line=number,
                        hint="convert it to NDJSON (jq -c '.[]' FILE), which is read line by line; "
                        "or raise --max-line-bytes",
                    )
                yield from self._read_array(raw + rest, number)
                return
            if len(raw) > limit:
                raise self._too_long(number)
            yield self._read_line(raw, number)
            # After the first event, the rest is NDJSON for sure.
            yield from self._read_lines(number)
            return

    def _read_lines(self, number: int) -> Iterator[InputEvent]:
        # Every line of a large input goes through here, so it is the short way: a block of lines
        # is parsed, validated column by column without models (``codec.encode_inputs``), and
        # handed out in order. A line that does not encode goes the full way, which also words
        # its error; errors are raised in line order, after the events before them.
        for lines, last_is_whole in self._blocks(number):
            first = number + 1
            number += len(lines)
            values = self._parsed(lines)
            if values is None:
                yield from self._read_block(lines, first, last_is_whole)
                continue
            if None in map(dict.get, values, itertools.repeat("event_id")):
                values = list(map(self._identified, values))
            registry, strict = self._registry, self._strict
            rows = codec.encode_inputs(values, registry) if not strict else [None] * len(values)
            version = codec.AGGREGATE_VERSION
            if None not in rows:  # the usual block: every line encoded
                encoded = cast("list[codec.InsertRow]", rows)
                yield from [
                    InputEvent(None, row[version] is None, line_number, None, row, registry)
                    for line_number, row in zip(itertools.count(first), encoded)
                ]
                continue
            for line_number, value, row in zip(itertools.count(first), values, rows):
                if row is None:
                    yield _from_fields(value, registry, strict, line_number, None)
                else:
                    yield InputEvent(None, row[version] is None, line_number, None, row, registry)

    @staticmethod
    def _parsed(lines: list[bytes]) -> list[dict[str, Any]] | None:
        """The JSON objects of a block with no blank line and no line that is not an object."""
        if b"" in lines or any(map(bytes.isspace, lines)):
            return None
        try:
            values = list(map(codec.loads, lines))
        except ValueError:
            return None
        return values if set(map(type, values)) == {dict} else None

    def _read_block(self, lines: list[bytes], first: int, last_is_whole: bool) -> Iterator[InputEvent]:
        """A block line by line: blank lines skipped, the first bad one raised, in order."""
        registry, strict = self._registry, self._strict
        for index, line in enumerate(lines):
            if not line or line.isspace():  # the whitespace ``bytes.strip`` strips
                continue
            number = first + index
            whole = last_is_whole or index < len(lines) - 1
            try:
                value = codec.loads(line)
            except ValueError:
                value = None
            if type(value) is not dict:
                yield self._read_line(line + b"\n" if whole else line, number)  # raises, naming the line
                continue
            yield event_from_fields(self._identified(value), registry=registry, strict=strict, line=number)

    def _blocks(self, number: int) -> Iterator[tuple[list[bytes], bool]]:
        """Yield the rest of the input as lists of lines without their newlines, and whether
        the last line of the list had one (only the input's very last line may not).

        Blocks are what the stream has ready (``read1``), so a pipe fed line by line still
        gets each line handled as it arrives. A line longer than ``max_line_bytes`` is refused
        as soon as that many bytes of it are read: it is never held whole.

        Args:
            number: The input lines read before this one (for the line an error names).
        """
        limit = self._max_line_bytes
        read1 = getattr(self._stream, "read1", None)
        if read1 is None:
            while raw := self._stream.readline(limit + 1):
                number += 1
                whole = raw.endswith(b"\n")
                if len(raw) - whole > limit:
                    raise self._too_long(number)
                yield [raw[:-1] if whole else raw], whole
            return
        partial: list[bytes] = []  # the start of a line still being read (joined once, however long)
        pending = 0  # its length
        while block := read1(_BLOCK):
            if b"\n" not in block:
                partial.append(block)
                pending += len(block)
                if pending > limit:
                    raise self._too_long(number + 1)
                continue
            if partial:
                partial.append(block)
                block = b"".join(partial)
                partial = []
            lines = block.split(b"\n")
            rest = lines.pop()
            pending = len(rest)
            if rest:
                partial.append(rest)
            if max(map(len, lines)) > limit or pending > limit:
                too_long = [index for index, line in enumerate(lines) if len(line) > limit]
                raise self._too_long(number + 1 + (too_long[0] if too_long else len(lines)))
            number += len(lines)
            yield lines, True
        if partial:
            yield [b"".join(partial)], False

    def _too_long(self, number: int) -> InvalidInputError:
        limit = self._max_line_bytes
        return InvalidInputError(
            f"longer than {limit:,} bytes (the limit on one event)",
            line=number,
            hint="check the input; raise --max-line-bytes if such events are meant",
        )

    def _identified(self, value: dict[str, Any]) -> dict[str, Any]:
        """Return ``value`` with an ``event_id`` derived from its content when it has none.

        A random id made every re-run of an id-less fixture store its events again. The id is a
        UUIDv5 of the line's content (stream, version, type, time, payload, as given) and how many
        equal lines came before it in this input: the same input gives the same ids on every run,
        and a line repeated on purpose is still two events.
        """
        if value.get("event_id") is not None:
            return value
        try:
            digest = hashlib.blake2b(codec.canonical(value), digest_size=16).digest()
        except TypeError:  # nested deeper than the serializer writes: the model path words the error
            return value
        seen = self._seen.get(digest, 0)
        self._seen[digest] = seen + 1
        return {**value, "event_id": str(uuid5(_DERIVED_IDS, f"{digest.hex()}:{seen}"))}

    def line_of(self, event: InputEvent) -> int | None:
        """Return the input line ``event`` starts on (computed on demand for array items)."""
        if event.line is not None or event.item is None:
            return event.line
        return self._array_item_line(event.item)

    def _read_line(self, raw: bytes, number: int) -> InputEvent:
        try:
            data = codec.parse_json_object(raw, line=number)
        except InvalidInputError as error:
            raise _line_error(error, raw, number) from None
        return event_from_fields(self._identified(data), registry=self._registry, strict=self._strict, line=number)

    def _read_array(self, data: bytes, first_line: int) -> Iterator[InputEvent]:
        try:
            document = codec.parse_json_document(data)
        except InvalidInputError as error:
            line = (error.line or 1) + first_line - 1
            if (bad := _bad_utf8(data)) is not None:
                raise InvalidInputError(f"not valid UTF-8 ({bad})", line=line) from None
            raise error.at_line(line) from None
        if not isinstance(document, list):
            raise InvalidInputError("expected NDJSON or a JSON array of event objects", line=first_line)
        self._array_text = data.decode("utf-8")
        self._array_first_line = first_line
        for index, value in enumerate(document, start=1):
            if not isinstance(value, dict):
                raise InvalidInputError(
                    f"expected a JSON object, got {codec.json_kind(value)} (array item {index})",
                    line=self._array_item_line(index),
                )
            try:
                yield event_from_fields(
                    self._identified(value), registry=self._registry, strict=self._strict, item=index
                )
            except InvalidInputError as error:
                raise _with_place(error, self._array_item_line(index), index) from None

    def _array_item_line(self, item: int) -> int:
        # Only errors need item lines, so the (slow, pure-Python) scan runs only then.
        if self._item_lines is None:
            text = self._array_text or ""
            offsets = _array_item_offsets(text)
            first = self._array_first_line
            self._item_lines = [first + text.count("\n", 0, offset) for offset in offsets]
        if 1 <= item <= len(self._item_lines):
            return self._item_lines[item - 1]
        return self._array_first_line


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What ``import_events`` did.

    Attributes:
        events: Events read from the input.
        appended: Events written.
        skipped: Events already stored with the same id and content.
        first_position: Global position of the first written event, or ``None``.
        last_position: Global position of the last written event, or ``None``.
        streams: Distinct streams the input touched.
        batches: Atomic batches committed.
        last_line: The input line of the last event committed (``None``: none, or no lines).
    """

    events: int
    appended: int
    skipped: int
    first_position: int | None
    last_position: int | None
    streams: int
    batches: int
    last_line: int | None = None


async def import_events(
    store: EventStore,
    events: Iterable[InputEvent],
    *,
    expected_version: Expected = ExpectedVersion.ANY,
    batch_size: int | None = None,
    locate: Callable[[InputEvent], int | None] | None = None,
    on_batch: Callable[[ImportResult], None] | None = None,
) -> ImportResult:
    """Append input events: all in one atomic batch, or in atomic chunks of ``batch_size``.

    Appends are idempotent by ``event_id``, so an interrupted chunked import can be re-run:
    events already stored are skipped.

    One atomic batch is written while the input is still being read (``EventStore.append_chunks``:
    the SQLite store reads ``events`` on its connection's thread, inside its transaction), so
    memory stays flat however long the input. It stays all-or-nothing, and its errors are those
    of reading everything first: when the store refuses an event, the rest of the input is still
    read, and an invalid line further on is the error reported.

    Args:
        store: Where to append.
        events: The events, e.g. an ``EventReader``; read lazily, chunk by chunk.
        expected_version: What each touched stream must be at before its first event.
        batch_size: Commit every this many events (default: everything in one transaction).
        locate: Returns the input line of an event, for error messages (default: its ``line``).
        on_batch: Called after each committed batch with the totals so far.

    Returns:
        The totals.

    Raises:
        InvalidInputError: An event is invalid or conflicts with the store; names its line.
        OptimisticLockError: A stream is not at the expected version; names the line.
        EsctlError: The store's errors (busy, unusable). Earlier chunks stay committed, and
            the error's hint says how many.

    Example:
        >>> # with open("events.ndjson", "rb") as f:
        >>> #     reader = EventReader(f)
        >>> #     result = await import_events(store, reader, locate=reader.line_of)
    """
    where = locate if locate is not None else (lambda e: e.line)
    totals = _Totals()
    source = _Chunker(events, expected_version, totals)
    try:
        if batch_size is None:
            try:
                result = await store.append_chunks(source.chunks(_CHUNK))
            except Exception:
                # Reading everything before writing anything made an invalid line the error,
                # whatever the store said about an earlier event; finishing the read keeps that.
                source.drain()
                raise
            if totals.events:
                totals.add(result, source.last_line(where))
                if on_batch is not None:
                    on_batch(totals.result())
        else:
            while items := await _read_batch(source, batch_size):
                try:
                    result = await _append_batch(store, source.chunk(items))
                except _Interrupted as interrupted:
                    totals.add(interrupted.result, where(items[-1]))
                    if on_batch is not None:
                        on_batch(totals.result())
                    raise asyncio.CancelledError from None
                totals.add(result, where(items[-1]))
                if on_batch is not None:
                    on_batch(totals.result())
    except EsctlError as error:
        located = _locate(error, where)
        if totals.batches:
            note = (
                f"{totals.appended} events in {totals.batches} earlier batches were committed; "
                "re-running skips events already stored (same event_id)"
            )
            located.hint = f"{located.hint}; {note}" if located.hint else note
        if located is error:
            raise
        raise located from None
    return totals.result()


_CHUNK = 5000
"""Events per chunk of a one-transaction import: enough that the work per chunk (stream-head
lookups, switching between parsing and SQLite) is noise (measured: 1,000 cost ~5%
more than 5,000), few enough that the chunk in flight is a few MB."""


class _Chunker:
    """Reads input events into ``AppendChunk``s, keeping what the chunks need across them."""

    def __init__(self, events: Iterable[InputEvent], expected_version: Expected, totals: _Totals) -> None:
        self._events = iter(events)
        self._expected_version = expected_version
        self._totals = totals
        self._failed = False
        self._streams: set[tuple[str, str]] = set()  # kept only to give expected versions
        self._last: InputEvent | None = None

    def read(self, count: int) -> list[InputEvent]:
        """Return the next ``count`` events (fewer at the end of the input)."""
        try:
            items = list(itertools.islice(self._events, count))
        except BaseException:
            self._failed = True
            raise
        self._totals.events += len(items)
        if items:
            self._last = items[-1]
        return items

    def last_line(self, where: Callable[[InputEvent], int | None]) -> int | None:
        """The input line of the last event read."""
        return None if self._last is None else where(self._last)

    def chunks(self, size: int) -> Iterator[AppendChunk]:
        """Yield chunks of ``size`` events until the input ends."""
        while items := self.read(size):
            yield self.chunk(items)

    def chunk(self, items: list[InputEvent]) -> AppendChunk:
        """Return the chunk of ``items``: the expected version goes to streams new in it."""
        expected: dict[StreamKey, Expected] | None = None
        if self._expected_version is not ExpectedVersion.ANY:
            new = {item.stream for item in items} - self._streams
            self._streams |= new
            expected = {(kind, UUID(aggregate_id)): self._expected_version for kind, aggregate_id in new}
        auto = [index for index, item in enumerate(items) if item.auto_version]
        return AppendChunk(items, expected, auto)

    def drain(self) -> None:
        """Read the rest of the input (unless reading it failed already), raising what it raises."""
        if self._failed:
            return
        try:
            for _ in self._events:
                pass
        except EsctlError as error:
            raise error from None


async def _append_batch(store: EventStore, chunk: AppendChunk) -> AppendResult:
    """Append one batch; a cancellation (Ctrl-C) meanwhile lets the batch finish first.

    A batch in flight commits or fails on the store's thread whatever happens to its caller, so
    waiting for it is what lets the totals say exactly what was committed when an import is
    interrupted. The batch is bounded (``batch_size``), so the wait is short.
    """
    task = asyncio.ensure_future(store.append_chunks([chunk]))
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        with contextlib.suppress(EsctlError):
            raise _Interrupted(await task) from None
        raise


class _Interrupted(asyncio.CancelledError):
    """A cancellation that came while a batch was in flight, with what that batch committed."""

    def __init__(self, result: AppendResult) -> None:
        super().__init__()
        self.result = result


async def _read_batch(source: _Chunker, size: int) -> list[InputEvent]:
    items: list[InputEvent] = []
    while len(items) < size:
        part = source.read(min(_YIELD_EVERY, size - len(items)))
        # Reading is synchronous work; let Ctrl-C (a task cancellation) through now and then, and
        # before the batch is written.
        await asyncio.sleep(0)
        if not part:
            break
        items.extend(part)
    return items


class _Totals:
    def __init__(self) -> None:
        self.events = self.appended = self.skipped = self.batches = 0
        self.first: int | None = None
        self.last: int | None = None
        self.last_line: int | None = None
        self.streams: set[StreamKey] = set()

    def add(self, result: AppendResult, last_line: int | None) -> None:
        self.last_line = last_line
        self.streams.update(result.stream_versions)  # every stream a batch touched, written or skipped
        self.appended += result.appended
        self.skipped += result.skipped
        self.batches += 1
        if result.first_position is not None and self.first is None:
            self.first = result.first_position
        if result.last_position is not None:
            self.last = result.last_position

    def result(self) -> ImportResult:
        return ImportResult(
            self.events,
            self.appended,
            self.skipped,
            self.first,
            self.last,
            len(self.streams),
            self.batches,
            self.last_line,
        )


def _locate(error: EsctlError, where: Callable[[InputEvent], int | None]) -> EsctlError:
    chunk, index = error.batch_chunk, error.batch_index
    if chunk is None or index is None:
        return error
    item = chunk.events[index]
    assert isinstance(item, InputEvent)
    line = where(item)
    if isinstance(error, InvalidInputError):
        return _with_place(error, line, item.item)
    if isinstance(error, OptimisticLockError):
        place = _place(line, item.item)
        located = OptimisticLockError(
            f"{place}field 'aggregate_version': {error.message}",
            aggregate_id=error.aggregate_id,
            expected=error.expected,
            actual=error.actual,
        )
        located.hint = (
            error.hint
            if item.auto_version
            else "leave aggregate_version out of the input to append at the stream's next version"
        )
        return located
    return error


def _place(line: int | None, item: int | None) -> str:
    parts = []
    if line is not None:
        parts.append(f"line {line}")
    if item is not None:
        parts.append(f"array item {item}")
    return f"{', '.join(parts)}, " if parts else ""


def _with_place(error: InvalidInputError, line: int | None, item: int | None) -> InvalidInputError:
    reason = error.reason if item is None or "array item" in error.reason else f"{error.reason} (array item {item})"
    return type(error)(reason, line=line if line is not None else error.line, field=error.field, hint=error.hint)


def _line_error(error: InvalidInputError, raw: bytes, number: int) -> InvalidInputError:
    bad = _bad_utf8(raw)
    if bad is not None:
        return InvalidInputError(f"not valid UTF-8 ({bad})", line=number, hint="convert the input to UTF-8")
    if not raw.endswith(b"\n") and error.reason.startswith("malformed JSON"):
        return InvalidInputError(
            f"{error.reason}; the input ends inside this line",
            line=number,
            hint="the last line looks truncated: was the file cut off?",
        )
    return error


def _bad_utf8(data: bytes) -> str | None:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        byte = data[error.start]
        column = len(data[: error.start].rsplit(b"\n", 1)[-1]) + 1
        return f"byte 0x{byte:02x} at column {column}"
    return None


def _array_item_offsets(text: str) -> list[int]:
    import json  # the standard library's decoder reports where each item ends; orjson does not

    decoder = json.JSONDecoder()
    offsets: list[int] = []
    position = _WHITESPACE.match(text, text.index("[") + 1)
    pos = position.end() if position else 0
    if pos >= len(text) or text[pos] == "]":
        return offsets
    while pos < len(text):
        offsets.append(pos)
        try:
            _, pos = decoder.raw_decode(text, pos)
        except ValueError:
            break
        pos = _end_of_whitespace(text, pos)
        if pos < len(text) and text[pos] == ",":
            pos = _end_of_whitespace(text, pos + 1)
            continue
        break
    return offsets


def _end_of_whitespace(text: str, pos: int) -> int:
    match = _WHITESPACE.match(text, pos)
    return match.end() if match else pos


__all__ = ["BOM", "EventReader", "ImportResult", "InputEvent", "event_from_fields", "import_events"]
