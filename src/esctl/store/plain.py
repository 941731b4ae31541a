"""The fast append path's decision, on insert rows: is a batch plain, and at which versions?

Nearly every append is plain: fresh event ids, versions that follow their streams' heads, one
tenant per stream, expected versions that hold. For such a batch the full rules
(``esctl.store.rules.plan_append``) would accept every event unchanged, so a store may check
those conditions on the insert rows themselves (no models, no lookups of stored ids) and write
them as they are; whatever this is not sure of, it leaves to the full rules, which decide and
word the errors. Pure, shared by the SQL backends (each brings its own head lookup), and held
to the rules by a property test.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Collection, Mapping
from typing import Any

from esctl.codec import AGGREGATE_VERSION, INSERT_COLUMNS, InsertRow
from esctl.store.rules import expected_holds
from esctl.store.types import Expected, ExpectedVersion, StreamKey

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
