"""Backfill of raw events from a real anvil into chain_events, one transaction per batch."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.models import ChainBlock, ChainEvent, IndexerCursor
from gr8d.config import ConfigError
from indexer.devchain import Deployments
from indexer.follower import ChainFollower
from indexer.rpc import JsonRpc
from tests.chain import Protocol, deployed_protocol, transact

G8D = 10**18


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def chain() -> AsyncIterator[Protocol]:
    """The protocol with activity: three users stake, one author creates two strategies."""
    async with deployed_protocol() as protocol:
        await _activity(protocol)
        yield protocol


async def _activity(chain: Protocol) -> None:
    owner = chain.anvil.account(0)
    token, staking = chain.contract("G8DToken"), chain.contract("G8DStaking")
    registry = chain.contract("StrategyRegistry")
    for index, amount in ((2, 5_000), (3, 20_000), (4, 2**40)):
        user = chain.anvil.account(index)
        await transact(chain.w3, token.functions.mint(user.address, amount * G8D), owner)
        await transact(chain.w3, token.functions.approve(staking.address, amount * G8D), user)
        await transact(chain.w3, staking.functions.stake(amount * G8D), user)
    author = chain.anvil.account(5)
    for uri in ("gr8d://strategies/one", "gr8d://strategies/two\x00hostile"):
        await transact(chain.w3, registry.functions.createStrategy(uri), author)


@pytest.fixture
async def follower(
    chain: Protocol, session_factory: async_sessionmaker[AsyncSession]
) -> AsyncIterator[ChainFollower]:
    async with aiohttp.ClientSession() as http:
        yield ChainFollower(
            rpc=JsonRpc(http, chain.anvil.url),
            session_factory=session_factory,
            deployments=chain.deployments,
            batch_blocks=4,
        )


async def _names(session: AsyncSession) -> list[str]:
    rows = await session.scalars(
        select(ChainEvent.event_name).order_by(ChainEvent.block_number, ChainEvent.log_index)
    )
    return list(rows)


async def test_a_backfill_stores_every_protocol_event_with_exact_values(
    chain: Protocol, follower: ChainFollower, session: AsyncSession
) -> None:
    head = await chain.w3.eth.block_number

    progress = await follower.index_until(head)

    assert progress.last_block == head and progress.events == 5
    assert await _names(session) == ["Staked"] * 3 + ["StrategyCreated"] * 2
    stakes = (
        await session.scalars(
            select(ChainEvent).where(ChainEvent.event_name == "Staked").order_by(ChainEvent.id)
        )
    ).all()
    assert [event.args["amount"] for event in stakes if event.args] == [
        str(5_000 * G8D),
        str(20_000 * G8D),
        str(2**40 * G8D),
    ]
    assert stakes[0].args is not None
    assert stakes[0].args["user"] == chain.anvil.account(2).address.lower()
    cursor = await session.scalar(select(IndexerCursor))
    assert cursor is not None and cursor.last_block_number == head
    block = await chain.w3.eth.get_block(head)
    assert cursor.last_block_hash == "0x" + bytes(block["hash"]).hex()


async def test_a_nul_byte_in_a_uri_is_kept_raw_and_marked(
    chain: Protocol, follower: ChainFollower, session: AsyncSession
) -> None:
    await follower.index_until(await chain.w3.eth.block_number)

    created = (
        await session.scalars(
            select(ChainEvent)
            .where(ChainEvent.event_name == "StrategyCreated")
            .order_by(ChainEvent.id)
        )
    ).all()
    # No registration names the first URI: its projection waits for one (chain.md).
    assert created[0].args is not None and created[0].projection_status == "PARKED"
    # Decoded, its args are its values: the raw log is kept only for the one that is not.
    assert created[0].topics is None and created[0].data is None
    assert created[1].args is None
    assert created[1].projection_status == "FAILED" and created[1].projection_error
    assert created[1].data.startswith("0x")


async def test_indexing_again_or_in_pieces_adds_nothing_twice(
    chain: Protocol, follower: ChainFollower, session: AsyncSession
) -> None:
    head = await chain.w3.eth.block_number
    middle = chain.deployments.start_block + (head - chain.deployments.start_block) // 2

    await follower.index_until(middle)
    await follower.index_until(head)
    again = await follower.index_until(head)

    assert again.batches == 0
    assert await session.scalar(select(func.count()).select_from(ChainEvent)) == 5
    # The count other processes turn into events/s grew with each piece, once per event.
    assert await session.scalar(select(IndexerCursor.events_indexed)) == 5
    numbers = (await session.scalars(select(ChainBlock.number))).all()
    assert len(numbers) == len(set(numbers))


async def test_a_node_of_another_chain_is_refused(
    chain: Protocol, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    other = Deployments(chain_id=143, start_block=0, contracts=chain.deployments.contracts)
    async with aiohttp.ClientSession() as http:
        follower = ChainFollower(
            rpc=JsonRpc(http, chain.anvil.url), session_factory=session_factory, deployments=other
        )
        with pytest.raises(ConfigError) as refused:
            await follower.check_chain()
    assert refused.value.variable == "RPC_URLS"


async def test_gr8d_indexer_until_block_backfills_and_exits_0(
    chain: Protocol, database_url: str, session: AsyncSession, tmp_path: Path
) -> None:
    deployments_file = tmp_path / "deployments.json"
    chain.deployments.write(deployments_file)
    head = await chain.w3.eth.block_number
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gr8d",
        "indexer",
        "--until-block",
        str(head),
        env={
            **os.environ,
            "DATABASE_URL": database_url,
            "RPC_URLS": chain.anvil.url,
            "DEPLOYMENTS_FILE": str(deployments_file),
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=120)

    assert process.returncode == 0, output.decode()
    assert await session.scalar(select(func.count()).select_from(ChainEvent)) == 5
    cursor = await session.scalar(select(IndexerCursor))
    assert cursor is not None and cursor.last_block_number == head
