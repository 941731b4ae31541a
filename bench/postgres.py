"""The PostgreSQL store against raw psycopg on the same server and schema (issue 11's figures).

    python bench/postgres.py --dsn postgresql://postgres@/postgres?host=DIR [--n 100000] [--reps 3]
    python bench/postgres.py raw-dump URL [TENANT SINCE_US UNTIL_US] > out.ndjson   (a baseline)
    python bench/postgres.py raw-tenant-stats URL                                   (a baseline)

``--dsn`` defaults to ``ESCTL_TEST_POSTGRES_DSN`` (``.ci/postgres start DIR`` prints one). Every
store lives in a schema of its own, created with esctl's own migrations (so the raw baselines
write into the same tables and indexes) and dropped at the end. The history is bench/workload.py's
(seeded: the same bytes every run); each figure is the median of ``--reps`` runs, esctl and its
baseline alternating.

Figures (esctl / baseline):

- bulk append (CLI): ``esctl append events.ndjson``, a process, start-up included /
  one ``COPY`` of the prepared rows, in-process.
- library append, batches of 100: ``PostgresEventStore.append_events``, one stream per batch /
  ``executemany`` of the batch's rows, one transaction each.
- dump all, and a tenant's 10% window: ``esctl dump > /dev/null`` / ``raw-dump``: keyset pages of
  1,000, one orjson line per row (checked byte-identical).
- rebuild tenant-stats: ``esctl rebuild-projection tenant-stats --yes`` / ``raw-tenant-stats``:
  every row read, payload decoded, counted per tenant and type.
- writers: N processes appending batches of 10 with the library (throughput only).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from timing import Sample, median, run_command, time_call  # noqa: E402
from workload import esctl_batches, esctl_event_classes, history, stream_batches, to_row, write_ndjson  # noqa: E402

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_COLUMNS = (
    "position, event_id::text, event_type, event_version, aggregate_type, aggregate_id::text, aggregate_version,"
    " tenant_id::text, occurred_at, stored_at, correlation_id::text, causation_id::text, actor_id,"
    " payload::text, metadata::text"
)
_INSERT_COLUMNS = (
    "position, event_id, event_type, event_version, aggregate_type, aggregate_id, aggregate_version, tenant_id,"
    " occurred_at, stored_at, correlation_id, causation_id, actor_id, payload, metadata"
)


# -- the raw baselines, run as processes like esctl ------------------------------------------------


def _iso(micros: int) -> str:
    return (_EPOCH + timedelta(microseconds=micros)).isoformat()[:-6] + "Z"


def raw_dump(url: str, tenant: str | None, since: int | None, until: int | None) -> None:
    import psycopg

    write = sys.stdout.buffer.write
    where, params = "", []
    if tenant is not None:
        where, params = " AND tenant_id = %s AND occurred_at >= %s AND occurred_at < %s", [tenant, since, until]
    after = 0
    with psycopg.connect(url, autocommit=True) as conn:
        while True:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM events WHERE position > %s{where} ORDER BY position LIMIT 1000",
                [after, *params],
            ).fetchall()
            if not rows:
                return
            for row in rows:
                line = {
                    "event_id": row[1],
                    "event_type": row[2],
                    "event_version": row[3],
                    "occurred_at": _iso(row[8]),
                    "aggregate_id": row[5],
                    "aggregate_type": row[4],
                    "aggregate_version": row[6],
                    "tenant_id": row[7],
                    "actor_id": row[12],
                    "correlation_id": row[10],
                    "causation_id": row[11],
                    "metadata": orjson.loads(row[14]),
                }
                line.update(orjson.loads(row[13]))
                line["position"] = row[0]
                line["stored_at"] = _iso(row[9])
                write(orjson.dumps(line, option=orjson.OPT_APPEND_NEWLINE))
            after = rows[-1][0]


def raw_tenant_stats(url: str) -> None:
    import psycopg

    counts: dict[tuple[str | None, str], int] = {}
    after = 0
    with psycopg.connect(url, autocommit=True) as conn:
        while True:
            rows = conn.execute(
                "SELECT position, tenant_id::text, event_type, payload::text FROM events"
                " WHERE position > %s ORDER BY position LIMIT 1000",
                [after],
            ).fetchall()
            if not rows:
                break
            for _, tenant_id, event_type, payload in rows:
                orjson.loads(payload)
                counts[(tenant_id, event_type)] = counts.get((tenant_id, event_type), 0) + 1
            after = rows[-1][0]
    sys.stdout.buffer.write(orjson.dumps([[t, e, n] for (t, e), n in sorted(counts.items(), key=str)]))


# -- schemas -------------------------------------------------------------------------------------


class Schemas:
    """Fresh schemas on the server, each holding esctl's tables; all dropped by ``drop_all``."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.made: list[str] = []

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute(sql)  # type: ignore[arg-type]

    def fresh(self, label: str, *, tables: bool) -> str:
        """A new empty schema (with esctl's tables if ``tables``); return its URL."""
        import psycopg

        from esctl.store.postgres.schema import migrate

        name = f"bench_{label}_{uuid.uuid4().hex[:8]}"
        self._admin(f"CREATE SCHEMA {name}")
        self.made.append(name)
        separator = "&" if "?" in self.dsn else "?"
        url = f"{self.dsn}{separator}options=-csearch_path%3D{name}"
        if tables:
            with psycopg.connect(url) as conn:
                migrate(conn, url)
        return url

    def drop_all(self) -> None:
        for name in self.made:
            self._admin(f"DROP SCHEMA IF EXISTS {name} CASCADE")
        self.made.clear()


