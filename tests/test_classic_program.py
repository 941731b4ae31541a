"""A small program written as the classic API's tutorials write it, with only the import changed,
run as a real process on every store: in memory, SQLite, and PostgreSQL when a test server is set."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from classic_support import STORE_KINDS

PROGRAM = textwrap.dedent(
    """
    import asyncio
    import sys
    from uuid import UUID, uuid4

    from pydantic import BaseModel

    from esctl import (
        AppendResult,
        AggregateRepository,
        DeclarativeAggregate,
        DomainEvent,
        InMemoryEventStore,
        ReadDirection,
        ReadOptions,
        SQLiteEventStore,
        TenantAwareRepository,
        get_required_tenant,
        handles,
        register_event,
        tenant_scope,
    )


    @register_event
    class TaskCreated(DomainEvent):
        event_type: str = "TaskCreated"
        aggregate_type: str = "Task"
        title: str


    @register_event
    class TaskCompleted(DomainEvent):
        event_type: str = "TaskCompleted"
        aggregate_type: str = "Task"


    class TaskState(BaseModel):
        task_id: UUID
        title: str = ""
        done: bool = False


    class Task(DeclarativeAggregate[TaskState]):
        aggregate_type = "Task"

        def _get_initial_state(self) -> TaskState:
            return TaskState(task_id=self.aggregate_id)

        @handles(TaskCreated)
        def _on_created(self, event: TaskCreated) -> None:
            self._state = TaskState(task_id=self.aggregate_id, title=event.title)

        @handles(TaskCompleted)
        def _on_completed(self, event: TaskCompleted) -> None:
            self._state = self.state.model_copy(update={"done": True})

        def create(self, title: str) -> None:
            self.apply_event(self.create_event(TaskCreated, title=title))

        def complete(self) -> None:
            self.apply_event(self.create_event(TaskCompleted))


    def make_store(kind: str, target: str):
        if kind == "memory":
            return InMemoryEventStore()
        if kind == "sqlite":
            return SQLiteEventStore(target)
        from esctl.store import open_store

        return open_store(target)


    async def main(kind: str, target: str) -> None:
        store = make_store(kind, target)
        repo = TenantAwareRepository(AggregateRepository(store, Task))
        acme, globex = uuid4(), uuid4()
        task_ids = []
        async with tenant_scope(acme):
            assert get_required_tenant() == acme
            for n in range(3):
                task = await repo.load_or_create(uuid4())
                task.create(f"task {n}")
                await repo.save(task)
                task_ids.append(task.aggregate_id)
            task = await repo.load_or_create(task_ids[0])
            task.complete()
            await repo.save(task)
        async with tenant_scope(globex):
            other = await repo.load_or_create(uuid4())
            other.create("theirs")
            await repo.save(other)
            try:
                await repo.load_or_create(task_ids[0])
            except PermissionError:
                print("blocked: another tenant's task")

        # Events appended straight to the store, without versions: the store stamps them.
        extra = task_ids[1]
        result = await store.append_events(extra, "Task", [TaskCompleted(aggregate_id=extra, tenant_id=acme)])
        assert isinstance(result, AppendResult)
        print("append success:", result.success, "new_version:", result.new_version)

        newest = [s async for s in store.read_all(ReadOptions(direction=ReadDirection.BACKWARD, limit=2))]
        print("newest:", [s.event.event_type for s in newest], [s.global_position for s in newest])
        after = [s async for s in store.read_all(ReadOptions(from_position=newest[-1].global_position))]
        print("after checkpoint:", [s.global_position for s in after])
        async with tenant_scope(acme):
            first = await repo.load_or_create(task_ids[0])
            print("task 0:", first.state.title, first.state.done, first.version)
        await store.close()


    asyncio.run(main(sys.argv[1], sys.argv[2]))
    """
)


@pytest.mark.parametrize("kind", STORE_KINDS)
def test_a_classic_program_runs_on_every_store(kind: str, tmp_path: Path) -> None:
    if kind == "postgres":
        from postgres_support import drop_schema, new_schema, server_dsn, with_schema

        schema = new_schema()
        target = with_schema(server_dsn(), schema)
    else:
        target = str(tmp_path / "tasks.db")
    program = tmp_path / "classic_tasks.py"
    program.write_text(PROGRAM)
    try:
        done = subprocess.run(
            [sys.executable, str(program), kind, target],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env={**os.environ, "PYTHONPATH": ""},
        )
    finally:
        if kind == "postgres":
            drop_schema(schema)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "blocked: another tenant's task",
        "append success: True new_version: 2",
        "newest: ['TaskCompleted', 'TaskCreated'] [6, 5]",
        "after checkpoint: [6]",
        "task 0: task 0 True 2",
    ]


CLASSIC_NAMES = [
    "ReadDirection",
    "ReadOptions",
    "AppendResult",
    "EventSourceError",
    "OptimisticLockError",
    "AggregateNotFoundError",
    "EventVersionError",
    "UnhandledEventError",
    "EventTypeNotFoundError",
    "DuplicateEventTypeError",
    "TenantContextNotSetError",
    "TenantMismatchError",
    "DomainEvent",
    "TenantDomainEvent",
    "EventRegistry",
    "register_event",
    "get_event_class",
    "get_event_class_or_none",
    "is_event_registered",
    "list_registered_events",
    "AggregateRoot",
    "DeclarativeAggregate",
    "handles",
    "AggregateRepository",
    "TenantAwareRepository",
    "tenant_context",
    "get_required_tenant",
    "get_current_tenant",
    "set_current_tenant",
    "clear_tenant_context",
    "tenant_scope",
    "tenant_scope_sync",
    "get_handled_event_type",
    "is_event_handler",
    "InMemoryEventStore",
    "SQLiteEventStore",
    "EventStore",
    "ExpectedVersion",
    "Snapshot",
    "SnapshotStore",
    "InMemorySnapshotStore",
    "SQLiteSnapshotStore",
]


def test_every_classic_name_is_exported_by_esctl() -> None:
    import esctl

    missing = [name for name in CLASSIC_NAMES if name not in esctl.__all__ or getattr(esctl, name, None) is None]
    assert missing == []
