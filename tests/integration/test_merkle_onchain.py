"""Merkle proofs of settlement.merkle verify on chain, and day roots are relayed to it.

Runs DecisionHistory (contracts/artifacts) on a private anvil (tests/chain.py); skipped when
anvil is not installed (`npm ci` in contracts/).
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import pytest
import pytest_asyncio
from eth_typing import HexStr
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from structlog.testing import capture_logs

from db.models import DayCommit, StrategyRegistration
from settlement import rules
from settlement.merkle import ExecutionLeaf, day_tree, proof_for
from settlement.onchain import (
    DECISION_HISTORY_ABI,
    OnchainCommitFailed,
    Relayer,
    commit_day_roots,
)
from settlement.runs import Outcome
from settlement.scheduled import SettlementJobs
from tests.chain import LocalChain, artifact, contract_at, deploy, local_chain, transact
from tests.factories import add_execution, add_strategy, add_user, policy

DAY = dt.date(2026, 11, 20)
DAY_INDEX = rules.day_index_of_date(DAY)
NOON = dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC)
ZERO_ADDRESS = "0x" + "00" * 20


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def chain() -> AsyncIterator[LocalChain]:
    async with local_chain() as running:
        yield running


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def history(chain: LocalChain) -> Any:
    """A DecisionHistory for the read-only checks (pure functions: no relayer needed)."""
    address = await deploy(chain.w3, "DecisionHistory", ZERO_ADDRESS, sender=chain.accounts[0])
    return contract_at(chain.w3, "DecisionHistory", address)


@dataclass(frozen=True)
class Relayed:
    contract: Any
    address: str
    relayer_key: str


@pytest_asyncio.fixture(loop_scope="session")
async def relayed(chain: LocalChain) -> Relayed:
    """A fresh DecisionHistory per test (roots on chain are forever): owner account 0, relayer
    account 1, set with setRelayer."""
    owner, relayer = chain.accounts[0], chain.accounts[1]
    address = await deploy(chain.w3, "DecisionHistory", ZERO_ADDRESS, sender=owner)
    contract = contract_at(chain.w3, "DecisionHistory", address)
    await transact(chain.w3, contract.functions.setRelayer(relayer.address), owner)
    assert await contract.functions.relayer().call() == relayer.address
    return Relayed(contract=contract, address=address, relayer_key=chain.private_keys[1])


def random_leaves(seed: int, count: int = 7) -> list[ExecutionLeaf]:
    rng = random.Random(seed)
    return [
        ExecutionLeaf(
            execution_id=uuid.UUID(int=rng.getrandbits(128)),
            user_id=uuid.UUID(int=rng.getrandbits(128)),
            side=rng.choice(("BUY", "SELL")),
            amount=Decimal(rng.randrange(1, 10**12)).scaleb(-8),
            executed_price=Decimal(rng.randrange(1, 10**15)).scaleb(-8),
            executed_at=NOON + dt.timedelta(seconds=rng.randrange(-43_200, 43_200)),
        )
        for _ in range(count)
    ]


def volume_of(leaves: list[ExecutionLeaf]) -> Decimal:
    total = sum((leaf.amount * leaf.executed_price for leaf in leaves), Decimal(0))
    return total.quantize(rules.EIGHT_DECIMALS, rounding=ROUND_HALF_EVEN)


def tampered(node: str) -> str:
    raw = bytearray(bytes.fromhex(node[2:]))
    raw[-1] ^= 0x01
    return "0x" + raw.hex()


async def registered_strategy(
    session: AsyncSession, *, onchain_strategy_id: int | None
) -> uuid.UUID:
    author = await add_user(session)
    strategy = await add_strategy(session, author)
    await session.execute(
        insert(StrategyRegistration).values(
            strategy_id=strategy,
            author_id=author,
            metadata_uri=f"ipfs://strategy-{strategy}",
            onchain_strategy_id=onchain_strategy_id,
            status="REGISTERED" if onchain_strategy_id is not None else "PENDING",
        )
    )
    return strategy


async def add_day_commit(
    session: AsyncSession, strategy_id: uuid.UUID, leaves: list[ExecutionLeaf]
) -> None:
    await session.execute(
        insert(DayCommit).values(
            strategy_id=strategy_id,
            day_index=DAY_INDEX,
            merkle_root=day_tree(leaves).root,
            leaf_count=len(leaves),
            total_volume=volume_of(leaves),
        )
    )


@dataclass(frozen=True)
class Recorded:
    onchain_tx_hash: str | None
    committed_at: dt.datetime | None


async def day_commit(session: AsyncSession, strategy_id: uuid.UUID) -> Recorded:
    """What the day_commits row of the strategy holds now."""
    row = (
        await session.execute(
            select(DayCommit.onchain_tx_hash, DayCommit.committed_at).where(
                DayCommit.strategy_id == strategy_id
            )
        )
    ).one()
    return Recorded(onchain_tx_hash=row.onchain_tx_hash, committed_at=row.committed_at)


def as_bytes(value: str) -> bytes:
    return bytes.fromhex(value.removeprefix("0x"))


# --- proofs ----------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_every_proof_of_a_day_tree_verifies_on_chain(history: Any, seed: int) -> None:
    leaves = random_leaves(seed)
    tree = day_tree(leaves)
    for index in range(len(leaves)):
        proof = [as_bytes(node) for node in tree.proof(index)]
        leaf = as_bytes(tree.leaf_hash(index))
        assert await history.functions.verifyLeaf(as_bytes(tree.root), proof, leaf).call()


async def test_a_tampered_proof_leaf_or_root_does_not_verify_on_chain(history: Any) -> None:
    leaves = random_leaves(4)
    tree = day_tree(leaves)
    other_root = as_bytes(day_tree(random_leaves(5)).root)
    verify = history.functions.verifyLeaf
    for index in range(len(leaves)):
        proof = tree.proof(index)
        leaf = tree.leaf_hash(index)
        root = as_bytes(tree.root)
        for position in range(len(proof)):
            bad = [*proof[:position], tampered(proof[position]), *proof[position + 1 :]]
            assert not await verify(root, [as_bytes(n) for n in bad], as_bytes(leaf)).call()
        good = [as_bytes(n) for n in proof]
        assert not await verify(root, good, as_bytes(tampered(leaf))).call()
        assert not await verify(other_root, good, as_bytes(leaf)).call()
        assert not await verify(root, good[:-1], as_bytes(leaf)).call()


async def test_the_contract_hashes_a_leaf_exactly_as_settlement_merkle_does(
    history: Any,
) -> None:
    leaves = random_leaves(6)
    tree = day_tree(leaves)
    for index, leaf in enumerate(leaves):
        on_chain = await history.functions.hashLeaf(*leaf.abi_values()).call()
        assert bytes(on_chain) == leaf.leaf_hash() == as_bytes(tree.leaf_hash(index))


async def test_a_single_leaf_day_verifies_on_chain_with_an_empty_proof(history: Any) -> None:
    (leaf,) = random_leaves(7, count=1)
    leaf_hash, proof, root = proof_for([leaf], leaf.execution_id)
    assert proof == []
    assert root == leaf_hash
    assert await history.functions.verifyLeaf(as_bytes(root), [], as_bytes(leaf_hash)).call()


def test_the_relayer_abi_is_the_compiled_contract_abi() -> None:
    compiled = {
        (entry["type"], entry.get("name")): entry for entry in artifact("DecisionHistory")["abi"]
    }
    for entry in DECISION_HISTORY_ABI:
        assert compiled[(entry["type"], entry["name"])] == entry


# --- relaying the day roots ------------------------------------------------------------------


async def test_commit_day_roots_sends_each_registered_strategy_root_once(
    session: AsyncSession, chain: LocalChain, relayed: Relayed
) -> None:
    leaves = random_leaves(10)
    registered = await registered_strategy(session, onchain_strategy_id=0)
    unregistered = await registered_strategy(session, onchain_strategy_id=None)
    await add_day_commit(session, registered, leaves)
    await add_day_commit(session, unregistered, random_leaves(11))
    await session.commit()

    with capture_logs() as logs:
        sent = await commit_day_roots(
            session,
            w3=chain.w3,
            decision_history_address=relayed.address,
            relayer_private_key=relayed.relayer_key,
            day_index=DAY_INDEX,
        )
    await session.commit()

    assert sent == 1
    root = day_tree(leaves).root
    assert bytes(await relayed.contract.functions.rootOf(0, DAY_INDEX).call()) == as_bytes(root)
    row = await day_commit(session, registered)
    assert row.onchain_tx_hash is not None and len(row.onchain_tx_hash) == 66
    assert row.committed_at is not None
    skipped = await day_commit(session, unregistered)
    assert skipped.onchain_tx_hash is None and skipped.committed_at is None
    assert [entry["event"] for entry in logs] == ["day root committed on chain"]
    assert logs[0]["tx_hash"] == row.onchain_tx_hash

    # The event carries the batch: orderCount, totalVolume × 10^8, avgPrice 0 (not reported).
    receipt = await chain.w3.eth.get_transaction_receipt(HexStr(row.onchain_tx_hash))
    (event,) = relayed.contract.events.DayCommitted().process_receipt(receipt)
    assert event["args"]["strategyId"] == 0
    assert event["args"]["dayIndex"] == DAY_INDEX
    assert bytes(event["args"]["rootHash"]) == as_bytes(root)
    batch = event["args"]["batchInfo"]
    assert batch["orderCount"] == len(leaves)
    assert batch["totalVolume"] == int(volume_of(leaves).scaleb(8))
    assert batch["avgPrice"] == 0

    # Every execution of the day is provable against the committed root.
    for leaf in leaves:
        leaf_hash, proof, _ = proof_for(leaves, leaf.execution_id)
        assert await relayed.contract.functions.verifyExecution(
            0, DAY_INDEX, [as_bytes(n) for n in proof], as_bytes(leaf_hash)
        ).call()

    again = await commit_day_roots(
        session,
        w3=chain.w3,
        decision_history_address=relayed.address,
        relayer_private_key=relayed.relayer_key,
        day_index=DAY_INDEX,
    )
    await session.commit()
    assert again == 0
    assert (await day_commit(session, registered)).onchain_tx_hash == row.onchain_tx_hash


async def test_a_settled_day_is_relayed_and_its_executions_verify_on_chain(
    session: AsyncSession,
    session_factory: async_sessionmaker[AsyncSession],
    chain: LocalChain,
    relayed: Relayed,
) -> None:
    author = await add_user(session)
    strategy = await add_strategy(session, author)
    await session.execute(
        insert(StrategyRegistration).values(
            strategy_id=strategy,
            author_id=author,
            metadata_uri="ipfs://settled",
            onchain_strategy_id=7,
            status="REGISTERED",
        )
    )
    follower = await add_user(session, credits=10_000)
    trades = [("0.5", "64000.12345678", "BUY"), ("0.25", "64100", "SELL"), ("1", "63999", "BUY")]
    executions = []
    for offset, (amount, price, side) in enumerate(trades):
        at = NOON + dt.timedelta(minutes=offset)
        execution_id = await add_execution(
            session,
            user_id=follower,
            strategy_id=strategy,
            amount=amount,
            price=price,
            executed_at=at,
            side=side,
        )
        executions.append(
            ExecutionLeaf(execution_id, follower, side, Decimal(amount), Decimal(price), at)
        )
    await session.commit()
    jobs = SettlementJobs(
        session_factory=session_factory,
        policy=policy(),
        relayer=Relayer(chain.w3, relayed.address, relayed.relayer_key),
    )

    result = await jobs.settle_day(DAY)

    assert result.outcome is Outcome.DONE
    assert result.figures["day_commits_written"] == 1
    assert (await day_commit(session, strategy)).onchain_tx_hash is not None
    assert await jobs.relay_day(DAY_INDEX) == 0
    for leaf in executions:
        leaf_hash, proof, root = proof_for(executions, leaf.execution_id)
        assert bytes(await relayed.contract.functions.rootOf(7, DAY_INDEX).call()) == as_bytes(root)
        assert await relayed.contract.functions.verifyExecution(
            7, DAY_INDEX, [as_bytes(n) for n in proof], as_bytes(leaf_hash)
        ).call()


async def test_a_root_already_on_chain_is_not_sent_again_and_left_to_the_indexer(
    session: AsyncSession, chain: LocalChain, relayed: Relayed
) -> None:
    leaves = random_leaves(20)
    strategy = await registered_strategy(session, onchain_strategy_id=3)
    await add_day_commit(session, strategy, leaves)
    await session.commit()
    # An earlier run got it mined, then lost its database transaction.
    await transact(
        chain.w3,
        relayed.contract.functions.commitDay(
            3, DAY_INDEX, as_bytes(day_tree(leaves).root), (len(leaves), 1, 0)
        ),
        chain.accounts[1],
    )
    nonce = await chain.w3.eth.get_transaction_count(chain.accounts[1].address)

    with capture_logs() as logs:
        sent = await commit_day_roots(
            session,
            w3=chain.w3,
            decision_history_address=relayed.address,
            relayer_private_key=relayed.relayer_key,
            day_index=DAY_INDEX,
        )
    await session.commit()

    assert sent == 0
    assert await chain.w3.eth.get_transaction_count(chain.accounts[1].address) == nonce
    assert (await day_commit(session, strategy)).onchain_tx_hash is None
    assert [entry["event"] for entry in logs] == [
        "day root already on chain; the indexer records its transaction"
    ]


async def test_a_different_root_on_chain_is_logged_as_an_error_and_skipped(
    session: AsyncSession, chain: LocalChain, relayed: Relayed
) -> None:
    conflicting = await registered_strategy(session, onchain_strategy_id=4)
    fine = await registered_strategy(session, onchain_strategy_id=5)
    await add_day_commit(session, conflicting, random_leaves(30))
    await add_day_commit(session, fine, random_leaves(31))
    await session.commit()
    other_root = day_tree(random_leaves(32)).root
    await transact(
        chain.w3,
        relayed.contract.functions.commitDay(4, DAY_INDEX, as_bytes(other_root), (1, 1, 0)),
        chain.accounts[1],
    )

    with capture_logs() as logs:
        sent = await commit_day_roots(
            session,
            w3=chain.w3,
            decision_history_address=relayed.address,
            relayer_private_key=relayed.relayer_key,
            day_index=DAY_INDEX,
        )
    await session.commit()

    assert sent == 1
    assert (await day_commit(session, conflicting)).onchain_tx_hash is None
    assert (await day_commit(session, fine)).onchain_tx_hash is not None
    (error,) = [entry for entry in logs if entry["log_level"] == "error"]
    assert error["event"] == "day root on chain differs from ours"
    assert error["onchain_root"] == other_root
    assert error["onchain_strategy_id"] == 4


async def test_a_key_that_is_not_the_relayer_gets_a_clear_error_and_nothing_is_recorded(
    session: AsyncSession, chain: LocalChain, relayed: Relayed
) -> None:
    strategy = await registered_strategy(session, onchain_strategy_id=0)
    await add_day_commit(session, strategy, random_leaves(40))
    await session.commit()
    stranger = chain.accounts[2]

    with pytest.raises(OnchainCommitFailed) as refused:
        await commit_day_roots(
            session,
            w3=chain.w3,
            decision_history_address=relayed.address,
            relayer_private_key=chain.private_keys[2],
            day_index=DAY_INDEX,
        )
    await session.rollback()

    assert str(refused.value) == (
        f"DecisionHistory.commitDay(strategy 0, day {DAY_INDEX}) reverted: "
        f"NotRelayer(caller={stranger.address})"
    )
    assert await relayed.contract.functions.rootOf(0, DAY_INDEX).call() == bytes(32)
    assert (await day_commit(session, strategy)).onchain_tx_hash is None


async def test_a_settled_day_whose_roots_were_not_relayed_is_relayed_by_the_next_catch_up(
    session: AsyncSession,
    session_factory: async_sessionmaker[AsyncSession],
    chain: LocalChain,
    relayed: Relayed,
) -> None:
    strategy = await registered_strategy(session, onchain_strategy_id=11)
    follower = await add_user(session)
    execution_id = await add_execution(
        session, user_id=follower, strategy_id=strategy, amount="1", price="100", executed_at=NOON
    )
    await session.commit()
    tomorrow = NOON + dt.timedelta(days=1)

    def jobs_relaying_with(private_key: str) -> SettlementJobs:
        return SettlementJobs(
            session_factory=session_factory,
            policy=policy(),
            start_day=DAY,
            clock=lambda: tomorrow,
            relayer=Relayer(chain.w3, relayed.address, private_key),
        )

    # The relay fails (a key that is not the relayer): the settlement stays, the root unsent.
    [settled] = await jobs_relaying_with(chain.private_keys[2]).catch_up_days()
    assert settled.outcome is Outcome.DONE
    assert (await day_commit(session, strategy)).onchain_tx_hash is None

    assert await jobs_relaying_with(relayed.relayer_key).catch_up_days() == []

    assert (await day_commit(session, strategy)).onchain_tx_hash is not None
    leaf = ExecutionLeaf(execution_id, follower, "BUY", Decimal(1), Decimal(100), NOON)
    assert bytes(await relayed.contract.functions.rootOf(11, DAY_INDEX).call()) == as_bytes(
        day_tree([leaf]).root
    )
