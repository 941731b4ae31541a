"""Projections whose read model lives in the store, beside the events and their checkpoint.

The runner (``runner.py``) keeps every persisted projection the same way; what differs is how a
batch of events changes the read model. Three kinds exist:

- ``SQLProjection``: handlers write SQL tables through the ``ReadModel`` they are given.
- Python state (``StateProjection``): the tutorial's ``DeclarativeProjection`` style, state kept
  in Python attributes and saved as a JSON document (one per tenant with ``per_tenant=True``)
  with each batch's checkpoint.
- Built-ins (``builtin.py``): work from raw rows, never building event models.

A batch is applied inside one store transaction (see ``store/readmodel.py``), on the store's own
thread for SQLite: handlers must not await real I/O. An ``async def`` handler that only computes
is fine; it is driven to completion without an event loop.
"""

from __future__ import annotations

import abc
import copy
import re
from collections.abc import Callable, Collection, Coroutine, Iterable, Mapping, Sequence
from typing import Any, ClassVar
from uuid import UUID

from esctl.errors import DatabaseBusyError, DatabaseUnusableError, EsctlError, UsageError
from esctl.events import DomainEvent, StoredEvent
from esctl.handlers import collect_handlers, find_handler
from esctl.projections.base import Projection, event_type_names
from esctl.store.readmodel import EVENT_COLUMNS, NO_TENANT, Document, ProjectionStorage, Row

STATE_KEY = "state"
"""The document key under which a Python-state projection keeps its state."""

_POSITION, _EVENT_ID, _TENANT = (EVENT_COLUMNS.index(c) for c in ("position", "event_id", "tenant_id"))
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_TABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_RESERVED_TABLE = re.compile(r"^(events|sqlite_.*|projection_.*)$|__g\d|__r[0-9a-f]{12}$", re.IGNORECASE)
"""Names a read-model table may not have: esctl's own, and those of a rebuild's fresh tables."""


class HandlerFailure(Exception):
    """A handler raised on one event; the runner stops the projection just before it.

    Attributes:
        position: The event's global position.
        event_id: The event's id.
        message: What was raised, as ``Type: message``.
    """

    def __init__(self, position: int, event_id: str, cause: BaseException) -> None:
        self.position = position
        self.event_id = event_id
        self.message = f"{type(cause).__name__}: {cause}"
        super().__init__(f"handler failed at position {position} (event {event_id}): {self.message}")

    @classmethod
    def at(cls, row: Row, cause: BaseException) -> HandlerFailure:
        """Return the failure for a full event row."""
        return cls(int(row[_POSITION]), str(row[_EVENT_ID]), cause)


def run_handler(result: object) -> None:
    """Finish what a handler returned: nothing, or a coroutine that must not suspend.

    Raises:
        RuntimeError: The coroutine awaited something that suspends (real I/O, a sleep).
    """
    if isinstance(result, Coroutine):
        try:
            result.send(None)
        except StopIteration:
            return
        result.close()
        raise RuntimeError(
            "the handler awaited real I/O; a persisted projection's handlers run inside the store's "
            "transaction and must only compute"
        )


def is_store_failure(error: BaseException) -> bool:
    """True for errors of the database itself (busy, unusable), which are no handler's fault."""
    return isinstance(error, DatabaseBusyError | DatabaseUnusableError)


