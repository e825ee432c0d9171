"""Projections of every protocol event, driven on a real anvil and indexed by the follower
into a real PostgreSQL (chain.md, "From events to rows"). One chain for the module; each test
starts from the freshly deployed protocol (evm_snapshot / evm_revert)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest_asyncio
import structlog
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from db.models import (
    ChainEvent,
    DayCommit,
    Follow,
    IndexerCursor,
    Settlement,
    StakingRecord,
    StrategyRegistration,
)
from indexer import projections, service
from indexer.rpc import BlockHeader
from indexer.status import chain_statuses
from settlement.rules import TIER_THRESHOLDS_G8D
from tests.chain import (
    G8D_WEI,
    Protocol,
    activate_strategy,
    commit_day,
    create_settlement,
    create_strategy,
    deployed_protocol,
    mine,
    pay_settlement,
    revert,
    snapshot,
    stake,
    transact,
    unstake,
)
from tests.projection_world import (
    add_day_commit,
    add_person,
    add_registered_strategy,
    add_settlement,
    dump,
    empty_all_tables,
    index_to_head,
    index_until,
    statuses,
    uri,
)

ROOT_A = "0x" + "aa" * 32
ROOT_B = "0x" + "bb" * 32
ROOT_C = "0x" + "cc" * 32


@pytest_asyncio.fixture(scope="module")
async def deployed() -> AsyncIterator[Protocol]:
    async with deployed_protocol() as protocol:
        yield protocol


@pytest_asyncio.fixture
async def chain(deployed: Protocol) -> AsyncIterator[Protocol]:
    """The freshly deployed protocol, whatever the test did to it before."""
    mark = await snapshot(deployed.w3)
    yield deployed
    await revert(deployed.w3, mark)


async def _block_time(chain: Protocol, receipt: Any) -> dt.datetime:
    block = await chain.w3.eth.get_block(receipt["blockNumber"])
    return dt.datetime.fromtimestamp(block["timestamp"], tz=dt.UTC)


def _hex(receipt: Any) -> str:
    return "0x" + bytes(receipt["transactionHash"]).hex()


async def _registration(session: AsyncSession, name: str) -> StrategyRegistration:
    session.expire_all()
    return (
        await session.scalars(
            select(StrategyRegistration).where(StrategyRegistration.metadata_uri == uri(name))
        )
    ).one()


# --- staking -------------------------------------------------------------------------------


async def test_stakes_and_withdrawals_are_exact_to_the_wei_with_the_tier_after_each(
    chain: Protocol, session: AsyncSession, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    alice = chain.account(2)
    alice_id = await add_person(session, "alice", alice.address)
    await session.commit()
    receipts = [
        await stake(chain, alice, 1),
        await stake(chain, alice, 5_000 * G8D_WEI - 1),
        await stake(chain, alice, 15_000 * G8D_WEI),
        await unstake(chain, alice, 15_000 * G8D_WEI + 1),
    ]

    await index_to_head(chain, session_factory)

    records = (
        await session.scalars(select(StakingRecord).order_by(StakingRecord.block_number))
    ).all()
    assert [(r.type, r.amount, r.tier) for r in records] == [
        ("STAKE", Decimal("0.000000000000000001"), 0),
        ("STAKE", Decimal("4999.999999999999999999"), 1),
        ("STAKE", Decimal("15000"), 2),
        ("UNSTAKE", Decimal("15000.000000000000000001"), 0),
    ]
    assert all(r.user_id == alice_id for r in records)
    assert all(r.wallet_address == alice.address.lower() for r in records)
    assert [(r.onchain_tx_hash, r.block_number) for r in records] == [
        (_hex(receipt), receipt["blockNumber"]) for receipt in receipts
    ]
    assert await statuses(session) == [
        ("Staked", "APPLIED", None),
        ("Staked", "APPLIED", None),
        ("Staked", "APPLIED", None),
        ("UnstakeRequested", "RAW_ONLY", None),
        ("Withdrawn", "APPLIED", None),
    ]


async def test_staking_records_are_pending_until_their_block_is_final(
    chain: Protocol, session: AsyncSession, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    alice = chain.account(2)
    await add_person(session, "alice", alice.address)
    await session.commit()
    await stake(chain, alice, 7 * G8D_WEI)
    await index_to_head(chain, session_factory)
    cursor = await session.scalar(select(IndexerCursor))
    record = await session.scalar(select(StakingRecord))
    assert cursor is not None and record is not None and record.block_number is not None
    assert record.block_number > cursor.finalized_block_number
    assert (record.status, record.confirmed_at) == ("PENDING", None)

    await mine(chain.w3, 200)
    await index_to_head(chain, session_factory)

    session.expire_all()
    record = await session.scalar(select(StakingRecord))
    assert record is not None and record.status == "CONFIRMED"
    assert record.confirmed_at is not None


async def test_confirm_until_confirms_only_the_records_of_final_blocks(
    chain: Protocol, session: AsyncSession, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    alice = chain.account(2)
    await add_person(session, "alice", alice.address)
    await session.commit()
    first = await stake(chain, alice, G8D_WEI)
    await stake(chain, alice, G8D_WEI)
    await index_to_head(chain, session_factory)

    confirmed = await projections.confirm_until(
        session, chain_id=chain.deployments.chain_id, finalized_block=first["blockNumber"]
    )
    await session.commit()

    rows = await session.execute(select(StakingRecord.status).order_by(StakingRecord.block_number))
    assert confirmed == 1
    assert list(rows.scalars()) == ["CONFIRMED", "PENDING"]


# --- strategy registrations ----------------------------------------------------------------


async def test_the_owners_creation_registers_the_strategy_and_each_registry_event_sets_its_status(
    chain: Protocol, session: AsyncSession, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    bob = chain.account(3)
    bob_id = await add_person(session, "bob", bob.address)
    await add_registered_strategy(session, bob_id, "alpha")
    await session.commit()
    registry, reviewer = chain.contract("StrategyRegistry"), chain.account(0)

    strategy_id = await create_strategy(chain, bob, uri("alpha"))
    await index_to_head(chain, session_factory)

    registration = await _registration(session, "alpha")
    created = (await session.scalars(select(ChainEvent))).one()
    assert registration.status == "REGISTERED"
    assert registration.onchain_strategy_id == strategy_id == 0
    assert registration.onchain_tx_hash == created.tx_hash
    assert registration.registered_at == created.block_timestamp
    assert registration.onchain_status == "DRAFT"

    lifecycle = [
        (registry.functions.requestVerification(0), bob, "PENDING_REVIEW"),
        (registry.functions.verifyStrategy(0, b"\x07" * 32, 88), reviewer, "VERIFIED"),
        (registry.functions.requestActivation(0), bob, "ACTIVATION_REQUESTED"),
        (registry.functions.activateStrategy(0), reviewer, "ACTIVE"),
        (registry.functions.suspendStrategy(0), reviewer, "SUSPENDED"),
        (registry.functions.updateStrategy(0, uri("alpha") + "?v=2"), bob, "DRAFT"),
        (registry.functions.requestVerification(0), bob, "PENDING_REVIEW"),
        (registry.functions.rejectStrategy(0), reviewer, "REJECTED"),
    ]
    for function, sender, expected in lifecycle:
        await transact(chain.w3, function, sender)
        await index_to_head(chain, session_factory)
        assert (await _registration(session, "alpha")).onchain_status == expected

    assert {status for _, status, _ in await statuses(session)} == {"APPLIED"}
    assert (await _registration(session, "alpha")).metadata_uri == uri("alpha")


async def test_several_registry_events_in_one_batch_leave_the_last_ones_status(
    chain: Protocol, session: AsyncSession, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    bob = chain.account(3)
    bob_id = await add_person(session, "bob", bob.address)
    await add_registered_strategy(session, bob_id, "alpha")
    await session.commit()

    strategy_id = await create_strategy(chain, bob, uri("alpha"))
    await activate_strategy(chain, bob, strategy_id)
    await index_to_head(chain, session_factory)

    registration = await _registration(session, "alpha")
    assert (registration.status, registration.onchain_status) == ("REGISTERED", "ACTIVE")


async def test_our_uri_created_by_another_users_wallet_fails_it_until_the_owner_creates_it(
    chain: Protocol, session: AsyncSession, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    bob, carol = chain.account(3), chain.account(4)
    bob_id = await add_person(session, "bob", bob.address)
    await add_person(session, "carol", carol.address)
    await add_registered_strategy(session, bob_id, "alpha")
    await session.commit()

    await create_strategy(chain, carol, uri("alpha"))
    await index_to_head(chain, session_factory)

    failed = await _registration(session, "alpha")
    assert (failed.status, failed.onchain_strategy_id, failed.onchain_status) == (
        "FAILED",
        None,
        None,
    )
    assert await statuses(session) == [("StrategyCreated", "APPLIED", None)]

    own_id = await create_strategy(chain, bob, uri("alpha"))
    await index_to_head(chain, session_factory)

    registered = await _registration(session, "alpha")
    assert (registered.status, registered.onchain_strategy_id) == ("REGISTERED", own_id)
    assert own_id == 1


async def test_a_registered_strategy_stays_registered_when_its_authors_wallet_is_unlinked(
    chain: Protocol, session: AsyncSession, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    bob, carol = chain.account(3), chain.account(4)
    bob_id = await add_person(session, "bob", bob.address)
    await add_person(session, "carol", carol.address)
    await add_registered_strategy(session, bob_id, "alpha")
    await session.commit()
    own_id = await create_strategy(chain, bob, uri("alpha"))
    await index_to_head(chain, session_factory)
    await session.execute(text("DELETE FROM wallets WHERE user_id = :bob"), {"bob": bob_id})
    await session.commit()

    await create_strategy(chain, carol, uri("alpha"))
    await index_to_head(chain, session_factory)

    registration = await _registration(session, "alpha")
    assert (registration.status, registration.onchain_strategy_id) == ("REGISTERED", own_id)


# --- follows -------------------------------------------------------------------------------


async def test_follow_events_upsert_the_follow_and_move_is_active(
    chain: Protocol, session: AsyncSession, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    bob, dave = chain.account(3), chain.account(5)
    bob_id = await add_person(session, "bob", bob.address)
    dave_id = await add_person(session, "dave", dave.address)
    alpha = await add_registered_strategy(session, bob_id, "alpha")
    await session.commit()
    strategy_id = await create_strategy(chain, bob, uri("alpha"))
    await activate_strategy(chain, bob, strategy_id)
    follows = chain.contract("FollowRegistry")

    async def act(function: Any) -> tuple[bool, str | None]:
        receipt = await transact(chain.w3, function, dave)
        await index_to_head(chain, session_factory)
        session.expire_all()
        row = (await session.scalars(select(Follow))).one()
        assert (row.follower_id, row.following_id, row.strategy_id) == (dave_id, bob_id, alpha)
        return row.is_active, (_hex(receipt) if row.onchain_tx_hash == _hex(receipt) else None)

    started, started_tx = await act(follows.functions.follow(strategy_id))
    assert started and started_tx is not None
    assert await act(follows.functions.pause(strategy_id)) == (False, None)
    assert await act(follows.functions.resume(strategy_id)) == (True, None)
    assert await act(follows.functions.stop(strategy_id)) == (False, None)
    again, again_tx = await act(follows.functions.follow(strategy_id))
    assert again and again_tx is not None and again_tx != started_tx
    settled = follows.functions.setLastSettledDay(dave.address, strategy_id, 20_000)
    await transact(chain.w3, settled, chain.account(0))
    await index_to_head(chain, session_factory)
    assert (await statuses(session))[-1] == ("LastSettledDayUpdated", "RAW_ONLY", None)


async def test_a_follow_through_two_wallets_is_active_while_either_wallet_follows(
    chain: Protocol, session: AsyncSession, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    bob, dave, dave_too, stranger = (chain.account(n) for n in (3, 5, 6, 7))
    bob_id = await add_person(session, "bob", bob.address)
    dave_id = await add_person(session, "dave", dave.address, dave_too.address)
    await add_person(session, "stranger")
    alpha = await add_registered_strategy(session, bob_id, "alpha")
    await session.commit()
    strategy_id = await create_strategy(chain, bob, uri("alpha"))
    await activate_strategy(chain, bob, strategy_id)
    follows = chain.contract("FollowRegistry")

    async def act(function: Any, wallet: Any) -> bool:
        await transact(chain.w3, function, wallet)
        await index_to_head(chain, session_factory)
        session.expire_all()
        row = (await session.scalars(select(Follow))).one()
        assert (row.follower_id, row.following_id, row.strategy_id) == (dave_id, bob_id, alpha)
        return row.is_active

    assert await act(follows.functions.follow(strategy_id), dave)
    assert await act(follows.functions.follow(strategy_id), dave_too)
    assert await act(follows.functions.pause(strategy_id), dave)
    assert not await act(follows.functions.stop(strategy_id), dave_too)
    assert await act(follows.functions.resume(strategy_id), dave)
    # A wallet of nobody in gr8d parks, and changes nothing.
    await transact(chain.w3, follows.functions.follow(strategy_id), stranger)
    await index_to_head(chain, session_factory)
    assert (await statuses(session))[-1] == ("FollowStarted", "PARKED", None)
    assert len((await session.scalars(select(Follow))).all()) == 1


async def test_an_author_following_their_own_strategy_fails_that_event_only(
    chain: Protocol, session: AsyncSession, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    bob, dave = chain.account(3), chain.account(5)
    bob_id = await add_person(session, "bob", bob.address)
    await add_person(session, "dave", dave.address)
    await add_registered_strategy(session, bob_id, "alpha")
    await session.commit()
    strategy_id = await create_strategy(chain, bob, uri("alpha"))
    await activate_strategy(chain, bob, strategy_id)
    follows = chain.contract("FollowRegistry")
    await transact(chain.w3, follows.functions.follow(strategy_id), bob)
    await transact(chain.w3, follows.functions.follow(strategy_id), dave)

    await index_to_head(chain, session_factory)

    events = await statuses(session)
    assert events[-2][:2] == ("FollowStarted", "FAILED") and events[-2][2]
    assert "own strategy" in str(events[-2][2])
    assert events[-1] == ("FollowStarted", "APPLIED", None)
    assert len((await session.scalars(select(Follow))).all()) == 1


# --- day commits ---------------------------------------------------------------------------


async def test_day_committed_links_the_days_commit_and_the_latest_days_root_is_the_registrations(
    chain: Protocol, session: AsyncSession, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    bob = chain.account(3)
    bob_id = await add_person(session, "bob", bob.address)
    alpha = await add_registered_strategy(session, bob_id, "alpha")
    await add_day_commit(session, alpha, 100, ROOT_A)
    await add_day_commit(session, alpha, 101, ROOT_B)
    await add_day_commit(session, alpha, 102, ROOT_A)
    await session.commit()
    strategy_id = await create_strategy(chain, bob, uri("alpha"))

    day_101 = await commit_day(chain, strategy_id, 101, ROOT_B)
    day_100 = await commit_day(chain, strategy_id, 100, ROOT_A)
    await index_to_head(chain, session_factory)

    commits = (await session.scalars(select(DayCommit).order_by(DayCommit.day_index))).all()
    assert [(c.day_index, c.onchain_tx_hash, c.committed_at) for c in commits] == [
        (100, _hex(day_100), await _block_time(chain, day_100)),
        (101, _hex(day_101), await _block_time(chain, day_101)),
        (102, None, None),
    ]
    assert (await _registration(session, "alpha")).merkle_root == ROOT_B

    # The chain's root for day 102 differs from ours: the root is the chain's latest, the
    # row is not linked.
    await commit_day(chain, strategy_id, 102, ROOT_C)
    await index_to_head(chain, session_factory)

    session.expire_all()
    day_102 = await session.scalar(select(DayCommit).where(DayCommit.day_index == 102))
    assert day_102 is not None and day_102.onchain_tx_hash is None
    assert (await _registration(session, "alpha")).merkle_root == ROOT_C
    assert {status for _, status, _ in await statuses(session)} == {"APPLIED"}


# --- settlements ---------------------------------------------------------------------------


async def test_settlements_are_linked_paid_on_chain_and_expired_unless_already_paid(
    chain: Protocol, session: AsyncSession, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    bob, erin = chain.account(3), chain.account(6)
    bob_id = await add_person(session, "bob", bob.address)
    erin_id = await add_person(session, "erin", erin.address)
    alpha = await add_registered_strategy(session, bob_id, "alpha")
    for day in (10, 11, 12):
        await add_settlement(
            session, user_id=erin_id, strategy_id=alpha, author_id=bob_id, day_index=day
        )
    await add_settlement(
        session,
        user_id=erin_id,
        strategy_id=alpha,
        author_id=bob_id,
        day_index=13,
        paid_in_credits=True,
    )
    await session.commit()
    manager, operator = chain.contract("SettlementManager"), chain.account(0)
    strategy_id = await create_strategy(chain, bob, uri("alpha"))
    ids = {
        day: await create_settlement(chain, erin, strategy_id, day, 1_000_000)
        for day in (10, 11, 12, 13)
    }
    paid = await pay_settlement(chain, erin, ids[10])
    await transact(chain.w3, manager.functions.expireSettlement(ids[11]), operator)
    await transact(chain.w3, manager.functions.expireSettlement(ids[13]), operator)

    await index_to_head(chain, session_factory)

    rows = (await session.scalars(select(Settlement).order_by(Settlement.day_index))).all()
    assert [(r.day_index, r.onchain_settlement_id, r.status, r.paid_via) for r in rows] == [
        (10, Decimal(ids[10]), "PAID", "ONCHAIN"),
        (11, Decimal(ids[11]), "FAILED", None),
        (12, Decimal(ids[12]), "PENDING", None),
        (13, Decimal(ids[13]), "PAID", "CREDITS"),
    ]
    assert (rows[0].paid_tx_hash, rows[0].paid_at) == (_hex(paid), await _block_time(chain, paid))
    assert rows[3].paid_tx_hash is None
    assert {status for _, status, _ in await statuses(session)} == {"APPLIED"}


async def test_a_settlement_paid_on_chain_after_it_was_paid_in_credits_stays_paid_in_credits(
    chain: Protocol, session: AsyncSession, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    bob, erin = chain.account(3), chain.account(6)
    bob_id = await add_person(session, "bob", bob.address)
    erin_id = await add_person(session, "erin", erin.address)
    alpha = await add_registered_strategy(session, bob_id, "alpha")
    await add_settlement(
        session,
        user_id=erin_id,
        strategy_id=alpha,
        author_id=bob_id,
        day_index=13,
        paid_in_credits=True,
    )
    await session.commit()
    strategy_id = await create_strategy(chain, bob, uri("alpha"))
    settlement_id = await create_settlement(chain, erin, strategy_id, 13, 5)
    await pay_settlement(chain, erin, settlement_id)

    with structlog.testing.capture_logs() as logs:
        await index_to_head(chain, session_factory)

    row = (await session.scalars(select(Settlement))).one()
    assert (row.status, row.paid_via, row.paid_tx_hash) == ("PAID", "CREDITS", None)
    assert any("paid in credits" in str(entry.get("note")) for entry in logs)


# --- raw only ------------------------------------------------------------------------------


async def test_fee_distributor_events_are_kept_raw_only(
    chain: Protocol, session: AsyncSession, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    bob, operator = chain.account(3), chain.account(0)
    distributor, usdt0 = chain.contract("FeeDistributor"), chain.contract("USDT0")
    await transact(chain.w3, usdt0.functions.mint(distributor.address, 30), operator)
    await transact(chain.w3, distributor.functions.distributeDailyFees(5, 10, 10, 10), operator)
    await transact(
        chain.w3, distributor.functions.distributeAuthorFee(0, bob.address, 10, 5), operator
    )
    await transact(chain.w3, distributor.functions.withdrawAuthorFees(0), bob)

    await index_to_head(chain, session_factory)

    assert await statuses(session) == [
        ("DailyFeesDistributed", "RAW_ONLY", None),
        ("AuthorFeeDistributed", "RAW_ONLY", None),
        ("AuthorFeesWithdrawn", "RAW_ONLY", None),
    ]
    # Raw only by design: none of them waits or failed (the health figure and /metrics).
    (status,) = await chain_statuses(session, now=dt.datetime.now(dt.UTC))
    assert status.events_not_applied == 0


# --- hostile values ------------------------------------------------------------------------


async def test_hostile_values_are_kept_raw_failed_and_counted_and_the_rest_of_the_batch_projects(
    chain: Protocol, session: AsyncSession, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    alice, bob = chain.account(2), chain.account(3)
    await add_person(session, "alice", alice.address)
    bob_id = await add_person(session, "bob", bob.address)
    await add_registered_strategy(session, bob_id, "alpha")
    await session.commit()
    await stake(chain, alice, 2**256 - 1)
    await create_strategy(chain, bob, "gr8d://strategies/\x00alpha")
    await create_strategy(chain, bob, uri("alpha"))

    with structlog.testing.capture_logs() as logs:
        await index_to_head(chain, session_factory)

    events = (
        await session.scalars(
            select(ChainEvent).order_by(ChainEvent.block_number, ChainEvent.log_index)
        )
    ).all()
    assert [(e.event_name, e.projection_status) for e in events] == [
        ("Staked", "FAILED"),
        ("StrategyCreated", "FAILED"),
        ("StrategyCreated", "APPLIED"),
    ]
    assert events[0].args is not None and events[0].args["amount"] == str(2**256 - 1)
    assert "NUMERIC(30,18)" in str(events[0].projection_error)
    assert events[1].args is None and "NUL" in str(events[1].projection_error)
    assert events[1].data.startswith("0x")
    failures = [entry for entry in logs if entry["event"] == "projection failed"]
    assert sorted(entry["event_name"] for entry in failures) == ["Staked", "StrategyCreated"]
    (status,) = await chain_statuses(session, now=dt.datetime.now(dt.UTC))
    assert status.events_not_applied == 2
    assert await session.scalar(select(StakingRecord)) is None
    assert (await _registration(session, "alpha")).status == "REGISTERED"


async def _insert_event(session: AsyncSession, **values: Any) -> None:
    await session.execute(
        text(
            """
            INSERT INTO chain_events (chain_id, block_number, block_hash, block_timestamp,
                tx_hash, log_index, contract_address, event_name, topics, data, args)
            VALUES (:chain_id, :block_number, :block_hash, now(), :tx_hash, :log_index,
                :contract, :event_name, '[]', '0x', CAST(:args AS jsonb))
            """
        ),
        {"block_hash": "0x" + "11" * 32, "contract": "0x" + "22" * 20, **values},
    )


async def test_project_new_reports_a_value_postgresql_refuses_and_projects_the_rest(
    session: AsyncSession,
) -> None:
    """No check foresees one on-chain settlement id claimed on two chains; the batch still
    projects, and only the event PostgreSQL refuses is FAILED, with its reason."""
    wallet = "0x" + "ab" * 20
    bob_id = await add_person(session, "bob", "0x" + "cd" * 20)
    erin_id = await add_person(session, "erin", wallet)
    alpha = await add_registered_strategy(session, bob_id, "alpha")
    await session.execute(
        text("UPDATE strategy_registrations SET status = 'REGISTERED', onchain_strategy_id = 4")
    )
    for day in (1, 2):
        await add_settlement(
            session, user_id=erin_id, strategy_id=alpha, author_id=bob_id, day_index=day
        )

    def created(day: int) -> str:
        return json.dumps(
            {"settlementId": "9", "user": wallet, "strategyId": "4", "dayIndex": str(day)}
        )

    await _insert_event(
        session,
        chain_id=1,
        block_number=5,
        tx_hash="0x" + "01" * 32,
        log_index=0,
        event_name="SettlementCreated",
        args=created(1),
    )
    await projections.project_new(
        session, chain_id=1, first_block=0, last_block=10, finalized_block=0
    )
    await _insert_event(
        session,
        chain_id=2,
        block_number=5,
        tx_hash="0x" + "02" * 32,
        log_index=0,
        event_name="SettlementCreated",
        args=created(2),
    )
    await _insert_event(
        session,
        chain_id=2,
        block_number=6,
        tx_hash="0x" + "03" * 32,
        log_index=0,
        event_name="Staked",
        args=json.dumps({"user": wallet, "amount": "3", "timestamp": "0"}),
    )

    report = await projections.project_new(
        session, chain_id=2, first_block=0, last_block=10, finalized_block=10
    )

    assert (report.applied, report.failed) == (1, 1)
    assert report.failures[0].event_name == "SettlementCreated"
    assert "onchain_settlement_id" in report.failures[0].error
    assert [s for _, s, _ in await statuses(session)] == ["APPLIED", "FAILED", "APPLIED"]
    record = await session.scalar(select(StakingRecord))
    assert record is not None
    assert (record.amount, record.status) == (Decimal("0.000000000000000003"), "CONFIRMED")


async def test_each_tier_starts_at_its_threshold_to_the_wei(session: AsyncSession) -> None:
    """Every threshold of settlement.md, one wei below and at it, in one batch."""
    thresholds = TIER_THRESHOLDS_G8D[1:]
    wallets = ["0x" + f"{tier:040x}" for tier in range(1, len(thresholds) + 1)]
    for wallet in wallets:
        await add_person(session, f"staker-{wallet[-2:]}", wallet)
    for number, (wallet, threshold) in enumerate(zip(wallets, thresholds, strict=True)):
        for index, amount in enumerate((threshold * G8D_WEI - 1, 1)):
            await _insert_event(
                session,
                chain_id=1,
                block_number=number + 1,
                tx_hash="0x" + f"{number:032x}{index:032x}",
                log_index=index,
                event_name="Staked",
                args=json.dumps({"user": wallet, "amount": str(amount), "timestamp": "0"}),
            )

    report = await projections.project_new(
        session, chain_id=1, first_block=0, last_block=10, finalized_block=0
    )

    tiers = await session.execute(
        select(StakingRecord.wallet_address, StakingRecord.tier).order_by(
            StakingRecord.block_number, StakingRecord.log_index
        )
    )
    assert report.applied == 2 * len(thresholds)
    assert [tier for _, tier in tiers] == [
        step for tier in range(1, len(thresholds) + 1) for step in (tier - 1, tier)
    ]


# --- reorgs --------------------------------------------------------------------------------


async def test_unwinding_from_a_block_leaves_what_a_clean_index_of_the_blocks_before_it_gives(
    chain: Protocol,
    session: AsyncSession,
    session_factory: async_sessionmaker[AsyncSession],
    engine: AsyncEngine,
) -> None:
    bob, dave, erin = chain.account(3), chain.account(5), chain.account(6)
    chain_id = chain.deployments.chain_id

    async def world() -> None:
        bob_id = await add_person(session, "bob", bob.address)
        dave_id = await add_person(session, "dave", dave.address)
        erin_id = await add_person(session, "erin", erin.address)
        alpha = await add_registered_strategy(session, bob_id, "alpha")
        await add_registered_strategy(session, dave_id, "beta")
        for day in (20, 21):
            await add_settlement(
                session, user_id=erin_id, strategy_id=alpha, author_id=bob_id, day_index=day
            )
            await add_day_commit(session, alpha, day, ROOT_A if day == 20 else ROOT_B)
        await session.commit()

    await world()
    follows, manager = chain.contract("FollowRegistry"), chain.contract("SettlementManager")
    # Before the fork: stakes, a registered active strategy, a follow, a settlement, a day.
    await stake(chain, erin, 6_000 * G8D_WEI)
    alpha_id = await create_strategy(chain, bob, uri("alpha"))
    await activate_strategy(chain, bob, alpha_id)
    await transact(chain.w3, follows.functions.follow(alpha_id), erin)
    first_settlement = await create_settlement(chain, erin, alpha_id, 20, 7)
    await commit_day(chain, alpha_id, 20, ROOT_A)
    fork = await chain.w3.eth.block_number + 1
    # After it: every kind of change to what was projected before, and new rows.
    await stake(chain, erin, 20_000 * G8D_WEI)
    await transact(chain.w3, follows.functions.pause(alpha_id), erin)
    await transact(
        chain.w3,
        chain.contract("StrategyRegistry").functions.suspendStrategy(alpha_id),
        chain.account(0),
    )
    await pay_settlement(chain, erin, first_settlement)
    second_settlement = await create_settlement(chain, erin, alpha_id, 21, 7)
    await transact(
        chain.w3, manager.functions.expireSettlement(second_settlement), chain.account(0)
    )
    await commit_day(chain, alpha_id, 21, ROOT_B)
    await create_strategy(chain, dave, uri("beta"))
    await unstake(chain, erin, 1_000 * G8D_WEI)

    await index_to_head(chain, session_factory, batch_blocks=7)
    everything = await dump(session)
    removed = await projections.unwind_from(session, chain_id=chain_id, block_number=fork)
    await session.commit()
    unwound = await dump(session)
    left_blocks = await session.scalar(
        text("SELECT count(*) FROM chain_blocks WHERE number >= :fork"), {"fork": fork}
    )

    await session.rollback()  # its snapshot's locks would hold TRUNCATE back
    await empty_all_tables(engine)
    await world()
    await index_until(chain, session_factory, fork - 1, batch_blocks=7)
    clean = await dump(session)

    assert removed == len(everything["chain_events"]) - len(clean["chain_events"]) == 10
    assert left_blocks == 0
    assert unwound == clean
    assert unwound != everything


# --- a batch written for its projection (service.write_batch, projected_next) --------------

SELF_WALLET = "0x" + "cd" * 20


def _raw(
    block: int, index: int, name: str, args: dict[str, object] | None, problem: str | None = None
) -> service.RawEvent:
    return service.RawEvent(
        block_number=block,
        block_hash=f"0x{block:064x}",
        tx_hash=f"0x{block:032x}{index:032x}",
        log_index=index,
        contract_address="0x" + "22" * 20,
        event_name=name,
        topics=[],
        data="0x",
        json_args=args,
        problem=problem,
    )


async def _write(
    session: AsyncSession, events: list[service.RawEvent], *, projected_next: bool = True
) -> None:
    blocks = sorted({event.block_number for event in events})
    headers = {
        n: BlockHeader(n, f"0x{n:064x}", f"0x{n - 1:064x}", 1_700_000_000 + n) for n in blocks
    }
    await service.write_batch(
        session,
        chain_id=1,
        events=events,
        blocks=headers,
        last=headers[blocks[-1]],
        finalized=0,
        projected_next=projected_next,
    )


async def _strategy_four(session: AsyncSession) -> None:
    """bob's strategy, registered on chain as 4; alice (0xabab...) is a gr8d user too."""
    bob_id = await add_person(session, "bob", SELF_WALLET)
    await add_person(session, "alice", "0x" + "ab" * 20)
    await add_registered_strategy(session, bob_id, "alpha")
    await session.execute(
        text("UPDATE strategy_registrations SET status = 'REGISTERED', onchain_strategy_id = 4")
    )


