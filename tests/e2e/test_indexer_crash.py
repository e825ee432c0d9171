"""`kill -9` of `gr8d indexer` at random moments of a backfill: after restarts the database
is exactly what an uninterrupted run writes, with no gap and no duplicate."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.models import ChainEvent
from tests.chain import Protocol
from tests.indexing import (
    busy_protocol,
    clean_index_dump,
    differences,
    dump,
    indexer_environment,
)
from tests.indexing import seed_owners as seed
from tests.processes import Gr8d, cursor_block, start_gr8d, wait_until

EVENTS = 300
KILLS = 5
SEED = 20261124


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def busy() -> AsyncIterator[Protocol]:
    async with busy_protocol(events=EVENTS) as protocol:
        yield protocol


async def test_kill_9_at_random_moments_of_a_backfill_loses_and_duplicates_nothing(
    busy: Protocol,
    session_factory: async_sessionmaker[AsyncSession],
    database_url: str,
    tmp_path: Path,
) -> None:
    async with session_factory() as session:
        await seed(session, busy)
        await session.commit()
    env = indexer_environment(busy, database_url, tmp_path)
    head = int(await busy.w3.eth.block_number)
    arguments = ["indexer", "--until-block", str(head), "--batch-blocks", "2"]
    log_path = tmp_path / "indexer.log"
    rng = random.Random(SEED)

    kills = 0
    for _ in range(KILLS):
        before = await cursor_block(session_factory) or 0
        indexer = await start_gr8d(arguments, env=env, log_path=log_path)

        async def moved(before: int = before, indexer: Gr8d = indexer) -> bool:
            return (await cursor_block(session_factory) or 0) > before or not indexer.running()

        await wait_until(moved, within=60, what="the restarted indexer writes a batch")
        await asyncio.sleep(rng.uniform(0, 0.15))
        if not indexer.running():
            break
        await indexer.kill()
        kills += 1
    assert kills >= 4, f"the backfill ended after {kills} kills: make the chain longer"
    assert (await cursor_block(session_factory) or 0) < head

    last = await start_gr8d(arguments, env=env, log_path=log_path)
    assert await asyncio.wait_for(last.process.wait(), 120) == 0, last.output()[-3000:]

    async with session_factory() as session:
        after_kills = await dump(session)
        events = await session.scalar(select(func.count()).select_from(ChainEvent))
    assert events == EVENTS
    assert differences(after_kills, await clean_index_dump(busy, session_factory, head)) == {}
