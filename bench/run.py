"""esctl's benchmark suite: esctl against raw sqlite3 and the Python peers, as ratios with targets.

Run it from the repository root with the project's virtualenv (see bench/README.md):

    python bench/run.py                 # N = 100,000 events, about 2 minutes on 2 cores
    python bench/run.py --n 2000 --quick   # the smoke run the test suite uses
    python bench/run.py --memory        # adds peak RSS at 10N vs N (builds a 10N database)

Every figure is the median of several repetitions; esctl and its baseline alternate within a
repetition so that a slow patch of the machine hits both. The table's ratio is esctl's
throughput over the baseline's (higher is better) for appends, dumps and rebuilds, and a wall
time or memory ratio (lower is better) for start-up and RSS; each has the target of issue 5.
A row whose command or peer is missing says "not available" instead of failing the run.

To measure another checkout (say the code before a change, in a git worktree outside the tree),
put its ``src`` first on ``PYTHONPATH``: the library rows import it and the ``esctl`` commands
run it (the header says which ``esctl`` was measured):

    PYTHONPATH=/tmp/esctl-before/src python bench/run.py
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import importlib.util
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import orjson  # noqa: E402
import peers  # noqa: E402
import timing  # noqa: E402
import workload  # noqa: E402
from timing import CommandFailed, Sample, Stopwatch, fresh, median, run_command, time_call  # noqa: E402

BULK = "bulk append (CLI)"
LIBRARY = "library append, batches of 100"
DUMP_ALL = "dump everything (CLI)"
DUMP_TENANT = "dump 1 tenant, 10% window (CLI)"
REBUILD = "rebuild tenant-stats (CLI)"
VERSION = "start-up: esctl --version"
ONE_EVENT = "start-up: one-event append (CLI)"
RSS_DUMP = "peak RSS of dump, 10N vs N"
RSS_REBUILD = "peak RSS of rebuild, 10N vs N"
VS_EVENTSOURCING = "library append vs eventsourcing"
VS_EVENTSOURCE = "library append vs eventsource-py"
VS_AIOSQLITE = "library append vs aiosqlite"
ROW_NAMES = (
    BULK,
    LIBRARY,
    DUMP_ALL,
    DUMP_TENANT,
    REBUILD,
    VERSION,
    ONE_EVENT,
    RSS_DUMP,
    RSS_REBUILD,
    VS_EVENTSOURCING,
    VS_EVENTSOURCE,
    VS_AIOSQLITE,
)

BASELINES = {
    BULK: "raw sqlite3 executemany of the same rows, same schema and indexes, one transaction (in-process)",
    LIBRARY: "raw sqlite3, the same batches of 100, one BEGIN IMMEDIATE..COMMIT each (in-process)",
    DUMP_ALL: "bench/raw_loops.py dump: sqlite3 select + one orjson line per row, byte-identical output (a process)",
    DUMP_TENANT: "the same raw loop with the tenant and time window in its WHERE clause (a process)",
    REBUILD: "bench/raw_loops.py tenant-stats: read all rows, decode payload, count per tenant and type (a process)",
    VERSION: 'python -c "import typer" (wall time)',
    ONE_EVENT: 'python -c "import typer" (wall time)',
    RSS_DUMP: "esctl's own peak RSS over N events (esctl column: over 10N)",
    RSS_REBUILD: "esctl's own peak RSS over N events (esctl column: over 10N)",
    VS_EVENTSOURCING: "eventsourcing SQLiteApplicationRecorder.insert_events, same batches, pre-serialized",
    VS_EVENTSOURCE: "eventsource-py SQLiteEventStore.append, same batches, its own event models",
    VS_AIOSQLITE: "aiosqlite: BEGIN IMMEDIATE, executemany, COMMIT, each awaited, same batches, rows prepared",
}


@dataclass(frozen=True)
class Target:
    """``ratio >= value`` (higher is better) or ``ratio <= value`` (lower is better)."""

    value: float
    higher_is_better: bool

    def met(self, ratio: float) -> bool:
        return ratio >= self.value if self.higher_is_better else ratio <= self.value

    def __str__(self) -> str:
        return f"{'>=' if self.higher_is_better else '<='} {self.value:g}"


TARGETS = {
    BULK: Target(0.50, True),
    LIBRARY: Target(0.70, True),
    DUMP_ALL: Target(0.60, True),
    DUMP_TENANT: Target(0.60, True),
    REBUILD: Target(0.40, True),
    VERSION: Target(1.5, False),
    ONE_EVENT: Target(3.0, False),
    RSS_DUMP: Target(1.3, False),
    RSS_REBUILD: Target(1.3, False),
    VS_EVENTSOURCING: Target(1.0, True),
    VS_EVENTSOURCE: Target(5.0, True),
}
"""Rows without a target (``VS_AIOSQLITE``: no issue sets one) are informational: "info"."""


@dataclass
class Row:
    """One line of the table."""

    name: str
    esctl: str = ""
    baseline: str = ""
    ratio: float | None = None
    status: str = "n/a"
    note: str = ""

    @classmethod
    def measured(cls, name: str, esctl: str, baseline: str, ratio: float, note: str = "") -> Row:
        target = TARGETS.get(name)
        status = "info" if target is None else "pass" if target.met(ratio) else "FAIL"
        return cls(name, esctl, baseline, ratio, status, note)


@dataclass(frozen=True)
class Settings:
    n: int
    seed: int
    reps: int
    startup_reps: int
    peer_events: int
    memory: bool
    workdir: Path


class Esctl:
    """The ``esctl`` entry point of this Python environment, and which commands it has."""

    def __init__(self) -> None:
        beside = Path(sys.executable).with_name("esctl")
        found = str(beside) if beside.exists() else shutil.which("esctl")
        self.executable = found
        self._has: dict[str, bool] = {}

    def has(self, command: str) -> bool:
        if self.executable is None:
            return False
        if command not in self._has:
            done = subprocess.run([self.executable, command, "--help"], capture_output=True, check=False, timeout=60)
            self._has[command] = done.returncode == 0
        return self._has[command]

    def command(self, db: Path, *args: str) -> list[str]:
        assert self.executable is not None
        return [self.executable, "--db", str(db), *args]


def rate(events: int, seconds: float) -> str:
    return f"{events / seconds:,.0f} ev/s"


def millis(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms"


def megabytes(kib: int) -> str:
    return f"{kib / 1024:,.1f} MB"


def count_events(db: Path) -> int:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM events").fetchone()[0])
    finally:
        conn.close()


def alternate(reps: int, *functions: Callable[[], Sample]) -> list[Sample]:
    """Run the functions in turn ``reps`` times; return each one's median wall and median CPU time."""
    samples: list[list[Sample]] = [[] for _ in functions]
    for _ in range(reps):
        for index, function in enumerate(functions):
            samples[index].append(function())
    return [Sample(median([x.wall for x in runs]), median([x.cpu for x in runs])) for runs in samples]


