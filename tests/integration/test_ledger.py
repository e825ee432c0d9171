from __future__ import annotations

import asyncio
import uuid
from typing import Any

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


# Postings PostgreSQL selects itself: (n, id, user_id, amount, type, reference_id,
# description) from arrays bound as parameters.
_SELECTED = """
    SELECT n, gen_random_uuid() AS id, user_id, amount, type, reference_id, description
    FROM unnest(
        CAST(:users AS uuid[]), CAST(:amounts AS bigint[]), CAST(:types AS varchar[]),
        CAST(:references AS uuid[]), CAST(:descriptions AS text[])
    ) WITH ORDINALITY AS p(user_id, amount, type, reference_id, description, n)
"""


def _selected(
    *postings: tuple[uuid.UUID, int, TransactionType, uuid.UUID | None],
) -> dict[str, list[Any]]:
    return {
        "users": [user_id for user_id, _, _, _ in postings],
        "amounts": [amount for _, amount, _, _ in postings],
        "types": [type_.value for _, _, type_, _ in postings],
        "references": [reference for _, _, _, reference in postings],
        "descriptions": [None for _ in postings],
    }


async def _balances_after(session: AsyncSession, user_id: uuid.UUID) -> list[int]:
    rows = await session.scalars(
        select(CreditTransaction.balance_after)
        .where(CreditTransaction.user_id == user_id)
        .order_by(CreditTransaction.seq)
    )
    return list(rows)


async def test_selected_postings_are_written_in_their_order_with_running_balances(
    session: AsyncSession,
) -> None:
    payer = await add_user(session, credits=100)
    payee = await add_user(session)
    first, second = uuid.uuid4(), uuid.uuid4()

    posted = await ledger.post_selected(
        session,
        _SELECTED,
        _selected(
            (payer, -30, TransactionType.SETTLEMENT_FEE, first),
            (payee, 10, TransactionType.AUTHOR_FEE, first),
            (payer, -50, TransactionType.SETTLEMENT_FEE, second),
            (payee, 20, TransactionType.AUTHOR_FEE, second),
        ),
    )
    await session.commit()

    assert posted == 4
    assert await _balances_after(session, payer) == [100, 70, 20]
    assert await _balances_after(session, payee) == [10, 30]
    assert (await ledger.balance_of(session, payer), await ledger.balance_of(session, payee)) == (
        20,
        30,
    )
    assert await ledger.invariant_violations(session) == []


async def test_a_selected_set_that_overdraws_midway_is_refused_whole(
    session: AsyncSession,
) -> None:
    user_id = await add_user(session, credits=100)

    with pytest.raises(ledger.InsufficientCredits) as refused:
        await ledger.post_selected(
            session,
            _SELECTED,
            _selected(
                (user_id, -80, TransactionType.BACKTEST, None),
                (user_id, -30, TransactionType.BACKTEST, None),
                (user_id, 500, TransactionType.REFUND, None),
            ),
        )

    assert (refused.value.user_id, refused.value.balance, refused.value.amount) == (
        user_id,
        20,
        -30,
    )
    assert await ledger.balance_of(session, user_id) == 100
    assert await _balances_after(session, user_id) == [100]


async def test_a_selected_reference_posted_before_is_reported_as_already_posted(
    session: AsyncSession,
) -> None:
    user_id = await add_user(session, credits=100)
    reference = uuid.uuid4()
    await ledger.post(
        session, user_id=user_id, amount=-5, type=TransactionType.BACKTEST, reference_id=reference
    )

    with pytest.raises(ledger.AlreadyPosted) as repeated:
        await ledger.post_selected(
            session, _SELECTED, _selected((user_id, -5, TransactionType.BACKTEST, reference))
        )

    assert (repeated.value.user_id, repeated.value.type, repeated.value.reference_id) == (
        user_id,
        TransactionType.BACKTEST,
        reference,
    )


async def test_a_selected_posting_without_an_account_or_amount_is_refused(
    session: AsyncSession,
) -> None:
    user_id = await add_user(session, credits=10)
    stranger = uuid.uuid4()

    with pytest.raises(ledger.NoCreditAccount) as missing:
        await ledger.post_selected(
            session, _SELECTED, _selected((stranger, 5, TransactionType.PURCHASE, None))
        )
    with pytest.raises(ValueError, match="non-zero"):
        await ledger.post_selected(
            session, _SELECTED, _selected((user_id, 0, TransactionType.PURCHASE, None))
        )

    assert missing.value.user_id == stranger
    assert await ledger.balance_of(session, user_id) == 10


async def test_locking_selected_accounts_reads_each_balance_once(session: AsyncSession) -> None:
    rich = await add_user(session, credits=70)
    poor = await add_user(session)

    balances = await ledger.lock_selected_accounts(
        session,
        "SELECT * FROM unnest(CAST(:users AS uuid[]))",
        {"users": [rich, poor, rich]},
    )

    assert balances == {rich: 70, poor: 0}
    with pytest.raises(ledger.NoCreditAccount):
        await ledger.lock_selected_accounts(
            session, "SELECT CAST(:user AS uuid)", {"user": uuid.uuid4()}
        )