# How _mixed_batch's events end, in chain order.
MIXED_BATCH_OUTCOME = [
    "APPLIED",
    "PARKED",
    "RAW_ONLY",
    "FAILED",
    "FAILED",
    "APPLIED",
    "FAILED",
    "APPLIED",
]


def _mixed_batch() -> list[service.RawEvent]:
    alice, stranger = "0x" + "ab" * 20, "0x" + "ef" * 20
    return [
        _raw(1, 0, "Staked", {"user": alice, "amount": str(5 * G8D_WEI), "timestamp": "0"}),
        _raw(1, 1, "Staked", {"user": stranger, "amount": "7", "timestamp": "0"}),
        _raw(1, 2, "UnstakeRequested", {"user": alice, "amount": "1", "timestamp": "0"}),
        _raw(2, 0, "Staked", {"user": alice, "amount": str(10**30), "timestamp": "0"}),
        _raw(2, 1, "UNDECODED", None, problem="data does not match the event"),
        _raw(3, 0, "FollowStarted", {"user": alice, "strategyId": "4", "dayIndex": "1"}),
        _raw(3, 1, "FollowStarted", {"user": SELF_WALLET, "strategyId": "4", "dayIndex": "1"}),
        _raw(3, 2, "StrategySuspended", {"strategyId": "4"}),
    ]


