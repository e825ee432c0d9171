"""Helpers for the indexer's tests: chain activity, anvil's reorg tools, the users the
projections need, and a dump of what the indexer wrote to compare two runs.

Two runs end in "the same database" when `dump()` is equal: every table, every row, without
the columns that are generated per run (surrogate ids, created/updated/confirmed times).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.models import Base, Strategy, StrategyRegistration, User, Wallet
from indexer.follower import ChainFollower
from indexer.rpc import JsonRpc
from tests.chain import Protocol, deployed_protocol, transact
from tests.factories import MINIMAL_DEFINITION

G8D = 10**18
STAKERS = (2, 3, 4)  # anvil accounts that stake
AUTHOR = 5  # the anvil account that creates strategies
# Columns whose values are made per run, not derived from the chain (events_indexed counts the
# events written, again after a reorg replaced their blocks).
VOLATILE_COLUMNS = frozenset({"created_at", "updated_at", "confirmed_at", "events_indexed"})


def fixed_id(name: str) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"gr8d-test:{name}")


def uri(number: int) -> str:
    return f"gr8d://strategies/{number}"


# -- anvil ------------------------------------------------------------------------------------


async def anvil(protocol: Protocol, method: str, *params: Any) -> Any:
    answer = await protocol.w3.provider.make_request(method, list(params))  # type: ignore[arg-type]
    if answer.get("error"):
        raise AssertionError(f"{method}: {answer['error']}")
    return answer.get("result")


def call_request(
    protocol: Protocol, contract: str, function: str, args: Sequence[Any], sender_index: int
) -> dict[str, Any]:
    """A transaction request for eth_sendTransaction / anvil_reorg: anvil signs it for its
    unlocked dev account."""
    target = protocol.contract(contract)
    return {
        "from": protocol.account(sender_index).address,
        "to": target.address,
        "data": target.encode_abi(function, args=list(args)),
        "gas": hex(500_000),
    }


async def send(protocol: Protocol, request: dict[str, Any]) -> dict[str, Any]:
    """Send a transaction and return its receipt once its block is mined.

    anvil answers eth_sendTransaction when the transaction enters its pool and mines it a
    moment later, so a head read right after may not have it yet (and a transaction still
    pending at evm_revert is mined into the new branch). eth_sendTransactionSync (EIP-7966)
    answers with the receipt, once the block is the head.
    """
    receipt: dict[str, Any] = await anvil(protocol, "eth_sendTransactionSync", request)
    if receipt.get("status") != "0x1":
        raise AssertionError(f"transaction {receipt.get('transactionHash')} reverted")
    return receipt


async def reorg(protocol: Protocol, depth: int, transactions: Sequence[tuple[Any, int]]) -> None:
    """Replace the last `depth` blocks; each (request, offset) lands in new block `offset`."""
    await anvil(protocol, "anvil_reorg", depth, [[tx, offset] for tx, offset in transactions])


def create_strategy(protocol: Protocol, number: int) -> dict[str, Any]:
    return call_request(protocol, "StrategyRegistry", "createStrategy", [uri(number)], AUTHOR)


async def fund_stakers(protocol: Protocol, amount: int = 10**9) -> None:
    owner = protocol.account(0)
    token, staking = protocol.contract("G8DToken"), protocol.contract("G8DStaking")
    for index in STAKERS:
        user = protocol.account(index)
        await transact(protocol.w3, token.functions.mint(user.address, amount * G8D), owner)
        await transact(protocol.w3, token.functions.approve(staking.address, amount * G8D), user)


def stake(protocol: Protocol, staker: int, amount: int) -> dict[str, Any]:
    return call_request(protocol, "G8DStaking", "stake", [amount * G8D], staker)


async def activity(protocol: Protocol, blocks: int, *, first_uri: int = 0) -> None:
    """`blocks` blocks of protocol events: stakes of varied sizes and new strategies, each
    mined before this returns."""
    for step in range(blocks):
        if step % 3 == 2:
            request = create_strategy(protocol, first_uri + step)
        else:
            request = stake(protocol, STAKERS[step % len(STAKERS)], 1_000 * (step + 1))
        await send(protocol, request)


# -- the database -----------------------------------------------------------------------------


async def seed_owners(session: AsyncSession, protocol: Protocol, *, uris: int = 40) -> None:
    """Users with the stakers' and the author's verified wallets, and PENDING registrations
    for the first `uris` strategy URIs, under fixed ids so two runs can be compared."""
    for index in (*STAKERS, AUTHOR):
        user_id = fixed_id(f"user-{index}")
        await session.execute(
            insert(User).values(
                id=user_id, email=f"account-{index}@example.com", hashed_password="x"
            )
        )
        await session.execute(
            insert(Wallet).values(
                id=fixed_id(f"wallet-{index}"),
                user_id=user_id,
                address=protocol.account(index).address.lower(),
                is_verified=True,
            )
        )
    author = fixed_id(f"user-{AUTHOR}")
    for number in range(uris):
        strategy_id = fixed_id(f"strategy-{number}")
        await session.execute(
            insert(Strategy).values(
                id=strategy_id, user_id=author, name=f"s{number}", definition=MINIMAL_DEFINITION
            )
        )
        await session.execute(
            insert(StrategyRegistration).values(
                id=fixed_id(f"registration-{number}"),
                strategy_id=strategy_id,
                author_id=author,
                metadata_uri=uri(number),
            )
        )


async def empty_all_tables(session: AsyncSession) -> None:
    tables = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
    await session.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


def _generated(column: Any) -> bool:
    return bool(
        column.name in VOLATILE_COLUMNS
        or (column.primary_key and column.name == "id" and column.server_default is not None)
        or (column.primary_key and column.name == "id" and column.autoincrement is True)
    )


# What happened while indexing, not what the chain holds: a clean index has none of it.
INDEXING_HISTORY_TABLES = frozenset({"indexer_reorgs"})


async def dump(session: AsyncSession) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows (sorted), without the columns generated per run, and without the
    indexing history (INDEXING_HISTORY_TABLES)."""
    found: dict[str, list[tuple[Any, ...]]] = {}
    for table in Base.metadata.sorted_tables:
        if table.name in INDEXING_HISTORY_TABLES:
            continue
        columns = [column for column in table.columns if not _generated(column)]
        rows = (await session.execute(select(*columns))).all()
        found[table.name] = sorted((tuple(row) for row in rows), key=repr)
    return found


