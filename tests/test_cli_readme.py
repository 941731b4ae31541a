"""The README's command examples run as printed, in a shell, against a fresh ``esctl demo``."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from cli_support import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def console_commands(section: str) -> list[str]:
    """Return the ``esctl`` command lines of the console blocks under ``## <section>``."""
    body = README.split(f"## {section}", 1)[1].split("\n## ", 1)[0]
    commands: list[str] = []
    for block in re.findall(r"```console\n(.*?)```", body, flags=re.S):
        # Join continuation lines; drop trailing comments.
        for line in block.replace("\\\n", " ").splitlines():
            line = re.sub(r"\s+#.*$", "", line).strip()
            if line.startswith("esctl"):
                commands.append(line)
    return commands


def test_the_demo_walkthrough_runs_as_printed(tmp_path: Path) -> None:
    commands = console_commands("Try it on the demo store")
    assert len(commands) >= 5
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    made = subprocess.run("esctl --db demo.db demo", shell=True, cwd=tmp_path, env=env, capture_output=True)
    assert made.returncode == 0, made.stderr.decode()
    failed = []
    for command in commands:
        result = subprocess.run(command, shell=True, cwd=tmp_path, env=env, capture_output=True, timeout=120)
        if result.returncode != 0 or (" dump " in f" {command} " and "|" not in command and not result.stdout):
            failed.append(f"{command}\n  exit {result.returncode}: {result.stderr.decode().strip()[:300]}")
    assert not failed, "README commands that fail on the demo store:\n" + "\n".join(failed)