async def test_a_batch_stored_for_its_projection_ends_as_one_stored_pending_does(
    session: AsyncSession,
) -> None:
    """Stored APPLIED ahead of project_new, the same events end with the same statuses, rows
    and report as when they wait PENDING: only the ones parked or failed were moved."""
    await _strategy_four(session)

    async def index(projected_next: bool) -> tuple[Any, ...]:
        savepoint = await session.begin_nested()
        await _write(session, _mixed_batch(), projected_next=projected_next)
        report = await projections.project_new(
            session, chain_id=1, first_block=1, last_block=3, finalized_block=0
        )
        result = (
            (report.applied, report.parked, report.raw_only, report.failed),
            sorted((f.event_name, f.log_index) for f in report.failures),
            await statuses(session),
            await dump(session),
        )
        await savepoint.rollback()
        return result

    stored_applied, stored_pending = await index(True), await index(False)

    assert stored_applied == stored_pending
    counts, failures, outcome, tables = stored_applied
    assert counts == (3, 1, 1, 3)
    assert failures == [("FollowStarted", 1), ("Staked", 0), ("UNDECODED", 1)]
    assert [status for _, status, _ in outcome] == MIXED_BATCH_OUTCOME
    assert [row[1] for row in tables["staking_records"]] == [Decimal(5)]
    assert [row[5] for row in tables["strategy_registrations"]] == ["REGISTERED"]
    assert [row[8] for row in tables["strategy_registrations"]] == ["SUSPENDED"]
    assert [row[3] for row in tables["follows"]] == [True]


