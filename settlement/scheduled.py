"""The settlement jobs, their catch-up, and the APScheduler that fires them (settlement.md).

Daily at 01:00 UTC for yesterday, monthly at 02:00 UTC on the 1st for last month, the expiry
sweep hourly. Each tick first catches up every unfinished period since SETTLEMENT_START_DAY
whose run time has come, oldest first, so a daemon that was down for a week settles the week.
A day is not settled before 01:00 the next day (nor a month before 02:00 on the 1st), whichever
tick comes first: fills of the day's last minutes reported after midnight still count, where a
day settled at once would refuse them (a fill dated in a settled day is 409).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from web3.exceptions import Web3Exception

from db import ledger
from db.enums import RunKind
from db.uow import UnitOfWork
from settlement import onchain, rules, service
from settlement.errors import RoyaltyNotPayable
from settlement.onchain import Relayer
from settlement.runs import Outcome, RunResult, done_periods, run_once, try_lock

log = structlog.get_logger("gr8d.settlement")

Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def month_period(year: int, month: int) -> str:
    return f"{year:04d}-{month:02d}"


def parse_month(period: str) -> tuple[int, int]:
    year, month = period.split("-")
    return int(year), int(month)


# settlement.md: day D runs at 01:00 UTC on D + 1, month M at 02:00 UTC on the 1st of M + 1.
DAILY_RUN_TIME = dt.time(1, 0)
MONTHLY_RUN_TIME = dt.time(2, 0)


def settling_date(now: dt.datetime, run_time: dt.time) -> dt.date:
    """The date whose earlier periods are due at `now`: today once `run_time` (UTC) has come,
    yesterday before it."""
    since_midnight = dt.timedelta(hours=run_time.hour, minutes=run_time.minute)
    return (now.astimezone(dt.UTC) - since_midnight).date()


def days_to_settle(start: dt.date, today: dt.date) -> list[dt.date]:
    """Every day from `start` up to the day before `today`, oldest first."""
    return [start + dt.timedelta(days=n) for n in range((today - start).days)]


def months_to_settle(start: dt.date, today: dt.date) -> list[str]:
    """Every month from `start`'s month up to the one before `today`'s, oldest first."""
    months = []
    year, month = start.year, start.month
    while (year, month) < (today.year, today.month):
        months.append(month_period(year, month))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


@dataclass
class SettlementJobs:
    session_factory: async_sessionmaker[AsyncSession]
    policy: service.Policy
    start_day: dt.date | None = None
    clock: Clock = field(default=utc_now)
    relayer: Relayer | None = None

    async def settle_day(self, day: dt.date) -> RunResult:
        day_index = rules.day_index_of_date(day)

        async def work(session: AsyncSession) -> dict[str, Any]:
            report = await service.settle_day(session, day_index=day_index, policy=self.policy)
            return report.figures()

        result = await run_once(
            self.session_factory, kind=RunKind.DAILY, period=day.isoformat(), work=work
        )
        if result.outcome in (Outcome.DONE, Outcome.ALREADY_DONE):
            await self.relay_day(day_index)
        return result

    async def relay_day(self, day_index: int) -> int:
        """Send the day's unsent roots on chain, in a transaction of its own: a chain failure
        never undoes a settlement, and the next tick tries again."""
        if self.relayer is None:
            return 0
        async with UnitOfWork(self.session_factory) as uow:
            try:
                sent = await onchain.commit_day_roots(
                    uow.session,
                    w3=self.relayer.w3,
                    decision_history_address=self.relayer.decision_history,
                    relayer_private_key=self.relayer.private_key,
                    day_index=day_index,
                )
            # aiohttp's own errors too: a node (or its gateway) answering with an HTTP error
            # status is raised by web3's provider as aiohttp.ClientResponseError.
            except (
                onchain.OnchainCommitFailed,
                Web3Exception,
                aiohttp.ClientError,
                OSError,
                TimeoutError,
            ) as error:
                log.error("relaying day roots failed", day_index=day_index, error=str(error))
                return 0
            await uow.commit()
        return sent

    async def settle_month(self, year: int, month: int) -> list[RunResult | int]:
        """Create the month's royalties once; with ROYALTY_AUTO_PAY pay each pending one."""

        async def work(session: AsyncSession) -> dict[str, Any]:
            report = await service.create_royalties(
                session, year=year, month=month, policy=self.policy
            )
            return report.figures()

        created = await run_once(
            self.session_factory,
            kind=RunKind.ROYALTY,
            period=month_period(year, month),
            work=work,
        )
        if not self.policy.royalty_auto_pay or created.outcome not in (
            Outcome.DONE,
            Outcome.ALREADY_DONE,
        ):
            return [created]
        return [created, await self.pay_month(year, month)]

    async def pay_month(self, year: int, month: int) -> int:
        """Pay the month's PENDING royalties, one transaction per author; returns credits."""
        async with self.session_factory() as session:
            pending = await service.pending_royalty_ids(session, year=year, month=month)
        paid = 0
        for royalty_id in pending:
            async with UnitOfWork(self.session_factory) as uow:
                try:
                    paid += await service.pay_royalty(uow.session, royalty_id=royalty_id)
                except RoyaltyNotPayable:
                    continue
                except ledger.LedgerError as refused:
                    # One author's refusal must not keep the others unpaid; the next tick
                    # tries this one again.
                    log.error(
                        "paying a royalty failed; it stays PENDING",
                        royalty_id=str(royalty_id),
                        error=f"{type(refused).__name__}: {refused}",
                    )
                    continue
                await uow.commit()
        return paid

    async def expire(self) -> int:
        async with UnitOfWork(self.session_factory) as uow:
            if not await try_lock(uow.session, "settlement", "expiry"):
                return 0
            expired = await service.expire_pending(
                uow.session, today=self.clock().date(), policy=self.policy
            )
            await uow.commit()
        if expired:
            log.info("expired pending settlements", count=expired)
        return expired

    def _first_day(self, today: dt.date) -> dt.date:
        return self.start_day or today - dt.timedelta(days=1)

    def _first_month_day(self, today: dt.date) -> dt.date:
        """Without a start day, last month: not only on the 1st (yesterday's month), or a
        daemon down on the 1st would never settle it."""
        return self.start_day or (today.replace(day=1) - dt.timedelta(days=1)).replace(day=1)

    async def catch_up_days(self) -> list[RunResult]:
        today = settling_date(self.clock(), DAILY_RUN_TIME)
        async with self.session_factory() as session:
            done = await done_periods(session, RunKind.DAILY)
        results = []
        for day in days_to_settle(self._first_day(today), today):
            if day.isoformat() in done:
                continue
            if self.policy.blockchain_enabled and not await self._chain_final_past(
                rules.day_bounds(rules.day_index_of_date(day))[1]
            ):
                log.info("waiting for the indexer to finalize the day", day=day.isoformat())
                break
            result = await self.settle_day(day)
            results.append(result)
            # A later day must not be settled before this one is: step 7 collects from the
            # balances the earlier days left. A day another process is settling (BUSY) is
            # left to it, and the retry tick goes on from there.
            if result.outcome in (Outcome.FAILED, Outcome.BUSY):
                break
        await self.relay_unsent(self._first_day(today), today)
        return results

    async def relay_unsent(self, first_day: dt.date, today: dt.date) -> int:
        """Relay the roots of settled days in [first_day, today) that are not on chain yet: a
        day whose relay failed (chain down, relayer not allowed yet) is settled, so the
        catch-up does not run it again and would never send them otherwise."""
        if self.relayer is None:
            return 0
        async with self.session_factory() as session:
            days = await onchain.unsent_day_indexes(
                session,
                first_day_index=rules.day_index_of_date(first_day),
                end_day_index=rules.day_index_of_date(today),
            )
        sent = 0
        for day_index in days:
            sent += await self.relay_day(day_index)
        return sent

    async def catch_up_months(self) -> list[RunResult | int]:
        today = settling_date(self.clock(), MONTHLY_RUN_TIME)
        results: list[RunResult | int] = []
        for period in months_to_settle(self._first_month_day(today), today):
            year, month = parse_month(period)
            if self.policy.blockchain_enabled and not await self._chain_final_past(
                service.month_bounds(year, month)[1]
            ):
                log.info("waiting for the indexer to finalize the month", month=period)
                break
            results.extend(await self.settle_month(year, month))
        return results

    async def catch_up(self) -> None:
        await self.catch_up_days()
        await self.catch_up_months()
        await self.expire()

    async def catch_up_unfinished(self) -> None:
        await self.catch_up_days()
        await self.catch_up_months()

    async def _chain_final_past(self, end: dt.datetime) -> bool:
        async with self.session_factory() as session:
            return await service.chain_final_past(session, end)


