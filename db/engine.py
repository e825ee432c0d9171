"""Engine and session factory; built by the entry points and test fixtures, never at import.

Stale pooled connections (PostgreSQL restarted, a backend terminated, an idle timeout): by
default every checkout pings the server first (`pool_pre_ping`: for asyncpg BEGIN, an empty
query and ROLLBACK, three round trips), which also finds a peer that vanished without a word. The
API, where those round trips are a large part of a short request, checks instead for free
whether asyncpg has seen the connection closed (PostgreSQL closes the socket of a backend it
ends, and the event loop reads that end long before the connection's next use); a pooled
connection whose server went silent (a network partition, no RST) is found only when a
statement fails, and the first such failure marks every older pooled connection stale.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import event, exc
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

from gr8d.config import Settings


def create_engine(
    settings: Settings,
    *,
    url: str | None = None,
    timeout: float | None = None,
    pre_ping: bool = True,
    overflow: bool = True,
) -> AsyncEngine:
    """``timeout`` bounds connecting and every statement (seconds): a daemon that must notice a
    database that stopped answering (paused, unreachable) sets it; None waits as asyncpg does.
    ``pre_ping=False`` trades the ping of each checkout for the closed-socket check above.

    At most twice DATABASE_POOL_SIZE connections. With ``overflow`` (the default) the pool keeps
    DATABASE_POOL_SIZE of them and closes the others when they come back; ``overflow=False``
    keeps every connection it opens: under a steady load about the pool's size, overflow
    connections are opened and closed again and again, each a new PostgreSQL backend whose
    statements are prepared anew (two API workers at 32 requests each: 251 backends in 6.5 s)."""
    connect_args: dict[str, object] = {"ssl": settings.effective_database_ssl.value}
    if timeout is not None:
        connect_args |= {"timeout": timeout, "command_timeout": timeout}
    size = settings.database_pool_size
    engine = create_async_engine(
        url or settings.require_database_url(),
        pool_size=size if overflow else 2 * size,
        max_overflow=size if overflow else 0,
        pool_pre_ping=pre_ping,
        pool_timeout=timeout if timeout is not None else 30,
        connect_args=connect_args,
    )
    if not pre_ping:
        event.listen(engine.sync_engine, "checkout", _refuse_closed_connection)
    return engine


def _refuse_closed_connection(
    dbapi_connection: Any, record: ConnectionPoolEntry, proxy: PoolProxiedConnection
) -> None:
    """A connection the server has closed is replaced (the pool retries the checkout)."""
    driver = record.driver_connection
    if driver is not None and driver.is_closed():
        raise exc.DisconnectionError("the server closed this pooled connection")


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # expire_on_commit=False: objects stay readable after commit without lazy reloads.
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


class WriteRefused(RuntimeError):
    """A read-only session was asked to write."""


class ReadOnlySession(Session):
    """A session that refuses to flush changes: it runs without a transaction."""

    def flush(self, objects: Sequence[Any] | None = None) -> None:
        if self.new or self.dirty or self.deleted:
            raise WriteRefused("a read-only session cannot write (it has no transaction)")
        super().flush(objects)


def create_read_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions for work that only reads, on the same pool: autocommit, so no BEGIN and COMMIT
    round trips (under READ COMMITTED each statement reads its own snapshot either way)."""
    return async_sessionmaker(
        engine.execution_options(isolation_level="AUTOCOMMIT"),
        expire_on_commit=False,
        autoflush=False,
        sync_session_class=ReadOnlySession,
    )
