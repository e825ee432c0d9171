"""operations.md: every line of the indexer carries its block range, also the line of a batch
that failed and is retried, and the lines of a batch read ahead of the one being written."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from structlog.contextvars import merge_contextvars
from structlog.testing import capture_logs
from web3.types import RPCEndpoint

from indexer.follower import ChainFollower
from indexer.rpc import JsonRpc, RetryPolicy, RpcTransient
from tests.chain import Protocol, deployed_protocol, transact
from tests.indexing import seed_owners

FAST = RetryPolicy(attempts=5, base_delay=0.002, max_delay=0.02, request_timeout=2)
G8D = 10**18
BATCH_BLOCKS = 20
log = structlog.get_logger("tests.indexer")


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def chain() -> AsyncIterator[Protocol]:
    """The protocol with a stake, then enough empty blocks for several batches."""
    async with deployed_protocol() as protocol:
        owner, user = protocol.account(0), protocol.account(2)
        token, staking = protocol.contract("G8DToken"), protocol.contract("G8DStaking")
        await transact(protocol.w3, token.functions.mint(user.address, 10 * G8D), owner)
        await transact(protocol.w3, token.functions.approve(staking.address, 10 * G8D), user)
        await transact(protocol.w3, staking.functions.stake(10 * G8D), user)
        await protocol.w3.provider.make_request(RPCEndpoint("anvil_mine"), [hex(100)])
        yield protocol


async def test_a_failed_batch_names_its_blocks_and_every_read_its_own(
    chain: Protocol,
    session_factory: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with session_factory() as session:
        await seed_owners(session, chain)
        await session.commit()
    reads: list[tuple[str, str | None]] = []
    original = ChainFollower._read
    failures = iter([True])

    async def read_once_failing(self: ChainFollower, start: int, end: int, **kwargs: Any) -> Any:
        log.info("reading")
        reads.append((f"{start}-{end}", structlog.contextvars.get_contextvars().get("blocks")))
        if next(failures, False):
            raise RpcTransient("the node hiccuped")
        return await original(self, start, end, **kwargs)

    monkeypatch.setattr(ChainFollower, "_read", read_once_failing)
    head = await chain.w3.eth.block_number
    async with aiohttp.ClientSession() as http:
        follower = ChainFollower(
            rpc=JsonRpc(http, chain.anvil.url, policy=FAST),
            session_factory=session_factory,
            deployments=chain.deployments,
            batch_blocks=BATCH_BLOCKS,
        )
        with capture_logs(processors=[merge_contextvars]) as lines:
            await follower.index_until(head)

    assert len(reads) > 3
    assert all(blocks == asked for asked, blocks in reads), reads
    (paused,) = [line for line in lines if line["event"] == "indexing paused; retrying"]
    assert paused["blocks"] == reads[0][0]
    assert re.fullmatch(r"\d+-\d+", paused["blocks"])
