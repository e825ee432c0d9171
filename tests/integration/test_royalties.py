"""Monthly author royalties: computed from the month's clones, paid exactly once."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from structlog.testing import capture_logs

from db import ledger
from db.models import AuthorRoyalty, CreditTransaction, SettlementRun, Template, TemplateClone
from settlement import service
from settlement.errors import RoyaltyNotPayable
from settlement.runs import Outcome, RunResult
from settlement.scheduled import SettlementJobs
from tests.factories import add_strategy, add_user, policy

POLICY = policy()
MANUAL = policy(royalty_auto_pay=False)


async def add_clones(
    session: AsyncSession, author: uuid.UUID, prices: list[int], when: dt.datetime
) -> None:
    strategy = await add_strategy(session, author)
    template = (
        await session.execute(
            insert(Template)
            .values(strategy_id=strategy, author_id=author, name="t", price_credits=prices[0])
            .returning(Template.id)
        )
    ).scalar_one()
    for price in prices:
        cloner = await add_user(session)
        await session.execute(
            insert(TemplateClone).values(
                template_id=template,
                author_id=author,
                cloner_id=cloner,
                price_credits=price,
                created_at=when,
            )
        )


async def royalty_postings(session: AsyncSession) -> list[tuple[uuid.UUID, int]]:
    rows = await session.execute(
        select(CreditTransaction.user_id, CreditTransaction.amount).where(
            CreditTransaction.type == "ROYALTY"
        )
    )
    return sorted((row.user_id, row.amount) for row in rows)


async def test_the_monthly_run_writes_each_authors_royalty_and_pays_it_once(
    session: AsyncSession, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    top_author = await add_user(session, manual_tier=5)
    plain_author = await add_user(session)
    october = dt.datetime(2026, 10, 15, tzinfo=dt.UTC)
    await add_clones(session, top_author, [500, 499], october)
    await add_clones(session, plain_author, [99], october)
    await add_clones(session, plain_author, [1000], dt.datetime(2026, 11, 1, tzinfo=dt.UTC))
    await session.commit()
    jobs = SettlementJobs(session_factory=session_factory, policy=POLICY)

    created, paid = await jobs.settle_month(2026, 10)
    again = await jobs.settle_month(2026, 10)

    assert isinstance(created, RunResult) and created.outcome is Outcome.DONE
    assert paid == 199 + 9
    assert isinstance(again[0], RunResult) and again[0].outcome is Outcome.ALREADY_DONE
    assert again[1] == 0
    royalties = {r.author_id: r for r in (await session.scalars(select(AuthorRoyalty))).all()}
    top, plain = royalties[top_author], royalties[plain_author]
    assert (top.total_clones, top.total_revenue_credits, top.royalty_rate_bps) == (2, 999, 2000)
    assert (top.royalty_amount_credits, top.status) == (199, "PAID")
    assert (plain.total_clones, plain.royalty_amount_credits, plain.status) == (1, 9, "PAID")
    assert await royalty_postings(session) == sorted([(top_author, 199), (plain_author, 9)])
    assert await ledger.invariant_violations(session) == []


async def test_preview_writes_nothing_and_manual_pay_pays_exactly_once(
    session: AsyncSession, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    author = await add_user(session)
    await add_clones(session, author, [250], dt.datetime(2026, 9, 30, 23, tzinfo=dt.UTC))
    await session.commit()

    [line] = await service.preview_royalties(session, year=2026, month=9, policy=MANUAL)
    assert (line.author_id, line.royalty_amount_credits) == (author, 25)
    assert (await session.scalars(select(AuthorRoyalty))).all() == []

    await SettlementJobs(session_factory=session_factory, policy=MANUAL).settle_month(2026, 9)
    royalty = await session.scalar(select(AuthorRoyalty))
    assert royalty is not None and royalty.status == "PENDING"
    assert await service.pay_royalty(session, royalty_id=royalty.id) == 25
    await session.commit()
    with pytest.raises(RoyaltyNotPayable):
        await service.pay_royalty(session, royalty_id=royalty.id)
    await session.rollback()
    assert await royalty_postings(session) == [(author, 25)]


async def test_a_cancelled_royalty_is_never_paid(
    session: AsyncSession, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    author = await add_user(session)
    await add_clones(session, author, [300], dt.datetime(2026, 8, 2, tzinfo=dt.UTC))
    await session.commit()
    await SettlementJobs(session_factory=session_factory, policy=MANUAL).settle_month(2026, 8)
    royalty = await session.scalar(select(AuthorRoyalty))
    assert royalty is not None

    await service.cancel_royalty(session, royalty_id=royalty.id)
    await session.commit()

    assert (
        await SettlementJobs(session_factory=session_factory, policy=POLICY).pay_month(2026, 8) == 0
    )
    with pytest.raises(RoyaltyNotPayable):
        await service.pay_royalty(session, royalty_id=royalty.id)
    assert await royalty_postings(session) == []


async def test_batch_pay_pays_every_pending_royalty_of_the_month_once(
    session: AsyncSession, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    first, second = await add_user(session), await add_user(session)
    july = dt.datetime(2026, 7, 9, tzinfo=dt.UTC)
    await add_clones(session, first, [100, 100], july)
    await add_clones(session, second, [50], july)
    await session.commit()
    await SettlementJobs(session_factory=session_factory, policy=MANUAL).settle_month(2026, 7)

    assert await service.batch_pay_royalties(session, year=2026, month=7) == 20 + 5
    await session.commit()
    assert await service.batch_pay_royalties(session, year=2026, month=7) == 0
    assert await royalty_postings(session) == sorted([(first, 20), (second, 5)])


async def test_a_royalty_paid_elsewhere_after_this_session_read_it_is_neither_cancelled_nor_paid(
    session: AsyncSession, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    author = await add_user(session)
    await add_clones(session, author, [300], dt.datetime(2026, 6, 2, tzinfo=dt.UTC))
    await session.commit()
    await SettlementJobs(session_factory=session_factory, policy=MANUAL).settle_month(2026, 6)
    royalty = await session.scalar(select(AuthorRoyalty))
    assert royalty is not None and royalty.status == "PENDING"

    async with session_factory() as another_admin:
        await service.pay_royalty(another_admin, royalty_id=royalty.id)
        await another_admin.commit()

    with pytest.raises(RoyaltyNotPayable):
        await service.cancel_royalty(session, royalty_id=royalty.id)
    with pytest.raises(RoyaltyNotPayable):
        await service.pay_royalty(session, royalty_id=royalty.id)
    await session.rollback()
    assert (await session.scalar(select(AuthorRoyalty.status))) == "PAID"
    assert await royalty_postings(session) == [(author, 30)]


async def test_without_a_start_day_last_month_is_still_caught_up_after_the_first(
    session: AsyncSession, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    """A daemon that was down on the 1st settles last month when it comes back on the 3rd."""
    author = await add_user(session)
    await add_clones(session, author, [400], dt.datetime(2026, 10, 20, tzinfo=dt.UTC))
    await session.commit()
    on_the_third = dt.datetime(2026, 11, 3, 9, tzinfo=dt.UTC)
    jobs = SettlementJobs(
        session_factory=session_factory, policy=POLICY, clock=lambda: on_the_third
    )

    created, paid = await jobs.catch_up_months()

    assert isinstance(created, RunResult) and created.period == "2026-10"
    assert created.outcome is Outcome.DONE and paid == 40


async def test_december_royalties_count_the_last_moment_of_the_year_and_not_new_years_day(
    session: AsyncSession, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    author = await add_user(session)
    new_year = dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
    await add_clones(session, author, [100], new_year - dt.timedelta(microseconds=1))
    await add_clones(session, author, [100], dt.datetime(2026, 12, 1, tzinfo=dt.UTC))
    await add_clones(session, author, [999], new_year)
    await add_clones(session, author, [0], dt.datetime(2026, 11, 30, 23, 59, tzinfo=dt.UTC))
    await session.commit()
    on_new_years_day = new_year + dt.timedelta(hours=2)
    jobs = SettlementJobs(
        session_factory=session_factory,
        policy=POLICY,
        start_day=dt.date(2026, 11, 1),
        clock=lambda: on_new_years_day,
    )

    results = await jobs.catch_up_months()

    periods = [r.period for r in results if isinstance(r, RunResult)]
    assert periods == ["2026-11", "2026-12"]
    royalties = {
        (r.year, r.month): r
        for r in (await session.scalars(select(AuthorRoyalty).order_by(AuthorRoyalty.month)))
    }
    assert set(royalties) == {(2026, 11), (2026, 12)}
    december = royalties[2026, 12]
    assert (december.total_clones, december.total_revenue_credits) == (2, 200)
    assert (december.royalty_amount_credits, december.status) == (20, "PAID")
    # A month of free clones earns a royalty of 0: PAID with no posting.
    november = royalties[2026, 11]
    assert (november.total_clones, november.royalty_amount_credits, november.status) == (
        1,
        0,
        "PAID",
    )
    assert await royalty_postings(session) == [(author, 20)]


async def test_the_monthly_runs_record_says_what_it_wrote_and_nothing_it_did_not_do(
    session: AsyncSession, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    """Creating writes the rows; paying (auto-pay) is reported apart, so the run's figures
    must not claim that nothing was paid."""
    author = await add_user(session)
    await add_clones(session, author, [500], dt.datetime(2026, 5, 5, tzinfo=dt.UTC))
    await session.commit()

    created, paid = await SettlementJobs(
        session_factory=session_factory, policy=POLICY
    ).settle_month(2026, 5)

    assert isinstance(created, RunResult) and paid == 50
    assert created.figures == {"month": "2026-05", "royalties_written": 1}
    run = await session.scalar(select(SettlementRun))
    assert run is not None and run.figures == created.figures


async def test_an_author_who_cannot_be_paid_does_not_hold_up_the_others(
    session: AsyncSession, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    """Each author is paid in a transaction of their own: one whose credit account is missing
    (damage: a trigger makes one with every user) stays PENDING, logged, and the rest are paid."""
    authors = sorted([await add_user(session) for _ in range(3)])
    for author in authors:
        await add_clones(session, author, [100], dt.datetime(2026, 4, 4, tzinfo=dt.UTC))
    damaged = authors[0]
    await session.execute(text("DELETE FROM credits WHERE user_id = :id"), {"id": damaged})
    await session.commit()

    with capture_logs() as logs:
        created, paid = await SettlementJobs(
            session_factory=session_factory, policy=POLICY
        ).settle_month(2026, 4)

    assert isinstance(created, RunResult) and created.outcome is Outcome.DONE
    assert paid == 20
    statuses = {r.author_id: r.status for r in (await session.scalars(select(AuthorRoyalty)))}
    assert statuses == {damaged: "PENDING", authors[1]: "PAID", authors[2]: "PAID"}
    [error] = [e for e in logs if e["log_level"] == "error"]
    assert error["event"] == "paying a royalty failed; it stays PENDING"
    assert str(damaged) in error["error"]