def throughput(name: str, events: int, esctl: Sample, baseline: Sample, note: str = "") -> Row:
    """A row whose ratio is esctl's throughput over the baseline's (the baseline's time over esctl's)."""
    cpu = f"CPU ratio {baseline.cpu / esctl.cpu:.2f}"
    return Row.measured(
        name,
        rate(events, esctl.wall),
        rate(events, baseline.wall),
        baseline.wall / esctl.wall,
        f"{note}; {cpu}" if note else cpu,
    )


def wall_time(name: str, esctl: Sample, baseline: Sample) -> Row:
    """A row whose ratio is esctl's wall time over the baseline's."""
    return Row.measured(
        name,
        millis(esctl.wall),
        millis(baseline.wall),
        esctl.wall / baseline.wall,
        f"CPU ratio {esctl.cpu / baseline.cpu:.2f}",
    )


def not_available(name: str, what: str) -> Row:
    return Row(name, status="n/a", note=f"not available: {what}")


# -- the measurements -------------------------------------------------------------------------


def raw_bulk_insert(db: Path, rows: list[tuple[Any, ...]]) -> Sample:
    conn = sqlite3.connect(fresh(db), isolation_level=None)
    try:
        workload.create_schema(conn)
        insert = workload.insert_statement()

        def insert_all() -> None:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(insert, rows)
            conn.execute("COMMIT")

        return time_call(insert_all)
    finally:
        conn.close()


