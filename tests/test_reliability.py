"""Reliability with real processes (issue #13): many writers at once, kill -9 of the projection
runner at random moments, and a fuzz of NDJSON ingest.

The default runs are sized to take seconds; the ``slow`` variants (``pytest -m slow``) run the
same checks longer: more writers' work, more kills.
"""

from __future__ import annotations

import json
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli_support import ESCTL, error_lines, invoke
from esctl.errors import ExitStatus
from test_projections_cli import (
    append,
    assert_exactly_once,
    checkpoint,
    db,  # noqa: F401 - the fixture
    esctl,
    esctl_process,
    read_models,
    ticks,
)

# -- 8 writers through the CLI and 8 through the library, one store ------------------------------

LIBRARY_WRITER = textwrap.dedent(
    """
    import asyncio, sys
    from uuid import UUID
    from esctl import GenericEvent, SQLiteEventStore

    async def main(db, writer, batches, size):
        stream = UUID(int=0xB000 + writer)
        async with SQLiteEventStore(db) as store:
            for batch in range(batches):
                await store.append_batch([
                    GenericEvent(
                        event_id=UUID(int=(writer << 64) + batch * size + k + 1),
                        event_type="rel.Written", aggregate_type="Lib", aggregate_id=stream,
                        aggregate_version=batch * size + k + 1, writer=f"lib{writer}", seq=batch * size + k,
                    )
                    for k in range(size)
                ])

    asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])))
    """
)

SHARED = "00000000-0000-4000-8000-00000000beef"
"""The stream every CLI writer appends to, each event at the stream's next version."""


def _cli_writer_input(writer: int, call: int, size: int) -> bytes:
    lines = []
    for k in range(size):
        seq = call * size + k
        lines.append(
            {
                "event_id": f"00000000-0000-4000-9000-{writer:04x}{seq:08x}",
                "event_type": "rel.Written",
                "occurred_at": "2026-11-01T08:00:00Z",
                "aggregate_type": "Shared",
                "aggregate_id": SHARED,
                "writer": f"cli{writer}",
                "seq": seq,
            }
        )
    return b"".join(json.dumps(line).encode() + b"\n" for line in lines)


def _run_writers(tmp_path: Path, *, calls: int, size: int, batches: int) -> None:
    db = tmp_path / "events.db"  # noqa: F811 - not the fixture
    assert invoke(db, "init").exit_code == 0
    inputs = []
    for writer in range(8):
        for call in range(calls):
            path = tmp_path / f"w{writer}-{call}.ndjson"
            path.write_bytes(_cli_writer_input(writer, call, size))
            inputs.append(path)
    # Each CLI writer is a shell loop of `esctl append`, one call after the other.
    cli = [
        subprocess.Popen(
            [
                "sh",
                "-c",
                " && ".join(
                    f"{ESCTL} --db {db} -q append {tmp_path / f'w{writer}-{call}.ndjson'}" for call in range(calls)
                ),
            ],
            stderr=subprocess.PIPE,
        )
        for writer in range(8)
    ]
    library = [
        subprocess.Popen(
            [sys.executable, "-c", LIBRARY_WRITER, str(db), str(writer), str(batches), str(size)],
            stderr=subprocess.PIPE,
        )
        for writer in range(8)
    ]
    for process in cli + library:
        _, stderr = process.communicate(timeout=300)
        # "database is locked" must not reach a user within the busy timeout (5 s).
        assert process.returncode == 0, stderr.decode()
    conn = sqlite3.connect(db)
    stored = conn.execute(
        "SELECT position, event_id, aggregate_type, aggregate_version, payload FROM events ORDER BY position"
    ).fetchall()
    conn.close()
    expected = 8 * calls * size + 8 * batches * size
    assert [row[0] for row in stored] == list(range(1, expected + 1))  # gapless, nothing lost
    assert len({row[1] for row in stored}) == expected  # nothing twice
    seen: dict[str, list[int]] = {}
    for _, _, _, _, payload in stored:
        body = json.loads(payload)
        seen.setdefault(body["writer"], []).append(body["seq"])
    # Each writer's events are stored in the order it wrote them, all of them.
    assert seen == {
        **{f"cli{w}": list(range(calls * size)) for w in range(8)},
        **{f"lib{w}": list(range(batches * size)) for w in range(8)},
    }
    shared = [row[3] for row in stored if row[2] == "Shared"]
    assert shared == list(range(1, len(shared) + 1))  # the shared stream's versions: 1, 2, 3 …