async def test_a_batch_written_again_keeps_one_row_per_log_and_adds_only_the_new_ones(
    session: AsyncSession,
) -> None:
    """Blocks already stored are never rewritten (the cursor says where the next batch
    starts); should they be, the rows stored stay and only the new logs are added."""
    await _strategy_four(session)
    batch = _mixed_batch()
    await _write(session, batch[:5])
    await projections.project_new(
        session, chain_id=1, first_block=1, last_block=2, finalized_block=0
    )

    await _write(session, batch)
    await projections.project_new(
        session, chain_id=1, first_block=1, last_block=3, finalized_block=0
    )

    stored = await statuses(session)
    assert len(stored) == len(batch)
    assert [status for _, status, _ in stored] == MIXED_BATCH_OUTCOME
    assert len((await dump(session))["staking_records"]) == 1


async def test_a_second_write_before_the_projection_leaves_both_batches_to_project(
    session: AsyncSession,
) -> None:
    await _strategy_four(session)
    batch = _mixed_batch()
    await _write(session, batch[:3])
    await _write(session, batch[3:])

    report = await projections.project_new(
        session, chain_id=1, first_block=1, last_block=3, finalized_block=0
    )

    assert (report.applied, report.parked, report.raw_only, report.failed) == (3, 1, 1, 3)
    assert [status for _, status, _ in await statuses(session)] == MIXED_BATCH_OUTCOME


