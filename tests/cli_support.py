"""Helpers for the CLI tests: running ``esctl`` in-process and as a real process, building input
events, and reading a database's rows directly (to prove a failed command changed nothing).
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from uuid import UUID

from typer.testing import CliRunner, Result

from esctl.cli import app

ROOT = Path(__file__).resolve().parent.parent
ESCTL = Path(sys.executable).with_name("esctl")
ORDERS_APP = str(ROOT / "examples" / "orders_app.py")

TENANT_A = UUID("00000000-0000-4000-8000-0000000000a1")
TENANT_B = UUID("00000000-0000-4000-8000-0000000000b2")
CART_1 = UUID("01a00000-0000-7000-8000-00000000c001")
CART_2 = UUID("01a00000-0000-7000-8000-00000000c002")

_runner = CliRunner()


def invoke(
    db: Path | str | None, *args: str, input: bytes | str | None = None, env: Mapping[str, str] | None = None
) -> Result:
    """Run ``esctl [--db DB] ARGS`` in this process (Typer's ``CliRunner``)."""
    argv = ([] if db is None else ["--db", str(db)]) + list(args)
    return _runner.invoke(app, argv, input=input, env=dict(env or {}), catch_exceptions=False)


def run_esctl(
    *args: str,
    input: bytes | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[bytes]:
    """Run the installed ``esctl`` entry point as a real process."""
    return subprocess.run(
        [str(ESCTL), *args],
        input=input,
        capture_output=True,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        timeout=timeout,
        check=False,
    )


def event(number: int, **overrides: Any) -> dict[str, Any]:
    """Return the JSON form of a valid input event (``test.Noted``, an unregistered type).

    ``number`` makes the event id unique; the event goes to ``CART_1`` of ``TENANT_A`` at
    version ``number`` unless ``overrides`` say otherwise (``None`` drops a field).
    """
    data: dict[str, Any] = {
        "event_id": f"01a00000-0000-7000-8000-{number:012x}",
        "event_type": "test.Noted",
        "occurred_at": f"2026-11-01T08:{number % 60:02d}:00Z",
        "aggregate_type": "Cart",
        "aggregate_id": str(CART_1),
        "aggregate_version": number,
        "tenant_id": str(TENANT_A),
        "text": f"note {number}",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def ndjson(events: Sequence[Mapping[str, Any]]) -> bytes:
    """Return events as NDJSON bytes, one per line."""
    return b"".join(json.dumps(e).encode() + b"\n" for e in events)


def rows(db: Path | str) -> list[tuple[Any, ...]] | None:
    """Return every stored row in position order (``None`` when there is no store): a SQLite
    file, or a ``postgresql://`` store (``backends.stored_rows``)."""
    from backends import stored_rows

    return stored_rows(db)


def foreign_database(path: Path) -> bytes:
    """Create someone else's SQLite database (an invoices table) at ``path``; return its bytes."""
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
    conn.commit()
    conn.close()
    return path.read_bytes()


def error_lines(stderr: str) -> list[str]:
    """Return the ``Error:`` lines of a command's stderr."""
    return [line for line in stderr.splitlines() if line.startswith("Error:")]


def dumped(stdout: bytes | str) -> list[dict[str, Any]]:
    """Parse NDJSON output."""
    text = stdout.decode() if isinstance(stdout, bytes) else stdout
    # split("\n"), not splitlines(): JSON strings may hold U+0085 or U+2028, which are not line ends here.
    return [json.loads(line) for line in text.split("\n") if line.strip()]
