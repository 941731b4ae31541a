"""One psycopg connection on one worker thread: how the async store talks to PostgreSQL.

The SQLite store's model (``esctl.store.sqlite.worker``): every call runs a plain function on
the connection's own thread and is awaited once — a whole append transaction, a page of rows, a
projection transaction with its handlers. psycopg 3's synchronous API runs there; nothing touches
the server on the caller's event loop. A connection the server dropped (a restart) is closed and
opened again by the next call.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import psycopg
from psycopg import pq

from esctl.store.postgres.driver import connect, translate_error

T = TypeVar("T")
Conn = psycopg.Connection[tuple[Any, ...]]


class Worker:
    """Runs functions on one PostgreSQL connection, on the connection's own thread.

    The connection opens on first use, on that thread, and runs ``setup`` (check or migrate the
    schema) once. Calls run in the order they were made; each leaves no transaction open.
    """

    def __init__(self, target: str, setup: Callable[[Conn], object], *, readonly: bool, busy_timeout: float) -> None:
        self.target = target
        self.readonly = readonly
        self._setup = setup
        self._busy_timeout = busy_timeout
        self._conn: Conn | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._using = threading.Lock()

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        """Run ``function(connection, *args)`` on the worker thread and return its result.

        Raises:
            EsctlError: Driver errors, translated.
        """
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="esctl-postgres")
        import asyncio

        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.call, function, args)

    def call(self, function: Callable[..., T], args: tuple[Any, ...]) -> T:
        """Run ``function(connection, *args)`` on the calling thread (the worker's, via ``run``)."""
        try:
            with self._using:
                conn = self._connection()
                try:
                    return function(conn, *args)
                finally:
                    _end_transaction(conn)
        except psycopg.Error as error:
            self._drop_if_broken()
            raise translate_error(error, self.target) from None

    def _connection(self) -> Conn:
        if self._conn is not None and self._conn.closed:
            self._conn = None
        if self._conn is None:
            conn = connect(self.target, readonly=self.readonly, busy_timeout=self._busy_timeout)
            try:
                self._setup(conn)
                _end_transaction(conn)
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    def _drop_if_broken(self) -> None:
        conn = self._conn
        if conn is not None and (conn.closed or conn.broken):
            self._conn = None
            conn.close()

    def _close_connection(self) -> None:
        with self._using:
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


def _end_transaction(conn: Conn) -> None:
    """Roll back what a function left open (it commits what it means to keep)."""
    if not conn.closed and conn.info.transaction_status != pq.TransactionStatus.IDLE:
        with contextlib.suppress(psycopg.Error):
            conn.rollback()