def test_eight_cli_and_eight_library_writers_on_one_store(tmp_path: Path) -> None:
    _run_writers(tmp_path, calls=2, size=20, batches=10)


@pytest.mark.slow
def test_eight_cli_and_eight_library_writers_on_one_store_long(tmp_path: Path) -> None:
    _run_writers(tmp_path, calls=12, size=50, batches=120)


# -- kill -9 of catch-up and of rebuild-projection at random moments ------------------------------


def _kill_at_random(db: Path, command: tuple[str, ...], kills: int, seed: int) -> int:  # noqa: F811
    """Start ``command`` again and again, SIGKILL it at a random moment, and check after each
    kill that the read model in use holds every event up to its checkpoint exactly once.

    Returns:
        How many runs were killed (the others finished first).
    """
    rng = random.Random(seed)
    killed = 0
    for _ in range(kills):
        process = esctl_process(db, *command, env={"PTEST_DELAY": "0.0005"})
        # Python and esctl start in ~0.3 s; the work itself takes a second or more.
        time.sleep(rng.uniform(0.25, 1.2))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            killed += 1
        process.communicate(timeout=60)
        assert_exactly_once(db)
    return killed


def _kill_catch_up(db: Path, kills: int) -> None:  # noqa: F811
    append(db, ticks(4000))
    killed = 0
    while killed < kills:
        if checkpoint(db, "applied") >= 4000:  # it got to the end: give it more to do
            append(db, ticks(1500, first=10_000 + killed * 1500))
        killed += _kill_at_random(db, ("catch-up", "applied", "tally", "--batch-size", "100"), 1, seed=killed)
    finished = esctl(db, "-q", "catch-up")
    assert finished.returncode == 0, finished.stderr
    head = assert_exactly_once(db)
    incremental = read_models(db)
    # Every event applied exactly once: the same read models a rebuild from zero gives.
    rebuilt = esctl(db, "-q", "rebuild-projection", "--all", "--yes")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert read_models(db) == incremental
    assert checkpoint(db, "applied") == head


def _kill_rebuild(db: Path, kills: int) -> None:  # noqa: F811
    append(db, ticks(3000))
    assert esctl(db, "-q", "catch-up").returncode == 0
    before = read_models(db)
    killed = 0
    while killed < kills:
        killed += _kill_at_random(db, ("rebuild-projection", "applied", "--yes", "--batch-size", "200"), 1, killed)
        # The read model in use is the old one or a whole new one, never half of one: the same rows.
        assert read_models(db)["applied"] == before["applied"]
    finished = esctl(db, "-q", "rebuild-projection", "--all", "--yes")
    assert finished.returncode == 0, finished.stderr
    assert read_models(db) == before


@pytest.mark.parametrize("job", ["catch-up", "rebuild"])
def test_kill_9_at_random_moments_applies_every_event_exactly_once(db: Path, job: str) -> None:  # noqa: F811
    (_kill_catch_up if job == "catch-up" else _kill_rebuild)(db, kills=20)


@pytest.mark.slow
@pytest.mark.parametrize("job", ["catch-up", "rebuild"])
def test_kill_9_at_random_moments_applies_every_event_exactly_once_long(db: Path, job: str) -> None:  # noqa: F811
    (_kill_catch_up if job == "catch-up" else _kill_rebuild)(db, kills=100)


# -- a fuzz of NDJSON ingest ----------------------------------------------------------------------

