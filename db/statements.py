"""Statements built once: a SELECT whose values are bind parameters, and the values of one use.

Building a SQLAlchemy statement and its cache key costs more CPU than PostgreSQL spends running
a small query (a user's page of strategies: ~120 us to build, ~90 us for PostgreSQL to run and
send back), and a statement object keeps its cache key once computed. Hot list queries are
therefore built once per shape (functools.cache) with bindparam() where the values go, and bound
per use.

Executing one costs the same again: SQLAlchemy's execution of a page of strategies took ~155 us
of CPU through the ORM session and ~110 us through its Core connection, the driver's own ~50 us.
`fetch_rows` therefore runs a BoundSelect that selects plain columns, on a connection without a
transaction, as SQL compiled once per statement, straight on the driver's connection (asyncpg
keeps it prepared); its rows are named tuples, read like SQLAlchemy's. The same statement run
by several requests in one turn of the event loop runs once for all of them (`_fetch`).
"""

from __future__ import annotations

import asyncio
import collections
import re
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from sqlalchemy import Select
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.types import TypeEngine


@dataclass(frozen=True, slots=True)
class BoundSelect:
    statement: Select[*tuple[Any, ...]]
    params: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class _DriverQuery:
    """A statement compiled for the driver: its SQL, where each positional argument comes from
    (a value of the caller's by name, or the statement's own literal) and its row type."""

    sql: str
    arguments: tuple[tuple[str, Any], ...]  # (name, default: _REQUIRED when it has none)
    row: type[tuple[Any, ...]]

    def bind(self, params: Mapping[str, Any]) -> list[Any]:
        return [
            params[name] if default is _REQUIRED else params.get(name, default)
            for name, default in self.arguments
        ]


_REQUIRED = object()


# None: the statement needs SQLAlchemy (entities, type conversions, expanding parameters).
_DRIVER_QUERIES: weakref.WeakKeyDictionary[Select[*tuple[Any, ...]], _DriverQuery | None] = (
    weakref.WeakKeyDictionary()
)

# Errors of the driver that SQLAlchemy translates (and for which it replaces a dead connection).
_DRIVER_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError)


async def fetch_rows(session: AsyncSession, bound: BoundSelect) -> Sequence[Any]:
    """Every row of a statement built once, with its values. When it selects plain columns it
    runs on the session's connection (Core), and straight on the driver's when that connection
    has no transaction (a read-only session): its rows are then named tuples, compiled once per
    statement (so only for statements built once). One that selects entities runs through the
    session, which builds them."""
    statement, params = bound.statement, bound.params
    # A session bound to a connection (the API's read-only sessions) is used without the
    # session's transaction bookkeeping.
    bind = session.bind
    connection = bind if isinstance(bind, AsyncConnection) else await session.connection()
    query = _driver_query(statement, connection.dialect)
    if query is None:
        return (await session.execute(statement, params)).all()
    driver = _autocommit_driver(connection)
    if driver is None:
        return (await connection.execute(statement, params)).all()
    try:
        records = await _fetch(connection, driver, query.sql, query.bind(params))
    except _DRIVER_ERRORS:
        # Once more through SQLAlchemy, which raises its own error for it (a lost connection
        # is invalidated and reported as such), as for every other statement.
        return (await connection.execute(statement, params)).all()
    make = query.row._make  # type: ignore[attr-defined]
    return [make(record) for record in records]


Records = Sequence[Sequence[Any]]


@dataclass(slots=True)
class _Batch:
    """The requests that run one statement in the same turn of the event loop, after the one
    that opened the batch (which runs it for all of them)."""

    joined: list[tuple[list[Any], asyncio.Future[Records]]] = field(default_factory=list)

    def fail(self) -> None:
        """Each request that joined runs its statement alone."""
        for _, joined in self.joined:
            if not joined.done():
                joined.set_exception(_BatchFailed())


class _BatchFailed(Exception):
    """The batch could not run: each of its requests runs its statement alone."""


# Open for one turn of the event loop, by loop, pool (one database) and SQL.
_OPEN_BATCHES: dict[tuple[asyncio.AbstractEventLoop, Any, str], _Batch] = {}
# The statement that runs a batch of a statement, by the statement's SQL; None: not batchable.
_BATCH_SQL: dict[str, str | None] = {}


