"""The RPC client and the adaptive log fetcher against a real anvil behind a faulty proxy."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from web3.types import RPCEndpoint

from indexer.events import event_table
from indexer.follower import ChainFollower, StepKind
from indexer.ranges import LogChunk, LogRangeFetcher, RangePolicy, bloom_may_contain
from indexer.rpc import BlockHeader, JsonRpc, RetryPolicy, RpcRejected, RpcUnavailable
from tests.chain import Protocol, deployed_protocol, transact
from tests.faults.rpc_proxy import (
    FOREIGN_CONTRACT,
    MONAD_LOG_BLOCKS,
    ORPHANED_TX_HASH,
    Faults,
    FaultyRpcProxy,
)
from tests.indexing import clean_index_dump, differences, dump, seed_owners

G8D = 10**18
QUIET_BLOCKS = 120  # empty blocks between two stakes: the events span several 100-block caps
STAKES = (5_000, 20_000, 200_000)
REPOSITORY = Path(__file__).resolve().parents[2]

# Tests wait milliseconds where production waits seconds.
FAST = RetryPolicy(attempts=60, base_delay=0.002, max_delay=0.02, request_timeout=0.25)
EVERYTHING = dataclasses.replace(Faults.everything(), retry_after="0.01")
# Without the lagging replica, whose eth_getLogs answers lack the blocks it has not seen: the
# client alone cannot tell (the follower can, by the blocks' logs blooms).
EVERYTHING_UP_TO_DATE = dataclasses.replace(EVERYTHING, lagging_head=0.0)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def chain() -> AsyncIterator[Protocol]:
    """The protocol with three stakes far apart and a strategy at the end."""
    async with deployed_protocol() as protocol:
        owner = protocol.account(0)
        token, staking = protocol.contract("G8DToken"), protocol.contract("G8DStaking")
        for index, amount in enumerate(STAKES, start=2):
            user = protocol.account(index)
            await transact(protocol.w3, token.functions.mint(user.address, amount * G8D), owner)
            await transact(
                protocol.w3, token.functions.approve(staking.address, amount * G8D), user
            )
            await transact(protocol.w3, staking.functions.stake(amount * G8D), user)
            await protocol.w3.provider.make_request(RPCEndpoint("anvil_mine"), [hex(QUIET_BLOCKS)])
        registry = protocol.contract("StrategyRegistry")
        await transact(
            protocol.w3, registry.functions.createStrategy("gr8d://far"), protocol.account(5)
        )
        yield protocol


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def _closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


async def _all_chunks(fetcher: LogRangeFetcher, start: int, end: int) -> list[LogChunk]:
    return [chunk async for chunk in fetcher.fetch(start, end)]


async def _reference(
    chain: Protocol, http: aiohttp.ClientSession
) -> tuple[int, list[dict[str, Any]], list[BlockHeader]]:
    direct = JsonRpc(http, chain.anvil.url)
    head = await direct.block_number()
    start = chain.deployments.start_block
    logs = await direct.logs(start, head, list(chain.deployments.contracts.values()))
    headers = [await direct.block(number) for number in range(start, head + 1)]
    return head, logs, headers


async def test_logs_and_headers_read_through_every_fault_equal_the_fault_free_answers(
    chain: Protocol, http: aiohttp.ClientSession
) -> None:
    head, expected_logs, expected_headers = await _reference(chain, http)
    start = chain.deployments.start_block
    assert head - start > 3 * MONAD_LOG_BLOCKS

    async with FaultyRpcProxy(chain.anvil.url, EVERYTHING_UP_TO_DATE, seed=11) as proxy:
        rpc = JsonRpc(http, proxy.url, policy=FAST)
        fetcher = LogRangeFetcher(
            rpc, list(chain.deployments.contracts.values()), policy=RangePolicy(initial_blocks=400)
        )
        chunks = await _all_chunks(fetcher, start, head)
        headers = [await rpc.block(number) for number in range(start, head + 1)]

    assert [item for chunk in chunks for item in chunk.logs] == expected_logs
    assert headers == expected_headers
    assert all(chunk.last - chunk.first + 1 <= MONAD_LOG_BLOCKS for chunk in chunks)
    assert chunks[0].first == start and chunks[-1].last == head
    seen = proxy.counts()
    for fault in ("http_500", "http_429", "hang", "drop", "truncated", "null_block"):
        assert seen[fault] > 0, f"the proxy never injected {fault}: {seen}"
    assert seen["range_refused"] > 0


async def test_headers_read_in_batches_through_every_fault_equal_the_fault_free_answers(
    chain: Protocol, http: aiohttp.ClientSession
) -> None:
    head, _, expected = await _reference(chain, http)
    start = chain.deployments.start_block

    faults = ("http_500", "http_429", "drop", "truncated", "null_block")

    # A read is a handful of requests: again until each fault has been met at least once.
    async with FaultyRpcProxy(chain.anvil.url, EVERYTHING, seed=5) as proxy:
        for _ in range(30):
            rpc = JsonRpc(http, proxy.url, policy=FAST)
            headers = await rpc.blocks(range(start, head + 1))
            assert list(headers.values()) == expected
            assert list(headers) == list(range(start, head + 1))
            if all(proxy.counts()[fault] for fault in faults):
                break

    seen = proxy.counts()
    for fault in faults:
        assert seen[fault] > 0, f"the proxy never injected {fault}: {seen}"


async def test_a_node_that_refuses_batches_is_asked_one_header_at_a_time(
    chain: Protocol, http: aiohttp.ClientSession
) -> None:
    head, _, expected = await _reference(chain, http)
    start = chain.deployments.start_block

    async with FaultyRpcProxy(chain.anvil.url, Faults(batches=False)) as proxy:
        rpc = JsonRpc(http, proxy.url, policy=FAST)
        first = await rpc.blocks(range(start, head + 1))
        second = await rpc.blocks([start, head])

    assert list(first.values()) == expected
    assert second == {start: expected[0], head: expected[-1]}
    assert proxy.counts()["batch_refused"] == 1
    assert proxy.counts()["ok"] == len(expected) + 2


async def test_only_protocol_events_come_back_when_topics_are_given(
    chain: Protocol, http: aiohttp.ClientSession
) -> None:
    rpc = JsonRpc(http, chain.anvil.url, policy=FAST)
    head = await rpc.block_number()
    fetcher = LogRangeFetcher(
        rpc, list(chain.deployments.contracts.values()), topics=list(event_table())
    )

    chunks = await _all_chunks(fetcher, chain.deployments.start_block, head)

    assert sum(len(chunk.logs) for chunk in chunks) == len(STAKES) + 1


async def test_a_block_bloom_admits_its_protocol_logs_and_rules_out_the_rest(
    chain: Protocol, http: aiohttp.ClientSession
) -> None:
    _, logs, headers = await _reference(chain, http)
    addresses, ours = list(chain.deployments.contracts.values()), list(event_table())
    with_ours = {int(item["blockNumber"], 16) for item in logs if item["topics"][0] in ours}
    with_others = {int(item["blockNumber"], 16) for item in logs} - with_ours

    for header in headers:
        assert header.logs_bloom is not None
        may = bloom_may_contain(header.logs_bloom, addresses, ours)
        assert may == (header.number in with_ours), header.number
        if header.number in with_others:
            assert bloom_may_contain(header.logs_bloom, addresses)
    assert len(with_ours) == len(STAKES) + 1 and with_others


async def test_a_dead_first_url_fails_over_to_the_second(
    chain: Protocol, http: aiohttp.ClientSession
) -> None:
    rpc = JsonRpc(http, [_closed_port_url(), chain.anvil.url], policy=FAST)

    assert await rpc.chain_id() == chain.deployments.chain_id
    head = await rpc.block_number()
    assert (await rpc.block(head)).number == head
    assert rpc.endpoints.pick(0)[0] == 1


async def test_a_lagging_node_never_moves_the_head_backwards(
    chain: Protocol, http: aiohttp.ClientSession
) -> None:
    true_head = await chain.w3.eth.block_number
    async with FaultyRpcProxy(chain.anvil.url, Faults(lagging_head=0.7), seed=3) as proxy:
        rpc = JsonRpc(http, proxy.url, policy=FAST)
        heads = [await rpc.block_number() for _ in range(40)]

    assert heads == sorted(heads)
    assert heads[-1] == true_head
    assert proxy.counts()["lagging_head"] > 10


async def test_a_429_is_followed_by_a_pause_of_its_retry_after(
    chain: Protocol, http: aiohttp.ClientSession
) -> None:
    faults = Faults(http_429=0.4, retry_after="0.15")
    async with FaultyRpcProxy(chain.anvil.url, faults, seed=5) as proxy:
        rpc = JsonRpc(http, proxy.url, policy=FAST)
        for _ in range(15):
            await rpc.chain_id()

    outcomes = proxy.outcomes
    throttled = [index for index, outcome in enumerate(outcomes) if outcome.fault == "http_429"]
    assert throttled
    for index in throttled:
        assert outcomes[index + 1].at - outcomes[index].at >= 0.15 - 0.005


async def test_bad_params_are_refused_at_once_without_retrying(
    chain: Protocol, http: aiohttp.ClientSession
) -> None:
    async with FaultyRpcProxy(chain.anvil.url, Faults()) as proxy:
        rpc = JsonRpc(http, proxy.url, policy=FAST)
        with pytest.raises(RpcRejected):
            await rpc.call("eth_getBlockByNumber", ["not a block", False])

    assert len(proxy.outcomes) == 1


async def test_a_node_that_keeps_failing_is_given_up_with_rpc_unavailable(
    chain: Protocol, http: aiohttp.ClientSession
) -> None:
    policy = RetryPolicy(attempts=4, base_delay=0.001, max_delay=0.01, request_timeout=0.25)
    async with FaultyRpcProxy(chain.anvil.url, Faults(http_500=1.0)) as proxy:
        rpc = JsonRpc(http, proxy.url, policy=policy)
        with pytest.raises(RpcUnavailable, match="gave up after 4 attempts"):
            await rpc.block_number()

    assert len(proxy.outcomes) == 4


async def test_the_finalized_block_comes_from_the_tag_and_is_none_without_it(
    chain: Protocol, http: aiohttp.ClientSession
) -> None:
    head = await chain.w3.eth.block_number
    finalized = await JsonRpc(http, chain.anvil.url, policy=FAST).finalized_block()
    assert finalized is not None and 0 <= finalized.number <= head

    async with FaultyRpcProxy(chain.anvil.url, Faults(finalized_tag=False)) as proxy:
        rpc = JsonRpc(http, proxy.url, policy=FAST)
        assert await rpc.finalized_block() is None

    assert len(proxy.outcomes) == 1


async def test_the_follower_indexes_through_every_fault_to_the_database_of_a_clean_run(
    chain: Protocol,
    http: aiohttp.ClientSession,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    async with session_factory() as session:
        await seed_owners(session, chain)
        await session.commit()
    head = await chain.w3.eth.block_number
    async with FaultyRpcProxy(chain.anvil.url, Faults.everything(), seed=23) as proxy:
        follower = ChainFollower(
            rpc=JsonRpc(http, proxy.url, policy=FAST),
            session_factory=session_factory,
            deployments=chain.deployments,
            batch_blocks=MONAD_LOG_BLOCKS,
        )
        await follower.index_until(head)
        # Caught up, the follower meets lagging heads too: none may look like a reorg.
        idle = [await follower.step_with_retries(None) for _ in range(10)]

    assert {result.kind for result in idle} == {StepKind.IDLE}
    async with session_factory() as session:
        through_faults = await dump(session)
    assert len(through_faults["chain_events"]) == len(STAKES) + 1
    assert differences(through_faults, await clean_index_dump(chain, session_factory, head)) == {}
    lagged = {outcome.method for outcome in proxy.outcomes if outcome.fault == "lagging_head"}
    assert lagged >= {"eth_getBlockByNumber", "eth_getLogs"}, proxy.counts()


async def test_the_proxy_runs_as_a_process_too(
    chain: Protocol, http: aiohttp.ClientSession
) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.faults.rpc_proxy",
        chain.anvil.url,
        "--everything",
        "--seed",
        "9",
        stdout=asyncio.subprocess.PIPE,
        cwd=REPOSITORY,
    )
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), timeout=30)).decode()
        assert line.startswith("listening http://127.0.0.1:"), line
        rpc = JsonRpc(http, line.split()[1], policy=FAST)
        heads = [await rpc.block_number() for _ in range(10)]
        assert heads[-1] == await chain.w3.eth.block_number
    finally:
        process.terminate()
        await process.wait()


@pytest.mark.parametrize(
    ("faults", "fault"),
    [(Faults(foreign_log=0.5), "foreign_log"), (Faults(removed_log=0.5), "removed_log")],
)
async def test_a_log_of_a_contract_not_asked_about_or_removed_is_not_indexed(
    chain: Protocol,
    http: aiohttp.ClientSession,
    session_factory: async_sessionmaker[AsyncSession],
    faults: Faults,
    fault: str,
) -> None:
    """A provider that ignores the address filter, or answers a log marked removed (it is
    switching branches): its answers are read again, not trusted."""
    async with session_factory() as session:
        await seed_owners(session, chain)
        await session.commit()
    head = await chain.w3.eth.block_number
    async with FaultyRpcProxy(chain.anvil.url, faults, seed=3) as proxy:
        follower = ChainFollower(
            rpc=JsonRpc(http, proxy.url, policy=FAST),
            session_factory=session_factory,
            deployments=chain.deployments,
        )
        await follower.index_until(head)

    assert proxy.counts()[fault] > 0
    async with session_factory() as session:
        indexed = await dump(session)
    assert FOREIGN_CONTRACT not in repr(indexed["chain_events"])
    assert ORPHANED_TX_HASH not in repr(indexed["chain_events"])
    assert differences(indexed, await clean_index_dump(chain, session_factory, head)) == {}


async def test_logs_of_events_not_asked_about_are_not_indexed(
    chain: Protocol,
    http: aiohttp.ClientSession,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    """A provider that ignores the topics filter answers the tokens' Transfer and Approval
    logs too: its answers are read again, and nothing of them is stored."""
    async with session_factory() as session:
        await seed_owners(session, chain)
        await session.commit()
    head = await chain.w3.eth.block_number
    unfiltered = Faults(topics_ignored=True)
    async with FaultyRpcProxy(chain.anvil.url, unfiltered) as proxy:
        follower = ChainFollower(
            rpc=JsonRpc(http, [proxy.url, chain.anvil.url], policy=FAST),
            session_factory=session_factory,
            deployments=chain.deployments,
        )
        await follower.index_until(head)

    async with session_factory() as session:
        indexed = await dump(session)
    assert differences(indexed, await clean_index_dump(chain, session_factory, head)) == {}