VALID = {
    "event_id": "01a00000-0000-7000-8000-000000000001",
    "event_type": "fuzz.Noted",
    "occurred_at": "2026-11-01T08:00:00Z",
    "aggregate_type": "Note",
    "aggregate_id": "01a00000-0000-7000-8000-00000000c001",
    "aggregate_version": 1,
    "tenant_id": "00000000-0000-4000-8000-0000000000a1",
    "text": "hello",
}

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=8,
)


@st.composite
def mutated_line(draw: st.DrawFn) -> bytes:
    """A valid event line with one or more mutations, as bytes (maybe no longer JSON at all)."""
    data = dict(VALID)
    data["event_id"] = f"01a00000-0000-7000-8000-{draw(st.integers(2, 10**9)):012x}"
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["value", "drop", "unicode", "nesting", "huge", "extra"]))
        field = draw(st.sampled_from(sorted(VALID)))
        if kind == "value":
            data[field] = draw(json_values)
        elif kind == "drop":
            data.pop(field, None)
        elif kind == "unicode":
            data[field] = draw(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30))
        elif kind == "nesting":
            depth = draw(st.integers(1, 1200))
            data["deep"] = json.loads("[" * depth + "]" * depth)
        elif kind == "huge":
            data[field] = draw(st.sampled_from([10**20, -(10**20), 2**63, 1e308, -1e-308]))
        else:
            data[draw(st.text(min_size=1, max_size=10))] = draw(json_values)
    try:
        text = json.dumps(data, ensure_ascii=draw(st.booleans()))
    except (RecursionError, ValueError):
        text = json.dumps(VALID)
    line = text.encode("utf-8", "surrogatepass")
    how = draw(st.sampled_from(["as is", "truncated", "duplicate key", "raw bytes"]))
    if how == "truncated":
        line = line[: draw(st.integers(0, max(0, len(line) - 1)))]
    elif how == "duplicate key":
        key = draw(st.sampled_from(sorted(VALID)))
        line = line[:-1] + b", " + json.dumps(key).encode() + b": " + json.dumps(draw(json_values)).encode() + b"}"
    elif how == "raw bytes":
        at = draw(st.integers(0, len(line)))
        line = line[:at] + draw(st.binary(min_size=1, max_size=4)) + line[at:]
    return line


DOCUMENTED = {int(status) for status in ExitStatus}


def _fuzz(tmp_path: Path, lines: list[bytes]) -> None:
    db = tmp_path / "events.db"  # noqa: F811 - not the fixture
    if not db.exists():
        assert (
            invoke(db, "append", "-", input=json.dumps({**VALID, "event_id": VALID["event_id"]}).encode()).exit_code
            == 0
        )
    before = db.read_bytes()
    # In this process, with exceptions not caught: a traceback fails the test with its own.
    result = invoke(db, "append", "-", input=b"\n".join(lines) + b"\n")
    assert result.exit_code in DOCUMENTED - {ExitStatus.INTERNAL}, result.stderr
    if result.exit_code == 0:
        return
    assert result.exit_code in (ExitStatus.INVALID_INPUT, ExitStatus.CONFLICT), result.stderr
    [line] = result.stderr.splitlines()
    assert line == error_lines(result.stderr)[0]
    assert " — " in line
    assert "Traceback" not in result.stderr
    assert db.read_bytes() == before  # byte for byte
    assert not Path(f"{db}-wal").exists()


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(mutated_line(), min_size=1, max_size=3))
def test_mutated_ndjson_is_appended_or_refused_in_one_line_leaving_the_store_as_it_was(
    tmp_path: Path, lines: list[bytes]
) -> None:
    _fuzz(tmp_path, lines)


@pytest.mark.slow
@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(mutated_line(), min_size=1, max_size=5))
def test_mutated_ndjson_fuzz_long(tmp_path: Path, lines: list[bytes]) -> None:
    _fuzz(tmp_path, lines)