async def _fetch(connection: AsyncConnection, driver: Any, sql: str, args: list[Any]) -> Records:
    """The rows of `sql` with `args`, each statement on its own (autocommit).

    The same statement run by several requests in one turn of the event loop (under load they
    arrive together: their Redis check is answered in one reply) runs once for all of them,
    on the connection of the first: each round trip to PostgreSQL costs both processes far
    more CPU than the rows of a page (waking a sleeping backend on a 2-core VM ~40-100 us,
    parsing, planning and starting an executor), and rows of the same statement for a dozen
    argument lists cost little more than for one. Each request gets exactly its own rows, in
    their order (_batch_sql); when the batch fails, each runs its statement alone."""
    if sql in _BATCH_SQL and _BATCH_SQL[sql] is None:
        return await driver.fetch(sql, *args)  # type: ignore[no-any-return]
    loop = asyncio.get_running_loop()
    key = (loop, connection.sync_engine.pool, sql)
    batch = _OPEN_BATCHES.get(key)
    if batch is not None:
        joined: asyncio.Future[Records] = loop.create_future()
        batch.joined.append((args, joined))
        try:
            return await joined
        except _BatchFailed:
            return await driver.fetch(sql, *args)  # type: ignore[no-any-return]
    batch = _OPEN_BATCHES[key] = _Batch()
    try:
        await asyncio.sleep(0)  # every request already running in this turn may join
    except BaseException:
        batch.fail()
        raise
    finally:
        del _OPEN_BATCHES[key]
    if not batch.joined:
        return await driver.fetch(sql, *args)  # type: ignore[no-any-return]
    try:
        rows = await _run_batch(driver, sql, [args, *(joiner for joiner, _ in batch.joined)])
    except BaseException as error:
        batch.fail()
        if isinstance(error, Exception):
            return await driver.fetch(sql, *args)  # type: ignore[no-any-return]
        raise
    for (_, joined), own in zip(batch.joined, rows[1:], strict=True):
        if not joined.done():  # its request was cancelled
            joined.set_result(own)
    return rows[0]


async def _run_batch(driver: Any, sql: str, argument_lists: list[list[Any]]) -> list[Records]:
    """The rows of `sql` for each argument list, as one statement; _BatchFailed when `sql`
    cannot run that way."""
    if sql not in _BATCH_SQL:
        parameters = (await driver.prepare(sql)).get_parameters()
        _BATCH_SQL[sql] = _batch_sql(sql, parameters)
    batched = _BATCH_SQL[sql]
    if batched is None:
        raise _BatchFailed()
    records = await driver.fetch(
        batched, *(list(column) for column in zip(*argument_lists, strict=True))
    )
    rows: list[list[Sequence[Any]]] = [[] for _ in argument_lists]
    for record in records:
        rows[record[0] - 1].append(record[1:])
    return list(rows)


_PLACEHOLDER = re.compile(r"\$(\d+)")


def _batch_sql(sql: str, parameters: Sequence[Any]) -> str | None:
    """`sql` run once per row of the arrays of its arguments: the request's number (from 1),
    then the statement's columns. Its rows, for each request, come in the statement's own
    order: a lateral subquery runs once per outer row, in a nested loop, and nothing above it
    sorts. None for SQL whose placeholders cannot all be rewritten safely: with string
    literals (a `$1` could be text), or with arguments that are arrays (unnest would flatten
    them)."""
    numbers = {int(number) for number in _PLACEHOLDER.findall(sql)}
    if (
        not parameters
        or "'" in sql
        or "$$" in sql
        or numbers != set(range(1, len(parameters) + 1))
        or any(parameter.kind != "scalar" for parameter in parameters)
    ):
        return None
    body = _PLACEHOLDER.sub(lambda match: f"batch.p{match[1]}", sql)
    arrays = ", ".join(
        f'${number}::"{parameter.schema}"."{parameter.name}"[]'
        for number, parameter in enumerate(parameters, 1)
    )
    columns = ", ".join(f"p{number}" for number in range(1, len(parameters) + 1))
    return (
        f"SELECT batch.request, statement.* FROM unnest({arrays}) WITH ORDINALITY"
        f" AS batch({columns}, request) CROSS JOIN LATERAL ({body}) AS statement"
    )


def _autocommit_driver(connection: AsyncConnection) -> Any:
    """The asyncpg connection under `connection` when it runs each statement on its own (no
    transaction to join), else None."""
    synchronous = connection.sync_connection
    if synchronous is None or synchronous.invalidated or synchronous.dialect.driver != "asyncpg":
        return None
    if synchronous.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
        return None
    return synchronous.connection.driver_connection


def _driver_query(statement: Select[*tuple[Any, ...]], dialect: Dialect) -> _DriverQuery | None:
    try:
        return _DRIVER_QUERIES[statement]
    except KeyError:
        query = _DRIVER_QUERIES[statement] = _compile_for_driver(statement, dialect)
        return query


def _compile_for_driver(
    statement: Select[*tuple[Any, ...]], dialect: Dialect
) -> _DriverQuery | None:
    if not all(isinstance(column["type"], TypeEngine) for column in statement.column_descriptions):
        return None  # it selects entities: the ORM builds them
    if any(
        column.type.dialect_impl(dialect).result_processor(dialect, None) is not None
        for column in statement.selected_columns
    ):
        return None
    compiled = statement.compile(dialect=dialect)
    if (
        compiled.positiontup is None
        or compiled.literal_execute_params
        or compiled.post_compile_params
    ):
        return None
    binds = [(name, compiled.binds[name]) for name in compiled.positiontup]
    if any(
        bind.type.dialect_impl(dialect).bind_processor(dialect) is not None for _, bind in binds
    ):
        return None
    arguments = tuple(
        (name, _REQUIRED if bind.required else bind.effective_value) for name, bind in binds
    )
    names = [str(column.key) for column in statement.selected_columns]
    row = collections.namedtuple("Row", names, rename=True)  # type: ignore[misc]
    return _DriverQuery(sql=compiled.string, arguments=arguments, row=row)
