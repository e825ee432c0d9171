"""Two `gr8d indexer` processes at once: one leads, the other waits as a hot standby and takes
over within seconds when the leader is SIGKILLed; every event is still written exactly once."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.chain import Protocol
from tests.indexing import (
    busy_protocol,
    clean_index_dump,
    differences,
    dump,
    indexer_environment,
)
from tests.indexing import seed_owners as seed
from tests.processes import cursor_block, start_gr8d, wait_until

EVENTS = 120
TAKEOVER_WITHIN_SECONDS = 5.0
LEADING = "leading: this process indexes"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def busy() -> AsyncIterator[Protocol]:
    async with busy_protocol(events=EVENTS) as protocol:
        yield protocol


async def test_a_standby_takes_over_within_seconds_when_the_leader_is_killed(
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
    arguments = ["indexer", "--batch-blocks", "2"]
    first = await start_gr8d(arguments, env=env, log_path=tmp_path / "first.log")
    second = await start_gr8d(arguments, env=env, log_path=tmp_path / "second.log")
    both = (first, second)
    try:

        async def one_leads() -> bool:
            return any(LEADING in process.output() for process in both)

        await wait_until(one_leads, within=60, what="one process leads")
        leader, standby = both if LEADING in first.output() else reversed(both)

        async def standby_waits() -> bool:
            return "standby: another process leads" in standby.output()

        async def backfilling() -> bool:
            return (await cursor_block(session_factory) or 0) > busy.deployments.start_block

        await wait_until(standby_waits, within=60, what="the other process waits as a standby")
        await wait_until(backfilling, within=60, what="the leader writes")
        await leader.kill()
        killed_at = time.monotonic()
        stopped_at = await cursor_block(session_factory) or 0
        assert stopped_at < head, "the backfill ended before the kill: make the chain longer"

        async def taken_over() -> bool:
            return (await cursor_block(session_factory) or 0) > stopped_at

        await wait_until(taken_over, within=30, what="the standby takes over")
        takeover = time.monotonic() - killed_at

        async def caught_up() -> bool:
            return await cursor_block(session_factory) == head

        await wait_until(caught_up, within=120, what="the new leader reaches the head")
        assert LEADING in standby.output()
        assert await standby.terminate() == 0, standby.output()[-3000:]
    finally:
        for process in both:
            await process.kill()

    assert takeover < TAKEOVER_WITHIN_SECONDS
    async with session_factory() as session:
        after_takeover = await dump(session)
    assert differences(after_takeover, await clean_index_dump(busy, session_factory, head)) == {}
