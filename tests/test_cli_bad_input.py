"""Every kind of bad input issue 3 lists: the exit code, one ``Error:`` line naming the line and
the field, and a store that is exactly as it was before (its rows compared directly).
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest

from backends import is_postgres
from cli_support import (
    CART_2,
    ORDERS_APP,
    TENANT_B,
    error_lines,
    event,
    invoke,
    ndjson,
    rows,
)


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Path:
    """A SQLite store holding three events (one stream at version 3): for what is about files."""
    path = tmp_path / "events.db"
    result = invoke(path, "append", "-", input=ndjson([event(1), event(2), event(3)]))
    assert result.exit_code == 0, result.stderr
    return path


@pytest.fixture
def db(db_target: str) -> str:
    """A store holding three events (one stream at version 3), on each backend."""
    path = db_target
    result = invoke(path, "append", "-", input=ndjson([event(1), event(2), event(3)]))
    assert result.exit_code == 0, result.stderr
    return path


def assert_refused(db: Path | str, result: Any, code: int, *fragments: str) -> None:
    """The command failed with ``code``, said so in one ``Error:`` line, and wrote nothing."""
    assert result.exit_code == code, (result.exit_code, result.stderr)
    errors = error_lines(result.stderr)
    assert len(errors) == 1, result.stderr
    for fragment in fragments:
        assert fragment in errors[0], (fragment, errors[0])


def append_refused(db: Path | str, data: bytes, code: int, *fragments: str, args: tuple[str, ...] = ()) -> None:
    before = rows(db)
    result = invoke(db, *args, "append", "-", input=data)
    assert_refused(db, result, code, *fragments)
    assert rows(db) == before


GOOD = ndjson([event(4), event(5)])


@pytest.mark.parametrize(
    ("data", "fragments"),
    [
        pytest.param(b'{"event_type": "test.Noted",\n' + GOOD, ("line 1", "malformed JSON"), id="malformed-line-1"),
        pytest.param(
            ndjson([event(4)]) + b"{not json}\n" + ndjson([event(5)]),
            ("line 2", "malformed JSON"),
            id="malformed-middle",
        ),
        pytest.param(GOOD + b'{"event_type": "test.Noted", "aggre', ("line 3", "truncated"), id="truncated-last-line"),
        pytest.param(ndjson([event(4)]) + b'"a string"\n', ("line 2", "expected a JSON object, got a string"), id="s"),
        pytest.param(ndjson([event(4)]) + b"42\n", ("line 2", "got a number"), id="number"),
        pytest.param(b"[1, 2]\n", ("line 1", "got a number", "array item 1"), id="array-of-numbers"),
        pytest.param(b"null\n", ("line 1", "got null"), id="null"),
    ],
)
def test_malformed_json_is_refused_naming_the_line(db: str, data: bytes, fragments: tuple[str, ...]) -> None:
    append_refused(db, data, 3, *fragments)


@pytest.mark.parametrize("missing", ["event_type", "aggregate_id", "aggregate_type"])
def test_a_missing_required_field_is_named(db: str, missing: str) -> None:
    append_refused(db, ndjson([event(4), event(5, **{missing: None})]), 3, "line 2", f"field '{missing}'")


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        pytest.param({"aggregate_id": "not-a-uuid"}, "aggregate_id", id="aggregate-id"),
        pytest.param({"tenant_id": "1234"}, "tenant_id", id="tenant-id"),
        pytest.param({"event_id": "zzz"}, "event_id", id="event-id"),
        pytest.param({"occurred_at": "2026-11-01T08:00:00"}, "occurred_at", id="naive-timestamp"),
        pytest.param({"occurred_at": "yesterday at noon"}, "occurred_at", id="unparseable-timestamp"),
        pytest.param({"aggregate_version": 0}, "aggregate_version", id="version-0"),
        pytest.param({"aggregate_version": -2}, "aggregate_version", id="version-negative"),
        pytest.param({"aggregate_version": 4.5}, "aggregate_version", id="version-float"),
        pytest.param({"aggregate_version": True}, "aggregate_version", id="version-bool"),
        pytest.param({"aggregate_version": "4"}, "aggregate_version", id="version-string"),
        pytest.param({"position": 1, "metadata": "not an object"}, "metadata", id="metadata"),
    ],
)
def test_an_invalid_value_is_named_by_line_and_field(db: str, overrides: dict[str, Any], field: str) -> None:
    append_refused(db, ndjson([event(4), event(5), event(6, **overrides)]), 3, "line 3", f"field '{field}'")


def order_placed(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "event_id": "01a00000-0000-7000-8000-0000000000f1",
        "event_type": "OrderPlaced",
        "occurred_at": "2026-11-01T09:00:00Z",
        "aggregate_type": "Order",
        "aggregate_id": str(CART_2),
        "tenant_id": str(TENANT_B),
        "customer_id": "01a00000-0000-7000-8000-0000000000c9",
        "lines": [{"sku": "SKU-1", "name": "Mug", "quantity": 1, "unit_price_cents": 890}],
        "total_cents": 890,
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


@pytest.mark.parametrize(
    ("overrides", "field", "reason"),
    [
        pytest.param({"total_cents": "lots"}, "total_cents", "integer", id="wrong-type"),
        pytest.param({"total_cents": None}, "total_cents", "is required", id="missing-field"),
        pytest.param({"colour": "red"}, "colour", "is not a field", id="extra-field"),
        pytest.param({"lines": [{"sku": "SKU-1"}]}, "lines.0.name", "is required", id="nested-field"),
    ],
)
def test_a_registered_class_validates_its_events(db: str, overrides: dict[str, Any], field: str, reason: str) -> None:
    data = ndjson([order_placed(), order_placed(event_id="01a00000-0000-7000-8000-0000000000f2", **overrides)])
    append_refused(db, data, 3, "line 2", f"field '{field}'", reason, args=("--app", ORDERS_APP))


def test_an_unknown_type_is_stored_as_given_but_refused_under_strict(db: str) -> None:
    before = rows(db)
    result = invoke(db, "append", "--strict", "-", input=ndjson([event(4)]))
    assert_refused(db, result, 3, "line 1", "field 'event_type'", "'test.Noted' is not registered")
    assert rows(db) == before
    assert invoke(db, "append", "-", input=ndjson([event(4)])).exit_code == 0
    assert len(rows(db) or []) == 4


def test_the_same_event_id_with_other_content_is_refused(db: str) -> None:
    twin = event(5, event_id=event(4)["event_id"], text="other text")
    append_refused(db, ndjson([event(4), twin]), 3, "line 2", "field 'event_id'", "other content")
    stored_twin = event(9, event_id=event(1)["event_id"], aggregate_id=str(CART_2))
    append_refused(db, ndjson([stored_twin]), 3, "line 1", "field 'event_id'")


def test_the_same_event_again_is_skipped_not_refused(db: str) -> None:
    before = rows(db)
    result = invoke(db, "append", "-", input=ndjson([event(1), event(2)]))
    assert result.exit_code == 0, result.stderr
    assert "2 events already stored, skipped" in result.stderr
    assert rows(db) == before


def test_a_version_conflict_is_exit_4_naming_the_line(db: str) -> None:
    append_refused(db, ndjson([event(4), event(9)]), 4, "line 2", "field 'aggregate_version'", "at version 4")
    before = rows(db)
    result = invoke(db, "append", "--expected-version", "7", "-", input=ndjson([event(4, aggregate_version=None)]))
    assert_refused(db, result, 4, "line 1", "is at version 3, expected version 7")
    assert rows(db) == before


@pytest.mark.parametrize("data", [b"", b"\n\n  \n", b"\xef\xbb\xbf"], ids=["empty", "blank-lines", "bom-only"])
def test_empty_input_is_refused_unless_allowed(db: str, data: bytes) -> None:
    append_refused(db, data, 3, "no events")
    assert invoke(db, "append", "--allow-empty", "-", input=data).exit_code == 0


def test_a_non_utf8_byte_is_refused_naming_line_and_column(db: str) -> None:
    bad = json.dumps(event(5)).encode().replace(b"note 5", b"note \xff5")
    append_refused(db, ndjson([event(4)]) + bad + b"\n", 3, "line 2", "not valid UTF-8", "0xff")


def test_a_byte_order_mark_is_skipped(db: str) -> None:
    result = invoke(db, "append", "-", input=b"\xef\xbb\xbf" + ndjson([event(4)]))
    assert result.exit_code == 0, result.stderr
    assert len(rows(db) or []) == 4


def test_a_line_of_several_megabytes_is_accepted(db: str) -> None:
    big = "x" * (5 * 1024 * 1024)
    result = invoke(db, "append", "-", input=ndjson([event(4, text=big), event(5)]))
    assert result.exit_code == 0, result.stderr
    out = invoke(db, "dump", "--from-position", "4", "--limit", "1", "--format", "ndjson")
    assert json.loads(out.stdout_bytes)["text"] == big


def test_a_json_array_error_names_the_line_and_item(db: str) -> None:
    items = [event(4), event(5, occurred_at="not a time"), event(6)]
    text = "[\n" + ",\n".join(json.dumps(item, indent=2) for item in items) + "\n]\n"
    starts = [n for n, content in enumerate(text.splitlines(), start=1) if content.startswith("{")]
    append_refused(db, text.encode(), 3, f"line {starts[1]}", "array item 2", "field 'occurred_at'")


def test_a_malformed_json_array_names_the_line(db: str) -> None:
    text = "[\n" + json.dumps(event(4)) + ",\n" + json.dumps(event(5)) + ",\n{oops}\n]\n"
    append_refused(db, text.encode(), 3, "line 4", "malformed JSON")


def test_bad_flags_for_one_event_are_named(db: str) -> None:
    before = rows(db)
    result = invoke(db, "append", "--type", "test.Noted", "--aggregate-type", "Cart", "--data", "{nope")
    assert_refused(db, result, 3, "field '--data'", "malformed JSON")
    result = invoke(db, "append", "--type", "test.Noted", "--aggregate-type", "Cart", "--aggregate-id", "12")
    assert_refused(db, result, 3, "field '--aggregate-id'", "not a UUID")
    result = invoke(db, "append", "--type", "test.Noted", "--aggregate-type", "Cart", "--occurred-at", "2026-11-01")
    assert_refused(db, result, 3, "field '--occurred-at'", "no timezone")
    assert rows(db) == before


@pytest.mark.parametrize(
    ("make", "what"),
    [
        pytest.param(lambda p: p.mkdir(), "directory", id="directory"),
        pytest.param(lambda p: p.write_text("just some notes\n" * 100), "text file", id="text-file"),
    ],
)
@pytest.mark.parametrize("command", [("append", "-"), ("dump",), ("verify",), ("init",)])
def test_a_path_that_is_not_a_database_is_exit_7(
    tmp_path: Path, make: Any, what: str, command: tuple[str, ...]
) -> None:
    path = tmp_path / "not-a.db"
    make(path)
    result = invoke(path, *command, input=ndjson([event(1)]))
    assert_refused(path, result, 7, str(path))
    if path.is_file():
        assert path.read_text().startswith("just some notes")


def test_a_truncated_database_is_exit_7(sqlite_db: Path, tmp_path: Path) -> None:
    db = sqlite_db
    # Fold the WAL into the file first, so the file alone holds the data, then cut it short.
    sqlite3.connect(db).execute("PRAGMA wal_checkpoint(TRUNCATE)").close()
    data = db.read_bytes()
    broken = tmp_path / "truncated.db"
    broken.write_bytes(data[: len(data) // 2])
    for command in (("dump",), ("verify",), ("append", "-")):
        result = invoke(broken, *command, input=ndjson([event(9, aggregate_id=str(CART_2), aggregate_version=1)]))
        assert_refused(broken, result, 7, str(broken))


def test_a_read_only_file_is_exit_7_for_append(sqlite_db: Path) -> None:
    db = sqlite_db
    # As root, file permissions do not stop writes; the immutable attribute does.
    if shutil.which("chattr") is None:
        pytest.skip("chattr is not available")
    sqlite3.connect(db).execute("PRAGMA wal_checkpoint(TRUNCATE)").close()
    for leftover in (db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        leftover.unlink(missing_ok=True)
    made = subprocess.run(["chattr", "+i", str(db)], capture_output=True, check=False)
    if made.returncode != 0:
        pytest.skip(f"cannot make the file immutable here: {made.stderr.decode().strip()}")
    try:
        before = rows(db)
        result = invoke(db, "append", "-", input=ndjson([event(4)]))
        assert_refused(db, result, 7, "read-only")
        assert rows(db) == before
        assert invoke(db, "dump", "--format", "ndjson").exit_code == 0  # reading still works
    finally:
        subprocess.run(["chattr", "-i", str(db)], check=True)


def test_a_database_locked_past_the_timeout_is_exit_6(db: str) -> None:
    if is_postgres(db):
        import psycopg

        # Another writer's transaction holds the position counter the append must take.
        with psycopg.connect(db) as holder:
            holder.execute("SELECT last FROM esctl_position FOR UPDATE")
            before = rows(db)
            result = invoke(db, "append", "-", input=ndjson([event(4)]), env={"ESCTL_BUSY_TIMEOUT": "0.2"})
            assert_refused(db, result, 6, "locked", "ESCTL_BUSY_TIMEOUT")
            assert rows(db) == before
            assert invoke(db, "dump", "--format", "ndjson").exit_code == 0  # readers are not blocked
        return
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        before = holder.execute("SELECT COUNT(*) FROM events").fetchone()
        result = invoke(db, "append", "-", input=ndjson([event(4)]), env={"ESCTL_BUSY_TIMEOUT": "0.2"})
        assert_refused(db, result, 6, "locked", "ESCTL_BUSY_TIMEOUT")
        assert holder.execute("SELECT COUNT(*) FROM events").fetchone() == before
        # Readers are not blocked by a writer (WAL).
        assert invoke(db, "dump", "--format", "ndjson").exit_code == 0
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_a_missing_database_is_exit_5_for_reads_and_is_not_created(tmp_path: Path) -> None:
    path = tmp_path / "typo.db"
    for command in (("dump",), ("streams",), ("tenants",), ("stats",), ("verify",), ("init", "--check")):
        result = invoke(path, *command)
        assert_refused(path, result, 5, str(path))
        assert not path.exists()


def test_since_after_until_is_a_usage_error(db: str) -> None:
    result = invoke(db, "dump", "--since", "2026-11-02T00:00:00Z", "--until", "2026-11-01T00:00:00Z")
    assert_refused(db, result, 2, "--since", "later than --until")
    result = invoke(db, "dump", "--from-position", "5", "--to-position", "2")
    assert_refused(db, result, 2, "--from-position")


@pytest.mark.parametrize(
    ("args", "field"),
    [
        pytest.param(("--since", "last tuesday"), "--since", id="since"),
        pytest.param(("--until", "2026-11-01T08:00:00"), "--until", id="naive-until"),
        pytest.param(("--tenant", "acme"), "--tenant", id="tenant"),
        pytest.param(("--aggregate-id", "42"), "--aggregate-id", id="aggregate-id"),
    ],
)
def test_a_bad_filter_value_is_invalid_input(db: str, args: tuple[str, ...], field: str) -> None:
    assert_refused(db, invoke(db, "dump", *args), 3, f"field '{field}'")


@pytest.mark.parametrize("command", ["dump", "streams", "tenants", "stats", "types", "verify"])
def test_an_unknown_format_is_a_usage_error(db: str, command: str) -> None:
    result = invoke(db, command, "--format", "yaml")
    assert result.exit_code == 2
    assert "yaml" in result.stderr


def test_an_unknown_summary_format_and_expected_version_are_usage_errors(db: str) -> None:
    assert invoke(db, "append", "--format", "xml", "-", input=ndjson([event(4)])).exit_code == 2
    assert invoke(db, "append", "--expected-version", "soon", "-", input=ndjson([event(4)])).exit_code == 2
    assert invoke(db, "append", "--data", "{}", "-", input=ndjson([event(4)])).exit_code == 2
    assert len(rows(db) or []) == 3


def test_a_missing_input_file_is_exit_5(db: str, tmp_path: Path) -> None:
    result = invoke(db, "append", str(tmp_path / "nope.ndjson"))
    assert_refused(db, result, 5, "nope.ndjson")
