"""The SQLite store's fast append path: a plain batch's rows go in as they are.

Nearly every append is plain: fresh event ids, versions that follow their streams' heads, one
tenant per stream, expected versions that hold. For such a batch the full rules
(``esctl.store.rules.plan_append``) would accept every event unchanged, so this path checks
those conditions on the insert rows themselves (no models, no lookups of stored ids) and writes
them. Whatever it is not sure of, it leaves to the full rules, which decide and word the errors.
``plain_versions`` is the decision, kept apart from SQLite so that a property test can hold it
to the rules.
"""

from __future__ import annotations

import operator
import sqlite3
from collections.abc import Callable, Collection, Mapping
from typing import Any
from uuid import UUID

from esctl.codec import AGGREGATE_VERSION, INSERT_COLUMNS, InsertRow
from esctl.store.rules import expected_holds
from esctl.store.types import AppendResult, Expected, ExpectedVersion, StreamKey

INSERT = f"INSERT INTO events ({', '.join(INSERT_COLUMNS)}) VALUES ({', '.join('?' * len(INSERT_COLUMNS))})"
HEAD = (
    "SELECT aggregate_version, tenant_id FROM events"
    " WHERE aggregate_id = ? AND aggregate_type = ? ORDER BY aggregate_version DESC LIMIT 1"
)
EVENT_ID = INSERT_COLUMNS.index("event_id")
AGGREGATE_TYPE = INSERT_COLUMNS.index("aggregate_type")
AGGREGATE_ID = INSERT_COLUMNS.index("aggregate_id")
TENANT_ID = INSERT_COLUMNS.index("tenant_id")
VERSION = AGGREGATE_VERSION
STREAM_OF = operator.itemgetter(AGGREGATE_TYPE, AGGREGATE_ID)
_EVENT_ID_OF = operator.itemgetter(EVENT_ID)

TextKey = tuple[str, str]
"""A stream as the rows hold it: ``(aggregate_type, aggregate_id as text)``."""
HeadLookup = Callable[[str, str], "tuple[int, str | None] | None"]
"""``(aggregate_id, aggregate_type) -> (version, tenant_id)`` of a stored stream, or ``None``."""


class StoredIdsFound(Exception):
    """The insert hit a unique index: an event id already stored, or the first version of a
    stream that was expected to be new."""


def plain_versions(
    rows: list[InsertRow],
    expected_versions: Mapping[StreamKey, Expected] | None,
    auto_version: Collection[int],
    head: HeadLookup,
) -> dict[TextKey, int] | None:
    """Decide whether a batch is plain, and give auto-versioned rows their versions.

    Plain: no event id twice in the batch, every expected version holds, every stream's
    versions follow its head, every event has its stream's tenant; then the full rules (with no
    stored duplicates) accept the batch as it is. A stream expected to be new (``NO_STREAM`` or
    0) is taken to be new without a lookup: if it exists, its version 1 does too and the unique
    index on the stream's versions refuses the insert.

    Returns:
        Each stream's version after the batch, or ``None`` (rows unchanged but for auto
        versions) when the full rules must decide.
    """
    if len(set(map(_EVENT_ID_OF, rows))) != len(rows):
        return None
    expected = {(kind, str(aggregate_id)): value for (kind, aggregate_id), value in (expected_versions or {}).items()}
    auto = auto_version if isinstance(auto_version, (set, frozenset)) else frozenset(auto_version)
    streams: dict[TextKey, list[Any]] = {}  # [version, tenant]
    last_type = last_id = None
    state: list[Any] = []
    for index, row in enumerate(rows):
        if row[AGGREGATE_ID] != last_id or row[AGGREGATE_TYPE] != last_type:
            last_type, last_id = row[AGGREGATE_TYPE], row[AGGREGATE_ID]
            key = (last_type, last_id)
            known = streams.get(key)
            if known is None:
                wanted = expected.get(key, ExpectedVersion.ANY)
                if wanted is ExpectedVersion.NO_STREAM or wanted == 0:
                    known = [0, row[TENANT_ID]]
                else:
                    found = head(last_id, last_type)
                    known = [0, row[TENANT_ID]] if found is None else [found[0], found[1]]
                    if not expected_holds(wanted, known[0]):
                        return None
                streams[key] = known
            state = known
        if row[TENANT_ID] != state[1]:
            return None
        version = state[0] + 1
        if index in auto:
            row[VERSION] = version
        elif row[VERSION] != version:
            return None
        state[0] = version
    return {key: state[0] for key, state in streams.items()}


def write_rows(
    conn: sqlite3.Connection,
    rows: list[InsertRow],
    expected_versions: Mapping[StreamKey, Expected] | None,
    auto_version: Collection[int],
) -> AppendResult | None:
    """Insert ``rows`` when the batch is plain (``plain_versions``), else return ``None``.

    Raises:
        StoredIdsFound: An event id is already stored, or a stream expected to be new is not
            (rows before it may have been inserted).
    """

    def head(aggregate_id: str, aggregate_type: str) -> tuple[int, str | None] | None:
        found = conn.execute(HEAD, (aggregate_id, aggregate_type)).fetchone()
        return None if found is None else (found[0], found[1])

    versions = plain_versions(rows, expected_versions, auto_version, head)
    if versions is None:
        return None
    try:
        conn.executemany(INSERT, rows)
    except sqlite3.IntegrityError:
        raise StoredIdsFound from None
    last = int(conn.execute("SELECT last_insert_rowid()").fetchone()[0])
    return AppendResult(
        appended=len(rows),
        skipped=0,
        first_position=last - len(rows) + 1,
        last_position=last,
        stream_versions={(kind, UUID(aggregate_id)): version for (kind, aggregate_id), version in versions.items()},
    )
