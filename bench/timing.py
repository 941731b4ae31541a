"""Timing, processes and peak memory for the suite: medians of repetitions, nothing clever."""

from __future__ import annotations

import gc
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any


class CommandFailed(Exception):
    """A measured command exited non-zero; the message is the tail of its stderr."""


@dataclass(frozen=True)
class Sample:
    """One timed run: wall seconds, and CPU seconds (this process's threads plus its children).

    The CPU figure is a cross-check on a busy machine: other jobs stretch wall time but barely
    change the CPU a run needs.
    """

    wall: float
    cpu: float


class Stopwatch:
    """Wall and CPU time of a stretch of code, children included: ``with Stopwatch() as w: ...``."""

    def __enter__(self) -> Stopwatch:
        self._cpu = _cpu_now()
        self._wall = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.sample = Sample(time.perf_counter() - self._wall, _cpu_now() - self._cpu)


def _cpu_now() -> float:
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def time_call(function: Callable[[], Any]) -> Sample:
    """Time one call, after a full garbage collection (so no earlier garbage is billed)."""
    gc.collect()
    with Stopwatch() as watch:
        function()
    return watch.sample


def run_command(
    command: Sequence[str],
    *,
    stdout: int | IO[Any] | None = subprocess.DEVNULL,
    env: dict[str, str] | None = None,
) -> Sample:
    """Run a command; return its wall and CPU time (start-up included).

    Raises:
        CommandFailed: It exited non-zero.
    """
    with Stopwatch() as watch:
        done = subprocess.run(command, stdout=stdout, stderr=subprocess.PIPE, env=env, check=False)
    if done.returncode != 0:
        tail = done.stderr.decode(errors="replace").strip().splitlines()[-3:]
        raise CommandFailed(f"exit {done.returncode}: {' | '.join(tail) or '(no stderr)'}")
    return watch.sample


_RSS_WRAPPER = """
import resource, subprocess, sys
code = subprocess.run(sys.argv[1:], stderr=subprocess.PIPE).returncode
rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
sys.stderr.write(f"__rss_kb__ {code} {rss}\\n")
"""


def peak_rss_kb(command: Sequence[str]) -> int:
    """Peak resident set size (KiB) of ``command``, stdout to /dev/null.

    A small wrapper process runs the command and reads ``getrusage(RUSAGE_CHILDREN)``, so the
    figure is the command's alone, not the suite's.

    Raises:
        CommandFailed: It exited non-zero.
    """
    done = subprocess.run(
        [sys.executable, "-c", _RSS_WRAPPER, *command],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        check=False,
    )
    for line in reversed(done.stderr.decode(errors="replace").splitlines()):
        if line.startswith("__rss_kb__"):
            _, code, rss = line.split()
            if code != "0":
                raise CommandFailed(f"exit {code}")
            return int(rss)
    raise CommandFailed("no RSS reported")


def fresh(path: Path) -> Path:
    """Delete a SQLite file and its WAL and shared-memory companions; return the path."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return path


def machine() -> dict[str, str]:
    """What the figures were measured on."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": str(os.cpu_count()),
        "cpu": model,
        "python": sys.version.split()[0],
    }
