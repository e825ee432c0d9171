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
keeps it prepared); its rows are named tuples, read like SQLAlchemy's.
"""

from __future__ import annotations

import collections
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
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
        records = await driver.fetch(query.sql, *query.bind(params))
    except _DRIVER_ERRORS:
        # Once more through SQLAlchemy, which raises its own error for it (a lost connection
        # is invalidated and reported as such), as for every other statement.
        return (await connection.execute(statement, params)).all()
    make = query.row._make  # type: ignore[attr-defined]
    return [make(record) for record in records]


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
