"""The erasure contract: ``purge_tenant`` removes one tenant whole and leaves everything else as it was.

For a random multi-tenant history and a random tenant: every other event's dump line is
byte-identical after the purge, the tenant is gone from the events, the stats, the tenants,
the snapshots and the projections' documents, ``verify`` passes (the purge's holes are
explained), a dry run changes nothing and counts what the real run then removes, and a rebuild
of every projection equals the one built from a store that never had the tenant.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID, uuid4

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from esctl.errors import UsageError
from esctl.events import DomainEvent
from esctl.personal import REDACTED, Personal
from esctl.projections.runner import ProjectionRunner
from esctl.registry import register_event
from esctl.store.interface import EventStore
from esctl.store.readmodel import Document, ProjectionStorage
from esctl.store.snapshots import Snapshot
from esctl.store.types import ReadOptions
from esctl.testing.base import StoreContract
from esctl.testing.events import REGISTRY, T0, TENANTS, History, item, projections


@register_event(registry=REGISTRY)
class ContactChanged(DomainEvent):
    """A customer's contact details changed: two personal fields, one that is not."""

    event_type: str = "test.ContactChanged"
    aggregate_type: str = "Customer"
    email: Annotated[str, Personal]
    name: Annotated[str | None, Personal] = None
    plan: str


def contact(customer: UUID, version: int, tenant: UUID, actor: str, email: str) -> ContactChanged:
    """Return a ``ContactChanged`` of ``customer`` at ``version`` by ``actor``."""
    return ContactChanged(
        aggregate_id=customer,
        aggregate_version=version,
        tenant_id=tenant,
        actor_id=actor,
        email=email,
        name=f"Name of {email}",
        plan="gold",
        occurred_at=T0,
    )


_ops = st.lists(st.tuples(st.integers(0, 7), st.integers(-50, 50)), min_size=1, max_size=40)


async def dump_lines(store: EventStore, options: ReadOptions | None = None) -> list[bytes]:
    """Every selected event as the NDJSON line ``esctl dump`` writes."""
    return [line async for page in store.read_json_lines(options) for line in page]


async def tenant_of_lines(store: EventStore) -> dict[bytes, UUID | None]:
    """Each dump line with the tenant of its event."""
    lines = await dump_lines(store)
    tenants = [stored.event.tenant_id async for stored in store.read_all()]
    return dict(zip(lines, tenants, strict=True))


def history(ops: list[tuple[int, int]]) -> list[DomainEvent]:
    """Events of accounts 0..7 (tenants ``TENANTS`` and none), in the order ``ops`` gives."""
    built = History()
    return [built.event(account, "move", amount) for account, amount in ops]


async def views(store: EventStore, runner: ProjectionRunner) -> dict[str, list[dict[str, Any]]]:
    """Every projection's read model, as ``esctl projections`` shows it."""
    return {name: await runner.view(name) for name in runner.names}


