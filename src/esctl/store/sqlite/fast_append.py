"""The SQLite store's fast append path: a plain batch's rows go in as they are.

``esctl.store.plain.plain_versions`` decides whether a batch is plain (on its insert rows,
without models); this module looks up the heads it asks for and inserts the rows.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Mapping
from uuid import UUID

from esctl.codec import INSERT_COLUMNS, InsertRow
from esctl.store.plain import plain_versions
from esctl.store.types import AppendResult, Expected, StreamKey

INSERT = f"INSERT INTO events ({', '.join(INSERT_COLUMNS)}) VALUES ({', '.join('?' * len(INSERT_COLUMNS))})"
HEAD = (
    "SELECT aggregate_version, tenant_id FROM events"
    " WHERE aggregate_id = ? AND aggregate_type = ? ORDER BY aggregate_version DESC LIMIT 1"
)


class StoredIdsFound(Exception):
    """The insert hit a unique index: an event id already stored, or the first version of a
    stream that was expected to be new."""


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
