"""`gr8d settle ...` and `gr8d scheduler`: the settlement part's entry points."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from collections.abc import AsyncIterator

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
        await jobs.catch_up()
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


@settle.command("daily")
@click.option("--day", required=True, type=click.DateTime(["%Y-%m-%d"]), help="YYYY-MM-DD")
@click.pass_context
def settle_daily(ctx: click.Context, day: dt.datetime) -> None:
    """Settle the fees of one day (UTC)."""
    started = time.perf_counter()
    result = asyncio.run(settle_day_now(ctx.obj, day.date()))
    click.echo(describe(result))
    click.echo(f"took {time.perf_counter() - started:.3f} s")
    ctx.exit(1 if result.outcome is Outcome.FAILED else 0)


@settle.command("royalties")
@click.option("--month", required=True, type=click.DateTime(["%Y-%m"]), help="YYYY-MM")
@click.pass_context
def settle_royalties(ctx: click.Context, month: dt.datetime) -> None:
    """Compute (and, with ROYALTY_AUTO_PAY, pay) the author royalties of one month."""
    started = time.perf_counter()
    results = asyncio.run(settle_month_now(ctx.obj, month.year, month.month))
    failed = False
    for result in results:
        if isinstance(result, RunResult):
            click.echo(describe(result))
            failed = failed or result.outcome is Outcome.FAILED
        else:
            click.echo(f"royalties paid: credits={result}")
    click.echo(f"took {time.perf_counter() - started:.3f} s")
    ctx.exit(1 if failed else 0)
