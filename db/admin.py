"""Creating and dropping whole databases: fresh databases for tests, CI runs and the demo."""

from __future__ import annotations

import re

from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine

_SAFE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def with_database(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def _checked(name: str) -> str:
    if not _SAFE_NAME.match(name):
        raise ValueError(f"unsafe database name {name!r}")
    return name


def _connect_args(ssl: str | None) -> dict[str, object]:
    """asyncpg's `ssl` (libpq's sslmode: DATABASE_SSL's values) when the caller names one."""
    return {} if ssl is None else {"ssl": ssl}


async def _execute_on_server(url: str, statement: str, ssl: str | None) -> None:
    """Run `statement` outside a transaction, connected to the database `url` names."""
    engine = create_async_engine(
        url, isolation_level="AUTOCOMMIT", pool_size=1, connect_args=_connect_args(ssl)
    )
    try:
        async with engine.connect() as connection:
            await connection.execute(text(statement))
    finally:
        await engine.dispose()


async def create_database(url: str, name: str, *, ssl: str | None = None) -> str:
    """Create database `name` on the server of `url`; returns the URL pointing at it."""
    await _execute_on_server(url, f'CREATE DATABASE "{_checked(name)}"', ssl)
    return with_database(url, name)


async def drop_database(url: str, name: str, *, ssl: str | None = None) -> None:
    await _execute_on_server(url, f'DROP DATABASE IF EXISTS "{_checked(name)}" WITH (FORCE)', ssl)


async def database_exists(url: str, name: str, *, ssl: str | None = None) -> bool:
    engine = create_async_engine(url, pool_size=1, connect_args=_connect_args(ssl))
    try:
        async with engine.connect() as connection:
            found = await connection.scalar(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
            )
    finally:
        await engine.dispose()
    return found is not None
