"""The event loop while esctl appends, for this code and (``--before``) another checkout of it.

Three measurements, each in a fresh process per code version, the versions alternating:

- **one-event append latency**: one task appends one event at a time (expected version given,
  as a repository's ``save()`` does) to an open store; p50 and p99 of each ``append_events``.
- **event-loop lag**: 8 tasks append one-event batches to their own streams while a probe task
  sleeps 1 ms in a loop and records how late it wakes; p50, p99 and max of that lateness, and
  the appends per second the 8 tasks made meanwhile. A commit on the loop's thread stalls the
  probe (and every other task) for as long as it takes; a hop to another thread costs the loop
  a little at each end. ``idle lag`` is the probe alone: the floor of the machine and the loop.
- **batches of 100 vs aiosqlite**: the same 100-event batches through ``SQLiteEventStore.
  append_events`` (events built before timing), through aiosqlite (``BEGIN IMMEDIATE``,
  ``executemany``, ``COMMIT``, each awaited, rows prepared before timing, into esctl's schema),
  and through raw ``sqlite3`` in-process (the same as aiosqlite without its thread): events/s.

Run from the repository root:

    python bench/loop_lag.py                                  # the esctl this environment imports
    git worktree add /tmp/esctl-before 0eb5748                # any older commit, outside the tree
    python bench/loop_lag.py --before /tmp/esctl-before/src   # both, alternating, one table
    python bench/loop_lag.py --quick                          # the smoke run: tiny sizes, one rep

``--before``/``--after`` name a ``src`` directory put first on the child's ``PYTHONPATH``; the
header says which ``esctl`` each column really imported. Needs aiosqlite for its row
(``pip install -e '.[bench]'``); without it that row says "not available".
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import peers  # noqa: E402
import workload  # noqa: E402
from timing import Sample, Stopwatch, fresh  # noqa: E402

TASKS = 8
PROBE_SLEEP = 0.001
RESULT_MARK = "__loop_lag__ "


@dataclass(frozen=True)
class Sizes:
    appends: int  # one-event appends, one task
    per_task: int  # one-event appends of each of the TASKS tasks
    batch_events: int  # events appended in batches of 100
    batch_reps: int  # repetitions of the batch figures, alternating, in one process
    seed: int


# -- in the child: the measurements -------------------------------------------------------------


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (``fraction`` of 1) of ``values``."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), math.ceil(fraction * len(ordered))))
    return ordered[rank - 1]


def streams_of(events: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The history's streams, each in version order, in the order they start."""
    streams: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        streams.setdefault(event["aggregate_id"], []).append(event)
    return list(streams.values())


def one_event_histories(count: int, parts: int, seed: int) -> list[list[dict[str, Any]]]:
    """``parts`` lists of ``count`` events each: streams from their first version on, in version
    order, no stream in two lists."""
    events = list(workload.history(max(count * parts * 3, parts * 900), seed))
    lists: list[list[dict[str, Any]]] = [[] for _ in range(parts)]
    streams = iter(streams_of(events))
    for part in lists:
        while len(part) < count:
            part.extend(next(streams)[: count - len(part)])
    return lists


def models(events: list[dict[str, Any]], classes: dict[str, type[Any]]) -> list[Any]:
    return [classes[e["event_type"]].model_validate(e) for e in events]


async def append_one(store: Any, event: Any) -> None:
    await store.append_events(event.aggregate_id, event.aggregate_type, [event], event.aggregate_version - 1)


async def open_store(path: Path, registry: Any) -> Any:
    from esctl.store.sqlite import SQLiteEventStore

    store = SQLiteEventStore(fresh(path), registry=registry)
    await store.get_global_position()  # open and migrate before timing
    return store


