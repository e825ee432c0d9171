"""PostgreSQL stopped, killed and paused (SIGSTOP) under a running `gr8d indexer`: it waits,
says so in its log, resumes when the database returns, and loses and duplicates nothing.

The server is a private one (tests/private_postgres.py), never the machine's shared server.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from db import admin, migrate
from db.engine import create_engine, create_session_factory
from gr8d.config import load_settings
from indexer.follower import ChainFollower
from indexer.rpc import JsonRpc
from tests.chain import Protocol, deployed_protocol
from tests.indexing import activity, differences, dump, empty_all_tables, fund_stakers
from tests.indexing import seed_owners as seed
from tests.private_postgres import PrivatePostgres, private_postgres
from tests.processes import Gr8d, cursor_block, start_gr8d, wait_until

# Long enough for the leader's lock check (1 s, then a 5 s timeout) to give up on a paused
# server, so the test sees the stall logged, not only survived.
PAUSE_SECONDS = 7.0
DOWN_SECONDS = 2.0
STALL_LINES = ("indexing paused", "database unavailable", "lost the leader lock")


@pytest.fixture
async def server() -> AsyncIterator[PrivatePostgres]:
    async with private_postgres() as postgres:
        yield postgres


@pytest.fixture
async def database(server: PrivatePostgres) -> str:
    url = await admin.create_database(server.url, "gr8d_outage")
    await asyncio.to_thread(migrate.upgrade, url)
    return url


@pytest.fixture
async def private_engine(database: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(load_settings(app_env="test", database_url=database), timeout=5)
    yield engine
    await engine.dispose()


@pytest.fixture
async def chain() -> AsyncIterator[Protocol]:
    async with deployed_protocol() as protocol:
        await fund_stakers(protocol)
        yield protocol


def stall_lines(output: str) -> int:
    return sum(line.count(phrase) for line in output.splitlines() for phrase in STALL_LINES)


async def seeded_indexer(
    session_factory: async_sessionmaker[AsyncSession],
    database: str,
    chain: Protocol,
    tmp_path: Path,
    *,
    blocks: int,
) -> Gr8d:
    """`gr8d indexer` started on the seeded database, `blocks` blocks of activity behind."""
    async with session_factory() as session:
        await seed(session, chain)
        await session.commit()
    await activity(chain, blocks)
    deployments_file = tmp_path / "deployments.json"
    chain.deployments.write(deployments_file)
    env = {
        "DATABASE_URL": database,
        "RPC_URLS": chain.anvil.url,
        "DEPLOYMENTS_FILE": str(deployments_file),
    }
    return await start_gr8d(["indexer"], env=env, log_path=tmp_path / "indexer.log")


async def test_the_indexer_waits_out_a_stopped_a_killed_and_a_paused_postgresql(
    server: PrivatePostgres,
    database: str,
    private_engine: AsyncEngine,
    chain: Protocol,
    tmp_path: Path,
) -> None:
    session_factory = create_session_factory(private_engine)
    indexer = await seeded_indexer(session_factory, database, chain, tmp_path, blocks=6)

    async def caught_up() -> bool:
        try:
            return await cursor_block(session_factory) == await chain.w3.eth.block_number
        except Exception:  # the test's own connections break with the server
            await private_engine.dispose()
            return False

    try:
        await wait_until(caught_up, within=60, what="the first backfill")
        uri = 100
        for outage in ("stopped", "killed", "paused"):
            stalls = stall_lines(indexer.output())
            await activity(chain, 2, first_uri=uri)
            if outage == "stopped":
                await server.stop()
            elif outage == "killed":
                await server.kill()
            else:
                server.pause()
            await activity(chain, 4, first_uri=uri + 2)  # the chain goes on meanwhile
            await asyncio.sleep(PAUSE_SECONDS if outage == "paused" else DOWN_SECONDS)
            assert indexer.running(), indexer.output()[-3000:]
            if outage == "paused":
                server.resume()
            else:
                await server.start()
            await wait_until(caught_up, within=60, what=f"catching up after PostgreSQL {outage}")
            assert stall_lines(indexer.output()) > stalls, f"the {outage} server went unlogged"
            uri += 10
    finally:
        code = await indexer.terminate()
    assert code == 0, indexer.output()[-3000:]

    async with session_factory() as session:
        after_outages = await dump(session)
        await empty_all_tables(session)
        await seed(session, chain)
        await session.commit()
    async with aiohttp.ClientSession() as http:
        await ChainFollower(
            rpc=JsonRpc(http, chain.anvil.url),
            session_factory=session_factory,
            deployments=chain.deployments,
        ).index_until(await chain.w3.eth.block_number)
    async with session_factory() as session:
        assert differences(after_outages, await dump(session)) == {}


async def test_sigterm_stops_the_indexer_within_10_s_while_postgresql_is_paused(
    server: PrivatePostgres,
    database: str,
    private_engine: AsyncEngine,
    chain: Protocol,
    tmp_path: Path,
) -> None:
    session_factory = create_session_factory(private_engine)
    indexer = await seeded_indexer(session_factory, database, chain, tmp_path, blocks=3)
    try:

        async def caught_up() -> bool:
            return await cursor_block(session_factory) == await chain.w3.eth.block_number

        await wait_until(caught_up, within=60, what="the first backfill")
        await private_engine.dispose()
        server.pause()
        try:
            await activity(chain, 2, first_uri=50)  # a batch to write meets the paused server
            await asyncio.sleep(2)
            code = await indexer.terminate()  # within STOP_WITHIN_SECONDS (10 s)
        finally:
            server.resume()
    finally:
        await indexer.kill()
    assert code == 0, indexer.output()[-3000:]
