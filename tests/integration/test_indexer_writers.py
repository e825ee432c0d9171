"""One writer: the leader lock picks one process, a leader that loses its lock connection
stops its work before anyone else starts, and writes are fenced even without the lock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gr8d.config import Settings
from indexer.follower import ChainFollower, CursorMoved
from indexer.leader import Leadership, LeaderTimings
from indexer.rpc import JsonRpc
from tests.chain import Protocol, deployed_protocol
from tests.indexing import (
    activity,
    clean_index_dump,
    differences,
    dump,
    fund_stakers,
    seed_owners,
)
from tests.processes import wait_until

FAST = LeaderTimings(standby_poll=0.1, keepalive=0.2, timeout=1.0, max_backoff=0.5)


def leadership(settings: Settings) -> Leadership:
    return Leadership(
        settings.require_database_url(),
        ssl=settings.effective_database_ssl.value,
        chain_id=4242,
        timings=FAST,
    )


async def lock_holders(session_factory: async_sessionmaker[AsyncSession]) -> list[int]:
    async with session_factory() as session:
        rows = await session.scalars(
            text(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
                " AND database = (SELECT oid FROM pg_database"
                " WHERE datname = current_database())"
            )
        )
        return list(rows)


async def test_a_leader_that_loses_its_lock_connection_stops_before_another_starts(
    settings: Settings, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    journal: list[tuple[str, str]] = []
    running: set[str] = set()

    async def work(name: str) -> None:
        assert not running, f"{name} starts while {running} still works"
        running.add(name)
        journal.append(("start", name))
        try:
            await asyncio.Event().wait()
        finally:
            running.discard(name)
            journal.append(("stop", name))

    tasks = [asyncio.ensure_future(leadership(settings).run(lambda: work("first")))]
    try:

        async def first_leads() -> bool:
            return journal == [("start", "first")]

        await wait_until(first_leads, within=10, what="the first process leads")
        tasks.append(asyncio.ensure_future(leadership(settings).run(lambda: work("second"))))
        await asyncio.sleep(0.5)
        assert journal == [("start", "first")], "the standby must wait"

        [holder] = await lock_holders(session_factory)
        async with session_factory() as session:
            await session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": holder})

        async def someone_leads_again() -> bool:
            return len(journal) >= 3

        await wait_until(someone_leads_again, within=10, what="a new leader")
        assert journal[:2] == [("start", "first"), ("stop", "first")]
        assert journal[2][0] == "start"
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    assert running == set()


@pytest.fixture
async def chain() -> AsyncIterator[Protocol]:
    async with deployed_protocol() as protocol:
        await fund_stakers(protocol)
        await activity(protocol, 12)
        yield protocol


async def test_two_writers_without_the_lock_still_write_each_block_once(
    chain: Protocol, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    """Split brain (a leader that has not yet noticed it lost the lock): the cursor fence
    lets one batch through and stops the other writer."""
    async with session_factory() as session:
        await seed_owners(session, chain)
        await session.commit()
    head = int(await chain.w3.eth.block_number)
    async with aiohttp.ClientSession() as http:
        writers = [
            ChainFollower(
                rpc=JsonRpc(http, chain.anvil.url),
                session_factory=session_factory,
                deployments=chain.deployments,
                batch_blocks=2,
            )
            for _ in range(2)
        ]
        outcomes = await asyncio.gather(
            *(writer.index_until(head) for writer in writers), return_exceptions=True
        )
        stopped = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
        assert all(isinstance(outcome, CursorMoved) for outcome in stopped), stopped
    async with session_factory() as session:
        together = await dump(session)
    assert differences(together, await clean_index_dump(chain, session_factory, head)) == {}