def raw_batches(db: Path, batches: list[list[tuple[Any, ...]]]) -> Sample:
    conn = sqlite3.connect(fresh(db), isolation_level=None)
    try:
        workload.create_schema(conn)
        insert = workload.insert_statement()

        def append_all() -> None:
            for rows in batches:
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany(insert, rows)
                conn.execute("COMMIT")

        return time_call(append_all)
    finally:
        conn.close()


def library_append(db: Path, batches: list[list[Any]], registry: Any) -> Sample:
    from esctl.store.sqlite import SQLiteEventStore

    async def append_all() -> Sample:
        store = SQLiteEventStore(fresh(db), registry=registry)
        try:
            await store.get_global_position()  # open and migrate before timing
            with Stopwatch() as watch:
                for events in batches:
                    first = events[0]
                    await store.append_events(
                        first.aggregate_id, first.aggregate_type, events, first.aggregate_version - 1
                    )
            return watch.sample
        finally:
            await store.close()

    gc.collect()
    return asyncio.run(append_all())


def measure_bulk(s: Settings, esctl: Esctl, ndjson: Path, rows: list[tuple[Any, ...]]) -> Row:
    if not esctl.has("append"):
        return not_available(BULK, "esctl append")
    db = s.workdir / "bulk.db"
    raw_db = s.workdir / "bulk-raw.db"

    def run_esctl() -> Sample:
        fresh(db)
        if esctl.has("init"):
            run_command(esctl.command(db, "init"))
        sample = run_command(esctl.command(db, "append", str(ndjson)))
        stored = count_events(db)
        if stored != s.n:
            raise CommandFailed(f"esctl append stored {stored} events, expected {s.n}")
        return sample

    esctl_s, raw_s = alternate(s.reps, run_esctl, lambda: raw_bulk_insert(raw_db, rows))
    return throughput(BULK, s.n, esctl_s, raw_s, "start-up included")


def measure_library(s: Settings, model_batches: list[list[Any]], registry: Any, row_batches: list[list[Any]]) -> Row:
    db = s.workdir / "library.db"
    raw_db = s.workdir / "library-raw.db"
    esctl_s, raw_s = alternate(
        s.reps,
        lambda: library_append(db, model_batches, registry),
        lambda: raw_batches(raw_db, row_batches),
    )
    return throughput(LIBRARY, s.n, esctl_s, raw_s)


def measure_dump(
    s: Settings, esctl: Esctl, db: Path, name: str, slug: str, filters: Sequence[str], raw_args: Sequence[str]
) -> Row:
    if not esctl.has("dump"):
        return not_available(name, "esctl dump")
    esctl_cmd = esctl.command(db, "dump", "--format", "ndjson", *filters)
    raw_cmd = [sys.executable, str(HERE / "raw_loops.py"), "dump", str(db), *raw_args]
    # Once untimed, into files: both must write the same bytes, or the ratio means nothing.
    outputs = []
    for command, label in ((esctl_cmd, "esctl"), (raw_cmd, "raw")):
        target = s.workdir / f"dump-{slug}-{label}.ndjson"
        with target.open("wb") as out:
            run_command(command, stdout=out)
        outputs.append(target.read_bytes())
    lines = outputs[1].count(b"\n")
    note = f"{lines:,} events"
    if outputs[0] != outputs[1]:
        esctl_lines = outputs[0].count(b"\n")
        note += f"; OUTPUT DIFFERS from the raw loop ({esctl_lines:,} lines)"
    esctl_s, raw_s = alternate(s.reps, lambda: run_command(esctl_cmd), lambda: run_command(raw_cmd))
    return throughput(name, lines, esctl_s, raw_s, note)


