"""One SQLite connection on one worker thread: how the async store talks to SQLite.

Every call a store makes runs a plain function on the connection's own thread and awaits it
once. A whole append (its reads, checks, insert and commit) or a whole batch of rows read is one
such call: a round trip between the event loop and a thread costs far more than SQLite does for
a hundred rows, so the store never awaits per row or per statement. This is also why the store
uses the standard library's ``sqlite3`` directly rather than aiosqlite, which hops threads once
per statement and cursor call.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from esctl.store.sqlite.driver import connect, translate_error

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

T = TypeVar("T")


class Worker:
    """Runs functions on one SQLite connection, on the connection's own thread.

    The connection opens on first use, on that thread, and is never used on any other:
    ``close()`` closes it there too. Calls run in the order they were made.
    """

    def __init__(
        self,
        path: Path,
        setup: Callable[[sqlite3.Connection], object],
        *,
        readonly: bool,
        busy_timeout: float,
        create: bool = True,
        wal: bool = True,
    ) -> None:
        self.path = path
        self._wal = wal
        self.readonly = readonly
        self._create = create
        self._setup = setup
        self._busy_timeout = busy_timeout
        self._conn: sqlite3.Connection | None = None
        self._executor: ThreadPoolExecutor | None = None

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        """Run ``function(connection, *args)`` on the worker thread and return its result.

        Raises:
            EsctlError: Driver errors, translated.
        """
        if self._executor is None:
            # Imported here: ``concurrent.futures`` costs ``esctl dump`` (no worker) ~8 ms to import.
            from concurrent.futures import ThreadPoolExecutor

            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="esctl-sqlite")
        import asyncio  # here, not at import: ``esctl dump`` opens stores without asyncio

        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._call, function, args)

    def _call(self, function: Callable[..., T], args: tuple[Any, ...]) -> T:
        # Only the executor's one thread gets here, so calls never overlap and need no lock.
        try:
            if self._conn is None:
                self._conn = connect(
                    self.path,
                    self._setup,
                    readonly=self.readonly,
                    busy_timeout=self._busy_timeout,
                    create=self._create,
                    wal=self._wal,
                )
            return function(self._conn, *args)
        except sqlite3.Error as error:
            raise translate_error(error, self.path) from error

    @property
    def connected(self) -> bool:
        """True while the connection is open."""
        return self._conn is not None

    def _close_connection(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            conn.close()

    async def close(self) -> None:
        """Close the connection and stop the thread."""
        if self._executor is None:
            return
        import asyncio

        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._close_connection)
        self._executor.shutdown(wait=True)
        self._executor = None