async def test_a_fresh_batch_postgresql_refuses_part_of_fails_only_that_event(
    session: AsyncSession,
) -> None:
    """The refused-value case above, the second chain's batch stored for its projection: the
    halves are projected apart and each event is counted once."""
    wallet = "0x" + "ab" * 20
    bob_id = await add_person(session, "bob", SELF_WALLET)
    erin_id = await add_person(session, "erin", wallet)
    alpha = await add_registered_strategy(session, bob_id, "alpha")
    await session.execute(
        text("UPDATE strategy_registrations SET status = 'REGISTERED', onchain_strategy_id = 4")
    )
    for day in (1, 2):
        await add_settlement(
            session, user_id=erin_id, strategy_id=alpha, author_id=bob_id, day_index=day
        )
    await session.execute(
        text("UPDATE settlements SET onchain_settlement_id = 9 WHERE day_index = 1")
    )
    created: dict[str, object] = {
        "settlementId": "9",
        "user": wallet,
        "strategyId": "4",
        "dayIndex": "2",
    }
    staked: dict[str, object] = {"user": wallet, "amount": "3", "timestamp": "0"}
    await _write(session, [_raw(5, 0, "SettlementCreated", created), _raw(6, 0, "Staked", staked)])

    report = await projections.project_new(
        session, chain_id=1, first_block=5, last_block=6, finalized_block=10
    )

    assert (report.applied, report.parked, report.failed) == (1, 0, 1)
    assert report.failures[0].event_name == "SettlementCreated"
    assert "onchain_settlement_id" in report.failures[0].error
    assert [s for _, s, _ in await statuses(session)] == ["FAILED", "APPLIED"]
    record = await session.scalar(select(StakingRecord))
    assert record is not None and record.amount == Decimal("0.000000000000000003")