def measure_rebuild(s: Settings, esctl: Esctl, db: Path) -> Row:
    if not esctl.has("rebuild-projection"):
        return not_available(REBUILD, "esctl rebuild-projection")
    esctl_cmd = esctl.command(db, "rebuild-projection", "tenant-stats", "--yes")
    raw_cmd = [sys.executable, str(HERE / "raw_loops.py"), "tenant-stats", str(db)]
    esctl_s, raw_s = alternate(s.reps, lambda: run_command(esctl_cmd), lambda: run_command(raw_cmd))
    return throughput(REBUILD, s.n, esctl_s, raw_s)


def measure_version(s: Settings, esctl: Esctl) -> Row:
    if esctl.executable is None:
        return not_available(VERSION, "no esctl executable")
    typer_cmd = [sys.executable, "-c", "import typer"]
    esctl_s, typer_s = alternate(
        s.startup_reps, lambda: run_command([str(esctl.executable), "--version"]), lambda: run_command(typer_cmd)
    )
    return wall_time(VERSION, esctl_s, typer_s)


def measure_one_event(s: Settings, esctl: Esctl, template: dict[str, Any]) -> Row:
    if not esctl.has("append"):
        return not_available(ONE_EVENT, "esctl append")
    db = fresh(s.workdir / "one.db")
    counter = iter(range(1, 1_000_000))

    def one_file() -> Path:
        # A new stream and event id each time: every run really writes.
        number = next(counter)
        event = dict(template)
        event["event_id"] = str(UUID(int=(UUID(template["event_id"]).int & ~0xFFFFFFFF) | number))
        event["aggregate_id"] = str(UUID(int=(UUID(template["aggregate_id"]).int & ~0xFFFFFFFF) | number))
        event["aggregate_version"] = 1
        event["causation_id"] = None
        path = s.workdir / "one.ndjson"
        path.write_bytes(orjson.dumps(event, option=orjson.OPT_APPEND_NEWLINE))
        return path

    run_command(esctl.command(db, "append", str(one_file())))  # creates the store, untimed
    typer_cmd = [sys.executable, "-c", "import typer"]

    def run_esctl() -> Sample:
        path = one_file()
        return run_command(esctl.command(db, "append", str(path)))

    esctl_s, typer_s = alternate(s.startup_reps, run_esctl, lambda: run_command(typer_cmd))
    return wall_time(ONE_EVENT, esctl_s, typer_s)


def measure_rss(s: Settings, esctl: Esctl, small: Path, large: Path | None) -> list[Row]:
    rows = []
    for name, command, args in (
        (RSS_DUMP, "dump", ("dump", "--format", "ndjson")),
        (RSS_REBUILD, "rebuild-projection", ("rebuild-projection", "tenant-stats", "--yes")),
    ):
        if not s.memory or large is None:
            rows.append(Row(name, status="n/a", note="skipped: run with --memory"))
        elif not esctl.has(command):
            rows.append(not_available(name, f"esctl {command}"))
        else:
            try:
                small_kib = timing.peak_rss_kb(esctl.command(small, *args))
                large_kib = timing.peak_rss_kb(esctl.command(large, *args))
            except CommandFailed as error:
                rows.append(Row(name, status="error", note=str(error)))
                continue
            rows.append(
                Row.measured(
                    name, megabytes(large_kib), megabytes(small_kib), large_kib / small_kib, f"{s.n * 10:,} vs {s.n:,}"
                )
            )
    return rows


