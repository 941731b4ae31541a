"""One SQLite connection on one worker thread: how the async store talks to SQLite.

Every call a store makes runs a plain function on the connection's own thread and awaits it
once. A whole append (its reads, checks, insert and commit) or a whole batch of rows read is one
such call: a round trip between the event loop and a thread costs far more than SQLite does for
a hundred rows, so the store never awaits per row or per statement. This is also why the store
uses the standard library's ``sqlite3`` directly rather than aiosqlite, which hops threads once
per statement and cursor call.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from esctl.store.sqlite.driver import connect, is_busy, translate_error

T = TypeVar("T")

WAL_AUTOCHECKPOINT = 1000
"""SQLite's default: a commit that finds this many pages in the WAL checkpoints it."""
CHECKPOINT_EVERY = 16
"""Short calls run on the loop's thread (without checkpoints) before one goes to the worker
thread (with them): between two checkpoints the WAL grows by at most this many short appends."""


class Worker:
    """Runs functions on one SQLite connection, on the connection's own thread.

    The connection opens on first use, on that thread. ``close()`` closes it there. Short
    writes may run on the event loop's thread instead (``run_short``), but only when no call
    is waiting for or running on the worker thread, so calls still run in the order they were
    made; a lock keeps the two threads from ever using the connection at once.
    """

    def __init__(
        self,
        path: Path,
        setup: Callable[[sqlite3.Connection], object],
        *,
        readonly: bool,
        busy_timeout: float,
    ) -> None:
        self.path = path
        self.readonly = readonly
        self._setup = setup
        self._busy_timeout = busy_timeout
        self._conn: sqlite3.Connection | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._using = threading.Lock()
        self._counting = threading.Lock()
        self._submitted = 0  # calls handed to the worker thread and not finished there
        self._in_place = 0  # short calls run on the loop's thread since one last went to the worker

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        """Run ``function(connection, *args)`` on the worker thread and return its result.

        Raises:
            EsctlError: Driver errors, translated.
        """
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="esctl-sqlite")
        loop = asyncio.get_running_loop()
        with self._counting:
            self._submitted += 1
        try:
            future = loop.run_in_executor(self._executor, self._call, function, args)
        except BaseException:
            self._finished()
            raise
        return await future

    def _finished(self) -> None:
        with self._counting:
            self._submitted -= 1

    async def run_short(self, function: Callable[..., T], *args: Any) -> T:
        """Like ``run``, but run ``function`` right here when it need not wait for anything.

        For short transactions (an append of a batch of events): the round trip to the
        connection's thread costs ~0.1 ms on this machine, as much as SQLite spends writing a
        hundred events. So when the connection is open and no call is queued or running on its
        thread (a cancelled caller's call may still be), ``function`` runs on the calling thread
        with SQLite's busy timeout at zero: if another writer holds the lock, SQLite answers
        "busy" at once, ``function``'s transaction has rolled back, and the call goes to the
        connection's thread to wait there as ``run`` would. It yields to the loop first, as
        the round trip would, so a caller appending in a loop does not starve other tasks; and
        it commits without SQLite's WAL auto-checkpoint, which can take milliseconds: every
        ``CHECKPOINT_EVERY``-th short call goes to the connection's thread instead, where the
        checkpoint runs.

        ``function`` must be one transaction that leaves nothing behind when it raises.
        """
        await asyncio.sleep(0)  # one pass of the loop: ~10 us, where the round trip is ~100
        here = self._in_place < CHECKPOINT_EVERY and self._submitted == 0
        if here and self._conn is not None and self._using.acquire(blocking=False):
            try:
                conn = self._conn  # again, holding the lock: close() may have run meanwhile
                ran, result = (False, None) if conn is None else self._try_here(conn, function, args)
            finally:
                self._using.release()
            if ran:
                self._in_place += 1
                return result  # type: ignore[return-value]
        self._in_place = 0
        return await self.run(function, *args)

    def _try_here(
        self, conn: sqlite3.Connection, function: Callable[..., T], args: tuple[Any, ...]
    ) -> tuple[bool, T | None]:
        try:
            # No waiting for a lock here, and no WAL checkpoint either: SQLite runs one on the
            # commit that finds the WAL past 1,000 pages, which takes milliseconds. Every
            # CHECKPOINT_EVERY-th short call goes to the worker thread, where it may.
            conn.execute("PRAGMA busy_timeout = 0")
            conn.execute("PRAGMA wal_autocheckpoint = 0")
            try:
                return True, function(conn, *args)
            except sqlite3.OperationalError as error:
                if conn.in_transaction or not is_busy(error):
                    raise
                return False, None
            finally:
                conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout * 1000)}")
                conn.execute(f"PRAGMA wal_autocheckpoint = {WAL_AUTOCHECKPOINT}")
        except sqlite3.Error as error:
            raise translate_error(error, self.path) from error

    def _call(self, function: Callable[..., T], args: tuple[Any, ...]) -> T:
        try:
            with self._using:
                if self._conn is None:
                    self._conn = connect(
                        self.path, self._setup, readonly=self.readonly, busy_timeout=self._busy_timeout
                    )
                return function(self._conn, *args)
        except sqlite3.Error as error:
            raise translate_error(error, self.path) from error
        finally:
            self._finished()

    def _close_connection(self) -> None:
        with self._using:
            if self._conn is not None:
                conn, self._conn = self._conn, None
                conn.close()

    async def close(self) -> None:
        """Close the connection and stop the thread."""
        if self._executor is None:
            return
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._close_connection)
        self._executor.shutdown(wait=True)
        self._executor = None
