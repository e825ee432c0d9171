"""db/engine.py's pools: the API's keeps every connection it opens."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from db.engine import create_engine
from gr8d.config import Settings


async def _use_at_once(engine: AsyncEngine, count: int) -> None:
    async with AsyncExitStack() as stack:
        connections = [await stack.enter_async_context(engine.connect()) for _ in range(count)]
        await asyncio.gather(*(c.execute(text("SELECT 1")) for c in connections))


async def _backends(engine: AsyncEngine) -> set[int]:
    pids = set()
    async with AsyncExitStack() as stack:
        for _ in range(engine.pool.checkedin()):
            connection = await stack.enter_async_context(engine.connect())
            pids.add(await connection.scalar(text("SELECT pg_backend_pid()")))
    return pids


async def test_without_overflow_the_connections_a_busy_moment_opened_are_kept(
    settings: Settings,
) -> None:
    pool_size = 2
    engine = create_engine(
        settings.model_copy(update={"database_pool_size": pool_size}), overflow=False
    )
    try:
        await _use_at_once(engine, 2 * pool_size)
        first = await _backends(engine)
        await _use_at_once(engine, 2 * pool_size)
        again = await _backends(engine)
    finally:
        await engine.dispose()

    assert len(first) == 2 * pool_size
    assert again == first


async def test_with_overflow_only_the_pool_size_is_kept(settings: Settings) -> None:
    engine = create_engine(settings.model_copy(update={"database_pool_size": 2}))
    try:
        await _use_at_once(engine, 4)
        kept = engine.pool.checkedin()
    finally:
        await engine.dispose()

    assert kept == 2