class ErasureContract(StoreContract):
    """``purge_tenant``: the whole tenant or none of it, and nothing else touched."""

    @settings(
        max_examples=25,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.differing_executors],
    )
    @given(ops=_ops, victim=st.sampled_from(TENANTS))
    def test_purge_of_a_random_tenant_leaves_every_other_event_byte_identical(
        self, ops: list[tuple[int, int]], victim: UUID
    ) -> None:
        events = history(ops)

        async def run(store: EventStore, never_had: EventStore) -> None:
            await store.append_batch(events)
            await never_had.append_batch([e for e in events if e.tenant_id != victim])
            runner = ProjectionRunner(store, projections(sql=False))
            await runner.catch_up()  # documents of every tenant, the victim's included
            before = await tenant_of_lines(store)
            positions = {s.event.event_id: s.global_position async for s in store.read_all()}
            planned = await store.purge_tenant(victim, dry_run=True)
            assert await dump_lines(store) == list(before)  # the dry run changed nothing

            result = await store.purge_tenant(victim)

            kept = [line for line, tenant in before.items() if tenant != victim]
            assert await dump_lines(store) == kept
            assert {s.event.event_id: s.global_position async for s in store.read_all()} == {
                e.event_id: positions[e.event_id] for e in events if e.tenant_id != victim
            }
            gone = [e for e in events if e.tenant_id == victim]
            assert (
                (planned.events, planned.streams)
                == (result.events, result.streams)
                == (
                    len(gone),
                    len({e.aggregate_id for e in gone}),
                )
            )
            assert planned.documents == result.documents
            assert await store.count_events(ReadOptions(tenant_id=victim)) == 0
            assert victim not in {t.tenant_id for t in await store.list_tenants()}
            assert victim not in (await store.stats()).by_tenant
            report = await store.verify()
            assert report.ok, report.findings
            # The per-tenant read models lost the victim with the purge itself...
            assert all(row["tenant_id"] != str(victim) for row in await runner.view("tenant-stats"))
            # ...and a rebuild of each, passing over the holes, equals one never given the tenant.
            for name in runner.names:
                await runner.rebuild(name)
            fresh = ProjectionRunner(never_had, projections(sql=False))
            for name in fresh.names:
                await fresh.rebuild(name)
            assert await views(store, runner) == await views(never_had, fresh)
            records = await store.purges()
            if gone:
                assert [(r.tenant_id, r.events, r.first_position, r.last_position) for r in records] == [
                    (victim, len(gone), result.first_position, result.last_position)
                ]
            else:
                assert records == []

        self.run_with_stores(2, run)

    @pytest.mark.asyncio
    async def test_purge_drops_the_tenants_snapshots_and_documents_only(self, store: EventStore) -> None:
        acme, globex = uuid4(), uuid4()
        carts = {acme: uuid4(), globex: uuid4(), None: uuid4()}
        for tenant, cart in carts.items():
            await store.append_batch([item(cart, 1, tenant_id=tenant), item(cart, 2, tenant_id=tenant)])
        snapshots = store.snapshot_store()
        for tenant, cart in carts.items():
            await snapshots.save_snapshot(Snapshot(cart, "Cart", 2, {"skus": ["x"]}, tenant_id=tenant))

        def put(storage: ProjectionStorage) -> None:
            storage.put_documents(
                "p", [Document(str(acme), "k", b"{}"), Document(str(globex), "k", b"{}"), Document("", "k", b"{}")]
            )

        await store.run_projection_transaction(put)

        result = await store.purge_tenant(acme)

        assert (result.events, result.streams, result.snapshots, result.documents) == (2, 1, 1, 1)
        assert (result.first_position, result.last_position) == (1, 2)
        assert await snapshots.get_snapshot(carts[acme], "Cart") is None
        assert await snapshots.get_snapshot(carts[globex], "Cart") is not None
        assert await snapshots.get_snapshot(carts[None], "Cart") is not None
        docs = await store.run_projection_transaction(lambda tx: tx.get_documents("p"), write=False)
        assert sorted(d.tenant for d in docs) == sorted(["", str(globex)])
        assert await store.get_stream_version(carts[acme], "Cart") == 0

    @pytest.mark.asyncio
    async def test_purged_tenant_may_start_again_and_positions_never_repeat(self, store: EventStore) -> None:
        acme, globex = uuid4(), uuid4()
        cart, other = uuid4(), uuid4()
        await store.append_batch([item(cart, 1, tenant_id=acme), item(other, 1, tenant_id=globex)])
        await store.append_batch([item(cart, 2, tenant_id=acme)])
        await store.purge_tenant(acme)
        appended = await store.append_batch([item(cart, 1, tenant_id=acme)])
        assert appended.first_position == 4  # 1 and 3 were purged, not freed
        assert [(s.global_position, s.event.tenant_id) async for s in store.read_all()] == [(2, globex), (4, acme)]
        assert (await store.verify()).ok
        assert [r.events for r in await store.purges()] == [2]

    @pytest.mark.asyncio
    async def test_purge_of_a_tenant_with_nothing_stored_changes_and_records_nothing(self, store: EventStore) -> None:
        cart = uuid4()
        await store.append_batch([item(cart, 1, tenant_id=uuid4())])
        before = await dump_lines(store)
        result = await store.purge_tenant(uuid4())
        assert (result.events, result.streams, result.snapshots, result.documents) == (0, 0, 0, 0)
        assert result.first_position is None
        assert await dump_lines(store) == before
        assert await store.purges() == []