CATCH_UP_RETRY_MINUTES = 10


def build_scheduler(jobs: SettlementJobs) -> AsyncIOScheduler:
    """The APScheduler of the daemon; each tick catches up first (the job store is no lock)."""
    scheduler = AsyncIOScheduler(timezone=dt.UTC)
    common = {"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600}
    daily = CronTrigger(hour=DAILY_RUN_TIME.hour, minute=DAILY_RUN_TIME.minute, timezone=dt.UTC)
    scheduler.add_job(jobs.catch_up_days, daily, id="daily", **common)
    scheduler.add_job(
        jobs.catch_up_months,
        CronTrigger(
            day=1, hour=MONTHLY_RUN_TIME.hour, minute=MONTHLY_RUN_TIME.minute, timezone=dt.UTC
        ),
        id="monthly",
        **common,
    )
    scheduler.add_job(jobs.expire, CronTrigger(minute=30, timezone=dt.UTC), id="expiry", **common)
    # A day left waiting for the indexer's finality, or BUSY behind another writer, would
    # otherwise wait for the next day's tick; catching up is a cheap no-op when all is done.
    scheduler.add_job(
        jobs.catch_up_unfinished,
        IntervalTrigger(minutes=CATCH_UP_RETRY_MINUTES, timezone=dt.UTC),
        id="catch-up-retry",
        **common,
    )
    return scheduler
