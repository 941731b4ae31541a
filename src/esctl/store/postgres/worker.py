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
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from uuid import UUID

import psycopg
from psycopg import pq

from esctl.store.postgres.driver import connect, translate_error
from esctl.store.postgres.schema import TENANT_SETTING, rls_enabled

T = TypeVar("T")

RECONNECT_WAIT = 30.0
"""Seconds work that is safe to run twice waits for a server that dropped its connection (a
restart takes a few seconds, more on a busy machine) before it fails (exit 7)."""
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
        self._rls = False

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        """Run ``function(connection, *args)`` on the worker thread and return its result.

        Raises:
            EsctlError: Driver errors, translated.
        """
        return await self._run(function, args, retry=False)

    async def run_again_if_lost(self, function: Callable[..., T], *args: Any) -> T:
        """Like ``run``, for work that is safe to run twice (reads, projection transactions, which
        re-read their checkpoint): a connection the server dropped (a restart) is opened again,
        for up to ``RECONNECT_WAIT`` seconds, and the work run once more, instead of failing.
        Appends never are: their commit may have happened before the connection was lost.
        """
        return await self._run(function, args, retry=True)

    async def _run(self, function: Callable[..., T], args: tuple[Any, ...], *, retry: bool) -> T:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="esctl-postgres")
        import asyncio

        from esctl.tenancy import get_current_tenant

        # Read here, on the caller's side: the tenant context does not travel to the thread.
        tenant = get_current_tenant()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.call, function, args, retry, tenant)

    def call(
        self, function: Callable[..., T], args: tuple[Any, ...], retry: bool = False, tenant: UUID | None = None
    ) -> T:
        """Run ``function(connection, *args)`` on the calling thread (the worker's, via ``run``).

        Under row-level security (``esctl init --rls``) the connection's ``esctl.tenant_id`` is
        set to ``tenant`` (the caller's tenant context, or none) first, for the whole call.
        """
        try:
            with self._using:
                try:
                    return self._call(function, args, tenant)
                except psycopg.OperationalError:
                    if not (retry and self._drop_if_broken()):
                        raise
                # The server dropped the connection (a restart): wait for it to be back.
                deadline = time.monotonic() + max(self._busy_timeout, RECONNECT_WAIT)
                while True:
                    try:
                        return self._call(function, args, tenant)
                    except psycopg.OperationalError:
                        self._drop_if_broken()
                        if self._conn is not None or time.monotonic() >= deadline:
                            raise
                        time.sleep(0.2)
        except psycopg.Error as error:
            self._drop_if_broken()
            raise translate_error(error, self.target) from None

    def _call(self, function: Callable[..., T], args: tuple[Any, ...], tenant: UUID | None) -> T:
        conn = self._connection()
        try:
            if self._rls:
                # Session-wide, not per transaction: a call may commit or roll back and go on
                # (pages, imports); every call sets it again, so nothing carries over to the next
                # one. Committed at once: a rollback would undo it.
                setting = "" if tenant is None else str(tenant)
                conn.execute("SELECT set_config(%s, %s, false)", (TENANT_SETTING, setting))
                conn.commit()
            return function(conn, *args)
        finally:
            _end_transaction(conn)

    def _connection(self) -> Conn:
        if self._conn is not None and self._conn.closed:
            self._conn = None
        if self._conn is None:
            conn = connect(self.target, readonly=self.readonly, busy_timeout=self._busy_timeout)
            try:
                self._setup(conn)
                self._rls = rls_enabled(conn)
                _end_transaction(conn)
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    def _drop_if_broken(self) -> bool:
        """Forget a connection the server dropped; True when there was one."""
        conn = self._conn
        if conn is not None and (conn.closed or conn.broken):
            self._conn = None
            conn.close()
            return True
        return False

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