class RedactionContract(StoreContract):
    """``redact``: personal fields overwritten, everything else kept, snapshots dropped, recorded."""

    @pytest.mark.asyncio
    async def test_redact_overwrites_personal_fields_and_keeps_everything_else(self, store: EventStore) -> None:
        acme = uuid4()
        ann, bob = uuid4(), uuid4()
        await store.append_batch(
            [
                contact(ann, 1, acme, "ann", "ann@example.com"),
                contact(bob, 1, acme, "bob", "bob@example.com"),
                contact(ann, 2, acme, "ann", "ann@new.example.com"),
            ]
        )
        snapshots = store.snapshot_store()
        await snapshots.save_snapshot(Snapshot(ann, "Customer", 2, {"email": "ann@new.example.com"}, tenant_id=acme))
        await snapshots.save_snapshot(Snapshot(bob, "Customer", 1, {"email": "bob@example.com"}, tenant_id=acme))
        before = await dump_lines(store)
        positions = [(s.global_position, s.event.event_id, s.stream_position) async for s in store.read_all()]

        planned = await store.redact(aggregate_id=ann, registry=REGISTRY, dry_run=True)
        assert await dump_lines(store) == before
        result = await store.redact(aggregate_id=ann, registry=REGISTRY)

        assert (planned.events, planned.streams, planned.snapshots) == (result.events, result.streams, 1)
        assert (result.events, result.first_position, result.last_position) == (2, 1, 3)
        assert result.fields == {"test.ContactChanged": ["email", "name"]}
        after = [s async for s in store.read_all()]
        assert [(s.global_position, s.event.event_id, s.stream_position) for s in after] == positions
        redacted = [s.event for s in after if s.event.aggregate_id == ann]
        assert all(isinstance(e, ContactChanged) for e in redacted)
        assert [(e.email, e.name, e.plan, e.actor_id, e.tenant_id) for e in redacted] == [  # type: ignore[attr-defined]
            (REDACTED, REDACTED, "gold", "ann", acme)
        ] * 2
        lines = await dump_lines(store)
        assert lines[1] == before[1]  # bob's event, byte for byte
        assert b"ann@" not in b"".join(lines)
        assert await snapshots.get_snapshot(ann, "Customer") is None
        assert await snapshots.get_snapshot(bob, "Customer") is not None
        assert (await store.verify(REGISTRY)).ok
        again = await store.redact(aggregate_id=ann, registry=REGISTRY)
        assert again.events == 0
        assert [(r.selection, r.events) for r in await store.redactions()] == [(f"aggregate_id={ann}", 2)]

    @pytest.mark.asyncio
    async def test_redact_by_tenant_and_actor_touches_only_that_actors_events(self, store: EventStore) -> None:
        acme, globex = uuid4(), uuid4()
        first, second, third = uuid4(), uuid4(), uuid4()
        await store.append_batch(
            [
                contact(first, 1, acme, "ann", "ann@acme.example"),
                contact(second, 1, acme, "bob", "bob@acme.example"),
                contact(third, 1, globex, "ann", "ann@globex.example"),
            ]
        )
        result = await store.redact(tenant_id=acme, actor_id="ann", registry=REGISTRY)
        assert (result.events, result.first_position) == (1, 1)
        emails = [s.event.email async for s in store.read_all()]  # type: ignore[attr-defined]
        assert emails == [REDACTED, "bob@acme.example", "ann@globex.example"]

    @pytest.mark.asyncio
    async def test_redact_refuses_types_it_cannot_judge_and_changes_nothing(self, store: EventStore) -> None:
        acme = uuid4()
        customer = uuid4()
        await store.append_batch([contact(customer, 1, acme, "ann", "ann@example.com")])
        await store.append_batch([item(customer, 1, tenant_id=acme)])  # a Cart stream of the same id
        before = await dump_lines(store)
        with pytest.raises(UsageError, match=r"test\.ItemAdded"):
            await store.redact(aggregate_id=customer, registry=REGISTRY)
        assert await dump_lines(store) == before
        assert await store.redactions() == []