def measure_peers(
    s: Settings, batches: list[list[dict[str, Any]]], model_batches: list[list[Any]], registry: Any
) -> list[Row]:
    count = max(1, min(len(batches), s.peer_events // workload.BATCH))
    subset = batches[:count]
    events = sum(len(b) for b in subset)
    runners = {
        VS_EVENTSOURCING: ("eventsourcing", peers.prepare_eventsourcing(subset)),
        VS_EVENTSOURCE: ("eventsource-py", peers.prepare_eventsource(subset)),
        VS_AIOSQLITE: ("aiosqlite", peers.prepare_aiosqlite(subset)),
    }
    available = {name: runner for name, (_, runner) in runners.items() if runner is not None}
    rows: dict[str, Row] = {
        name: not_available(name, f"{package} not installed (pip install -e '.[bench]')")
        for name, (package, runner) in runners.items()
        if runner is None
    }
    if available:
        db = s.workdir / "peer-esctl.db"
        functions: list[Callable[[], Sample]] = [lambda: library_append(db, model_batches[:count], registry)]
        for runner in available.values():
            path = s.workdir / f"peer-{len(functions)}.db"
            functions.append(lambda runner=runner, path=path: runner(fresh(path)))
        medians = alternate(s.reps, *functions)
        for name, peer in zip(available, medians[1:], strict=True):
            rows[name] = throughput(name, events, medians[0], peer, f"{events:,} events")
    return [rows[name] for name in runners]


def guarded(name: str, function: Callable[[], Row]) -> Row:
    """Run one measurement; a failure becomes an ``error`` row, never a crashed run."""
    try:
        return function()
    except Exception as error:
        return Row(name, status="error", note=f"{type(error).__name__}: {error}"[:200])


# -- the table --------------------------------------------------------------------------------


def table(rows: list[Row], markdown: bool) -> str:
    header = ("figure", "esctl", "baseline", "ratio", "target", "result", "note")
    lines = [
        (
            r.name,
            r.esctl,
            r.baseline,
            "" if r.ratio is None else f"{r.ratio:.2f}",
            str(TARGETS.get(r.name, "-")),
            r.status,
            r.note,
        )
        for r in rows
    ]
    if markdown:
        out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        out += ["| " + " | ".join(cell.replace("|", "\\|") for cell in line) + " |" for line in lines]
        return "\n".join(out)
    widths = [max(len(str(c)) for c in column) for column in zip(header, *lines, strict=True)]
    numeric = {1, 2, 3}

    def fmt(cells: Sequence[str]) -> str:
        parts = [c.rjust(w) if i in numeric else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))]
        return "  ".join(parts).rstrip()

    return "\n".join([fmt(header), fmt(["-" * w for w in widths]), *(fmt(line) for line in lines)])


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000, help="events in the history (default 100,000)")
    parser.add_argument("--seed", type=int, default=42, help="seed of the history (default 42)")
    parser.add_argument("--reps", type=int, help="repetitions per figure (default 5, --quick 1)")
    parser.add_argument("--startup-reps", type=int, help="repetitions of the start-up figures (default 15, --quick 2)")
    parser.add_argument("--peer-events", type=int, default=20_000, help="events the peers append (default 20,000)")
    parser.add_argument("--quick", action="store_true", help="one repetition each: a smoke run, not a measurement")
    parser.add_argument("--memory", action="store_true", help="also measure peak RSS at 10N vs N (slow)")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument("--workdir", type=Path, help="where the databases go (default: a temporary directory)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a figure misses its target")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    began = time.perf_counter()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="esctl-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    s = Settings(
        n=args.n,
        seed=args.seed,
        reps=args.reps or (1 if args.quick else 5),
        startup_reps=args.startup_reps or (2 if args.quick else 15),
        peer_events=min(args.peer_events, args.n),
        memory=args.memory,
        workdir=workdir,
    )
    try:
        return run(s, args, began)
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)