class ReadModel:
    """A projection's read model within one transaction: what SQL handlers get as ``db``.

    SQL names a declared table with a placeholder, ``{orders}``: the read model puts in the
    table's real name, which differs while a rebuild fills fresh tables.

    Args:
        storage: The transaction's storage.
        namespace: Where the projection's documents live.
        tables: The real name of each declared table.

    Example:
        >>> # db.execute("INSERT INTO {orders} (order_id, tenant_id) VALUES (?, ?)", (oid, tid))
    """

    def __init__(self, storage: ProjectionStorage, namespace: str, tables: Mapping[str, str]) -> None:
        self.storage = storage
        self.namespace = namespace
        self.tables = dict(tables)
        self._sql: dict[str, str] = {}

    def table(self, name: str) -> str:
        """Return the real name of the declared table ``name``.

        Raises:
            UsageError: No such table is declared.
        """
        try:
            return self.tables[name]
        except KeyError:
            raise UsageError(f"table {name!r} is not declared by this projection") from None

    def sql(self, text: str) -> str:
        """Return ``text`` with each ``{table}`` placeholder of a declared table replaced."""
        resolved = self._sql.get(text)
        if resolved is None:
            tables = self.tables
            resolved = _PLACEHOLDER.sub(lambda m: tables.get(m.group(1), m.group(0)), text)
            self._sql[text] = resolved
        return resolved

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """Run one statement (placeholders resolved) and return its rows."""
        return self.storage.execute(self.sql(sql), params)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one statement (placeholders resolved) once per parameter row."""
        self.storage.executemany(self.sql(sql), rows)

    def documents(self, *, tenants: Collection[str] | None = None) -> list[Document]:
        """Return this read model's documents (only these tenants' if given)."""
        return self.storage.get_documents(self.namespace, tenants=tenants)

    def put_documents(self, documents: Iterable[Document]) -> None:
        """Insert or replace documents of this read model."""
        self.storage.put_documents(self.namespace, documents)


class Applier(abc.ABC):
    """Applies batches of events to one read model, keeping whatever it caches between batches."""

    @abc.abstractmethod
    def apply(self, model: ReadModel, rows: list[Row]) -> None:
        """Apply events (rows of the projection's ``columns``) in order.

        Raises:
            HandlerFailure: A handler raised; nothing of this batch may be committed.
        """

    def reset(self) -> None:  # noqa: B027 - appliers without a cache have nothing to drop
        """Forget cached state: the stored read model changed or a transaction rolled back."""


class PersistedProjection(abc.ABC):
    """A projection the runner keeps in the store: its name, what it reads, where it writes.

    Args:
        name: The projection's name (``esctl`` commands use it).
        kind: ``"builtin"``, ``"sql"`` or ``"state"``, for listings.
        event_types: The event types it reads (``None``: all).
        tenant_id: Read only this tenant's events (a tenant-scoped projection).
        per_tenant: Its read model is partitioned by tenant, so one tenant can be rebuilt alone.
        tables: Declared SQL tables: name -> DDL statements using ``{name}`` placeholders.
        tenant_column: The column holding the tenant id (text) in every table, when
            ``per_tenant``.
        columns: The event columns its rows carry (``EVENT_COLUMNS`` when it builds events).
        batch_size: Events per transaction it works best with.
        description: One line for listings.
    """

    def __init__(
        self,
        name: str,
        *,
        kind: str,
        event_types: Collection[str] | None = None,
        tenant_id: UUID | None = None,
        per_tenant: bool = False,
        tables: Mapping[str, str | Sequence[str]] | None = None,
        tenant_column: str | None = None,
        columns: Sequence[str] = EVENT_COLUMNS,
        batch_size: int = 1000,
        description: str = "",
    ) -> None:
        if not name or "@" in name or name != name.strip():
            raise UsageError(f"{name!r} is not a usable projection name", hint="use letters, digits, - and _")
        if columns[0] != "position" or not set(columns) <= set(EVENT_COLUMNS):
            raise UsageError(f"projection {name}: columns must start with 'position' and be event columns")
        self.name = name
        self.kind = kind
        self.event_types = None if event_types is None else frozenset(event_types)
        self.tenant_id = tenant_id
        self.tables = {table: _ddl(name, table, ddl) for table, ddl in (tables or {}).items()}
        if per_tenant and self.tables and tenant_column is None:
            raise UsageError(f"projection {name}: per-tenant tables need a tenant_column")
        self.per_tenant = per_tenant
        self.tenant_column = tenant_column
        self.columns = tuple(columns)
        self.batch_size = batch_size
        self.description = description

    @abc.abstractmethod
    def open(self) -> Applier:
        """Return a new applier, with an empty cache."""

    def view(self, model: ReadModel, *, tenant: str | None = None) -> list[dict[str, Any]]:
        """Return the read model as rows for display (only one tenant's part if given).

        The default lists every declared table's rows (with a ``table`` column when there are
        several), then the documents as ``tenant_id``/``key``/``body``.
        """
        rows: list[dict[str, Any]] = []
        for table in self.tables:
            rows.extend(self._table_rows(model, table, tenant=tenant))
        for doc in model.documents(tenants=None if tenant is None else [tenant]):
            from esctl import codec

            rows.append({"tenant_id": doc.tenant or None, "key": doc.key, "body": codec.loads(doc.body)})
        return rows

    def _table_rows(self, model: ReadModel, table: str, *, tenant: str | None) -> list[dict[str, Any]]:
        physical = model.table(table)
        columns = model.storage.table_columns(physical)
        where = None if tenant is None or self.tenant_column is None else (self.tenant_column, tenant)
        label = {"table": table} if len(self.tables) > 1 else {}
        return [
            {**label, **dict(zip(columns, row, strict=True))} for row in model.storage.table_rows(physical, where=where)
        ]


def _ddl(projection: str, table: str, ddl: str | Sequence[str]) -> tuple[str, ...]:
    if not _TABLE_NAME.match(table) or _RESERVED_TABLE.search(table):
        raise UsageError(
            f"projection {projection}: {table!r} cannot name a read-model table",
            hint="use an identifier that is not 'events', does not start with 'projection_' or "
            "'sqlite_', and has no '__g<digits>' or '__r<12 hex digits>' (a rebuild's fresh tables)",
        )
    statements = (ddl,) if isinstance(ddl, str) else tuple(ddl)
    if not statements or "{" + table + "}" not in statements[0]:
        raise UsageError(
            f"projection {projection}: the DDL of table {table} must create {{{table}}}",
            hint=f"write CREATE TABLE {{{table}}} (...), so a rebuild can create it under a fresh name",
        )
    return statements


# -- SQL projections ------------------------------------------------------------------------------


class SQLProjection:
    """A projection whose handlers write SQL tables in the store, through the ``db`` they get.

    Declare the tables with DDL that names each with a placeholder (``{orders}``) and mark
    handlers with ``@handles``. Handlers are plain methods ``(self, db, event)``; they run inside
    the transaction that also moves the checkpoint, so a batch is applied exactly once.

    For ``esctl rebuild-projection NAME --tenant T``, set ``tenant_column``: every table then
    keeps the tenant id (as text) in that column, and a row's key must not clash across tenants.

    Example:
        >>> # class OrderTotals(SQLProjection):
        >>> #     name = "order-totals"
        >>> #     tenant_column = "tenant_id"
        >>> #     tables = {"order_totals": "CREATE TABLE {order_totals} "
        >>> #               "(order_id TEXT PRIMARY KEY, tenant_id TEXT, total REAL)"}
        >>> #     @handles(OrderCreated)
        >>> #     def _created(self, db: ReadModel, event: OrderCreated) -> None:
        >>> #         db.execute("INSERT INTO {order_totals} VALUES (?, ?, ?)",
        >>> #                    (str(event.aggregate_id), str(event.tenant_id), event.total_amount))
    """

    name: ClassVar[str] = ""
    tables: ClassVar[Mapping[str, str | Sequence[str]]] = {}
    tenant_column: ClassVar[str | None] = None
    batch_size: ClassVar[int] = 1000
    _handler_names: ClassVar[dict[type[DomainEvent], str]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._handler_names = collect_handlers(cls)

    @property
    def projection_name(self) -> str:
        """``name`` if the class sets one, else the class name."""
        return self.name or type(self).__name__

    def handled_event_types(self) -> frozenset[str] | None:
        """The ``event_type`` names of the classes this projection has handlers for."""
        return event_type_names(self._handler_names)


class SQLTableProjection(PersistedProjection):
    """Runs a ``SQLProjection``'s handlers for the runner.

    Args:
        template: The SQL projection (copied for each applier, so instance state never leaks).
        name: Its name (default: the projection's).
        tenant_id: Read only this tenant's events.
    """

    def __init__(self, template: SQLProjection, *, name: str | None = None, tenant_id: UUID | None = None) -> None:
        cls = type(template)
        super().__init__(
            name or template.projection_name,
            kind="sql",
            event_types=template.handled_event_types(),
            tenant_id=tenant_id,
            per_tenant=template.tenant_column is not None,
            tables=cls.tables,
            tenant_column=template.tenant_column,
            batch_size=template.batch_size,
            description=_first_line(cls.__doc__),
        )
        self.template = template

    def open(self) -> Applier:
        """Return an applier with its own copy of the projection."""
        return _SQLApplier(copy.deepcopy(self.template))


class _SQLApplier(Applier):
    def __init__(self, projection: SQLProjection) -> None:
        self._dispatch: dict[type[DomainEvent], Callable[..., object]] = {
            event_class: getattr(projection, attr) for event_class, attr in projection._handler_names.items()
        }

    def apply(self, model: ReadModel, rows: list[Row]) -> None:
        for stored, row in _decode(model.storage, rows):
            handler = find_handler(self._dispatch, stored.event)
            if handler is None:
                continue
            try:
                run_handler(handler(model, stored.event))
            except Exception as error:
                if is_store_failure(error):
                    raise
                raise HandlerFailure.at(row, error) from error


# -- Python-state projections ---------------------------------------------------------------------


class StateProjection(PersistedProjection):
    """Keeps a Python-state projection (the tutorial's ``DeclarativeProjection``) in the store.

    The projection's state — its public instance attributes, or what its ``snapshot_state()``
    returns — is saved as a JSON document with each batch's checkpoint and restored (attributes
    set, or ``restore_state(data)``) when a runner starts. State must be JSON: dicts with string
    keys, lists, strings, numbers, booleans, ``None``.

    Args:
        factory: Makes a new, empty projection.
        name: The projection's name (default: the projection's ``projection_name``).
        tenant_id: Read only this tenant's events.
        per_tenant: Keep one projection (and one document) per tenant, so one tenant's part can
            be rebuilt alone; each sees only its tenant's events.
    """

    def __init__(
        self,
        factory: Callable[[], Projection],
        *,
        name: str | None = None,
        tenant_id: UUID | None = None,
        per_tenant: bool = False,
    ) -> None:
        sample = factory()
        super().__init__(
            name or sample.projection_name,
            kind="state",
            event_types=sample.handled_event_types(),
            tenant_id=tenant_id,
            per_tenant=per_tenant,
            description=_first_line(type(sample).__doc__),
        )
        self.factory = factory

    def open(self) -> Applier:
        """Return an applier with no projection loaded yet."""
        return _StateApplier(self)

    def view(self, model: ReadModel, *, tenant: str | None = None) -> list[dict[str, Any]]:
        """Return one row per stored state: ``tenant_id`` (when per tenant) and the state's fields."""
        from esctl import codec

        rows: list[dict[str, Any]] = []
        for doc in model.documents(tenants=None if tenant is None else [tenant]):
            state = codec.loads(doc.body)
            if self.per_tenant:
                rows.append({"tenant_id": doc.tenant or None, **state})
            else:
                rows.append(state)
        return rows


def snapshot(projection: Projection) -> dict[str, Any]:
    """Return a projection's state: ``snapshot_state()`` if it has one, else its public attributes."""
    custom = getattr(projection, "snapshot_state", None)
    if callable(custom):
        state = custom()
        if not isinstance(state, dict):
            raise UsageError(f"{type(projection).__name__}.snapshot_state() must return a dict")
        return state
    return {key: value for key, value in vars(projection).items() if not key.startswith("_")}


def restore(projection: Projection, state: Mapping[str, Any]) -> None:
    """Give a new projection a saved state: ``restore_state(state)`` if it has one, else set attributes."""
    custom = getattr(projection, "restore_state", None)
    if callable(custom):
        custom(dict(state))
        return
    for key, value in state.items():
        setattr(projection, key, value)


class _StateApplier(Applier):
    def __init__(self, spec: StateProjection) -> None:
        self._spec = spec
        self._projections: dict[str, Projection] = {}
        self._saved: dict[str, bytes] = {}

    def reset(self) -> None:
        self._projections.clear()
        self._saved.clear()

    def apply(self, model: ReadModel, rows: list[Row]) -> None:
        from esctl import codec

        per_tenant = self._spec.per_tenant
        touched: dict[str, Projection] = {}
        for stored, row in _decode(model.storage, rows):
            key = (row[_TENANT] or NO_TENANT) if per_tenant else NO_TENANT
            projection = touched.get(key)
            if projection is None:
                projection = touched[key] = self._load(model, key)
            try:
                run_handler(projection.handle(stored.event))
            except Exception as error:
                if is_store_failure(error):
                    raise
                raise HandlerFailure.at(row, error) from error
        changed: list[Document] = []
        for key, projection in touched.items():
            try:
                body = codec.dumps(snapshot(projection))
            except TypeError as error:
                raise UsageError(
                    f"projection {self._spec.name}: its state is not JSON ({error})",
                    hint="keep state in dicts, lists, strings and numbers, or define snapshot_state/restore_state",
                ) from None
            if self._saved.get(key) != body:
                changed.append(Document(key, STATE_KEY, body))
                self._saved[key] = body
        model.put_documents(changed)

    def _load(self, model: ReadModel, tenant: str) -> Projection:
        projection = self._projections.get(tenant)
        if projection is not None:
            return projection
        from esctl import codec

        projection = self._spec.factory()
        for doc in model.documents(tenants=[tenant]):
            if doc.key == STATE_KEY:
                restore(projection, codec.loads(doc.body))
                self._saved[tenant] = doc.body
        self._projections[tenant] = projection
        return projection


def _decode(storage: ProjectionStorage, rows: list[Row]) -> Iterable[tuple[StoredEvent, Row]]:
    """Yield each row with its event; an event that does not decode is that event's failure."""
    decode = storage.decode
    for row in rows:
        try:
            stored = decode(row)
        except EsctlError as error:
            raise HandlerFailure.at(row, error) from error
        yield stored, row


def _first_line(text: str | None) -> str:
    return (text or "").strip().split("\n", 1)[0]
