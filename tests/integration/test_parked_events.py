"""Events whose wallet or registration gr8d does not know yet are parked, not lost, and a
replay once the link exists ends exactly where an index with the link from the start ends
(chain.md, "From events to rows"). Real anvil, real PostgreSQL, one chain for the module."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest_asyncio
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from db.models import Follow, Settlement, StakingRecord, Strategy
from indexer import projections, service
from indexer.rpc import BlockHeader
from tests.chain import (
    G8D_WEI,
    Protocol,
    activate_strategy,
    commit_day,
    create_settlement,
    create_strategy,
    deployed_protocol,
    pay_settlement,
    revert,
    snapshot,
    stake,
    transact,
    unstake,
)
from tests.factories import add_strategy, add_user
from tests.projection_world import (
    add_day_commit,
    add_person,
    add_registered_strategy,
    add_registration,
    add_settlement,
    add_wallet,
    dump,
    empty_all_tables,
    index_to_head,
    statuses,
    uri,
    verify_wallet,
)

ROOT = "0x" + "5e" * 32


@pytest_asyncio.fixture(scope="module")
async def deployed() -> AsyncIterator[Protocol]:
    async with deployed_protocol() as protocol:
        yield protocol


@pytest_asyncio.fixture
async def chain(deployed: Protocol) -> AsyncIterator[Protocol]:
    mark = await snapshot(deployed.w3)
    yield deployed
    await revert(deployed.w3, mark)


async def _from_the_start(
    session: AsyncSession,
    engine: AsyncEngine,
    chain: Protocol,
    session_factory: async_sessionmaker[AsyncSession],
    world: Callable[[], Awaitable[None]],
) -> dict[str, list[tuple[object, ...]]]:
    """The tables after indexing the same chain into a database whose links exist first."""
    await session.rollback()
    await empty_all_tables(engine)
    await world()
    await session.commit()
    await index_to_head(chain, session_factory)
    return await dump(session)


async def test_a_wallets_events_are_parked_until_it_is_verified_then_end_as_if_it_always_was(
    chain: Protocol,
    session: AsyncSession,
    session_factory: async_sessionmaker[AsyncSession],
    engine: AsyncEngine,
) -> None:
    alice, bob = chain.account(2), chain.account(3)
    verified_from_the_start = False

    async def world() -> None:
        alice_id = await add_user(session, email="alice@example.com")
        await add_wallet(session, alice_id, alice.address, verified=verified_from_the_start)
        bob_id = await add_person(session, "bob", bob.address)
        alpha = await add_registered_strategy(session, bob_id, "alpha")
        for day in (40, 41):
            await add_settlement(
                session, user_id=alice_id, strategy_id=alpha, author_id=bob_id, day_index=day
            )

    await world()
    await session.commit()
    alpha_id = await create_strategy(chain, bob, uri("alpha"))
    await activate_strategy(chain, bob, alpha_id)
    follows, manager = chain.contract("FollowRegistry"), chain.contract("SettlementManager")
    # Tiers cross thresholds both ways over the wallet's history: 0, 1, 2, then 1.
    await stake(chain, alice, 3_000 * G8D_WEI)
    await stake(chain, alice, 3_000 * G8D_WEI)
    await stake(chain, alice, 20_000 * G8D_WEI)
    await transact(chain.w3, follows.functions.follow(alpha_id), alice)
    await transact(chain.w3, follows.functions.pause(alpha_id), alice)
    expiring = await create_settlement(chain, alice, alpha_id, 40, 3)
    paying = await create_settlement(chain, alice, alpha_id, 41, 3)
    await transact(chain.w3, manager.functions.expireSettlement(expiring), chain.account(0))
    await pay_settlement(chain, alice, paying)
    await unstake(chain, alice, 10_000 * G8D_WEI)

    await index_to_head(chain, session_factory)

    parked = [name for name, status, _ in await statuses(session) if status == "PARKED"]
    assert parked == [
        "Staked",
        "Staked",
        "Staked",
        "FollowStarted",
        "FollowPaused",
        "SettlementCreated",
        "SettlementCreated",
        "SettlementExpired",
        "SettlementPaid",
        "Withdrawn",
    ]
    assert await session.scalar(select(StakingRecord)) is None
    assert await session.scalar(select(Follow)) is None

    await verify_wallet(session, alice.address)
    applied = await projections.replay_parked(session, wallets=[alice.address])
    await session.commit()

    assert applied == len(parked)
    tiers = await session.scalars(select(StakingRecord.tier).order_by(StakingRecord.block_number))
    assert list(tiers) == [0, 1, 2, 1]
    settled = await session.scalars(select(Settlement.status).order_by(Settlement.day_index))
    assert list(settled) == ["FAILED", "PAID"]
    replayed = await dump(session)

    verified_from_the_start = True
    assert replayed == await _from_the_start(session, engine, chain, session_factory, world)


async def test_a_strategys_events_before_its_registration_exists_are_applied_once_it_does(
    chain: Protocol,
    session: AsyncSession,
    session_factory: async_sessionmaker[AsyncSession],
    engine: AsyncEngine,
) -> None:
    bob, dave, erin = chain.account(3), chain.account(5), chain.account(6)
    registered_from_the_start = False

    async def world() -> None:
        bob_id = await add_person(session, "bob", bob.address)
        await add_person(session, "dave", dave.address)
        erin_id = await add_person(session, "erin", erin.address)
        alpha = await add_strategy(session, bob_id, name="alpha")
        if registered_from_the_start:
            await add_registration(session, alpha, bob_id, "alpha")
        await add_settlement(
            session, user_id=erin_id, strategy_id=alpha, author_id=bob_id, day_index=30
        )
        await add_day_commit(session, alpha, 30, ROOT)

    await world()
    await session.commit()
    alpha_id = await create_strategy(chain, bob, uri("alpha"))
    await activate_strategy(chain, bob, alpha_id)
    await transact(chain.w3, chain.contract("FollowRegistry").functions.follow(alpha_id), dave)
    await commit_day(chain, alpha_id, 30, ROOT)
    await pay_settlement(chain, erin, await create_settlement(chain, erin, alpha_id, 30, 9))

    await index_to_head(chain, session_factory)

    assert {status for _, status, _ in await statuses(session)} == {"PARKED"}

    alpha = await session.scalar(select(Strategy.id).where(Strategy.name == "alpha"))
    assert alpha is not None
    bob_id = await session.scalar(select(Strategy.user_id).where(Strategy.id == alpha))
    assert bob_id is not None
    await add_registration(session, alpha, bob_id, "alpha")
    applied = await projections.replay_parked(session, metadata_uris=[uri("alpha")])
    await session.commit()

    assert applied == len(await statuses(session)) == 9
    assert {status for _, status, _ in await statuses(session)} == {"APPLIED"}
    replayed = await dump(session)
    (registration,) = replayed["strategy_registrations"]
    onchain_id, merkle_root, status, onchain_status = (registration[i] for i in (2, 3, 5, 8))
    assert (onchain_id, merkle_root, status, onchain_status) == (
        alpha_id,
        ROOT,
        "REGISTERED",
        "ACTIVE",
    )
    assert [row[3:5] for row in replayed["settlements"]] == [("PAID", 1)]

    registered_from_the_start = True
    assert replayed == await _from_the_start(session, engine, chain, session_factory, world)


async def test_a_replay_without_filters_applies_what_has_its_link_and_keeps_the_rest_parked(
    chain: Protocol, session: AsyncSession, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    alice, frank = chain.account(2), chain.account(7)
    alice_id = await add_user(session, email="alice@example.com")
    await add_wallet(session, alice_id, alice.address, verified=False)
    await session.commit()
    await stake(chain, alice, G8D_WEI)
    await stake(chain, frank, G8D_WEI)
    await index_to_head(chain, session_factory)

    await verify_wallet(session, alice.address)
    applied = await projections.replay_parked(session)
    again = await projections.replay_parked(session, chain_id=chain.deployments.chain_id)
    await session.commit()

    assert (applied, again) == (1, 0)
    assert [status for _, status, _ in await statuses(session)] == ["APPLIED", "PARKED"]
    record = (await session.scalars(select(StakingRecord))).one()
    assert record.wallet_address == alice.address.lower()


async def test_a_new_event_of_a_verified_wallet_also_applies_its_events_parked_before(
    chain: Protocol, session: AsyncSession, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    """A wallet verified while the indexer was mid-batch, before anyone replayed: its next
    event brings its whole history along, with the tiers of that history."""
    alice = chain.account(2)
    alice_id = await add_user(session, email="alice@example.com")
    await add_wallet(session, alice_id, alice.address, verified=False)
    await session.commit()
    await stake(chain, alice, 3_000 * G8D_WEI)
    await index_to_head(chain, session_factory)
    await verify_wallet(session, alice.address)
    await session.commit()

    await stake(chain, alice, 3_000 * G8D_WEI)
    await index_to_head(chain, session_factory)

    tiers = await session.scalars(select(StakingRecord.tier).order_by(StakingRecord.block_number))
    assert list(tiers) == [0, 1]
    assert [status for _, status, _ in await statuses(session)] == ["APPLIED", "APPLIED"]


def _stake_of(wallet: str, block: int, wei: int) -> service.RawEvent:
    return service.RawEvent(
        block_number=block,
        block_hash=f"0x{block:064x}",
        tx_hash=f"0x{block:064x}",
        log_index=0,
        contract_address="0x" + "22" * 20,
        event_name="Staked",
        topics=[],
        data="0x",
        json_args={"user": wallet, "amount": str(wei), "timestamp": "0"},
        problem=None,
    )


async def _write_batch(session: AsyncSession, event: service.RawEvent) -> None:
    """A batch as the follower writes it (fenced, then written and projected)."""
    number = event.block_number
    header = BlockHeader(number, f"0x{number:064x}", f"0x{number - 1:064x}", 1_700_000_000)
    await service.lock_position(session, CHAIN)
    await service.write_batch(
        session, chain_id=CHAIN, events=[event], blocks={number: header}, last=header, finalized=0
    )
    await projections.project_new(
        session, chain_id=CHAIN, first_block=number, last_block=number, finalized_block=0
    )


CHAIN = 1


async def test_a_wallet_verified_while_a_batch_of_its_events_is_written_gets_them(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    """The replay waits for the batch being written (whose projection did not see the wallet
    verified) instead of missing its events, which stayed parked until the wallet's next."""
    alice, bob = "0x" + "a1" * 20, "0x" + "b0" * 20
    async with session_factory() as setup:
        alice_id = await add_user(setup, email="alice@example.com")
        await add_wallet(setup, alice_id, alice, verified=False)
        await _write_batch(setup, _stake_of(bob, 1, G8D_WEI))  # the chain has a cursor
        await setup.commit()

    async with session_factory() as indexer, session_factory() as api:
        await _write_batch(indexer, _stake_of(alice, 2, 6_000 * G8D_WEI))

        async def verify() -> None:
            await verify_wallet(api, alice)
            await projections.replay_parked(api, wallets=[alice])
            await api.commit()

        verifying = asyncio.create_task(verify())
        await asyncio.sleep(0.5)
        await indexer.commit()
        await asyncio.wait_for(verifying, 10)

    async with session_factory() as session:
        assert [status for _, status, _ in await statuses(session)] == ["PARKED", "APPLIED"]
        record = (await session.scalars(select(StakingRecord))).one()
    assert (record.wallet_address, record.tier) == (alice, 1)
