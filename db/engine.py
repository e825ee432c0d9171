"""Engine and session factory; built by the entry points and test fixtures, never at import."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from gr8d.config import Settings


def create_engine(
    settings: Settings, *, url: str | None = None, timeout: float | None = None
) -> AsyncEngine:
    """``timeout`` bounds connecting and every statement (seconds): a daemon that must notice a
    database that stopped answering (paused, unreachable) sets it; None waits as asyncpg does."""
    connect_args: dict[str, object] = {"ssl": settings.effective_database_ssl.value}
    if timeout is not None:
        connect_args |= {"timeout": timeout, "command_timeout": timeout}
    return create_async_engine(
        url or settings.require_database_url(),
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_pool_size,
        pool_pre_ping=True,
        pool_timeout=timeout if timeout is not None else 30,
        connect_args=connect_args,
    )


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # expire_on_commit=False: objects stay readable after commit without lazy reloads.
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
