"""Defects a new user met (issue #13), each held by a test that failed before its fix.

Every test runs the real ``esctl`` entry point as a process where the defect lives in the
process (closed pipes, signals, terminals), and in-process otherwise.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from cli_support import ESCTL, ROOT

DEMO_END = "2026-11-30T00:00:00Z"


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo store, the same on every run (``demo --end``)."""
    db = tmp_path_factory.mktemp("demo") / "demo.db"
    done = subprocess.run([str(ESCTL), "--db", str(db), "demo", "--end", DEMO_END], capture_output=True, check=False)
    assert done.returncode == 0, done.stderr
    return db


def _run_with_closed_stdout(*args: str) -> subprocess.CompletedProcess[bytes]:
    """Run esctl with a stdout whose reader has already gone: every write meets a closed pipe."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run(
            [str(ESCTL), *args], stdout=write_end, stderr=subprocess.PIPE, cwd=ROOT, timeout=60, check=False
        )
    finally:
        os.close(write_end)


@pytest.mark.parametrize(
    "args",
    [
        ("stats", "-f", "table"),
        ("stats", "-f", "csv"),
        ("stats", "-f", "json"),
        ("dump", "-f", "table"),
        ("dump", "-f", "csv"),
        ("dump", "-f", "ndjson"),
        ("dump", "-f", "json"),
        ("tenants", "-f", "table"),
        ("streams", "-f", "table"),
        ("--help",),
        ("dump", "--help"),
        ("types", "-f", "table"),
    ],
)
def test_a_closed_stdout_exits_quietly_on_every_format_and_on_help(demo_db: Path, args: tuple[str, ...]) -> None:
    argv = ("--db", str(demo_db), *args) if args[0] != "--help" else args
    done = _run_with_closed_stdout(*argv)
    assert (done.returncode, done.stderr) == (0, b"")
