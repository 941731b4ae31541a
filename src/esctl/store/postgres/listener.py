"""Waking followers on appends: ``LISTEN`` on a connection of its own, on a thread of its own.

Every append sends ``NOTIFY`` on ``append.CHANNEL`` in its transaction (delivered only if it
commits). A follower (``catch-up --follow``) waits here between polls and wakes within a
millisecond of a commit instead of at its next poll. Notifications are hints: one sent while the
listener is disconnected is lost, and the poll (reading from the checkpoint) stays the truth. So
nothing here raises for a lost server: the wait then just lasts its timeout, and the next wait
tries to listen again.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg

from esctl.store.postgres.append import CHANNEL

Conn = psycopg.Connection[tuple[Any, ...]]

_SLICE = 0.25
"""Seconds one blocking wait for a notification lasts before the thread looks whether it was cancelled."""


class Listener:
    """A ``LISTEN`` connection that ``wait`` blocks on, opened on first use."""

    def __init__(self, target: str, busy_timeout: float) -> None:
        self._target = target
        self._busy_timeout = busy_timeout
        self._conn: Conn | None = None
        self._executor: ThreadPoolExecutor | None = None

    async def wait(self, timeout: float) -> None:
        """Return on the next notification (or one that came since the last wait), or after ``timeout``.

        Cancelling it stops the thread's wait within ``_SLICE`` seconds, so that ``close`` (and the
        next wait) never sit out the rest of a long poll interval.
        """
        import asyncio

        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="esctl-postgres-listen")
        cancelled = threading.Event()
        try:
            await asyncio.get_running_loop().run_in_executor(self._executor, self._wait, timeout, cancelled)
        except BaseException:
            cancelled.set()
            raise

    def _wait(self, timeout: float, cancelled: threading.Event) -> None:
        deadline = time.monotonic() + timeout
        while not cancelled.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            try:
                conn = self._listening()
                for _ in conn.notifies(timeout=min(left, _SLICE), stop_after=1):
                    return
            except psycopg.Error:
                # The server went away: no wake-ups until it is back; the poll carries on.
                self._drop()
                cancelled.wait(min(max(left, 0.0), _SLICE))

    def _listening(self) -> Conn:
        if self._conn is not None and (self._conn.closed or self._conn.broken):
            self._drop()
        if self._conn is None:
            conn: Conn = psycopg.connect(self._target, autocommit=True, connect_timeout=max(2, int(self._busy_timeout)))
            conn.execute(f"LISTEN {CHANNEL}")
            self._conn = conn
        return self._conn

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    async def close(self) -> None:
        """Close the connection and stop the thread (after a wait under way has timed out)."""
        if self._executor is None:
            return
        import asyncio

        await asyncio.get_running_loop().run_in_executor(self._executor, self._drop)
        self._executor.shutdown(wait=True)
        self._executor = None