async def one_event_latency(path: Path, registry: Any, events: list[Any]) -> dict[str, float]:
    store = await open_store(path, registry)
    try:
        warm = min(50, len(events) // 10)
        for event in events[:warm]:
            await append_one(store, event)
        gc.collect()
        took: list[float] = []
        for event in events[warm:]:
            started = time.perf_counter()
            await append_one(store, event)
            took.append(time.perf_counter() - started)
    finally:
        await store.close()
    return {
        "latency_p50_us": percentile(took, 0.50) * 1e6,
        "latency_p99_us": percentile(took, 0.99) * 1e6,
    }


async def aiosqlite_latency(path: Path, events: list[dict[str, Any]]) -> dict[str, float]:
    """The same one-event appends through aiosqlite, rows prepared (no encoding, no checks), each
    call awaited: ``BEGIN IMMEDIATE``, ``INSERT``, ``COMMIT``; then again with the calls esctl's
    transaction makes (the stream's head read, ``last_insert_rowid()``), 7 round trips."""
    import sqlite3

    import aiosqlite

    stored_at = workload.START_US + workload.SPAN_US
    rows = [workload.to_row(e, stored_at) for e in events]
    insert = workload.insert_statement()
    figures: dict[str, float] = {}
    for checked, key in ((False, "aiosqlite_latency"), (True, "aiosqlite_checked_latency")):
        conn = sqlite3.connect(fresh(path), isolation_level=None)
        try:
            workload.create_schema(conn)
        finally:
            conn.close()
        took: list[float] = []
        async with aiosqlite.connect(path, isolation_level=None) as db:
            await db.execute("PRAGMA synchronous = NORMAL")
            warm = min(50, len(rows) // 10)
            for index, row in enumerate(rows):
                if index == warm:
                    gc.collect()
                started = time.perf_counter()
                await peers.aiosqlite_append(db, insert, [row], checked=checked)
                if index >= warm:
                    took.append(time.perf_counter() - started)
        figures[f"{key}_p50_us"] = percentile(took, 0.50) * 1e6
        figures[f"{key}_p99_us"] = percentile(took, 0.99) * 1e6
    return figures


async def probe(stop: asyncio.Event, lags: list[float]) -> None:
    """Sleep ``PROBE_SLEEP`` over and over; record how late each wake-up is."""
    while not stop.is_set():
        started = time.perf_counter()
        await asyncio.sleep(PROBE_SLEEP)
        lags.append(time.perf_counter() - started - PROBE_SLEEP)


async def idle_lag(seconds: float) -> dict[str, float]:
    lags: list[float] = []
    stop = asyncio.Event()
    task = asyncio.create_task(probe(stop, lags))
    await asyncio.sleep(seconds)
    stop.set()
    await task
    return {"idle_lag_p99_ms": percentile(lags, 0.99) * 1e3}


async def loop_lag(path: Path, registry: Any, parts: list[list[Any]]) -> dict[str, float]:
    store = await open_store(path, registry)
    try:
        lags: list[float] = []
        stop = asyncio.Event()

        async def appender(events: list[Any]) -> None:
            for event in events:
                await append_one(store, event)

        gc.collect()
        watching = asyncio.create_task(probe(stop, lags))
        await asyncio.sleep(0.05)  # the probe is running before the first append
        started = time.perf_counter()
        await asyncio.gather(*(appender(events) for events in parts))
        elapsed = time.perf_counter() - started
        stop.set()
        await watching
    finally:
        await store.close()
    return {
        "lag_p50_ms": percentile(lags, 0.50) * 1e3,
        "lag_p99_ms": percentile(lags, 0.99) * 1e3,
        "lag_max_ms": max(lags) * 1e3,
        "lag_appends_per_s": sum(len(p) for p in parts) / elapsed,
    }


def esctl_batches(path: Path, registry: Any, batches: list[list[Any]]) -> Sample:
    async def append_all() -> Sample:
        store = await open_store(path, registry)
        try:
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


def raw_batches(path: Path, batches: list[list[dict[str, Any]]]) -> Sample:
    import sqlite3

    stored_at = workload.START_US + workload.SPAN_US
    rows = [[workload.to_row(e, stored_at) for e in batch] for batch in batches]
    insert = workload.insert_statement()
    conn = sqlite3.connect(fresh(path), isolation_level=None)
    try:
        workload.create_schema(conn)
        gc.collect()
        with Stopwatch() as watch:
            for batch in rows:
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany(insert, batch)
                conn.execute("COMMIT")
        return watch.sample
    finally:
        conn.close()


def batch_figures(workdir: Path, sizes: Sizes) -> dict[str, float]:
    events = list(workload.history(sizes.batch_events, sizes.seed))
    batches = workload.stream_batches(events)
    registry, classes = workload.esctl_event_classes()
    models = workload.esctl_batches(batches, classes)
    runners: dict[str, Callable[[], Sample]] = {
        "esctl_batch_eps": lambda: esctl_batches(workdir / "batches-esctl.db", registry, models),
        "raw_batch_eps": lambda: raw_batches(workdir / "batches-raw.db", batches),
    }
    aio = peers.prepare_aiosqlite(batches)
    aio_checked = peers.prepare_aiosqlite(batches, checked=True)
    if aio is not None and aio_checked is not None:
        runners["aiosqlite_batch_eps"] = lambda: aio(fresh(workdir / "batches-aiosqlite.db"))
        runners["aiosqlite_checked_batch_eps"] = lambda: aio_checked(fresh(workdir / "batches-aiosqlite-c.db"))
    walls: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(sizes.batch_reps):
        for name, runner in runners.items():
            gc.collect()
            walls[name].append(runner().wall)
    return {name: len(events) / statistics.median(times) for name, times in walls.items()}


def measure(sizes: Sizes, workdir: Path) -> dict[str, Any]:
    """Every figure, for the esctl this process imports."""
    import sqlite3

    import esctl

    registry, classes = workload.esctl_event_classes()
    figures: dict[str, Any] = {
        "esctl": str(Path(esctl.__file__).resolve().parent),
        "sqlite": sqlite3.sqlite_version,
    }
    latency_events = one_event_histories(sizes.appends, 1, sizes.seed)[0]
    figures.update(asyncio.run(one_event_latency(workdir / "latency.db", registry, models(latency_events, classes))))
    if peers.prepare_aiosqlite([]) is not None:
        figures.update(asyncio.run(aiosqlite_latency(workdir / "latency-aiosqlite.db", latency_events)))
    parts = [models(part, classes) for part in one_event_histories(sizes.per_task, TASKS, sizes.seed + 1)]
    figures.update(asyncio.run(idle_lag(0.5)))
    figures.update(asyncio.run(loop_lag(workdir / "lag.db", registry, parts)))
    figures.update(batch_figures(workdir, sizes))
    return figures


# -- in the parent: alternate the code versions, print one table ------------------------------


@dataclass(frozen=True)
class Figure:
    key: str
    label: str
    unit: str
    higher_is_better: bool


FIGURES = (
    Figure("latency_p50_us", "one-event append latency p50", "us", False),
    Figure("latency_p99_us", "one-event append latency p99", "us", False),
    Figure("aiosqlite_latency_p50_us", "aiosqlite one-event append p50", "us", False),
    Figure("aiosqlite_latency_p99_us", "aiosqlite one-event append p99", "us", False),
    Figure("aiosqlite_checked_latency_p50_us", "aiosqlite one-event, esctl's 7 calls, p50", "us", False),
    Figure("aiosqlite_checked_latency_p99_us", "aiosqlite one-event, esctl's 7 calls, p99", "us", False),
    Figure("lag_p50_ms", f"loop lag p50, {TASKS} one-event appenders", "ms", False),
    Figure("lag_p99_ms", f"loop lag p99, {TASKS} one-event appenders", "ms", False),
    Figure("lag_max_ms", f"loop lag max, {TASKS} one-event appenders", "ms", False),
    Figure("lag_appends_per_s", f"appends/s of the {TASKS} appenders", "/s", True),
    Figure("idle_lag_p99_ms", "loop lag p99, probe alone (idle)", "ms", False),
    Figure("esctl_batch_eps", "esctl append_events, batches of 100", "ev/s", True),
    Figure("aiosqlite_batch_eps", "aiosqlite, same batches (rows prepared)", "ev/s", True),
    Figure("aiosqlite_checked_batch_eps", "aiosqlite, same batches, esctl's 7 calls", "ev/s", True),
    Figure("raw_batch_eps", "raw sqlite3, same batches (rows prepared)", "ev/s", True),
)


def run_child(src: str | None, sizes: Sizes, workdir: Path) -> dict[str, Any]:
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(Path(src).resolve()), env.get("PYTHONPATH")) if p)
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        "--appends",
        str(sizes.appends),
        "--per-task",
        str(sizes.per_task),
        "--batch-events",
        str(sizes.batch_events),
        "--batch-reps",
        str(sizes.batch_reps),
        "--seed",
        str(sizes.seed),
        "--workdir",
        str(workdir),
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False, timeout=1800)
    for line in reversed(done.stdout.splitlines()):
        if line.startswith(RESULT_MARK):
            result: dict[str, Any] = json.loads(line[len(RESULT_MARK) :])
            return result
    tail = " | ".join(done.stderr.strip().splitlines()[-3:])
    raise RuntimeError(f"measuring with {src or 'this environment'} failed (exit {done.returncode}): {tail}")


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    if unit == "us":
        return f"{value:,.0f} us"
    if unit == "ms":
        return f"{value:,.2f} ms"
    return f"{value:,.0f} {unit}"