async def test_fresh_ids_that_are_not_one_run_wait_pending_and_still_project(
    session: AsyncSession,
) -> None:
    wallet = "0x" + "ab" * 20
    await add_person(session, "alice", wallet)
    for index in range(3):
        await _insert_event(
            session,
            chain_id=1,
            block_number=1,
            tx_hash="0x" + f"{index:064x}",
            log_index=index,
            event_name="Staked",
            args=json.dumps({"user": wallet, "amount": "1", "timestamp": "0"}),
        )
    ids = list(await session.scalars(text("SELECT id FROM chain_events ORDER BY id")))
    await session.execute(text("UPDATE chain_events SET projection_status = 'APPLIED'"))
    await session.execute(
        text("UPDATE chain_events SET projection_status = 'PENDING' WHERE id = :id"),
        {"id": ids[1]},
    )

    await projections.project_after_write(session, chain_id=1, event_ids=[ids[0], ids[2]])
    report = await projections.project_new(
        session, chain_id=1, first_block=1, last_block=1, finalized_block=1
    )

    assert report.applied == 3
    tiers = await session.scalars(select(StakingRecord.amount).order_by(StakingRecord.log_index))
    assert list(tiers) == [Decimal("0.000000000000000001")] * 3


async def test_a_fresh_event_outside_the_projected_blocks_is_projected_all_the_same(
    session: AsyncSession,
) -> None:
    """What the writer stored as it guessed is never left unchecked: alice's follow of a
    strategy gr8d does not know, stored APPLIED in a block past the range the caller names,
    is still parked."""
    await _strategy_four(session)
    alice = "0x" + "ab" * 20
    await _write(
        session,
        [
            _raw(1, 0, "Staked", {"user": alice, "amount": "1", "timestamp": "0"}),
            _raw(9, 0, "FollowStarted", {"user": alice, "strategyId": "77", "dayIndex": "1"}),
        ],
    )

    report = await projections.project_new(
        session, chain_id=1, first_block=1, last_block=2, finalized_block=0
    )

    assert (report.applied, report.parked) == (1, 1)
    assert [status for _, status, _ in await statuses(session)] == ["APPLIED", "PARKED"]


