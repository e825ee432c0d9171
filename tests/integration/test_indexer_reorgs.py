"""Reorgs on a real anvil (anvil_reorg, evm_snapshot/evm_revert): after each, the database is
exactly what a clean index of the final chain writes: events, blocks, cursor and projections.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Iterable
from typing import Any, NamedTuple

import aiohttp
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.models import ChainBlock, ChainEvent, IndexerCursor, IndexerReorg, StakingRecord
from indexer.follower import ChainFollower, ReorgTooDeep, StepKind
from indexer.rpc import BlockHeader, JsonRpc, RpcRejected
from tests.chain import Protocol, deployed_protocol
from tests.faults.rpc_proxy import Faults, FaultyRpcProxy
from tests.indexing import (
    activity,
    anvil,
    create_strategy,
    differences,
    dump,
    empty_all_tables,
    fund_stakers,
    reorg,
    seed_owners,
    send,
    stake,
)

STAKER = 2


@pytest.fixture
async def chain() -> AsyncIterator[Protocol]:
    """A fresh protocol per test (reorgs change the chain), with funded stakers."""
    async with deployed_protocol() as protocol:
        await fund_stakers(protocol)
        yield protocol


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def follower_of(
    chain: Protocol,
    http: aiohttp.ClientSession,
    session_factory: async_sessionmaker[AsyncSession],
    **options: Any,
) -> ChainFollower:
    options.setdefault("batch_blocks", 5)
    options.setdefault("poll_seconds", 0.05)
    options.setdefault("rpc", JsonRpc(http, chain.anvil.url))
    return ChainFollower(
        session_factory=session_factory,
        deployments=chain.deployments,
        **options,
    )


async def head_of(chain: Protocol) -> int:
    return int(await chain.w3.eth.block_number)


class CursorRow(NamedTuple):
    number: int
    hash: str


@pytest.fixture
async def seeded(chain: Protocol, session_factory: async_sessionmaker[AsyncSession]) -> None:
    async with session_factory() as session:
        await seed_owners(session, chain)
        await session.commit()


async def clean_index_equals(
    chain: Protocol,
    http: aiohttp.ClientSession,
    session_factory: async_sessionmaker[AsyncSession],
) -> dict[str, Any]:
    """The database now, after which it is rebuilt by a clean index of the final chain and
    compared: returns the differences (empty when equal) and the dump."""
    async with session_factory() as session:
        after_reorgs = await dump(session)
        await empty_all_tables(session)
        await seed_owners(session, chain)
        await session.commit()
    await follower_of(chain, http, session_factory, batch_blocks=1_000).index_until(
        await head_of(chain)
    )
    async with session_factory() as session:
        clean = await dump(session)
    return {"differences": differences(after_reorgs, clean), "clean": clean}


async def indexed_cursor(session_factory: async_sessionmaker[AsyncSession]) -> CursorRow:
    async with session_factory() as session:
        cursor = await session.scalar(select(IndexerCursor))
        assert cursor is not None
        return CursorRow(cursor.last_block_number, cursor.last_block_hash)


async def recorded_reorgs(
    session_factory: async_sessionmaker[AsyncSession],
) -> list[IndexerReorg]:
    async with session_factory() as session:
        return list(await session.scalars(select(IndexerReorg).order_by(IndexerReorg.id)))


async def indexed_events(session_factory: async_sessionmaker[AsyncSession]) -> list[str]:
    async with session_factory() as session:
        rows = await session.execute(
            select(ChainEvent.block_number, ChainEvent.event_name).order_by(
                ChainEvent.block_number, ChainEvent.log_index
            )
        )
        return [f"{number}:{name}" for number, name in rows]


@pytest.mark.usefixtures("seeded")
@pytest.mark.parametrize("depth", [1, 3, 12])
async def test_a_reorg_ends_in_the_database_of_a_clean_index(
    chain: Protocol,
    http: aiohttp.ClientSession,
    session_factory: async_sessionmaker[AsyncSession],
    depth: int,
) -> None:
    await activity(chain, 15)
    follower = follower_of(chain, http, session_factory)
    await follower.index_until(await head_of(chain))
    before = await indexed_events(session_factory)
    old_head = await indexed_cursor(session_factory)

    # The new branch: other stakes and a strategy in some of its blocks, none in others.
    await reorg(
        chain,
        depth,
        [(stake(chain, STAKER, 7), 0), (create_strategy(chain, 30), depth - 1)],
    )
    await follower.index_until(await head_of(chain))

    [recorded] = await recorded_reorgs(session_factory)
    outcome = await clean_index_equals(chain, http, session_factory)
    assert outcome["differences"] == {}
    assert await indexed_events(session_factory) != before
    assert (recorded.common_ancestor, recorded.replaced_to, recorded.depth) == (
        old_head.number - depth,
        old_head.number,
        depth,
    )
    assert recorded.old_block_hash == old_head.hash


@pytest.mark.usefixtures("seeded")
async def test_a_shorter_new_branch_is_a_reorg_not_a_lagging_node(
    chain: Protocol,
    http: aiohttp.ClientSession,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    await activity(chain, 6)
    snapshot_head, snapshot = await head_of(chain), await anvil(chain, "evm_snapshot")
    await activity(chain, 6, first_uri=10)
    follower = follower_of(chain, http, session_factory)
    indexed_head = await head_of(chain)
    await follower.index_until(indexed_head)

    await anvil(chain, "evm_revert", snapshot)
    await send(chain, stake(chain, STAKER, 3))
    await send(chain, create_strategy(chain, 31))
    shorter_head = await head_of(chain)
    assert snapshot_head + 2 == shorter_head < indexed_head
    await follower.index_until(shorter_head)

    async with session_factory() as session:
        cursor = await session.scalar(select(IndexerCursor))
    assert cursor is not None and cursor.last_block_number == shorter_head
    assert (await clean_index_equals(chain, http, session_factory))["differences"] == {}


@pytest.mark.usefixtures("seeded")
async def test_the_same_height_reorged_again_and_again(
    chain: Protocol,
    http: aiohttp.ClientSession,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    await activity(chain, 8)
    follower = follower_of(chain, http, session_factory)
    await follower.index_until(await head_of(chain))

    for round_ in range(4):
        await reorg(chain, 2, [(stake(chain, STAKER, 100 + round_), round_ % 2)])
        await follower.index_until(await head_of(chain))

    assert (await clean_index_equals(chain, http, session_factory))["differences"] == {}


@pytest.mark.usefixtures("seeded")
async def test_a_reorg_in_the_middle_of_a_backfill(
    chain: Protocol,
    http: aiohttp.ClientSession,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    await activity(chain, 20)
    head = await head_of(chain)
    follower = follower_of(chain, http, session_factory, batch_blocks=2)
    # The backfill has read up to two blocks below the head when the last six are replaced.
    while (await follower.step(head)).cursor < head - 2:
        pass
    await reorg(chain, 6, [(create_strategy(chain, 32), 1), (stake(chain, STAKER, 9), 4)])

    await follower.index_until(await head_of(chain))

    assert (await clean_index_equals(chain, http, session_factory))["differences"] == {}


@pytest.mark.usefixtures("seeded")
async def test_a_reorg_deeper_than_max_reorg_depth_stops_with_nothing_deleted(
    chain: Protocol,
    http: aiohttp.ClientSession,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    await activity(chain, 10)
    follower = follower_of(chain, http, session_factory, max_reorg_depth=4)
    await follower.index_until(await head_of(chain))
    async with session_factory() as session:
        before = await dump(session)

    await reorg(chain, 5, [(stake(chain, STAKER, 5), 0)])
    with pytest.raises(ReorgTooDeep) as stopped:
        await follower.index_until(await head_of(chain))

    assert "MAX_REORG_DEPTH=4" in str(stopped.value)
    async with session_factory() as session:
        assert await dump(session) == before


@pytest.mark.usefixtures("seeded")
async def test_a_reorg_of_exactly_max_reorg_depth_is_unwound(
    chain: Protocol,
    http: aiohttp.ClientSession,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    await activity(chain, 10)
    follower = follower_of(chain, http, session_factory, max_reorg_depth=4)
    await follower.index_until(await head_of(chain))

    await reorg(chain, 4, [(stake(chain, STAKER, 5), 0)])
    results = [await follower.step(), await follower.step()]

    assert [result.kind for result in results] == [StepKind.UNWOUND, StepKind.INDEXED]
    assert (await clean_index_equals(chain, http, session_factory))["differences"] == {}


@pytest.mark.usefixtures("seeded")
async def test_blocks_at_or_below_the_nodes_finalized_block_are_final(
    chain: Protocol,
    http: aiohttp.ClientSession,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    """anvil's finalized block is its head − 64: stakes below it are CONFIRMED, and of the
    final blocks only those with events and the last final one keep their header."""
    await activity(chain, 6)
    await anvil(chain, "anvil_mine", hex(70))
    await activity(chain, 3, first_uri=20)
    head = await head_of(chain)
    finalized = (await chain.w3.eth.get_block("finalized"))["number"]
    await follower_of(chain, http, session_factory, batch_blocks=25).index_until(head)

    async with session_factory() as session:
        cursor = await session.scalar(select(IndexerCursor))
        blocks = set((await session.scalars(select(ChainBlock.number))).all())
        event_blocks = set((await session.scalars(select(ChainEvent.block_number))).all())
        records = (await session.scalars(select(StakingRecord))).all()
    final = {record.status for record in records if (record.block_number or 0) <= finalized}
    recent = {record.status for record in records if (record.block_number or 0) > finalized}
    assert cursor is not None and cursor.finalized_block_number == finalized == head - 64
    assert blocks == event_blocks | set(range(finalized, head + 1))
    assert (final, recent) == ({"CONFIRMED"}, {"PENDING"})


@pytest.mark.usefixtures("seeded")
async def test_without_a_finalized_tag_blocks_confirmations_below_the_head_are_final(
    chain: Protocol,
    http: aiohttp.ClientSession,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    await activity(chain, 9)
    head = await head_of(chain)
    async with FaultyRpcProxy(chain.anvil.url, Faults(finalized_tag=False)) as proxy:
        node = JsonRpc(http, proxy.url)
        follower = follower_of(chain, http, session_factory, rpc=node, confirmations=4)
        await follower.index_until(head)

    async with session_factory() as session:
        cursor = await session.scalar(select(IndexerCursor))
        records = (await session.scalars(select(StakingRecord))).all()
    assert proxy.counts()["no_finalized_tag"] > 0
    assert cursor is not None and cursor.finalized_block_number == head - 4
    final = {record.status for record in records if (record.block_number or 0) <= head - 4}
    recent = {record.status for record in records if (record.block_number or 0) > head - 4}
    assert (final, recent) == ({"CONFIRMED"}, {"PENDING"})


class LaggingNode(JsonRpc):
    """A real node whose `latest` is some blocks old, as a load-balanced replica behind."""

    lag = 5

    async def latest_block(self) -> BlockHeader:
        latest = await super().latest_block()
        return await self.block(max(0, latest.number - self.lag))


@pytest.mark.usefixtures("seeded")
async def test_a_node_that_answers_an_older_head_is_not_taken_for_a_reorg(
    chain: Protocol,
    http: aiohttp.ClientSession,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    await activity(chain, 10)
    await follower_of(chain, http, session_factory).index_until(await head_of(chain))
    async with session_factory() as session:
        before = await dump(session)
    behind = follower_of(chain, http, session_factory, rpc=LaggingNode(http, chain.anvil.url))

    results = [await behind.step() for _ in range(3)]

    assert {result.kind for result in results} == {StepKind.IDLE}
    async with session_factory() as session:
        assert await dump(session) == before


@pytest.mark.usefixtures("seeded")
async def test_a_reorg_of_every_indexed_block_starts_over_from_the_start_block(
    chain: Protocol,
    http: aiohttp.ClientSession,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    """Even the deployment is replaced: the new branch has no protocol events at all."""
    await activity(chain, 4)
    follower = follower_of(chain, http, session_factory)
    await follower.index_until(await head_of(chain))
    depth = await head_of(chain) - chain.deployments.start_block + 1

    await reorg(chain, depth, [])
    await follower.index_until(await head_of(chain))

    assert await indexed_events(session_factory) == []
    assert (await clean_index_equals(chain, http, session_factory))["differences"] == {}


class LogsBehindNode(JsonRpc):
    """A load-balanced provider whose eth_getLogs goes to a replica `lag` blocks behind the
    head the others serve: it answers the blocks it lacks with no logs (as nodes answer a
    range past their head), while headers and `latest` come from an up-to-date replica."""

    lag = 3

    def __init__(self, *args: Any, behind_answers: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.behind_answers = behind_answers

    async def logs(
        self, from_block: int, to_block: int, addresses: Any, topics: Any = ()
    ) -> list[dict[str, Any]]:
        found = await super().logs(from_block, to_block, addresses, topics)
        if self.behind_answers <= 0:
            return found
        self.behind_answers -= 1
        replica_head = (await super().latest_block()).number - self.lag
        return [item for item in found if int(item["blockNumber"], 16) <= replica_head]


@pytest.mark.usefixtures("seeded")
@pytest.mark.parametrize("behind_answers", [2, 10**9])
async def test_logs_a_node_behind_leaves_out_are_read_by_block_hash_not_lost(
    chain: Protocol,
    http: aiohttp.ClientSession,
    session_factory: async_sessionmaker[AsyncSession],
    behind_answers: int,
) -> None:
    """The blocks' logs blooms promise logs the answer lacks: those blocks' logs are asked
    for by hash, also when the provider's eth_getLogs is always behind (reading the range
    again would meet the same replica)."""
    await activity(chain, 9)
    behind = LogsBehindNode(http, chain.anvil.url, behind_answers=behind_answers)
    follower = follower_of(chain, http, session_factory, rpc=behind, batch_blocks=1_000)

    await asyncio.wait_for(follower.index_until(await head_of(chain)), 30)

    assert (await clean_index_equals(chain, http, session_factory))["differences"] == {}
    assert behind.behind_answers < behind_answers  # it did answer from behind


class DoublingNode(JsonRpc):
    """A provider that answers every log twice."""

    async def logs(
        self, from_block: int, to_block: int, addresses: Any, topics: Any = ()
    ) -> list[dict[str, Any]]:
        found = await super().logs(from_block, to_block, addresses, topics)
        return found + found


@pytest.mark.usefixtures("seeded")
async def test_a_log_answered_twice_is_stored_and_projected_once(
    chain: Protocol,
    http: aiohttp.ClientSession,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    await activity(chain, 9)
    doubling = DoublingNode(http, chain.anvil.url)
    follower = follower_of(chain, http, session_factory, rpc=doubling, batch_blocks=4)

    await follower.index_until(await head_of(chain))

    assert (await clean_index_equals(chain, http, session_factory))["differences"] == {}


class SaturatedBloomsNode(JsonRpc):
    """A busy chain's node without EIP-234: every block's logs bloom has every bit set (each
    empty block is a false positive), and eth_getLogs by block hash is an invalid request."""

    async def blocks(self, numbers: Iterable[int]) -> dict[int, BlockHeader]:
        found = await super().blocks(numbers)
        return {n: dataclasses.replace(h, logs_bloom=SATURATED) for n, h in found.items()}

    async def block_logs(
        self, header: BlockHeader, addresses: Any, topics: Any = ()
    ) -> list[dict[str, Any]]:
        raise RpcRejected("eth_getLogs: error -32602: invalid params: blockHash", code=-32602)


SATURATED = "0x" + "ff" * 256


@pytest.mark.usefixtures("seeded")
async def test_a_provider_without_logs_by_block_hash_is_asked_for_the_blocks_range(
    chain: Protocol,
    http: aiohttp.ClientSession,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    await activity(chain, 4)
    await anvil(chain, "anvil_mine", hex(5))  # empty blocks, each promising logs
    node = SaturatedBloomsNode(http, chain.anvil.url)
    follower = follower_of(chain, http, session_factory, rpc=node)

    await asyncio.wait_for(follower.index_until(await head_of(chain)), 30)

    assert (await clean_index_equals(chain, http, session_factory))["differences"] == {}


@pytest.mark.usefixtures("seeded")
async def test_a_deployments_file_without_contracts_indexes_no_contract_at_all(
    chain: Protocol,
    http: aiohttp.ClientSession,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    """chain.md: a contract missing from the file is not indexed; an empty address filter
    would ask the node for the logs of every contract."""
    await activity(chain, 4)
    nothing = dataclasses.replace(chain.deployments, contracts={})
    follower = ChainFollower(
        rpc=JsonRpc(http, chain.anvil.url), session_factory=session_factory, deployments=nothing
    )

    await follower.index_until(await head_of(chain))

    assert await indexed_events(session_factory) == []
    assert (await indexed_cursor(session_factory)).number == await head_of(chain)
