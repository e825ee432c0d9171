"""`gr8d settle ...` and `gr8d scheduler`: the settlement part's entry points."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from collections.abc import AsyncIterator
from typing import NoReturn

import click
import structlog

from db.engine import create_engine, create_session_factory
from gr8d.config import Settings
from settlement import service
from settlement.onchain import build_relayer
from settlement.runs import Outcome, RunResult
from settlement.scheduled import SettlementJobs, build_scheduler

log = structlog.get_logger("gr8d.settlement")


@contextlib.asynccontextmanager
async def settlement_jobs(settings: Settings) -> AsyncIterator[SettlementJobs]:
    engine = create_engine(settings)
    relayer = await build_relayer(settings)
    try:
        yield SettlementJobs(
            session_factory=create_session_factory(engine),
            policy=service.Policy.from_settings(settings),
            start_day=settings.settlement_start_day,
            relayer=relayer,
        )
    finally:
        if relayer is not None:
            await relayer.close()
        await engine.dispose()


def describe(result: RunResult) -> str:
    if result.outcome is Outcome.ALREADY_DONE:
        return f"{result.kind.value} {result.period}: already settled; nothing to do"
    if result.outcome is Outcome.BUSY:
        return f"{result.kind.value} {result.period}: another process is settling it now"
    if result.outcome is Outcome.FAILED:
        return f"{result.kind.value} {result.period}: FAILED: {result.error}"
    figures = ", ".join(f"{key}={value}" for key, value in result.figures.items())
    return f"{result.kind.value} {result.period}: {figures}, seconds={result.seconds:.3f}"


async def settle_day_now(settings: Settings, day: dt.date) -> RunResult:
    async with settlement_jobs(settings) as jobs:
        return await jobs.settle_day(day)


async def settle_month_now(settings: Settings, year: int, month: int) -> list[RunResult | int]:
    async with settlement_jobs(settings) as jobs:
        return await jobs.settle_month(year, month)


async def run_scheduler(settings: Settings) -> None:
    """Catch up, then fire the jobs on their schedule until cancelled."""
    async with settlement_jobs(settings) as jobs:
        try:
            await jobs.catch_up()
        except Exception as error:
            # Ending here would end `gr8d run` (API and indexer too) over what may be a
            # passing outage; the retry tick catches up again.
            log.error(
                "catch-up failed; the next tick tries again",
                error=f"{type(error).__name__}: {error}",
            )
        scheduler = build_scheduler(jobs)
        scheduler.start()
        log.info("settlement scheduler started")
        try:
            await asyncio.Event().wait()
        finally:
            scheduler.shutdown(wait=False)


@click.group()
def settle() -> None:
    """One settlement run now; re-running a period is harmless."""


EXIT_BAD_INPUT = 2


def _refuse(ctx: click.Context, reason: str) -> NoReturn:
    """Bad input: one line on stderr naming the option, exit code 2 (nothing was run)."""
    click.echo(f"gr8d settle {ctx.info_name}: {reason}", err=True)
    ctx.exit(EXIT_BAD_INPUT)


def _today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


@settle.command("daily")
@click.option("--day", "day_text", required=True, metavar="YYYY-MM-DD", help="A finished UTC day.")
@click.pass_context
def settle_daily(ctx: click.Context, day_text: str) -> None:
    """Settle the fees of one finished day (UTC)."""
    try:
        day = dt.datetime.strptime(day_text, "%Y-%m-%d").date()
    except ValueError:
        _refuse(ctx, f"--day {day_text!r} is not a date (YYYY-MM-DD)")
    # A settled day is closed: its fills arriving later would be charged nowhere.
    if day >= _today():
        _refuse(ctx, f"--day {day}: the day is not over yet (UTC)")
    started = time.perf_counter()
    result = asyncio.run(settle_day_now(ctx.obj, day))
    click.echo(describe(result))
    click.echo(f"took {time.perf_counter() - started:.3f} s")
    ctx.exit(1 if result.outcome is Outcome.FAILED else 0)


@settle.command("royalties")
@click.option(
    "--month", "month_text", required=True, metavar="YYYY-MM", help="A finished UTC month."
)
@click.pass_context
def settle_royalties(ctx: click.Context, month_text: str) -> None:
    """Compute (and, with ROYALTY_AUTO_PAY, pay) the author royalties of one finished month."""
    try:
        first = dt.datetime.strptime(month_text, "%Y-%m").date()
    except ValueError:
        _refuse(ctx, f"--month {month_text!r} is not a month (YYYY-MM)")
    # Its clones arriving later would never be counted.
    today = _today()
    if (first.year, first.month) >= (today.year, today.month):
        _refuse(ctx, f"--month {first:%Y-%m}: the month is not over yet (UTC)")
    started = time.perf_counter()
    results = asyncio.run(settle_month_now(ctx.obj, first.year, first.month))
    failed = False
    for result in results:
        if isinstance(result, RunResult):
            click.echo(describe(result))
            failed = failed or result.outcome is Outcome.FAILED
        else:
            click.echo(f"royalties paid: credits={result}")
    click.echo(f"took {time.perf_counter() - started:.3f} s")
    ctx.exit(1 if failed else 0)
