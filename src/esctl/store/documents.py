"""Projection storage in process memory: documents, checkpoints and dead letters as dicts.

The in-memory store keeps its read models here, and it is every store's generic scratch storage
for ``esctl replay`` (``EventStore.scratch_projection_storage``): so it sits beside the
interface, not inside a backend, which only ``open_store`` may import.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from uuid import UUID

from esctl.store.readmodel import (
    EVENT_COLUMNS,
    Checkpoint,
    DeadLetter,
    Document,
    ProjectionStorage,
    Row,
    without_bounds,
)
from esctl.store.types import ReadOptions

if TYPE_CHECKING:
    from esctl.events import StoredEvent


@dataclass
class DocumentTables:
    """Checkpoints, dead letters and documents as plain dicts: the state of an in-memory store.

    ``MemoryProjectionStorage`` works on a copy and writes it back on commit, so a failed
    transaction leaves this untouched.
    """

    checkpoints: dict[str, Checkpoint] = field(default_factory=dict)
    dead_letters: dict[str, dict[int, DeadLetter]] = field(default_factory=dict)
    documents: dict[str, dict[tuple[str, str], bytes]] = field(default_factory=dict)

    def copy(self) -> DocumentTables:
        """Return a copy that can be changed without changing this one."""
        return DocumentTables(
            dict(self.checkpoints),
            {name: dict(letters) for name, letters in self.dead_letters.items()},
            {namespace: dict(docs) for namespace, docs in self.documents.items()},
        )


class MemoryProjectionStorage(ProjectionStorage):
    """``ProjectionStorage`` over dicts, with events from a list; documents only, no SQL.

    Args:
        tables: The documents, checkpoints and dead letters to work on (changed in place).
        events: The stored events, in position order (a tenant purge may leave holes).
    """

    def __init__(self, tables: DocumentTables, events: Sequence[StoredEvent] = ()) -> None:
        self.tables = tables
        self._events = events

    def head(self) -> int:
        """Return the newest event's position."""
        return self._events[-1].global_position if self._events else 0

    def read_rows(
        self,
        after: int,
        upper: int,
        limit: int,
        *,
        columns: Sequence[str] = EVENT_COLUMNS,
        options: ReadOptions | None = None,
        exclude_tenant: UUID | None = None,
    ) -> list[Row]:
        """Return matching events as rows (see ``ProjectionStorage.read_rows``)."""
        from esctl import codec
        from esctl.timeutil import to_micros

        indexes = [EVENT_COLUMNS.index(c) for c in columns]
        rows: list[Row] = []
        for stored in self._select(after, upper, limit, options, exclude_tenant):
            stored_at = to_micros(stored.stored_at)
            full = (stored.global_position, *codec.event_to_row(stored.event, stored_at))
            rows.append(tuple(full[i] for i in indexes))
        return rows

    def read_events(
        self,
        after: int,
        upper: int,
        limit: int,
        *,
        options: ReadOptions | None = None,
        exclude_tenant: UUID | None = None,
    ) -> list[StoredEvent]:
        """Return matching events as stored (no decoding needed in memory)."""
        return list(self._select(after, upper, limit, options, exclude_tenant))

    def decode(self, row: Row) -> StoredEvent:
        """Return the stored event itself when the row is one of ``events``, else decode the row."""
        position = int(row[0])
        index = bisect_left(self._events, position, key=_position)
        if index < len(self._events):
            stored = self._events[index]
            if stored.global_position == position and str(stored.event.event_id) == row[1]:
                return stored
        return super().decode(row)

    def _select(
        self, after: int, upper: int, limit: int, options: ReadOptions | None, exclude_tenant: UUID | None
    ) -> Iterable[StoredEvent]:
        from esctl.store.types import ReadOptions

        filters = without_bounds(options) or ReadOptions()
        returned = 0
        start = bisect_right(self._events, max(after, 0), key=_position)
        stop = bisect_right(self._events, max(upper, 0), key=_position)
        for index in range(start, stop):
            stored = self._events[index]
            if returned >= limit:
                return
            if exclude_tenant is not None and stored.event.tenant_id == exclude_tenant:
                continue
            if filters.matches(stored):
                returned += 1
                yield stored

    def get_checkpoint(self, name: str) -> Checkpoint | None:
        """Return the projection's checkpoint, if any."""
        return self.tables.checkpoints.get(name)

    def checkpoints(self) -> list[Checkpoint]:
        """Return every checkpoint, by name."""
        return [self.tables.checkpoints[name] for name in sorted(self.tables.checkpoints)]

    def put_checkpoint(self, checkpoint: Checkpoint) -> None:
        """Store ``checkpoint``."""
        self.tables.checkpoints[checkpoint.name] = checkpoint

    def dead_letters(self, name: str) -> list[DeadLetter]:
        """Return the projection's dead letters, by position."""
        letters = self.tables.dead_letters.get(name, {})
        return [letters[position] for position in sorted(letters)]

    def add_dead_letter(self, name: str, letter: DeadLetter) -> None:
        """Record a dead letter."""
        self.tables.dead_letters.setdefault(name, {})[letter.position] = letter

    def get_documents(self, namespace: str, *, tenants: Collection[str] | None = None) -> list[Document]:
        """Return the namespace's documents, by tenant and key."""
        docs = self.tables.documents.get(namespace, {})
        wanted = None if tenants is None else set(tenants)
        return [
            Document(tenant, key, docs[(tenant, key)])
            for tenant, key in sorted(docs)
            if wanted is None or tenant in wanted
        ]

    def put_documents(self, namespace: str, documents: Iterable[Document]) -> None:
        """Insert or replace documents."""
        docs = self.tables.documents.setdefault(namespace, {})
        for doc in documents:
            docs[(doc.tenant, doc.key)] = doc.body

    def delete_documents(self, namespace: str, *, tenant: str | None = None) -> None:
        """Delete the namespace's documents (one tenant's if given)."""
        if tenant is None:
            self.tables.documents.pop(namespace, None)
            return
        docs = self.tables.documents.get(namespace, {})
        for key in [k for k in docs if k[0] == tenant]:
            del docs[key]

    def move_documents(self, source: str, target: str, *, tenant: str | None = None) -> None:
        """Replace ``target``'s documents by ``source``'s."""
        self.delete_documents(target, tenant=tenant)
        moved = self.tables.documents.pop(source, {})
        self.tables.documents.setdefault(target, {}).update(moved)


def _position(stored: StoredEvent) -> int:
    return stored.global_position
