"""Step 7 on random days: the run collects exactly what settlement.md's walk collects.

The reference walk below is the rule written plainly: in (user, strategy) order, a settlement
is charged when its user's balance (as moved by the walk so far, author shares included)
covers its fee. Authors who also trade make later charges depend on earlier ones.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections import defaultdict
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from db import ledger
from db.enums import TransactionType
from db.models import Base, Credit, Settlement
from settlement import rules, service
from tests.factories import add_execution, add_strategy, add_user, policy
from tests.integration.backends import until_waiting_on_a_lock

DAY = dt.date(2026, 11, 20)
MIDNIGHT = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
POLICY = policy()

people = st.lists(
    st.tuples(st.integers(0, 400), st.none() | st.integers(0, rules.MAX_TIER)),
    min_size=2,
    max_size=6,
)
trades = st.lists(
    st.tuples(
        st.integers(0, 5),  # trader (modulo the number of people)
        st.integers(0, 3),  # strategy (modulo the number of strategies)
        st.decimals(min_value=Decimal("0.01"), max_value=5, places=2),  # amount
        st.decimals(min_value=1, max_value=100, places=2),  # price
    ),
    min_size=1,
    max_size=20,
)


async def _empty(engine: AsyncEngine) -> None:
    tables = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
    async with engine.begin() as connection:
        await connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


def reference_walk(
    balances: dict[uuid.UUID, int],
    tiers: dict[uuid.UUID, int],
    volumes: dict[tuple[uuid.UUID, uuid.UUID], Decimal],
    authors: dict[uuid.UUID, uuid.UUID],
) -> tuple[set[tuple[uuid.UUID, uuid.UUID]], dict[uuid.UUID, int]]:
    balances = dict(balances)
    charged = set()
    for user_id, strategy_id in sorted(volumes):
        author_id = authors[strategy_id]
        fee = rules.daily_fee(
            volume=volumes[user_id, strategy_id],
            user_tier=tiers[user_id],
            author_tier=tiers[author_id],
            user_is_author=user_id == author_id,
            base_fee_bps=POLICY.base_fee_bps,
            credits_per_usdt0=POLICY.credits_per_usdt0,
        )
        if fee.fee_credits == 0 or balances[user_id] < fee.fee_credits:
            continue
        balances[user_id] -= fee.fee_credits
        balances[author_id] += fee.author_fee_credits
        charged.add((user_id, strategy_id))
    return charged, balances


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(people=people, strategies=st.integers(1, 4), trades=trades)
async def test_the_run_collects_what_the_walk_in_user_strategy_order_collects(
    engine: AsyncEngine,
    session_factory: async_sessionmaker[AsyncSession],
    people: list[tuple[int, int | None]],
    strategies: int,
    trades: list[tuple[int, int, Decimal, Decimal]],
) -> None:
    await _empty(engine)
    async with session_factory() as session:
        ids = [await add_user(session, credits=c, manual_tier=t) for c, t in people]
        owned = [
            (ids[n % len(ids)], await add_strategy(session, ids[n % len(ids)]))
            for n in range(strategies)
        ]
        volumes: dict[tuple[uuid.UUID, uuid.UUID], Decimal] = defaultdict(Decimal)
        for second, (trader, strategy, amount, price) in enumerate(trades):
            user_id, (_, strategy_id) = ids[trader % len(ids)], owned[strategy % len(owned)]
            await add_execution(
                session,
                user_id=user_id,
                strategy_id=strategy_id,
                amount=str(amount),
                price=str(price),
                executed_at=MIDNIGHT + dt.timedelta(seconds=second),
            )
            volumes[user_id, strategy_id] += amount * price
        await session.commit()
    charged, balances = reference_walk(
        {user_id: credits for user_id, (credits, _) in zip(ids, people, strict=True)},
        {user_id: tier or 0 for user_id, (_, tier) in zip(ids, people, strict=True)},
        volumes,
        {strategy_id: author_id for author_id, strategy_id in owned},
    )

    async with session_factory() as session:
        await service.settle_day(session, day_index=rules.day_index_of_date(DAY), policy=POLICY)
        await session.commit()

    async with session_factory() as session:
        rows = (await session.scalars(select(Settlement))).all()
        credits = {c.user_id: c.balance for c in (await session.scalars(select(Credit))).all()}
        assert await ledger.invariant_violations(session) == []
    assert {(r.user_id, r.strategy_id) for r in rows} == set(volumes)
    assert {
        (r.user_id, r.strategy_id) for r in rows if r.paid_via == "CREDITS" and r.fee_credits
    } == charged
    assert credits == balances


async def test_an_author_pays_with_a_share_earned_earlier_in_the_walk_not_later(
    session: AsyncSession,
) -> None:
    """Users come in id order: the author whose id is higher than the follower's has earned
    the share by the time their own fee comes up; the one whose id is lower has not."""
    payer = uuid.UUID(int=2)
    later_author, earlier_author = uuid.UUID(int=3), uuid.UUID(int=1)
    await add_user(session, id=payer, credits=10_000)
    payer_strategy = await add_strategy(session, payer)
    for author in (later_author, earlier_author):
        await add_user(session, id=author)
        # 1,000 USDT0 from the payer: a fee of 200 credits, 20 of them to the author ...
        await add_execution(
            session,
            user_id=payer,
            strategy_id=await add_strategy(session, author),
            amount="10",
            price="100",
            executed_at=MIDNIGHT,
        )
        # ... whose own 50 USDT0 on the payer's strategy cost 10 credits.
        await add_execution(
            session,
            user_id=author,
            strategy_id=payer_strategy,
            amount="1",
            price="50",
            executed_at=MIDNIGHT,
        )
    await session.commit()

    await service.settle_day(session, day_index=rules.day_index_of_date(DAY), policy=POLICY)
    await session.commit()

    statuses = {
        row.user_id: row.status
        for row in (await session.scalars(select(Settlement))).all()
        if row.strategy_id == payer_strategy
    }
    assert statuses == {later_author: "PAID", earlier_author: "PENDING"}
    assert await ledger.balance_of(session, later_author) == 10
    assert await ledger.balance_of(session, earlier_author) == 20


async def test_a_run_waits_for_an_api_payment_holding_the_authors_and_users_accounts(
    session: AsyncSession, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    """A user pays yesterday's fee through the API while the run settles today: the run waits
    for the payment's locks and collects from the balances it left (the author is credited by
    both, in the order they committed)."""
    author = await add_user(session)
    trader = await add_user(session)
    strategy = await add_strategy(session, author)
    for day in (-1, 0):
        await add_execution(
            session,
            user_id=trader,
            strategy_id=strategy,
            amount="1",
            price="1000",
            executed_at=MIDNIGHT + dt.timedelta(days=day, hours=12),
        )
    await session.commit()
    today = rules.day_index_of_date(DAY)
    await service.settle_day(session, day_index=today - 1, policy=POLICY)
    await ledger.post(session, user_id=trader, amount=300, type=TransactionType.PURCHASE)
    await session.commit()
    yesterdays = await session.scalar(
        select(Settlement.id).where(Settlement.day_index == today - 1)
    )
    assert yesterdays is not None

    async with session_factory() as api, session_factory() as run:
        await service.pay_settlement_in_credits(api, settlement_id=yesterdays, user_id=trader)
        run_pid = (await run.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        settling = asyncio.create_task(service.settle_day(run, day_index=today, policy=POLICY))
        await until_waiting_on_a_lock(session, run_pid)
        await api.commit()
        report = await settling
        await run.commit()

    # 300 credits paid yesterday's 200; the 100 left do not cover today's 200.
    assert (report.settlements_written, report.settlements_collected) == (1, 0)
    assert await ledger.balance_of(session, trader) == 100
    assert await ledger.balance_of(session, author) == 20
    assert await ledger.invariant_violations(session) == []
