"""BLOCKCHAIN_ENABLED tiers: the G8D staked before the day ends, once the chain is final."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from decimal import Decimal

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.models import (
    AuthorRoyalty,
    ChainBlock,
    ChainEvent,
    IndexerCursor,
    Settlement,
    StakingRecord,
    Template,
    TemplateClone,
    User,
)
from settlement import rules, service
from settlement.runs import Outcome, RunResult
from settlement.scheduled import SettlementJobs
from tests.factories import add_execution, add_strategy, add_user, policy

CHAIN = 10143
DAY = dt.date(2026, 11, 20)
_, END_OF_DAY = rules.day_bounds(rules.day_index_of_date(DAY))
ON_CHAIN = policy(blockchain_enabled=True)
_log_indexes = itertools.count()


async def stake(
    session: AsyncSession, user_id: uuid.UUID, kind: str, g8d: str, at: dt.datetime
) -> None:
    tx_hash, log_index = "0x" + uuid.uuid4().hex * 2, next(_log_indexes)
    await session.execute(
        insert(ChainEvent).values(
            chain_id=CHAIN,
            block_number=1,
            block_hash="0x" + "ab" * 32,
            block_timestamp=at,
            tx_hash=tx_hash,
            log_index=log_index,
            contract_address="0x" + "11" * 20,
            event_name="Staked" if kind == "STAKE" else "Withdrawn",
            topics=[],
            data="0x",
        )
    )
    await session.execute(
        insert(StakingRecord).values(
            user_id=user_id,
            amount=Decimal(g8d),
            type=kind,
            onchain_tx_hash=tx_hash,
            log_index=log_index,
            status="CONFIRMED",
        )
    )


async def finalize_until(session: AsyncSession, moment: dt.datetime) -> None:
    await session.execute(
        insert(ChainBlock).values(
            chain_id=CHAIN,
            number=100,
            hash="0x" + "cd" * 32,
            parent_hash="0x" + "ef" * 32,
            timestamp=moment,
        )
    )
    await session.execute(
        insert(IndexerCursor).values(
            chain_id=CHAIN,
            last_block_number=100,
            last_block_hash="0x" + "cd" * 32,
            finalized_block_number=100,
        )
    )


async def test_the_staked_balance_before_the_day_ends_sets_the_tier(
    session: AsyncSession,
) -> None:
    whale, withdrawn, late, overridden = [await add_user(session) for _ in range(4)]
    noon = END_OF_DAY - dt.timedelta(hours=12)
    await stake(session, whale, "STAKE", "200000", noon)
    await stake(session, withdrawn, "STAKE", "60000", noon)
    await stake(session, withdrawn, "UNSTAKE", "40000.000000000000000001", noon)
    await stake(session, late, "STAKE", "1000000", END_OF_DAY)
    await stake(session, overridden, "STAKE", "1000000", noon)
    await session.execute(update(User).where(User.id == overridden).values(manual_tier=1))
    await finalize_until(session, END_OF_DAY)

    tiers = await service.tiers_at(
        session, user_ids=[whale, withdrawn, late, overridden], end=END_OF_DAY, policy=ON_CHAIN
    )

    assert tiers == {whale: 4, withdrawn: 1, late: 0, overridden: 1}


async def test_a_day_waits_until_the_indexer_has_finalized_past_its_end(
    session: AsyncSession, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    author = await add_user(session)
    follower = await add_user(session, credits=1000)
    strategy = await add_strategy(session, author)
    await stake(session, follower, "STAKE", "50000", END_OF_DAY - dt.timedelta(hours=1))
    await add_execution(
        session,
        user_id=follower,
        strategy_id=strategy,
        amount="1",
        price="1000",
        executed_at=END_OF_DAY - dt.timedelta(hours=2),
    )
    await session.commit()
    now = END_OF_DAY + dt.timedelta(hours=2)
    jobs = SettlementJobs(
        session_factory=session_factory, policy=ON_CHAIN, start_day=DAY, clock=lambda: now
    )

    assert await jobs.catch_up_days() == []
    await finalize_until(session, END_OF_DAY)
    await session.commit()
    [result] = await jobs.catch_up_days()

    assert result.outcome is Outcome.DONE
    row = await session.scalar(select(Settlement))
    assert row is not None
    assert (row.user_tier, row.discount_bps, row.fee_credits) == (3, 3000, 140)


async def test_a_month_waits_until_the_indexer_has_finalized_past_its_end(
    session: AsyncSession, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    """The royalty rate is the author's tier at the end of the month: read before the chain
    is final there, it would depend on how far the indexer had got."""
    end_of_october = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    author = await add_user(session)
    await stake(session, author, "STAKE", "1000000", end_of_october - dt.timedelta(hours=1))
    template = (
        await session.execute(
            insert(Template)
            .values(
                strategy_id=await add_strategy(session, author),
                author_id=author,
                name="t",
                price_credits=1000,
            )
            .returning(Template.id)
        )
    ).scalar_one()
    await session.execute(
        insert(TemplateClone).values(
            template_id=template,
            author_id=author,
            cloner_id=await add_user(session),
            price_credits=1000,
            created_at=end_of_october - dt.timedelta(days=3),
        )
    )
    await session.commit()
    now = end_of_october + dt.timedelta(hours=2)
    jobs = SettlementJobs(
        session_factory=session_factory,
        policy=ON_CHAIN,
        start_day=dt.date(2026, 10, 1),
        clock=lambda: now,
    )

    assert await jobs.catch_up_months() == []
    assert (await session.scalars(select(AuthorRoyalty))).all() == []
    await finalize_until(session, end_of_october)
    await session.commit()
    created, paid = await jobs.catch_up_months()

    assert isinstance(created, RunResult) and created.outcome is Outcome.DONE
    royalty = await session.scalar(select(AuthorRoyalty))
    assert royalty is not None
    assert (royalty.royalty_rate_bps, royalty.royalty_amount_credits, paid) == (2000, 200, 200)


async def test_a_withdrawal_recorded_for_a_wallets_new_owner_counts_as_no_stake(
    session: AsyncSession, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    """A wallet unlinked by the user who staked from it and verified by another: its stake
    stays recorded for the first, its later withdrawal for the second, whose sum is then below
    zero. That user has tier 0; the day (everyone else's settlements) still settles."""
    author = await add_user(session)
    new_owner = await add_user(session, credits=1000)
    await stake(session, new_owner, "UNSTAKE", "60000", END_OF_DAY - dt.timedelta(hours=3))
    await add_execution(
        session,
        user_id=new_owner,
        strategy_id=await add_strategy(session, author),
        amount="1",
        price="1000",
        executed_at=END_OF_DAY - dt.timedelta(hours=2),
    )
    await finalize_until(session, END_OF_DAY)
    await session.commit()

    result = await SettlementJobs(session_factory=session_factory, policy=ON_CHAIN).settle_day(DAY)
    tiers = await service.tiers_at(session, user_ids=[new_owner], end=END_OF_DAY, policy=ON_CHAIN)

    assert result.outcome is Outcome.DONE, result.error
    row = await session.scalar(select(Settlement))
    assert row is not None
    assert (row.user_tier, row.fee_credits, row.status) == (0, 200, "PAID")
    assert tiers == {new_owner: 0}
