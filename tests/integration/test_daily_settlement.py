"""Daily settlement of a day through the real database, as the scheduler runs it."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import uuid
from decimal import Decimal
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from web3 import AsyncWeb3

from db import ledger
from db.enums import RunKind
from db.models import (
    CreditTransaction,
    DayCommit,
    Execution,
    Settlement,
    SettlementRun,
    StrategyRegistration,
    User,
)
from settlement import proofs, rules, service
from settlement.errors import ConcurrentSettlement
from settlement.merkle import ExecutionLeaf, day_tree
from settlement.onchain import Relayer
from settlement.runs import Outcome, run_once, try_lock
from settlement.scheduled import SettlementJobs
from tests.factories import add_execution, add_follower_trade, add_strategy, add_user, policy
from tests.integration.backends import until_waiting_on_a_lock

DAY = dt.date(2026, 11, 20)
NOON = dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC)
POLICY = policy()
HALF_HOUR = dt.timedelta(minutes=30)
ONE_HOUR = dt.timedelta(hours=1)
ONE_SECOND = dt.timedelta(seconds=1)


def jobs_for(
    session_factory: async_sessionmaker[AsyncSession], **overrides: object
) -> SettlementJobs:
    return SettlementJobs(session_factory=session_factory, policy=POLICY, **overrides)  # type: ignore[arg-type]


async def trades_daily(
    session: AsyncSession, *, days: int, credits: int, first: dt.datetime = NOON
) -> None:
    """A follower with `credits` fills 1 at 1,000 on an author's strategy at `first` and at the
    same time on each of the next `days` - 1 days (committed)."""
    author = await add_user(session)
    follower = await add_user(session, credits=credits)
    strategy = await add_strategy(session, author)
    for day in range(days):
        await add_execution(
            session,
            user_id=follower,
            strategy_id=strategy,
            amount="1",
            price="1000",
            executed_at=first + dt.timedelta(days=day),
        )
    await session.commit()


async def settlement_rows(session: AsyncSession) -> list[Settlement]:
    return list((await session.scalars(select(Settlement).order_by(Settlement.user_id))).all())


async def postings(session: AsyncSession) -> list[tuple[uuid.UUID, int, str]]:
    rows = await session.execute(
        select(CreditTransaction.user_id, CreditTransaction.amount, CreditTransaction.type).where(
            CreditTransaction.type != "PURCHASE"
        )
    )
    return sorted((row.user_id, row.amount, row.type) for row in rows)


async def test_a_day_is_settled_collected_and_paid_to_the_author(
    session: AsyncSession, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    author = await add_user(session, manual_tier=5)
    follower = await add_user(session, credits=1000, manual_tier=3)
    strategy = await add_strategy(session, author)
    # 10 × 60 + 4 × 100 = 1,000 USDT0 of volume inside the day; the rest must not count.
    await add_execution(
        session,
        user_id=follower,
        strategy_id=strategy,
        amount="10",
        price="60",
        executed_at=NOON,
    )
    await add_execution(
        session,
        user_id=follower,
        strategy_id=strategy,
        amount="4",
        price="100",
        executed_at=NOON.replace(hour=23, minute=59),
        side="SELL",
    )
    await add_execution(
        session,
        user_id=follower,
        strategy_id=strategy,
        amount="5",
        price="100",
        executed_at=NOON + dt.timedelta(days=1),
    )
    await add_execution(
        session,
        user_id=follower,
        strategy_id=strategy,
        amount="5",
        price="100",
        executed_at=NOON,
        status="PENDING",
    )
    await session.commit()

    result = await jobs_for(session_factory).settle_day(DAY)

    assert result.outcome is Outcome.DONE
    assert result.figures["settlements_written"] == 1
    [row] = await settlement_rows(session)
    assert row.day_index == rules.day_index_of_date(DAY)
    assert (row.total_volume, row.fee_amount) == (Decimal("1000"), Decimal("1.4"))
    assert (row.fee_credits, row.author_fee_credits, row.platform_fee_credits) == (140, 28, 112)
    assert (row.user_tier, row.author_tier, row.discount_bps) == (3, 5, 3000)
    assert (row.status, row.paid_via) == ("PAID", "CREDITS")
    assert await postings(session) == sorted(
        [(follower, -140, "SETTLEMENT_FEE"), (author, 28, "AUTHOR_FEE")]
    )
    assert await ledger.balance_of(session, follower) == 860
    assert await ledger.invariant_violations(session) == []


async def test_a_balance_that_does_not_cover_the_fee_leaves_the_settlement_pending(
    session: AsyncSession, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    author = await add_user(session)
    follower = await add_follower_trade(session, author=author, executed_at=NOON, credits=199)
    await session.commit()

    await jobs_for(session_factory).settle_day(DAY)

    [row] = await settlement_rows(session)
    assert (row.fee_credits, row.status, row.paid_at) == (200, "PENDING", None)
    assert await postings(session) == []
    assert await ledger.balance_of(session, follower) == 199


async def test_a_run_gives_the_callers_transaction_back_its_planner_settings(
    session: AsyncSession,
) -> None:
    author = await add_user(session)
    await add_follower_trade(session, author=author, executed_at=NOON, credits=1000)
    settings = ("jit", "enable_memoize", "work_mem")
    show = text("SELECT current_setting(name) FROM unnest(CAST(:names AS text[])) AS s(name)")
    await session.execute(text("SET LOCAL work_mem = '5MB'"))
    before = (await session.scalars(show, {"names": settings})).all()

    report = await service.settle_day(
        session, day_index=rules.day_index_of_date(DAY), policy=POLICY
    )

    assert report.settlements_written == 1
    assert (await session.scalars(show, {"names": settings})).all() == before
    assert before[2] == "5MB"


async def test_a_zero_fee_settlement_is_written_and_paid_without_postings(
    session: AsyncSession, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    author = await add_user(session)
    await add_follower_trade(session, author=author, executed_at=NOON, amount="0.5", price="5")
    await session.commit()

    await jobs_for(session_factory).settle_day(DAY)

    [row] = await settlement_rows(session)
    assert (row.total_volume, row.fee_credits, row.status) == (Decimal("2.5"), 0, "PAID")
    assert await postings(session) == []


async def test_the_author_trading_their_own_strategy_pays_only_the_platform(
    session: AsyncSession, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    author = await add_user(session, credits=500)
    strategy = await add_strategy(session, author)
    await add_execution(
        session,
        user_id=author,
        strategy_id=strategy,
        amount="1",
        price="1000",
        executed_at=NOON,
    )
    await session.commit()

    await jobs_for(session_factory).settle_day(DAY)

    [row] = await settlement_rows(session)
    assert (row.author_fee_credits, row.platform_fee_credits) == (0, 200)
    assert await postings(session) == [(author, -200, "SETTLEMENT_FEE")]


async def test_each_strategy_gets_the_merkle_root_of_its_days_executions(
    session: AsyncSession, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    author = await add_user(session)
    follower = await add_user(session)
    strategy = await add_strategy(session, author)
    for hour in (1, 2, 3):
        await add_execution(
            session,
            user_id=follower,
            strategy_id=strategy,
            amount="1.5",
            price=f"{hour}00",
            executed_at=NOON.replace(hour=hour),
        )
    await session.commit()

    await jobs_for(session_factory).settle_day(DAY)

    executions = (await session.scalars(select(Execution))).all()
    expected = day_tree(
        [
            ExecutionLeaf(
                execution_id=e.id,
                user_id=e.user_id,
                side=e.side,
                amount=e.amount,
                executed_price=e.executed_price,  # type: ignore[arg-type]
                executed_at=e.executed_at,  # type: ignore[arg-type]
            )
            for e in executions
        ]
    )
    [commit] = (await session.scalars(select(DayCommit))).all()
    assert (commit.strategy_id, commit.merkle_root, commit.leaf_count) == (
        strategy,
        expected.root,
        3,
    )
    assert commit.total_volume == Decimal("900")


async def test_running_a_day_again_posts_nothing_and_writes_nothing(
    session: AsyncSession, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    author = await add_user(session)
    await add_follower_trade(session, author=author, executed_at=NOON, credits=1000)
    await session.commit()
    jobs = jobs_for(session_factory)
    await jobs.settle_day(DAY)
    before = (await settlement_rows(session), await postings(session))

    again = await jobs.settle_day(DAY)
    async with session_factory() as direct:
        report = await service.settle_day(
            direct, day_index=rules.day_index_of_date(DAY), policy=POLICY
        )
        await direct.commit()

    assert again.outcome is Outcome.ALREADY_DONE
    assert (report.settlements_written, report.credits_collected) == (0, 0)
    session.expire_all()
    assert [r.id for r in await settlement_rows(session)] == [r.id for r in before[0]]
    assert await postings(session) == before[1]


async def test_two_concurrent_runs_of_a_day_settle_it_once(
    session: AsyncSession, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    author = await add_user(session)
    followers = [await add_user(session, credits=1000) for _ in range(5)]
    strategy = await add_strategy(session, author)
    for follower in followers:
        await add_execution(
            session,
            user_id=follower,
            strategy_id=strategy,
            amount="1",
            price="1000",
            executed_at=NOON,
        )
    await session.commit()

    results = await asyncio.gather(
        jobs_for(session_factory).settle_day(DAY), jobs_for(session_factory).settle_day(DAY)
    )

    assert sorted(r.outcome for r in results) in (
        sorted([Outcome.DONE, Outcome.BUSY]),
        sorted([Outcome.DONE, Outcome.ALREADY_DONE]),
    )
    assert len(await settlement_rows(session)) == 5
    assert len(await postings(session)) == 10
    assert await ledger.invariant_violations(session) == []


async def test_a_direct_run_racing_another_writer_fails_as_concurrent_and_keeps_nothing(
    session: AsyncSession, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    """Without the scheduler's advisory lock: the second run computed the day before the
    first committed, so it meets the first's settlements when it writes its own."""
    author = await add_user(session)
    await add_follower_trade(session, author=author, executed_at=NOON, credits=1000)
    await session.commit()
    day_index = rules.day_index_of_date(DAY)

    async with session_factory() as first, session_factory() as second:
        await service.settle_day(first, day_index=day_index, policy=POLICY)
        second_pid = (await second.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        racing = asyncio.create_task(service.settle_day(second, day_index=day_index, policy=POLICY))
        await until_waiting_on_a_lock(session, second_pid)
        await first.commit()
        with pytest.raises(ConcurrentSettlement):
            await racing
        await second.rollback()

    session.expire_all()
    assert len(await settlement_rows(session)) == 1
    assert sorted(amount for _, amount, _ in await postings(session)) == [-200, 20]
    assert await ledger.invariant_violations(session) == []


async def test_pending_settlements_older_than_the_expiry_fail(
    session: AsyncSession, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    author = await add_user(session)
    await add_follower_trade(session, author=author, executed_at=NOON)
    await session.commit()
    await jobs_for(session_factory).settle_day(DAY)

    on_day_seven = jobs_for(session_factory, clock=lambda: NOON + dt.timedelta(days=7))
    on_day_eight = jobs_for(session_factory, clock=lambda: NOON + dt.timedelta(days=8))

    assert await on_day_seven.expire() == 0
    assert await on_day_eight.expire() == 1
    session.expire_all()
    [row] = await settlement_rows(session)
    assert row.status == "FAILED"


async def test_a_day_is_not_settled_before_one_in_the_morning_so_late_fills_still_count(
    session: AsyncSession, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    next_midnight = dt.datetime.combine(DAY + dt.timedelta(days=1), dt.time(0), dt.UTC)
    await trades_daily(session, days=1, credits=1_000, first=next_midnight - ONE_SECOND)

    before = jobs_for(session_factory, start_day=DAY, clock=lambda: next_midnight + HALF_HOUR)
    assert await before.catch_up_days() == []
    on_time = jobs_for(session_factory, start_day=DAY, clock=lambda: next_midnight + ONE_HOUR)
    [result] = await on_time.catch_up_days()

    assert (result.period, result.outcome) == (DAY.isoformat(), Outcome.DONE)
    [row] = await settlement_rows(session)
    assert row.total_volume == Decimal("1000")


async def test_catch_up_settles_a_seven_day_gap_once_each_oldest_first(
    session: AsyncSession, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    await trades_daily(session, days=7, credits=10_000)
    now = NOON + dt.timedelta(days=7)

    first, second = (jobs_for(session_factory, start_day=DAY, clock=lambda: now) for _ in range(2))
    results = await asyncio.gather(first.catch_up_days(), second.catch_up_days())

    done = [r.period for batch in results for r in batch if r.outcome is Outcome.DONE]
    assert sorted(done) == [(DAY + dt.timedelta(days=n)).isoformat() for n in range(7)]
    for batch in results:
        periods = [r.period for r in batch]
        assert periods == sorted(periods)
    runs = (await session.scalars(select(SettlementRun.period))).all()
    assert sorted(runs) == sorted(done)
    # Oldest first across both schedulers too: each day finished before the next one started.
    in_order = (await session.scalars(select(SettlementRun).order_by(SettlementRun.period))).all()
    for earlier, later in itertools.pairwise(in_order):
        assert earlier.finished_at is not None and earlier.finished_at <= later.started_at
    assert len(await settlement_rows(session)) == 7
    assert len(await postings(session)) == 14
    assert await jobs_for(session_factory, start_day=DAY, clock=lambda: now).catch_up_days() == []


async def test_a_failed_run_is_recorded_and_retried_by_the_next_catch_up(
    session: AsyncSession, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    broken = SettlementJobs(
        session_factory=session_factory,
        policy=policy(blockchain_enabled=True),
    )
    result = await broken.settle_day(DAY)
    assert result.outcome is Outcome.FAILED
    assert "not final" in (result.error or "")
    status = await session.scalar(select(SettlementRun.status))
    assert status == "FAILED"

    assert (await jobs_for(session_factory).settle_day(DAY)).outcome is Outcome.DONE


async def test_manual_tier_overrides_and_defaults_to_zero(
    session: AsyncSession,
) -> None:
    plain = await add_user(session)
    promoted = await add_user(session, manual_tier=4)
    tiers = await service.tiers_at(session, user_ids=[plain, promoted], end=NOON, policy=POLICY)
    assert tiers == {plain: 0, promoted: 4}
    await session.execute(update(User).where(User.id == promoted).values(manual_tier=None))
    assert await service.tiers_at(session, user_ids=[promoted], end=NOON, policy=POLICY) == {
        promoted: 0
    }


async def test_catch_up_stops_at_a_day_another_process_is_settling_instead_of_going_past_it(
    session: AsyncSession, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    """Step 7 depends on the balances earlier days left: a replica that skipped the day another
    one is settling and settled the next day first would charge the days in the wrong order."""
    await trades_daily(session, days=2, credits=200)
    now = NOON + dt.timedelta(days=2)
    jobs = jobs_for(session_factory, start_day=DAY, clock=lambda: now)

    async with session_factory() as other_replica:
        assert await try_lock(other_replica, "settlement", RunKind.DAILY.value, DAY.isoformat())
        while_busy = await jobs.catch_up_days()
        await other_replica.rollback()
    afterwards = await jobs.catch_up_days()

    assert [(r.period, r.outcome) for r in while_busy] == [(DAY.isoformat(), Outcome.BUSY)]
    assert [r.outcome for r in afterwards] == [Outcome.DONE, Outcome.DONE]
    session.expire_all()
    rows = (await session.scalars(select(Settlement).order_by(Settlement.day_index))).all()
    assert [(r.day_index - rules.day_index_of_date(DAY), r.status) for r in rows] == [
        (0, "PAID"),
        (1, "PENDING"),
    ]


async def test_an_execution_at_midnight_belongs_to_the_day_it_starts(
    session: AsyncSession, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    """Day D is [D·86400, (D+1)·86400): the last microsecond before midnight is D's (its leaf
    keeps the whole second, 23:59:59), midnight itself is the next day's."""
    author = await add_user(session)
    follower = await add_user(session, credits=10_000)
    strategy = await add_strategy(session, author)
    midnight = dt.datetime(2026, 11, 21, tzinfo=dt.UTC)
    last_moment = await add_execution(
        session,
        user_id=follower,
        strategy_id=strategy,
        amount="1",
        price="1000",
        executed_at=midnight - dt.timedelta(microseconds=1),
    )
    await add_execution(
        session,
        user_id=follower,
        strategy_id=strategy,
        amount="2",
        price="1000",
        executed_at=midnight,
    )
    await session.commit()
    jobs = jobs_for(session_factory)

    await jobs.settle_day(DAY)
    await jobs.settle_day(DAY + dt.timedelta(days=1))

    rows = (await session.scalars(select(Settlement).order_by(Settlement.day_index))).all()
    assert [(r.day_index, r.total_volume) for r in rows] == [
        (rules.day_index_of_date(DAY), Decimal(1000)),
        (rules.day_index_of_date(DAY) + 1, Decimal(2000)),
    ]
    commits = (await session.scalars(select(DayCommit).order_by(DayCommit.day_index))).all()
    assert [c.leaf_count for c in commits] == [1, 1]
    execution = await session.get_one(Execution, last_moment)
    proof = await proofs.proof_of(session, execution=execution)
    assert (proof.day_index, proof.root) == (rules.day_index_of_date(DAY), commits[0].merkle_root)
    assert proof.leaf_values[-1] == str(int(midnight.timestamp()) - 1)


async def test_a_run_records_when_it_started_and_when_it_finished(
    session: AsyncSession, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    async def slow_work(_: AsyncSession) -> dict[str, Any]:
        await asyncio.sleep(0.3)
        return {}

    before = dt.datetime.now(dt.UTC)
    result = await run_once(
        session_factory, kind=RunKind.DAILY, period="2026-11-20", work=slow_work
    )

    run = await session.scalar(select(SettlementRun))
    assert result.outcome is Outcome.DONE and run is not None and run.finished_at is not None
    assert before <= run.started_at
    assert run.finished_at - run.started_at >= dt.timedelta(seconds=0.3)


async def test_a_user_without_a_credit_account_fails_the_day_loudly_and_writes_nothing(
    session: AsyncSession, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    """Every user gets an account with their row (a trigger), so a missing one is damage: the
    run stops with a reason naming the user instead of settling around it, and the next
    catch-up retries once the account is back."""
    author = await add_user(session)
    follower = await add_follower_trade(session, author=author, executed_at=NOON)
    await session.execute(text("DELETE FROM credits WHERE user_id = :id"), {"id": follower})
    await session.commit()
    jobs = jobs_for(session_factory)

    failed = await jobs.settle_day(DAY)

    assert failed.outcome is Outcome.FAILED
    assert failed.error == f"NoCreditAccount: user {follower} has no credit account"
    assert await settlement_rows(session) == []
    await session.execute(text("INSERT INTO credits (user_id) VALUES (:id)"), {"id": follower})
    await session.commit()
    assert (await jobs.settle_day(DAY)).outcome is Outcome.DONE
    [row] = await settlement_rows(session)
    assert row.status == "PENDING"


async def test_a_node_answering_with_an_http_error_leaves_the_roots_unsent_and_the_catch_up_going(
    session: AsyncSession, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    """A relay failure must never stop settling: here the node's gateway answers 502."""

    async def bad_gateway(_: web.Request) -> web.Response:
        return web.Response(status=502, text="bad gateway")

    application = web.Application()
    application.router.add_post("/", bad_gateway)
    runner = web.AppRunner(application)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    node = AsyncWeb3(AsyncWeb3.AsyncHTTPProvider(f"http://127.0.0.1:{port}"))
    author = await add_user(session)
    follower = await add_user(session, credits=1000)
    strategy = await add_strategy(session, author)
    await session.execute(
        insert(StrategyRegistration).values(
            strategy_id=strategy,
            author_id=author,
            metadata_uri="ipfs://relayed",
            onchain_strategy_id=5,
            status="REGISTERED",
        )
    )
    for day in range(2):
        await add_execution(
            session,
            user_id=follower,
            strategy_id=strategy,
            amount="1",
            price="1000",
            executed_at=NOON + dt.timedelta(days=day),
        )
    await session.commit()
    jobs = jobs_for(
        session_factory,
        start_day=DAY,
        clock=lambda: NOON + dt.timedelta(days=2),
        relayer=Relayer(node, "0x" + "22" * 20, "0x" + "33" * 32),
    )
    try:
        results = await jobs.catch_up_days()
    finally:
        await node.provider.disconnect()
        await runner.cleanup()

    assert [r.outcome for r in results] == [Outcome.DONE, Outcome.DONE]
    commits = (await session.scalars(select(DayCommit))).all()
    assert [c.onchain_tx_hash for c in commits] == [None, None]
