"""Property tests: random users, tiers, balances and executions, settled through PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from db import ledger
from db.models import Base, Credit, CreditTransaction, Settlement
from settlement import rules, service
from settlement.errors import ConcurrentSettlement
from settlement.scheduled import SettlementJobs
from tests.factories import add_execution, add_strategy, add_user, policy

DAY = dt.date(2026, 11, 20)
NOON = dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC)
POLICY = policy()

users_strategy = st.lists(
    st.tuples(st.integers(0, 3000), st.none() | st.integers(0, 5)), min_size=1, max_size=6
)
trades_strategy = st.lists(
    st.tuples(
        st.integers(0, 5),  # user (modulo the number of users)
        st.integers(0, 3),  # strategy (modulo the number of strategies)
        st.decimals(min_value=Decimal("0.00000001"), max_value=100, places=8),
        st.decimals(min_value=Decimal("0.00000001"), max_value=100_000, places=8),
        st.integers(0, 86_399),
    ),
    min_size=1,
    max_size=25,
)


async def _empty(engine: AsyncEngine) -> None:
    tables = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
    async with engine.begin() as connection:
        await connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


async def _seed(
    sessions: async_sessionmaker[AsyncSession],
    users: list[tuple[int, int | None]],
    strategies: int,
    trades: list[tuple[int, int, Decimal, Decimal, int]],
) -> None:
    """The same rows, ids included, for the same example: step 7 walks in id order."""
    async with sessions() as session:
        ids = [
            await add_user(session, id=uuid.UUID(int=n + 1), credits=c, manual_tier=t)
            for n, (c, t) in enumerate(users)
        ]
        owned = [
            await add_strategy(session, ids[n % len(ids)], id=uuid.UUID(int=1000 + n))
            for n in range(strategies)
        ]
        for user, strategy, amount, price, second in trades:
            await add_execution(
                session,
                user_id=ids[user % len(ids)],
                strategy_id=owned[strategy % len(owned)],
                amount=str(amount),
                price=str(price),
                executed_at=NOON.replace(hour=0) + dt.timedelta(seconds=second),
            )
        await session.commit()


Snapshot = tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], dict[uuid.UUID, int]]


async def _snapshot(sessions: async_sessionmaker[AsyncSession]) -> Snapshot:
    """The day's rows, postings and balances, with settlements named by (user, strategy) rather
    than by their ids, which each run makes afresh."""
    async with sessions() as session:
        rows = (await session.execute(select(Settlement))).scalars().all()
        pair = {s.id: (s.user_id, s.strategy_id) for s in rows}
        settled = [
            (
                s.user_id,
                s.strategy_id,
                s.total_volume,
                s.fee_amount,
                s.fee_credits,
                s.author_fee_credits,
                s.user_tier,
                s.author_tier,
                s.status,
                s.paid_via,
            )
            for s in rows
        ]
        posted = (
            await session.execute(
                select(
                    CreditTransaction.user_id,
                    CreditTransaction.amount,
                    CreditTransaction.balance_after,
                    CreditTransaction.type,
                    CreditTransaction.reference_id,
                ).where(CreditTransaction.type != "PURCHASE")
            )
        ).all()
        balances = {c.user_id: c.balance for c in (await session.scalars(select(Credit))).all()}
    return (
        sorted(settled),
        sorted((*p[:4], pair[p.reference_id]) for p in posted),
        balances,
    )


async def _settle_directly(sessions: async_sessionmaker[AsyncSession]) -> None:
    """One run of the day on a connection of its own, without the scheduler's lock: one that
    meets another's rows gives up as ConcurrentSettlement and keeps nothing."""
    async with sessions() as session:
        try:
            await service.settle_day(session, day_index=rules.day_index_of_date(DAY), policy=POLICY)
        except ConcurrentSettlement:
            await session.rollback()
            return
        await session.commit()


async def _check_invariants(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session:
        assert await ledger.invariant_violations(session) == []
        settlements = {s.id: s for s in (await session.scalars(select(Settlement))).all()}
        postings = (await session.scalars(select(CreditTransaction))).all()
    for settlement in settlements.values():
        assert (
            settlement.author_fee_credits + settlement.platform_fee_credits
            == settlement.fee_credits
        )
    paid_by_posting = set()
    for posting in postings:
        if posting.type == "PURCHASE":
            continue
        settlement = settlements[posting.reference_id]  # every credit has a settlement behind it
        if posting.type == "SETTLEMENT_FEE":
            assert (posting.user_id, -posting.amount) == (
                settlement.user_id,
                settlement.fee_credits,
            )
            paid_by_posting.add(settlement.id)
        else:
            assert (posting.user_id, posting.amount) == (
                settlement.author_id,
                settlement.author_fee_credits,
            )
    for settlement in settlements.values():
        charged = settlement.fee_credits > 0 and settlement.status == "PAID"
        assert charged == (settlement.id in paid_by_posting)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(users=users_strategy, strategies=st.integers(1, 4), trades=trades_strategy)
async def test_a_day_run_twice_or_concurrently_equals_one_run_and_keeps_the_ledger_whole(
    engine: AsyncEngine,
    session_factory: async_sessionmaker[AsyncSession],
    users: list[tuple[int, int | None]],
    strategies: int,
    trades: list[tuple[int, int, Decimal, Decimal, int]],
) -> None:
    await _empty(engine)
    await _seed(session_factory, users, strategies, trades)
    await _settle_directly(session_factory)
    once = await _snapshot(session_factory)
    await _check_invariants(session_factory)
    assert len(once[0]) == len({(u % len(users), s % strategies) for u, s, *_ in trades})

    await _empty(engine)
    await _seed(session_factory, users, strategies, trades)
    jobs = SettlementJobs(session_factory=session_factory, policy=POLICY)
    await asyncio.gather(_settle_directly(session_factory), _settle_directly(session_factory))
    assert await _snapshot(session_factory) == once
    await _check_invariants(session_factory)

    await asyncio.gather(jobs.settle_day(DAY), jobs.settle_day(DAY))
    await _settle_directly(session_factory)
    assert await _snapshot(session_factory) == once
    await _check_invariants(session_factory)
