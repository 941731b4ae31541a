"""The in-memory store: the reference semantics every other store is tested against."""

from esctl.store.documents import DocumentTables, MemoryProjectionStorage
from esctl.store.memory.snapshots import InMemorySnapshotStore
from esctl.store.memory.store import InMemoryEventStore

__all__ = ["DocumentTables", "InMemoryEventStore", "InMemorySnapshotStore", "MemoryProjectionStorage"]