async def test_a_wallets_stake_carries_from_batch_to_batch_and_an_unwind_takes_it_back(
    session: AsyncSession,
) -> None:
    """Each batch starts the wallet's running stake where the last one ended (its checkpoint);
    an unwind sets the checkpoint back to what the remaining events add up to."""
    alice = "0x" + "ab" * 20
    await add_person(session, "alice", alice)

    def staked(block: int, name: str, g8d: int) -> service.RawEvent:
        return _raw(block, 0, name, {"user": alice, "amount": str(g8d * G8D_WEI)})

    async def index(event: service.RawEvent) -> None:
        await _write(session, [event])
        await projections.project_new(
            session,
            chain_id=1,
            first_block=event.block_number,
            last_block=event.block_number,
            finalized_block=0,
        )

    async def checkpoint() -> tuple[Any, ...] | None:
        row = (
            await session.execute(
                text(
                    "SELECT staked_wei, block_number, log_index, parked FROM staking_checkpoints"
                    " WHERE chain_id = 1 AND wallet_address = :w"
                ),
                {"w": alice},
            )
        ).one_or_none()
        return None if row is None else tuple(row)

    async def tiers() -> list[int]:
        found = await session.scalars(
            select(StakingRecord.tier).order_by(StakingRecord.block_number)
        )
        return list(found)

    await index(staked(1, "Staked", 3_000))
    await index(staked(2, "Staked", 2_000))
    await index(staked(3, "Withdrawn", 4_000))

    assert await tiers() == [0, 1, 0]
    assert await checkpoint() == (1_000 * G8D_WEI, 3, 0, False)

    await projections.unwind_from(session, chain_id=1, block_number=3)
    assert await checkpoint() == (5_000 * G8D_WEI, 2, 0, False)

    await index(staked(3, "Staked", 15_000))
    assert await tiers() == [0, 1, 2]
    assert await checkpoint() == (20_000 * G8D_WEI, 3, 0, False)
