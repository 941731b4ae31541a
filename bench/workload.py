"""The benchmark's history: a seeded, realistic multi-tenant event log, in every shape the suite needs.

Ten tenants run three kinds of long-lived aggregates (ledger accounts, shopping carts, IoT devices)
over thirty days. Every stream has 100, 200 or 300 events so that the library append can send
"batches of 100, one stream per batch"; streams start at random moments and their events are
spread out in time, so the log interleaves all streams and tenants the way a live system does.
Payloads are about 200 bytes of JSON; ids are time-ordered UUIDv7 like esctl's own.

The same history comes out as:
- JSON dicts (the event's JSON form, what ``esctl append`` reads and ``esctl dump`` writes),
- an NDJSON file,
- insert rows in esctl's column order (for the raw sqlite3 baselines),
- esctl ``DomainEvent`` models in per-stream batches of 100 (for the library append),
- and, on demand, the peers' own event objects (see ``peers.py``).

Everything is derived from ``random.Random(seed)``: two runs with the same seed and N produce
byte-identical files.
"""

from __future__ import annotations

import heapq
import random
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import orjson

TENANTS = 10
BATCH = 100
START = datetime(2026, 1, 1, tzinfo=UTC)
SPAN_DAYS = 30
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
START_US = (START - _EPOCH) // timedelta(microseconds=1)
SPAN_US = SPAN_DAYS * 86_400 * 1_000_000

# event type -> (aggregate type, payload fields and how to make each value)
_WORDS = [
    "invoice",
    "refund",
    "monthly",
    "fee",
    "groceries",
    "rent",
    "transfer",
    "savings",
    "bonus",
    "salary",
    "coffee",
    "hardware",
    "subscription",
    "travel",
    "hotel",
    "fuel",
    "insurance",
    "dividend",
    "gift",
    "repair",
    "books",
]
_CURRENCIES = ("EUR", "USD", "GBP", "CHF", "SEK")
_CHANNELS = ("sepa", "card", "swift", "cash", "instant")
_CARRIERS = ("dhl", "ups", "fedex", "postnl", "gls")
_STATUSES = ("online", "degraded", "offline", "maintenance")


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(words))


def _ref(rng: random.Random, prefix: str) -> str:
    return f"{prefix}-{rng.randrange(2026_000000, 2026_999999)}"