def table(sides: list[str], results: dict[str, list[dict[str, Any]]], markdown: bool) -> str:
    header = ["figure", *sides]
    if len(sides) == 2:
        header.append(f"{sides[1]} / {sides[0]}")
    lines: list[list[str]] = []
    medians: dict[str, dict[str, float | None]] = {}
    for side in sides:
        medians[side] = {}
        for figure in FIGURES:
            values = [r[figure.key] for r in results[side] if figure.key in r]
            medians[side][figure.key] = statistics.median(values) if values else None
    for figure in FIGURES:
        cells = [figure.label, *(fmt(medians[side][figure.key], figure.unit) for side in sides)]
        if len(sides) == 2:
            first, second = (medians[side][figure.key] for side in sides)
            cells.append("" if not first or second is None else f"{second / first:.2f}")
        lines.append(cells)
    for label, top, bottom in (
        ("esctl / aiosqlite, batches of 100", "esctl_batch_eps", "aiosqlite_batch_eps"),
        ("aiosqlite / raw sqlite3, batches of 100", "aiosqlite_batch_eps", "raw_batch_eps"),
    ):
        cells = [label]
        for side in sides:
            over, under = medians[side][top], medians[side][bottom]
            cells.append(f"{over / under:.2f}" if over and under else "n/a")
        lines.append(cells)
    lines = [cells + [""] * (len(header) - len(cells)) for cells in lines]
    if markdown:
        out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        out += ["| " + " | ".join(cells) + " |" for cells in lines]
        return "\n".join(out)
    widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header))]
    rendered = [
        "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
        for row in [header, ["-" * w for w in widths], *lines]
    ]
    return "\n".join(r.rstrip() for r in rendered)


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", metavar="SRC_DIR", help="also measure the esctl in this src directory")
    parser.add_argument("--after", metavar="SRC_DIR", help="the esctl to measure as 'after' (default: this one)")
    parser.add_argument("--reps", type=int, help="processes per code version, alternating (default 3, --quick 1)")
    parser.add_argument("--appends", type=int, help="one-event appends timed one by one (default 2,000)")
    parser.add_argument("--per-task", type=int, help=f"one-event appends of each of {TASKS} tasks (default 300)")
    parser.add_argument("--batch-events", type=int, help="events appended in batches of 100 (default 20,000)")
    parser.add_argument("--batch-reps", type=int, help="repetitions of the batch figures (default 3, --quick 1)")
    parser.add_argument("--seed", type=int, default=42, help="seed of the history (default 42)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one repetition: a smoke run")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument("--workdir", type=Path, help="where the databases go (default: a temporary directory)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    quick = args.quick
    sizes = Sizes(
        appends=args.appends or (60 if quick else 2000),
        per_task=args.per_task or (10 if quick else 300),
        batch_events=args.batch_events or (600 if quick else 20_000),
        batch_reps=args.batch_reps or (1 if quick else 3),
        seed=args.seed,
    )
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="esctl-loop-lag-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        if args.child:
            print(RESULT_MARK + json.dumps(measure(sizes, workdir)), flush=True)
            return 0
        return compare(args, sizes, workdir)
    finally:
        if args.workdir is None:
            import shutil

            shutil.rmtree(workdir, ignore_errors=True)


def compare(args: argparse.Namespace, sizes: Sizes, workdir: Path) -> int:
    began = time.perf_counter()
    reps = args.reps or (1 if args.quick else 3)
    sources: dict[str, str | None] = {}
    if args.before:
        sources["before"] = args.before
    sources["after" if args.before else "esctl"] = args.after
    sides = list(sources)
    print(
        f"loop lag bench: {sizes.appends:,} one-event appends; {TASKS} tasks x {sizes.per_task:,}; "
        f"{sizes.batch_events:,} events in batches of 100 (x{sizes.batch_reps}); {reps} process(es) per side",
        flush=True,
    )
    results: dict[str, list[dict[str, Any]]] = {side: [] for side in sides}
    for rep in range(reps):
        order = sides if rep % 2 == 0 else list(reversed(sides))
        for side in order:
            result = run_child(sources[side], sizes, workdir / side)
            results[side].append(result)
            shown = ("latency_p99_us", "lag_p99_ms", "esctl_batch_eps")
            summary = ", ".join(f"{f.key}={fmt(result.get(f.key), f.unit)}" for f in FIGURES if f.key in shown)
            print(f"  {side} #{rep + 1}: {summary}", flush=True)
    print()
    for side in sides:
        print(f"{side}: esctl from {results[side][0]['esctl']} (SQLite {results[side][0]['sqlite']})")
    print()
    print(table(sides, results, args.markdown))
    print(f"\nmedians of {reps} process(es) per side; total {time.perf_counter() - began:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
