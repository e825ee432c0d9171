"""What another PostgreSQL backend is doing, for tests that race two connections."""

from __future__ import annotations

import asyncio

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

_WAITING_ON_A_LOCK = text("SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = :pid")


async def until_waiting_on_a_lock(session: AsyncSession, pid: int) -> None:
    """Returns once backend `pid` waits on a lock (within ~5 s, else AssertionError)."""
    for _ in range(500):
        if (await session.execute(_WAITING_ON_A_LOCK, {"pid": pid})).scalar():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"backend {pid} never waited on a lock")