def _json_row(position: int, row: tuple[Any, ...]) -> tuple[Any, ...]:
    # json columns take text: the payload and metadata bytes go in decoded
    return (position, *row[:12], row[12].decode(), row[13].decode())


def raw_copy(url: str, rows: list[tuple[Any, ...]]) -> Sample:
    import psycopg

    with psycopg.connect(url) as conn:
        prepared = [_json_row(n + 1, row) for n, row in enumerate(rows)]

        def copy_all() -> None:
            with conn.cursor() as cursor, cursor.copy(f"COPY events ({_INSERT_COLUMNS}) FROM STDIN") as copy:
                for row in prepared:
                    copy.write_row(row)
            conn.commit()

        return time_call(copy_all)


def raw_batches(url: str, batches: list[list[tuple[Any, ...]]]) -> Sample:
    import psycopg

    insert = f"INSERT INTO events ({_INSERT_COLUMNS}) VALUES ({', '.join(['%s'] * 15)})"
    with psycopg.connect(url) as conn:
        prepared, position = [], 0
        for batch in batches:
            prepared.append([_json_row(position + n + 1, row) for n, row in enumerate(batch)])
            position += len(batch)

        def append_all() -> None:
            for rows in prepared:
                with conn.cursor() as cursor:
                    cursor.executemany(insert, rows)
                conn.commit()

        return time_call(append_all)


def library_append(url: str, batches: list[list[Any]], registry: Any) -> Sample:
    from esctl.store.postgres import PostgresEventStore

    async def append_all() -> Sample:
        store = PostgresEventStore(url, registry=registry)
        try:
            await store.get_global_position()
            started = time.perf_counter()
            cpu = time.process_time()
            for events in batches:
                first = events[0]
                await store.append_events(first.aggregate_id, first.aggregate_type, events, first.aggregate_version - 1)
            return Sample(time.perf_counter() - started, time.process_time() - cpu)
        finally:
            await store.close()

    return asyncio.run(append_all())


_WRITER = """
import asyncio, sys, time, uuid
from datetime import UTC, datetime
from esctl.events import GenericEvent
from esctl.store.postgres import PostgresEventStore

async def main(url, seconds):
    store = PostgresEventStore(url)
    await store.get_global_position()
    written, end = 0, time.monotonic() + seconds
    while time.monotonic() < end:
        cart = uuid.uuid4()
        events = [GenericEvent(event_type="bench.Tick", aggregate_type="Cart", aggregate_id=cart,
                               aggregate_version=v, n=v) for v in range(1, 11)]
        await store.append_events(cart, "Cart", events, 0)
        written += 10
    await store.close()
    print(written)

asyncio.run(main(sys.argv[1], float(sys.argv[2])))
"""


def writers(url: str, count: int, seconds: float) -> float:
    processes = [
        subprocess.Popen([sys.executable, "-c", _WRITER, url, str(seconds)], stdout=subprocess.PIPE)
        for _ in range(count)
    ]
    total = 0
    for process in processes:
        out, _ = process.communicate(timeout=seconds + 120)
        if process.returncode != 0:
            raise RuntimeError("a writer failed")
        total += int(out)
    return total / seconds


# -- the run -------------------------------------------------------------------------------------


def alternate(reps: int, *functions: Callable[[], Sample]) -> list[Sample]:
    runs: list[list[Sample]] = [[] for _ in functions]
    for _ in range(reps):
        for index, function in enumerate(functions):
            runs[index].append(function())
    return [Sample(median([s.wall for s in r]), median([s.cpu for s in r])) for r in runs]


def row(name: str, events: int, esctl: Sample, raw: Sample, target: float) -> list[str]:
    ratio = raw.wall / esctl.wall
    return [
        name,
        f"{events / esctl.wall:,.0f} ev/s",
        f"{events / raw.wall:,.0f} ev/s",
        f"{ratio:.2f}",
        f">= {target}",
        "pass" if ratio >= target else "FAIL",
        f"CPU ratio {raw.cpu / esctl.cpu:.2f}" if esctl.cpu else "",
    ]