def differences(
    got: dict[str, list[tuple[Any, ...]]], expected: dict[str, list[tuple[Any, ...]]]
) -> dict[str, tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]]:
    """Per table: (rows only in `got`, rows only in `expected`); empty when equal."""
    result = {}
    for table in expected:
        extra = [row for row in got[table] if row not in expected[table]]
        missing = [row for row in expected[table] if row not in got[table]]
        if extra or missing or len(got[table]) != len(expected[table]):
            result[table] = (extra, missing)
    return result


async def busy_chain(
    protocol: Protocol, *, events: int, per_block: int = 3, empty_between: int = 8
) -> None:
    """`events` protocol events, `per_block` in a block, `empty_between` empty blocks after
    each: a chain long enough for a backfill of many small batches, built in a second."""
    await anvil(protocol, "evm_setAutomine", False)
    try:
        for first in range(0, events, per_block):
            for step in range(first, min(events, first + per_block)):
                if step % 4 == 3:
                    request = create_strategy(protocol, step // 4)
                else:
                    request = stake(protocol, STAKERS[step % len(STAKERS)], 10 + step)
                await anvil(protocol, "eth_sendTransaction", request)
            await anvil(protocol, "evm_mine")
            await anvil(protocol, "anvil_mine", hex(empty_between))
    finally:
        await anvil(protocol, "evm_setAutomine", True)


@contextlib.asynccontextmanager
async def busy_protocol(*, events: int, empty_between: int = 10) -> AsyncIterator[Protocol]:
    """The protocol on a private anvil with funded stakers and `events` events."""
    async with deployed_protocol() as protocol:
        await fund_stakers(protocol)
        await busy_chain(protocol, events=events, empty_between=empty_between)
        yield protocol


async def clean_index_dump(
    chain: Protocol, session_factory: async_sessionmaker[AsyncSession], head: int
) -> dict[str, list[tuple[Any, ...]]]:
    """Empty the database, seed the owners, index up to `head` in-process in one go, dump."""
    async with session_factory() as session:
        await empty_all_tables(session)
        await seed_owners(session, chain)
        await session.commit()
    async with aiohttp.ClientSession() as http:
        follower = ChainFollower(
            rpc=JsonRpc(http, chain.anvil.url),
            session_factory=session_factory,
            deployments=chain.deployments,
        )
        await follower.index_until(head)
    async with session_factory() as session:
        return await dump(session)


def indexer_environment(chain: Protocol, database_url: str, folder: Path) -> dict[str, str]:
    """The environment `gr8d indexer` needs for this chain (the deployments file in `folder`)."""
    deployments_file = folder / "deployments.json"
    chain.deployments.write(deployments_file)
    return {
        "DATABASE_URL": database_url,
        "RPC_URLS": chain.anvil.url,
        "DEPLOYMENTS_FILE": str(deployments_file),
    }
