"""``esctl append`` of a long input: one atomic batch, written chunk by chunk while it is read.

The chunk size is made tiny here so that a few lines span many chunks. Whatever the chunks, the
command must behave as if it had read everything before writing anything: all or nothing, one
batch, the same errors naming the same lines, and an invalid line anywhere reported before a
conflict earlier in the input.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli_support import CART_2, error_lines, event, invoke, ndjson, rows
from esctl import ingest


@pytest.fixture(autouse=True)
def tiny_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ingest, "_CHUNK", 3)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A store holding two events (one stream at version 2)."""
    path = tmp_path / "events.db"
    result = invoke(path, "append", "-", input=ndjson([event(1), event(2)]))
    assert result.exit_code == 0, result.stderr
    return path


def refused(db: Path, data: bytes, code: int, *fragments: str, args: tuple[str, ...] = ()) -> None:
    before = rows(db)
    result = invoke(db, "append", "-", *args, input=data)
    assert result.exit_code == code, result.stderr
    errors = error_lines(result.stderr)
    assert len(errors) == 1, result.stderr
    for fragment in fragments:
        assert fragment in errors[0], (fragment, errors[0])
    assert rows(db) == before


def test_a_long_input_is_one_batch(db: Path) -> None:
    result = invoke(db, "append", "-", "--format", "json", input=ndjson([event(n) for n in range(3, 20)]))
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary == {
        "events": 17,
        "appended": 17,
        "skipped": 0,
        "first_position": 3,
        "last_position": 19,
        "streams": 1,
        "batches": 1,
    }
    stored = rows(db) or []
    assert len({row[9] for row in stored[2:]}) == 1  # one stored_at: one append


def test_a_conflict_in_a_late_chunk_writes_nothing_and_names_its_line(db: Path) -> None:
    events = [event(n) for n in range(3, 12)] + [event(12, aggregate_version=40)]
    refused(db, ndjson(events), 4, "line 10", "field 'aggregate_version'", "expected 12")


def test_an_invalid_line_after_a_conflict_is_the_error(db: Path) -> None:
    events = [event(3), event(5)] + [event(n, aggregate_id=str(CART_2), aggregate_version=n - 5) for n in range(6, 16)]
    data = ndjson(events) + b'{"event_type": "test.Noted",\n'
    refused(db, data, 3, "line 13", "malformed JSON")
    data = ndjson(events) + ndjson([event(99, occurred_at="2026-11-01T08:00:00")])
    refused(db, data, 3, "line 13", "field 'occurred_at'")


def test_an_id_reused_in_a_later_chunk_with_other_content_names_that_line(db: Path) -> None:
    events = [event(n) for n in range(3, 10)] + [event(10, event_id=event(4)["event_id"], text="other")]
    refused(db, ndjson(events), 3, "line 8", "field 'event_id'", "other content")


def test_an_event_repeated_in_a_later_chunk_is_skipped(db: Path) -> None:
    events = [event(n) for n in range(3, 10)] + [event(4)]
    result = invoke(db, "append", "-", "--format", "json", input=ndjson(events))
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["appended"], summary["skipped"]) == (7, 1)


def test_re_running_an_import_adds_nothing(db: Path) -> None:
    data = ndjson([event(n) for n in range(1, 15)])
    assert invoke(db, "append", "-", input=data).exit_code == 0
    before = rows(db)
    result = invoke(db, "append", "-", "--format", "json", input=data)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["skipped"] == 14
    assert rows(db) == before


def test_versions_assigned_across_chunks_follow_each_other(db: Path) -> None:
    events = [event(n, aggregate_version=None) for n in range(3, 11)]
    events += [event(n, aggregate_id=str(CART_2), aggregate_version=None) for n in range(11, 15)]
    assert invoke(db, "append", "-", input=ndjson(events)).exit_code == 0
    stored = rows(db) or []
    assert [row[6] for row in stored] == [1, 2, *range(3, 11), 1, 2, 3, 4]


def test_an_expected_version_holds_for_a_stream_spanning_chunks(db: Path) -> None:
    events = [event(n, aggregate_id=str(CART_2), aggregate_version=n - 2) for n in range(3, 12)]
    result = invoke(db, "append", "-", "--expected-version", "no-stream", input=ndjson(events))
    assert result.exit_code == 0, result.stderr
    refused(db, ndjson([event(12)]), 4, "line 1", "expected no stream", args=("--expected-version", "no-stream"))
