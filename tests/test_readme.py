"""The README's Python examples run, and its quick start names the commands CI runs."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_python_blocks_run(tmp_path: Path) -> None:
    blocks = re.findall(r"```python\n(.*?)```", README, flags=re.S)
    assert blocks, "the README should show the library in at least one Python block"
    for index, block in enumerate(blocks):
        script = tmp_path / f"block_{index}.py"
        script.write_text(block, encoding="utf-8")
        result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path)
        assert result.returncode == 0, f"README block {index} failed:\n{result.stderr}"


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    quick_start = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```console\n(.*?)\n```", quick_start, flags=re.S)
    assert len(commands) == 2, "the quick start is two commands"
    test_command = commands[1].split("&&")[-1].strip()
    assert test_command == "python -m pytest"
    assert test_command in ci.splitlines()


def test_readme_projection_walkthrough_runs_as_printed(tmp_path: Path) -> None:
    section = README.split("## Projections", 1)[1].split("\n## ", 1)[0]
    module = re.findall(r"```python\n(.*?)```", section, flags=re.S)[0]
    (tmp_path / "shop_projections.py").write_text(module, encoding="utf-8")
    block = re.findall(r"```console\n(.*?)```", section, flags=re.S)[0]
    commands = [re.sub(r"\s+#.*$", "", line).strip() for line in block.splitlines() if line.startswith("esctl")]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    outputs = []
    for command in ["esctl -q --db demo.db demo", *commands]:
        result = subprocess.run(command, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True)
        assert result.returncode == 0, f"{command}: {result.stderr}"
        outputs.append(result.stdout)
    shown, replayed = (json.loads(text.strip().splitlines()[-1]) for text in outputs[-2:])
    # The persisted read model counts every order; replaying up to a week ago counts fewer.
    assert sum(shown["orders"].values()) > sum(replayed["orders"].values()) > 0


def test_the_exit_codes_of_readme_and_help_are_those_of_exit_status() -> None:
    from esctl.cli.app import HELP
    from esctl.errors import ExitStatus

    section = README.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    documented = {int(code) for code in re.findall(r"^\| (\d+) \|", section, flags=re.M)}
    assert documented == {status.value for status in ExitStatus}
    for status in ExitStatus:
        assert f"{status.value} {status.description}" in " ".join(HELP.split())
