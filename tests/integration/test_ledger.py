from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db import ledger
from db.enums import TransactionType
from db.models import CreditTransaction
from tests.factories import add_user


async def test_a_posting_moves_the_balance_and_records_balance_after(
    session: AsyncSession,
) -> None:
    user_id = await add_user(session)
    credit = await ledger.post(
        session, user_id=user_id, amount=500, type=TransactionType.PURCHASE, description="top-up"
    )
    debit = await ledger.post(
        session,
        user_id=user_id,
        amount=-120,
        type=TransactionType.BACKTEST,
        reference_id=uuid.uuid4(),
    )
    await session.commit()

    assert (credit.balance_after, debit.balance_after) == (500, 380)
    assert await ledger.balance_of(session, user_id) == 380
    assert await ledger.invariant_violations(session) == []


async def test_spending_more_than_the_balance_is_refused_and_moves_nothing(
    session: AsyncSession,
) -> None:
    user_id = await add_user(session, credits=100)

    with pytest.raises(ledger.InsufficientCredits) as refused:
        await ledger.post(session, user_id=user_id, amount=-101, type=TransactionType.BACKTEST)

    assert (refused.value.balance, refused.value.amount) == (100, -101)
    await session.commit()
    assert await ledger.balance_of(session, user_id) == 100
    count = await session.scalar(select(func.count()).select_from(CreditTransaction))
    assert count == 1


async def test_spending_the_whole_balance_leaves_exactly_zero(session: AsyncSession) -> None:
    user_id = await add_user(session, credits=70)
    posting = await ledger.post(
        session, user_id=user_id, amount=-70, type=TransactionType.TEMPLATE_CLONE
    )
    assert posting.balance_after == 0


async def test_a_second_posting_of_the_same_reference_is_reported_as_already_posted(
    session: AsyncSession,
) -> None:
    user_id = await add_user(session, credits=100)
    reference = uuid.uuid4()
    await ledger.post(
        session,
        user_id=user_id,
        amount=-30,
        type=TransactionType.SETTLEMENT_FEE,
        reference_id=reference,
    )

    with pytest.raises(ledger.AlreadyPosted):
        await ledger.post(
            session,
            user_id=user_id,
            amount=-30,
            type=TransactionType.SETTLEMENT_FEE,
            reference_id=reference,
        )

    # The caller's transaction is still usable and holds exactly one posting of it.
    await session.commit()
    assert await ledger.balance_of(session, user_id) == 70


async def test_the_same_reference_under_another_type_is_a_different_posting(
    session: AsyncSession,
) -> None:
    user_id = await add_user(session, credits=100)
    reference = uuid.uuid4()
    await ledger.post(
        session,
        user_id=user_id,
        amount=-40,
        type=TransactionType.BACKTEST,
        reference_id=reference,
    )
    refund = await ledger.post(
        session, user_id=user_id, amount=40, type=TransactionType.REFUND, reference_id=reference
    )
    assert refund.balance_after == 100


async def test_posting_for_a_user_without_an_account_is_refused(session: AsyncSession) -> None:
    with pytest.raises(ledger.NoCreditAccount):
        await ledger.post(session, user_id=uuid.uuid4(), amount=5, type=TransactionType.PURCHASE)


async def test_a_zero_amount_is_not_a_posting(session: AsyncSession) -> None:
    user_id = await add_user(session)
    with pytest.raises(ValueError, match="non-zero"):
        await ledger.post(session, user_id=user_id, amount=0, type=TransactionType.PURCHASE)


