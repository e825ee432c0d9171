"""Read-ahead on a real anvil: while a final batch is written, the next one is read from the
node, and the database ends exactly as a clean index of the chain in one batch."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

import aiohttp
import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from indexer.follower import ChainFollower, StepKind, StepResult
from indexer.ranges import RangePolicy
from indexer.rpc import BlockHeader, JsonRpc, LogRangeRefused, RefusalKind
from tests.chain import Protocol, deployed_protocol
from tests.indexing import (
    anvil,
    busy_chain,
    clean_index_dump,
    differences,
    dump,
    empty_all_tables,
    fund_stakers,
    seed_owners,
)

BATCH_BLOCKS = 10
# anvil calls a block final 64 blocks below its head: these make every event block final.
FINALITY_DEPTH = 64


class RecordingRpc(JsonRpc):
    """A JsonRpc that writes each header it is asked for (alone or in a batch), and the
    first block of each eth_getLogs range, into a shared timeline."""

    def __init__(self, *args: Any, timeline: list[tuple[str, int]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.timeline = timeline

    async def logs(
        self,
        from_block: int,
        to_block: int,
        addresses: Sequence[str],
        topics: Sequence[str] = (),
    ) -> list[dict[str, Any]]:
        self.timeline.append(("logs", from_block))
        return await super().logs(from_block, to_block, addresses, topics)

    async def block(self, number: int) -> BlockHeader:
        self.timeline.append(("header", number))
        return await super().block(number)

    async def blocks(self, numbers: Iterable[int]) -> dict[int, BlockHeader]:
        wanted = sorted(set(numbers))
        self.timeline.extend(("header", number) for number in wanted)
        return await super().blocks(wanted)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def chain() -> AsyncIterator[Protocol]:
    """60 events over some 200 blocks, all of them final."""
    async with deployed_protocol() as protocol:
        await fund_stakers(protocol)
        await busy_chain(protocol, events=60, per_block=3, empty_between=8)
        await anvil(protocol, "anvil_mine", hex(FINALITY_DEPTH + 1))
        yield protocol


async def test_a_backfill_reads_each_final_batch_while_the_one_before_is_written(
    chain: Protocol, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    last_event_block = int(await chain.w3.eth.block_number) - FINALITY_DEPTH - 1
    reference = await clean_index_dump(chain, session_factory, last_event_block)
    timeline: list[tuple[str, int]] = []

    def indexed(step: StepResult) -> None:
        if step.kind is StepKind.INDEXED:
            timeline.append(("indexed", step.cursor))

    async with session_factory() as session:
        await empty_all_tables(session)
        await seed_owners(session, chain)
        await session.commit()
    async with aiohttp.ClientSession() as http:
        follower = ChainFollower(
            rpc=RecordingRpc(http, chain.anvil.url, timeline=timeline),
            session_factory=session_factory,
            deployments=chain.deployments,
            batch_blocks=BATCH_BLOCKS,
            on_step=indexed,
        )
        progress = await follower.index_until(last_event_block)

    async with session_factory() as session:
        assert differences(await dump(session), reference) == {}
    reads = [block for kind, block in timeline if kind == "logs"]
    batches = [block for kind, block in timeline if kind == "indexed"]
    assert progress.batches == len(batches) > 10
    # Every block's logs are read once, in order, and never past the target.
    assert reads == [chain.deployments.start_block, *(cursor + 1 for cursor in batches[:-1])]
    # Each batch after the first began to be read (its first header) before the batch ahead
    # of it was committed.
    for number, first_block in enumerate(reads[1:]):
        began = timeline.index(("header", first_block))
        assert began < timeline.index(("indexed", batches[number]))


class CappedRpc(JsonRpc):
    """A provider that refuses eth_getLogs over more than `cap` blocks without saying its
    limit, as many public RPCs do."""

    def __init__(self, *args: Any, cap: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cap = cap

    async def logs(
        self,
        from_block: int,
        to_block: int,
        addresses: Sequence[str],
        topics: Sequence[str] = (),
    ) -> list[dict[str, Any]]:
        if to_block - from_block + 1 > self.cap:
            raise LogRangeRefused("block range too large", kind=RefusalKind.BLOCK_RANGE)
        return await super().logs(from_block, to_block, addresses, topics)


async def test_a_provider_that_cuts_final_ranges_short_still_gives_the_clean_index(
    chain: Protocol, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    last_event_block = int(await chain.w3.eth.block_number) - FINALITY_DEPTH - 1
    reference = await clean_index_dump(chain, session_factory, last_event_block)
    async with session_factory() as session:
        await empty_all_tables(session)
        await seed_owners(session, chain)
        await session.commit()
    async with aiohttp.ClientSession() as http:
        follower = ChainFollower(
            rpc=CappedRpc(http, chain.anvil.url, cap=13),
            session_factory=session_factory,
            deployments=chain.deployments,
            batch_blocks=40,
            # Answers of few logs let the range grow past the cap, which then cuts it.
            ranges=RangePolicy(initial_blocks=5, max_blocks=40),
        )
        await follower.index_until(last_event_block)

    async with session_factory() as session:
        assert differences(await dump(session), reference) == {}