def run(s: Settings, args: argparse.Namespace, began: float) -> int:
    esctl = Esctl()
    info = timing.machine()
    version = "?"
    if esctl.executable:
        with contextlib.suppress(OSError):
            version = subprocess.run([esctl.executable, "--version"], capture_output=True, text=True).stdout.strip()
    print(
        f"esctl bench: N={s.n:,} events, {workload.TENANTS} tenants, seed {s.seed}, {s.reps} rep(s) "
        f"({s.startup_reps} for start-up); {version or 'esctl ?'}; "
        f"{info['nproc']} CPU(s), {info['cpu']}, Python {info['python']}",
        flush=True,
    )
    spec = importlib.util.find_spec("esctl")
    print(f"esctl from {Path(spec.origin).parent if spec and spec.origin else '?'}", flush=True)

    events = list(workload.history(s.n, s.seed))
    stored_at = workload.START_US + workload.SPAN_US
    ndjson = s.workdir / "events.ndjson"
    workload.write_ndjson(events, ndjson)
    rows = [workload.to_row(e, stored_at) for e in events]
    batches = workload.stream_batches(events)
    row_batches = [[workload.to_row(e, stored_at) for e in batch] for batch in batches]
    registry, classes = workload.esctl_event_classes()
    model_batches = workload.esctl_batches(batches, classes)
    history_db = s.workdir / "history.db"
    workload.build_database(history_db, iter(events), stored_at)
    print(f"history ready ({time.perf_counter() - began:.1f}s); measuring", flush=True)

    tenant = workload.tenant_ids(s.seed)[0]
    since = workload.START_US + workload.SPAN_US * 45 // 100
    until = workload.START_US + workload.SPAN_US * 55 // 100
    window = ["--tenant", tenant, "--since", workload.format_micros(since), "--until", workload.format_micros(until)]

    results: list[Row] = []

    def add(row: Row) -> None:
        results.append(row)
        print(f"  {row.name}: {row.status} {'' if row.ratio is None else f'{row.ratio:.2f}'} {row.note}", flush=True)

    add(guarded(BULK, lambda: measure_bulk(s, esctl, ndjson, rows)))
    add(guarded(LIBRARY, lambda: measure_library(s, model_batches, registry, row_batches)))
    add(guarded(DUMP_ALL, lambda: measure_dump(s, esctl, history_db, DUMP_ALL, "all", [], [])))
    add(
        guarded(
            DUMP_TENANT,
            lambda: measure_dump(s, esctl, history_db, DUMP_TENANT, "tenant", window, [tenant, str(since), str(until)]),
        )
    )
    add(guarded(REBUILD, lambda: measure_rebuild(s, esctl, history_db)))
    add(guarded(VERSION, lambda: measure_version(s, esctl)))
    add(guarded(ONE_EVENT, lambda: measure_one_event(s, esctl, events[0])))

    large: Path | None = None
    if s.memory:
        large = s.workdir / "history-10n.db"
        print(f"building the {s.n * 10:,}-event database for the memory rows", flush=True)
        workload.build_database(large, workload.history(s.n * 10, s.seed), stored_at)
    try:
        for row in measure_rss(s, esctl, history_db, large):
            add(row)
    except Exception as error:
        for name in (RSS_DUMP, RSS_REBUILD):
            add(Row(name, status="error", note=f"{type(error).__name__}: {error}"[:200]))
    try:
        for row in measure_peers(s, batches, model_batches, registry):
            add(row)
    except Exception as error:
        for name in (VS_EVENTSOURCING, VS_EVENTSOURCE, VS_AIOSQLITE):
            add(Row(name, status="error", note=f"{type(error).__name__}: {error}"[:200]))

    print()
    print(table(results, args.markdown))
    print()
    print("baselines:")
    for row in results:
        print(f"  {row.name}: {BASELINES[row.name]}")
    print(f"\ntotal {time.perf_counter() - began:.0f}s")
    failed = [r for r in results if r.status in ("FAIL", "error")]
    return 1 if args.strict and failed else 0


if __name__ == "__main__":
    sys.exit(main())