async def test_a_rolled_back_posting_leaves_no_trace(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    async with session_factory() as session:
        user_id = await add_user(session, credits=50)
        await session.commit()
    async with session_factory() as session:
        await ledger.post(session, user_id=user_id, amount=-50, type=TransactionType.BACKTEST)
        await session.rollback()
    async with session_factory() as session:
        assert await ledger.balance_of(session, user_id) == 50
        assert await ledger.invariant_violations(session) == []


async def _spend(
    session_factory: async_sessionmaker[AsyncSession],
    user_id: uuid.UUID,
    amount: int,
    reference_id: uuid.UUID,
    start: asyncio.Event,
) -> str:
    async with session_factory() as session:
        await start.wait()
        try:
            await ledger.post(
                session,
                user_id=user_id,
                amount=-amount,
                type=TransactionType.TEMPLATE_CLONE,
                reference_id=reference_id,
            )
        except ledger.LedgerError as refused:
            return type(refused).__name__
        # Hold the lock a moment so the others really queue behind it.
        await asyncio.sleep(0.01)
        await session.commit()
        return "posted"


async def test_ten_connections_spending_one_balance_never_overdraw_it(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    async with session_factory() as session:
        user_id = await add_user(session, credits=100)
        await session.commit()
    start = asyncio.Event()
    tasks = [
        asyncio.create_task(_spend(session_factory, user_id, 15, uuid.uuid4(), start))
        for _ in range(10)
    ]
    await asyncio.sleep(0.05)
    start.set()
    outcomes = await asyncio.gather(*tasks)

    assert outcomes.count("posted") == 6
    assert outcomes.count("InsufficientCredits") == 4
    async with session_factory() as session:
        assert await ledger.balance_of(session, user_id) == 10
        assert await ledger.invariant_violations(session) == []


async def test_ten_connections_posting_one_reference_post_it_once(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    async with session_factory() as session:
        user_id = await add_user(session, credits=100)
        await session.commit()
    start = asyncio.Event()
    reference = uuid.uuid4()
    tasks = [
        asyncio.create_task(_spend(session_factory, user_id, 15, reference, start))
        for _ in range(10)
    ]
    await asyncio.sleep(0.05)
    start.set()
    outcomes = await asyncio.gather(*tasks)

    assert outcomes.count("posted") == 1
    assert outcomes.count("AlreadyPosted") == 9
    async with session_factory() as session:
        assert await ledger.balance_of(session, user_id) == 85


async def test_a_batch_writes_many_postings_in_order_with_running_balances(
    session: AsyncSession,
) -> None:
    payer = await add_user(session, credits=100)
    payee = await add_user(session)
    batch = await ledger.open_batch(session, [payer, payee])
    for _ in range(3):
        reference = uuid.uuid4()
        batch.add(
            user_id=payer, amount=-30, type=TransactionType.SETTLEMENT_FEE, reference_id=reference
        )
        batch.add(user_id=payee, amount=10, type=TransactionType.AUTHOR_FEE, reference_id=reference)
    with pytest.raises(ledger.InsufficientCredits):
        batch.add(user_id=payer, amount=-30, type=TransactionType.SETTLEMENT_FEE)
    await batch.flush()
    await session.commit()

    assert await ledger.balance_of(session, payer) == 10
    assert await ledger.balance_of(session, payee) == 30
    afters = (
        await session.scalars(
            select(CreditTransaction.balance_after)
            .where(CreditTransaction.user_id == payer)
            .order_by(CreditTransaction.seq)
        )
    ).all()
    assert afters == [100, 70, 40, 10]
    assert await ledger.invariant_violations(session) == []


async def test_a_batch_refuses_a_reference_posted_before_and_writes_nothing(
    session: AsyncSession,
) -> None:
    user_id = await add_user(session, credits=100)
    reference = uuid.uuid4()
    await ledger.post(
        session, user_id=user_id, amount=-5, type=TransactionType.BACKTEST, reference_id=reference
    )
    await session.commit()

    batch = await ledger.open_batch(session, [user_id])
    batch.add(user_id=user_id, amount=-5, type=TransactionType.BACKTEST)
    batch.add(user_id=user_id, amount=-5, type=TransactionType.BACKTEST, reference_id=reference)
    with pytest.raises(ledger.AlreadyPosted):
        await batch.flush()
    await session.rollback()
    assert await ledger.balance_of(session, user_id) == 95


async def test_a_batch_only_posts_for_the_accounts_it_locked(session: AsyncSession) -> None:
    locked = await add_user(session, credits=10)
    other = await add_user(session, credits=10)
    batch = await ledger.open_batch(session, [locked])
    with pytest.raises(ValueError, match="not locked"):
        batch.add(user_id=other, amount=1, type=TransactionType.PURCHASE)