EVENT_TYPES: dict[str, tuple[str, dict[str, Any]]] = {
    # Ledger accounts: long streams of money movements.
    "FundsDeposited": (
        "Account",
        {
            "amount_cents": lambda r: r.randrange(100, 5_000_000),
            "currency": lambda r: r.choice(_CURRENCIES),
            "channel": lambda r: r.choice(_CHANNELS),
            "reference": lambda r: _ref(r, "DEP"),
            "counterparty_iban": lambda r: f"DE{r.randrange(10**19, 10**20)}",
            "description": lambda r: _text(r, 13),
        },
    ),
    "FundsWithdrawn": (
        "Account",
        {
            "amount_cents": lambda r: r.randrange(100, 900_000),
            "currency": lambda r: r.choice(_CURRENCIES),
            "channel": lambda r: r.choice(_CHANNELS),
            "reference": lambda r: _ref(r, "WDR"),
            "balance_after_cents": lambda r: r.randrange(0, 10_000_000),
            "description": lambda r: _text(r, 13),
        },
    ),
    "FeeCharged": (
        "Account",
        {
            "amount_cents": lambda r: r.randrange(10, 5_000),
            "currency": lambda r: r.choice(_CURRENCIES),
            "fee_code": lambda r: f"F{r.randrange(100, 999)}",
            "reference": lambda r: _ref(r, "FEE"),
            "description": lambda r: _text(r, 15),
        },
    ),
    # Shopping carts: items come and go, then checkout.
    "ItemAdded": (
        "Cart",
        {
            "sku": lambda r: f"SKU-{r.randrange(100000):06d}",
            "quantity": lambda r: r.randrange(1, 9),
            "unit_price_cents": lambda r: r.randrange(99, 99_999),
            "currency": lambda r: r.choice(_CURRENCIES),
            "title": lambda r: _text(r, 11).title(),
            "warehouse": lambda r: f"WH-{r.randrange(1, 40):02d}",
        },
    ),
    "ItemRemoved": (
        "Cart",
        {
            "sku": lambda r: f"SKU-{r.randrange(100000):06d}",
            "quantity": lambda r: r.randrange(1, 9),
            "reason": lambda r: _text(r, 14),
            "removed_by": lambda r: r.choice(("customer", "system", "support")),
        },
    ),
    "ShipmentBooked": (
        "Cart",
        {
            "carrier": lambda r: r.choice(_CARRIERS),
            "tracking_number": lambda r: f"{r.randrange(10**15, 10**16)}",
            "street": lambda r: f"{_text(r, 7).title()} Street {r.randrange(1, 300)}",
            "postcode": lambda r: f"{r.randrange(10000, 99999)}",
            "city": lambda r: r.choice(("Berlin", "Lyon", "Leeds", "Malmo", "Basel")),
            "weight_grams": lambda r: r.randrange(50, 30_000),
        },
    ),
    # Devices: telemetry and status.
    "ReadingRecorded": (
        "Device",
        {
            "sensor": lambda r: r.choice(("temperature", "humidity", "pressure", "co2")),
            "value": lambda r: round(r.uniform(-20, 1200), 3),
            "unit": lambda r: r.choice(("C", "%", "hPa", "ppm")),
            "battery_pct": lambda r: r.randrange(0, 101),
            "firmware": lambda r: f"{r.randrange(1, 5)}.{r.randrange(0, 20)}.{r.randrange(0, 99)}",
            "note": lambda r: _text(r, 12),
        },
    ),
    "StatusChanged": (
        "Device",
        {
            "status": lambda r: r.choice(_STATUSES),
            "previous": lambda r: r.choice(_STATUSES),
            "reason": lambda r: _text(r, 17),
            "reported_by": lambda r: f"gw-{r.randrange(1000):04d}",
        },
    ),
}
_TYPES_BY_AGGREGATE: dict[str, list[str]] = {}
for _name, (_aggregate, _fields) in EVENT_TYPES.items():
    _TYPES_BY_AGGREGATE.setdefault(_aggregate, []).append(_name)
_AGGREGATES = tuple(_TYPES_BY_AGGREGATE)


def _uuid4(rng: random.Random) -> str:
    value = rng.getrandbits(128)
    value = (value & ~(0xF << 76)) | (0x4 << 76)
    value = (value & ~(0b11 << 62)) | (0b10 << 62)
    return str(UUID(int=value))


def _uuid7(rng: random.Random, micros: int) -> str:
    millis = micros // 1000
    value = (millis & 0xFFFF_FFFF_FFFF) << 80
    value |= 0x7 << 76
    value |= rng.getrandbits(12) << 64
    value |= 0b10 << 62
    value |= rng.getrandbits(62)
    return str(UUID(int=value))


def format_micros(micros: int) -> str:
    """ISO 8601 UTC with ``Z``, the way esctl writes ``occurred_at`` (no fraction when it is 0)."""
    text = (_EPOCH + timedelta(microseconds=micros)).isoformat()
    return text[:-6] + "Z"


@dataclass(frozen=True)
class Stream:
    """One aggregate's stream."""

    tenant_id: str
    aggregate_type: str
    aggregate_id: str
    length: int


def tenant_ids(seed: int) -> list[str]:
    """The ten tenants of the history made with ``seed``."""
    rng = random.Random(f"tenants-{seed}")
    return [_uuid4(rng) for _ in range(TENANTS)]