def main(argv: Sequence[str]) -> int:
    if argv and argv[0] == "raw-dump":
        url, *rest = argv[1:]
        raw_dump(url, rest[0] if rest else None, int(rest[1]) if rest else None, int(rest[2]) if rest else None)
        return 0
    if argv and argv[0] == "raw-tenant-stats":
        raw_tenant_stats(argv[1])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dsn", default=os.environ.get("ESCTL_TEST_POSTGRES_DSN"))
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--library-n", type=int, default=20_000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--writer-seconds", type=float, default=5.0)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/esctl-bench-postgres"))
    args = parser.parse_args(argv)
    if not args.dsn:
        parser.error("give --dsn (or set ESCTL_TEST_POSTGRES_DSN)")
    args.workdir.mkdir(parents=True, exist_ok=True)
    esctl = str(Path(sys.executable).with_name("esctl"))
    schemas = Schemas(args.dsn)
    table: list[list[str]] = []
    try:
        events = list(history(args.n, seed=42))
        stored_at = 1_790_000_000_000_000
        rows = [to_row(e, stored_at) for e in events]
        ndjson = args.workdir / "events.ndjson"
        write_ndjson(events, ndjson)

        # bulk append
        kept: list[str] = []

        def cli_bulk() -> Sample:
            url = schemas.fresh("bulk", tables=False)
            run_command([esctl, "--db", url, "init"])
            sample = run_command([esctl, "--db", url, "-q", "append", str(ndjson)])
            kept.append(url)
            return sample

        esctl_s, raw_s = alternate(args.reps, cli_bulk, lambda: raw_copy(schemas.fresh("copy", tables=True), rows))
        table.append(row("bulk append (CLI) vs COPY", args.n, esctl_s, raw_s, 0.5))
        store_url = kept[-1]

        # library append in batches of 100
        small = [e for batch in stream_batches(events)[: args.library_n // 100] for e in batch]
        batches = stream_batches(small)
        registry, classes = esctl_event_classes()
        models = esctl_batches(batches, classes)
        row_batches = [[to_row(e, stored_at) for e in batch] for batch in batches]
        count = sum(len(b) for b in batches)
        esctl_s, raw_s = alternate(
            args.reps,
            lambda: library_append(schemas.fresh("lib", tables=False), models, registry),
            lambda: raw_batches(schemas.fresh("libraw", tables=True), row_batches),
        )
        table.append(row("library append, batches of 100 vs executemany", count, esctl_s, raw_s, 0.6))

        # dumps: everything, and one tenant's 10% window
        first, last = min(e["occurred_at"] for e in events), max(e["occurred_at"] for e in events)
        start = datetime.fromisoformat(first.replace("Z", "+00:00"))
        span = datetime.fromisoformat(last.replace("Z", "+00:00")) - start
        since, until = start + span * 0.45, start + span * 0.55
        tenant = events[0]["tenant_id"]
        window = ["--tenant", tenant, "--since", since.isoformat(), "--until", until.isoformat()]
        micros = [str((t - _EPOCH) // timedelta(microseconds=1)) for t in (since, until)]
        for name, filters, raw_args in (
            ("dump everything", [], []),
            ("dump a tenant's 10% window", window, [tenant, *micros]),
        ):
            esctl_cmd = [esctl, "--db", store_url, "dump", "--format", "ndjson", *filters]
            raw_cmd = [sys.executable, __file__, "raw-dump", store_url, *raw_args]
            outputs = [subprocess.run(c, capture_output=True, check=True).stdout for c in (esctl_cmd, raw_cmd)]
            lines = outputs[1].count(b"\n")
            same = outputs[0] == outputs[1]
            esctl_s, raw_s = alternate(args.reps, lambda c=esctl_cmd: run_command(c), lambda c=raw_cmd: run_command(c))
            table.append(row(name, lines, esctl_s, raw_s, 0.6))
            table[-1][-1] += f"; {lines:,} events" + ("" if same else "; OUTPUT DIFFERS")

        # rebuild of tenant-stats
        esctl_cmd = [esctl, "--db", store_url, "-q", "rebuild-projection", "tenant-stats", "--yes"]
        raw_cmd = [sys.executable, __file__, "raw-tenant-stats", store_url]
        esctl_s, raw_s = alternate(args.reps, lambda: run_command(esctl_cmd), lambda: run_command(raw_cmd))
        table.append(row("rebuild tenant-stats (CLI)", args.n, esctl_s, raw_s, 0.4))

        # writer processes
        for count_ in (1, 4, 16):
            url = schemas.fresh("writers", tables=True)
            rate = writers(url, count_, args.writer_seconds)
            table.append([f"{count_} writer process(es), batches of 10", f"{rate:,.0f} ev/s", "", "", "", "", ""])
    finally:
        schemas.drop_all()
    header = ["figure", "esctl", "baseline", "ratio", "target", "result", "note"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for line in table:
        print("| " + " | ".join(line[:7]) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
