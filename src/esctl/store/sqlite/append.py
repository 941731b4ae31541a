"""The SQLite store's append transactions: one batch, or an import in chunks, all or nothing.

Each function here runs on the connection's own thread (``Worker.run``), as one transaction.
A batch tries the fast path first (``fast_append``: a plain batch's rows go in as they are)
and falls back to the full rules (``esctl.store.rules.plan_append``) when it is not plain.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from uuid import UUID

from esctl import codec
from esctl.errors import EsctlError, InvalidInputError
from esctl.events import DomainEvent
from esctl.registry import EventRegistry
from esctl.store.plain import AGGREGATE_ID, AGGREGATE_TYPE, VERSION
from esctl.store.rules import plan_append
from esctl.store.sqlite import reads
from esctl.store.sqlite.driver import in_transaction
from esctl.store.sqlite.fast_append import HEAD, INSERT, StoredIdsFound, write_rows
from esctl.store.types import AppendChunk, AppendResult, Expected, StreamHead, StreamKey
from esctl.timeutil import now_micros

STORED_AT = codec.STORED_AT
_IN_CHUNK = 500


def encode(events: Sequence[DomainEvent]) -> list[codec.InsertRow] | None:
    """Encode a batch's rows on the caller's thread, before the hop to the connection's.

    The events were just made there, and reading them where they are hot measurably cheaper
    (~5% of an append of 100) than on the other thread, which then only runs SQLite. ``None``
    when an event does not encode: the append then plans first and encodes after, as the full
    rules do, so a refused event is still reported before unserializable metadata.
    """
    try:
        return codec.events_to_rows(events, 0)
    except InvalidInputError:
        return None


def append(
    conn: sqlite3.Connection,
    events: list[DomainEvent],
    rows: list[codec.InsertRow] | None,
    expected_versions: Mapping[StreamKey, Expected] | None,
    auto_version: Collection[int],
    registry: EventRegistry,
) -> AppendResult:
    # Optimistic first: plan from the rows, as if no event id of the batch were stored, and let the
    # unique index on event_id say otherwise. A fresh batch (nearly every append) then skips
    # reading its ids back and the model-level rules. A batch that re-sends stored events fails
    # the insert and is redone, from scratch, with the full lookup.
    try:
        return in_transaction(conn, lambda c: _write_batch(c, events, rows, expected_versions, auto_version, registry))
    except StoredIdsFound:
        return in_transaction(
            conn, lambda c: _write(c, events, expected_versions, auto_version, registry, now_micros())
        )


class Stopped(Exception):
    """The caller of ``append_chunks`` was cancelled: roll back."""


def _write_batch(
    conn: sqlite3.Connection,
    events: list[DomainEvent],
    rows: list[codec.InsertRow] | None,
    expected_versions: Mapping[StreamKey, Expected] | None,
    auto_version: Collection[int],
    registry: EventRegistry,
) -> AppendResult:
    stored_at = now_micros()  # taken holding the write lock: stored_at rises with the position
    if rows is not None:
        for row in rows:
            row[STORED_AT] = stored_at
        result = write_rows(conn, rows, expected_versions, auto_version)
        if result is not None:
            return result
    # Not the plain case: the full rules decide.
    return _write(conn, events, expected_versions, auto_version, registry, stored_at)


def append_chunks(
    conn: sqlite3.Connection, chunks: Iterator[AppendChunk], stop: threading.Event, registry: EventRegistry
) -> AppendResult:
    first = _next_chunk(chunks, stop)  # read before taking the write lock
    if first is None:
        return AppendResult(appended=0)
    return in_transaction(conn, lambda c: _write_chunks(c, first, chunks, stop, registry))


def _next_chunk(chunks: Iterator[AppendChunk], stop: threading.Event) -> AppendChunk | None:
    while True:
        if stop.is_set():
            raise Stopped
        chunk = next(chunks, None)
        if stop.is_set():
            raise Stopped
        if chunk is None or chunk.events:
            return chunk


def _write_chunks(
    conn: sqlite3.Connection,
    first: AppendChunk,
    chunks: Iterator[AppendChunk],
    stop: threading.Event,
    registry: EventRegistry,
) -> AppendResult:
    stored_at = now_micros()  # one append, one moment, as for append_batch
    seen: set[StreamKey] = set()
    appended = skipped = 0
    first_position: int | None = None
    last_position: int | None = None
    versions: dict[StreamKey, int] = {}
    chunk: AppendChunk | None = first
    while chunk is not None:
        try:
            result = _write_chunk(conn, chunk, seen, stored_at, registry)
        except EsctlError as error:
            if error.batch_index is not None:
                error.batch_chunk = chunk
            raise
        appended += result.appended
        skipped += result.skipped
        if first_position is None:
            first_position = result.first_position
        last_position = result.last_position if result.last_position is not None else last_position
        versions.update(result.stream_versions)
        chunk = _next_chunk(chunks, stop)
    return AppendResult(appended, skipped, first_position, last_position, versions)


def _write_chunk(
    conn: sqlite3.Connection,
    chunk: AppendChunk,
    seen: set[StreamKey],
    stored_at: int,
    registry: EventRegistry,
) -> AppendResult:
    """Write one chunk of ``append_chunks``: as ``append`` does a batch, inside the open transaction."""
    items = chunk.events
    given = [item.row for item in items]
    # Copies: an item keeps its row as read, the copy gets the store's values.
    if None in given:
        encoded = iter(codec.events_to_rows([item.event for item in items if item.row is None], stored_at))
        ready = [next(encoded) if row is None else row.copy() for row in given]
    else:
        ready = list(map(list.copy, given))  # type: ignore[arg-type]  # no None left
    for row in ready:
        row[STORED_AT] = stored_at
    # An expected version counts where its stream first appears in the whole append.
    expected = {key: value for key, value in (chunk.expected_versions or {}).items() if key not in seen}
    before = conn.total_changes
    try:
        result = write_rows(conn, ready, expected, chunk.auto_version)
    except StoredIdsFound:
        # The rows before the refused one went in as planned, and rightly: each was new and
        # followed its stream. The rest is planned again under the full rules, which see those
        # rows, the stored ids and the heads (no savepoint to roll back to: those cost ~3%).
        result = _write_rest(conn, chunk, ready, conn.total_changes - before, expected, registry, stored_at)
    if result is None:  # not the plain case: the full rules decide
        events = [item.event for item in items]
        result = _write(conn, events, expected, chunk.auto_version, registry, stored_at)
    seen.update(result.stream_versions)  # every stream the chunk touched, written or skipped
    return result


def _write_rest(
    conn: sqlite3.Connection,
    chunk: AppendChunk,
    rows: list[codec.InsertRow],
    done: int,
    expected_versions: Mapping[StreamKey, Expected],
    registry: EventRegistry,
    stored_at: int,
) -> AppendResult:
    """Finish a chunk whose first ``done`` rows are written: the rest under the full rules."""
    written = rows[:done]
    streams = {(row[AGGREGATE_TYPE], row[AGGREGATE_ID]): row[VERSION] for row in written}
    expected = {key: value for key, value in expected_versions.items() if (key[0], str(key[1])) not in streams}
    auto = [index - done for index in chunk.auto_version if index >= done]
    try:
        rest = _write(conn, [item.event for item in chunk.events[done:]], expected, auto, registry, stored_at)
    except EsctlError as error:
        index = error.batch_index
        if index is not None:
            error.batch_index = index + done
        raise
    if not done:
        return rest
    # Positions are contiguous within the transaction: the written rows', then the rest's.
    last = rest.last_position
    if last is None:
        last = int(conn.execute("SELECT last_insert_rowid()").fetchone()[0])
    appended = done + rest.appended
    versions = {(kind, UUID(aggregate_id)): version for (kind, aggregate_id), version in streams.items()}
    versions.update(rest.stream_versions)
    return AppendResult(appended, rest.skipped, last - appended + 1, last, versions)


def _write(
    conn: sqlite3.Connection,
    events: list[DomainEvent],
    expected_versions: Mapping[StreamKey, Expected] | None,
    auto_version: Collection[int],
    registry: EventRegistry,
    stored_at: int,
) -> AppendResult:
    """Write a batch under the full rules (``plan_append``), its stored ids looked up first."""
    plan = plan_append(
        events,
        heads=heads(conn, _streams(events)),
        existing=_existing(conn, [e.event_id for e in events], registry),
        expected_versions=expected_versions,
        auto_version=auto_version,
    )
    if not plan.events:
        return AppendResult(appended=0, skipped=plan.skipped, stream_versions=plan.stream_versions)
    conn.executemany(INSERT, codec.events_to_rows(plan.events, stored_at))
    last = int(conn.execute("SELECT last_insert_rowid()").fetchone()[0])
    appended = len(plan.events)
    return AppendResult(
        appended=appended,
        skipped=plan.skipped,
        first_position=last - appended + 1,
        last_position=last,
        stream_versions=plan.stream_versions,
    )


def _streams(events: list[DomainEvent]) -> Iterable[StreamKey]:
    first = events[0]
    if all(e.aggregate_id is first.aggregate_id and e.aggregate_type == first.aggregate_type for e in events):
        return [(first.aggregate_type, first.aggregate_id)]  # one stream: the usual append
    # Deduplicated by the id's integer: hashing a UUID runs Python code, hashing an int does not.
    return {(e.aggregate_type, e.aggregate_id.int): (e.aggregate_type, e.aggregate_id) for e in events}.values()


def heads(conn: sqlite3.Connection, keys: Iterable[StreamKey]) -> dict[StreamKey, StreamHead]:
    heads: dict[StreamKey, StreamHead] = {}
    for aggregate_type, aggregate_id in keys:
        row = conn.execute(HEAD, (str(aggregate_id), aggregate_type)).fetchone()
        if row is not None:
            heads[(aggregate_type, aggregate_id)] = StreamHead(row[0], None if row[1] is None else UUID(row[1]))
    return heads


def _existing(conn: sqlite3.Connection, event_ids: list[UUID], registry: EventRegistry) -> dict[UUID, DomainEvent]:
    found: dict[UUID, DomainEvent] = {}
    texts = [str(i) for i in event_ids]
    for start in range(0, len(texts), _IN_CHUNK):
        chunk = texts[start : start + _IN_CHUNK]
        marks = ", ".join("?" * len(chunk))
        for row in conn.execute(f"SELECT {reads.COLUMNS} FROM events WHERE event_id IN ({marks})", chunk):
            stored = codec.row_to_stored_event(row, registry)
            found[stored.event.event_id] = stored.event
    return found