def _streams(n: int, seed: int) -> list[Stream]:
    rng = random.Random(f"streams-{seed}")
    tenants = tenant_ids(seed)
    streams: list[Stream] = []
    left = n
    while left > 0:
        length = min(left, BATCH * rng.choice((1, 2, 2, 3)))
        micros = START_US + rng.randrange(SPAN_US // 2)
        streams.append(
            Stream(
                tenant_id=tenants[len(streams) % TENANTS],
                aggregate_type=rng.choice(_AGGREGATES),
                aggregate_id=_uuid7(rng, micros),
                length=length,
            )
        )
        left -= length
    return streams


def history(n: int, seed: int = 42) -> Iterator[dict[str, Any]]:
    """Yield ``n`` events (JSON form), burst by burst, in the order they happened.

    Each stream writes in bursts of ``BATCH`` events a second or so apart (a device uploading
    readings, an account importing a statement, a cart session), and bursts of all streams
    and tenants interleave over the span. A live store is appended to in time order, so event
    ids (UUIDv7) and ``occurred_at`` rise with the position, as they do in production.

    A heap holds each stream's next burst, so memory is proportional to the number of streams,
    not of events: the 10N history for the memory rows streams straight into SQLite.
    """
    rng = random.Random(f"events-{seed}")
    streams = _streams(n, seed)
    heap: list[tuple[int, int, int]] = []  # (next burst's moment, stream index, events emitted)
    last_event: dict[int, str] = {}
    for index in range(len(streams)):
        heapq.heappush(heap, (START_US + rng.randrange(SPAN_US // 2), index, 0))
    while heap:
        micros, index, emitted = heapq.heappop(heap)
        stream = streams[index]
        burst = min(BATCH, stream.length - emitted)
        for offset in range(burst):
            micros += rng.randrange(1, 2_000_000)
            event = _event(rng, stream, emitted + offset + 1, micros, last_event.get(index))
            last_event[index] = event["event_id"]
            yield event
        emitted += burst
        if emitted < stream.length:
            remaining = START_US + SPAN_US - micros
            gap = rng.randrange(1, max(2, 2 * remaining // ((stream.length - emitted) // BATCH + 1)))
            heapq.heappush(heap, (micros + gap, index, emitted))


def _event(rng: random.Random, stream: Stream, version: int, micros: int, previous: str | None) -> dict[str, Any]:
    event_type = rng.choice(_TYPES_BY_AGGREGATE[stream.aggregate_type])
    event_id = _uuid7(rng, micros)
    event: dict[str, Any] = {
        "event_id": event_id,
        "event_type": event_type,
        "event_version": 1,
        "occurred_at": format_micros(micros),
        "aggregate_id": stream.aggregate_id,
        "aggregate_type": stream.aggregate_type,
        "aggregate_version": version,
        "tenant_id": stream.tenant_id,
        "actor_id": f"user-{rng.randrange(5000)}" if rng.random() < 0.8 else None,
        "correlation_id": _uuid4(rng),
        "causation_id": previous if rng.random() < 0.3 else None,
        "metadata": {"source": rng.choice(("web", "api", "import")), "request_id": f"{rng.getrandbits(48):012x}"},
    }
    for name, make in EVENT_TYPES[event_type][1].items():
        event[name] = make(rng)
    return event


def occurred_micros(event: dict[str, Any]) -> int:
    """``occurred_at`` of a history event as epoch microseconds."""
    moment = datetime.fromisoformat(event["occurred_at"])
    return (moment - _EPOCH) // timedelta(microseconds=1)


ENVELOPE = (
    "event_id",
    "event_type",
    "event_version",
    "occurred_at",
    "aggregate_id",
    "aggregate_type",
    "aggregate_version",
    "tenant_id",
    "actor_id",
    "correlation_id",
    "causation_id",
    "metadata",
)


def to_row(event: dict[str, Any], stored_at: int) -> tuple[Any, ...]:
    """The insert row for ``event`` in esctl's column order (``codec.INSERT_COLUMNS``).

    Written here by hand rather than with esctl's codec: the raw baselines must not lean on
    the code they are measured against.
    """
    payload = {k: v for k, v in event.items() if k not in ENVELOPE}
    return (
        event["event_id"],
        event["event_type"],
        event["event_version"],
        event["aggregate_type"],
        event["aggregate_id"],
        event["aggregate_version"],
        event["tenant_id"],
        occurred_micros(event),
        stored_at,
        event["correlation_id"],
        event["causation_id"],
        event["actor_id"],
        orjson.dumps(payload),
        orjson.dumps(event["metadata"]),
    )


def write_ndjson(events: list[dict[str, Any]], path: Path) -> None:
    """Write the events as NDJSON (one compact JSON object per line)."""
    with path.open("wb") as out:
        for event in events:
            out.write(orjson.dumps(event, option=orjson.OPT_APPEND_NEWLINE))


def stream_batches(events: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Cut the history into batches of ``BATCH`` consecutive events of one stream.

    Batches come in the order they fill up, which keeps each stream's batches in version order
    and interleaves streams and tenants like live traffic.
    """
    open_batches: dict[str, list[dict[str, Any]]] = {}
    lengths: dict[str, int] = {}
    for event in events:
        lengths[event["aggregate_id"]] = event["aggregate_version"]
    batches: list[list[dict[str, Any]]] = []
    for event in events:
        key = event["aggregate_id"]
        batch = open_batches.setdefault(key, [])
        batch.append(event)
        if len(batch) == BATCH or event["aggregate_version"] == lengths[key]:
            batches.append(batch)
            del open_batches[key]
    return batches


def create_schema(conn: sqlite3.Connection) -> None:
    """Create esctl's schema with esctl's own migration SQL, and esctl's pragmas (WAL, NORMAL)."""
    from esctl.store.sqlite.schema import MIGRATIONS

    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("BEGIN IMMEDIATE")
    for migration in MIGRATIONS:
        for statement in migration:
            conn.execute(statement)
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS)}")
    conn.execute("COMMIT")


def insert_statement() -> str:
    """``INSERT INTO events (...) VALUES (?, ...)`` for esctl's columns."""
    from esctl.codec import INSERT_COLUMNS

    marks = ", ".join("?" * len(INSERT_COLUMNS))
    return f"INSERT INTO events ({', '.join(INSERT_COLUMNS)}) VALUES ({marks})"


def build_database(path: Path, events: Iterator[dict[str, Any]], stored_at: int, chunk: int = 20_000) -> int:
    """Write a history straight into a fresh esctl database (for the read benchmarks); return the count."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        create_schema(conn)
        insert = insert_statement()
        count = 0
        rows: list[tuple[Any, ...]] = []
        for event in events:
            rows.append(to_row(event, stored_at))
            if len(rows) == chunk:
                _insert(conn, insert, rows)
                count += len(rows)
                rows = []
        if rows:
            _insert(conn, insert, rows)
            count += len(rows)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return count
    finally:
        conn.close()


def _insert(conn: sqlite3.Connection, insert: str, rows: list[tuple[Any, ...]]) -> None:
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(insert, rows)
    conn.execute("COMMIT")


def esctl_event_classes() -> tuple[Any, dict[str, type[Any]]]:
    """esctl ``DomainEvent`` classes for every event type, in a registry of their own."""
    from pydantic import create_model

    from esctl.events import DomainEvent
    from esctl.registry import EventRegistry

    registry = EventRegistry()
    classes: dict[str, type[Any]] = {}
    for name, (aggregate_type, fields) in EVENT_TYPES.items():
        definitions: dict[str, Any] = {"aggregate_type": (str, aggregate_type)}
        for field, make in fields.items():
            definitions[field] = (type(make(random.Random(0))), ...)
        cls = create_model(name, __base__=DomainEvent, **definitions)
        registry.register(cls)
        classes[name] = cls
    return registry, classes


def esctl_batches(batches: list[list[dict[str, Any]]], classes: dict[str, type[Any]]) -> list[list[Any]]:
    """The batches as esctl events (built before timing: users append events they already hold)."""
    return [[classes[e["event_type"]].model_validate(e) for e in batch] for batch in batches]
