"""``--db`` names a store by path or URL (``open_store``), as the installed ``esctl`` takes it.

A plain path and ``sqlite:///PATH`` are the SQLite store, ``memory:`` an empty store in memory;
an unknown scheme is a usage error that lists the schemes there are, and a URL's password never
reaches the output, whatever becomes of the command.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from cli_support import error_lines, run_esctl


def test_a_sqlite_url_is_a_file_relative_to_the_working_directory(tmp_path: Path) -> None:
    init = run_esctl("--db", "sqlite:///x.db", "init", cwd=tmp_path)
    assert init.returncode == 0, init.stderr
    assert (tmp_path / "x.db").is_file()
    tenants = run_esctl("--db", "sqlite:///x.db", "tenants", "--format", "json", cwd=tmp_path)
    assert tenants.returncode == 0, tenants.stderr
    assert json.loads(tenants.stdout) == []
    plain = run_esctl("--db", "x.db", "tenants", "--format", "json", cwd=tmp_path)  # the same file by its path
    assert (plain.returncode, json.loads(plain.stdout)) == (0, [])
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("x.db")) == []


def test_memory_is_an_empty_store_that_leaves_no_file(tmp_path: Path) -> None:
    tenants = run_esctl("--db", "memory:", "tenants", "--format", "json", cwd=tmp_path)
    assert tenants.returncode == 0, tenants.stderr
    assert json.loads(tenants.stdout) == []
    table = run_esctl("--db", "memory:", "tenants", cwd=tmp_path)
    assert table.returncode == 0, table.stderr
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_scheme_is_a_usage_error_naming_the_schemes_there_are(tmp_path: Path) -> None:
    result = run_esctl("--db", "foo://x", "tenants", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stdout == b""
    stderr = result.stderr.decode()
    [line] = error_lines(stderr)
    assert "foo" in line
    for scheme in ("sqlite:///", "memory:"):
        assert scheme in line, line
    assert list(tmp_path.iterdir()) == []


def test_a_postgresql_password_appears_nowhere(tmp_path: Path) -> None:
    result = run_esctl("--db", "postgresql://u:secret@host/db", "tenants", cwd=tmp_path)
    output = result.stdout + result.stderr
    assert b"secret" not in output
    assert b"postgresql://u:***@host/db" in result.stderr
    if importlib.util.find_spec("psycopg") is None:
        # Without the driver, the store is not available: a usage error that says how to get it.
        assert result.returncode == 2, result.stderr
        assert b"esctl[postgres]" in result.stderr
    else:
        # With it, there is no server named 'host' to reach: the database is unusable.
        assert result.returncode == 7, result.stderr
    assert len(error_lines(result.stderr.decode())) == 1
    assert list(tmp_path.iterdir()) == []


def test_the_help_says_db_takes_a_path_or_a_url() -> None:
    result = run_esctl("--help", env={"COLUMNS": "200"})
    assert result.returncode == 0, result.stderr
    [row] = [line for line in result.stdout.decode().splitlines() if "--db" in line and "PATH|URL" in line]
    assert "file path" in row
    assert "sqlite:///PATH" in row
    assert "memory:" in row
