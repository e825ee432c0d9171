"""`gr8d run` as an operator starts it: it catches up, serves the API, keeps running, and stops
on SIGTERM."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import sys

import aiohttp
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.models import Settlement, SettlementRun
from gr8d.embedded import ServerUrls
from settlement.scheduled import DAILY_RUN_TIME, settling_date
from tests.e2e.conftest import free_port
from tests.factories import add_follower_trade, add_user

STOP_WITHIN_SECONDS = 10


async def _daily_runs(session_factory: async_sessionmaker[AsyncSession]) -> int:
    async with session_factory() as session:
        found = await session.scalar(
            select(func.count())
            .select_from(SettlementRun)
            .where(SettlementRun.kind == "DAILY", SettlementRun.status == "DONE")
        )
        return int(found or 0)


async def _api_health(port: int) -> int:
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{port}/api/v1/health") as response,
        ):
            return response.status
    except aiohttp.ClientError:
        return 0


async def test_the_daemon_catches_up_missed_days_serves_the_api_and_stops_cleanly_on_sigterm(
    session_factory: async_sessionmaker[AsyncSession],
    database_url: str,
    server_urls: ServerUrls,
) -> None:
    # The last three days whose run time (01:00 the next day) has come: a day is not settled
    # before it, so between midnight and 01:00 yesterday is not one of them.
    today = settling_date(dt.datetime.now(dt.UTC), DAILY_RUN_TIME)
    start = today - dt.timedelta(days=3)
    async with session_factory() as session:
        author = await add_user(session)
        await add_follower_trade(
            session,
            author=author,
            credits=1_000,
            executed_at=dt.datetime.combine(start, dt.time(12), tzinfo=dt.UTC),
        )
        await session.commit()
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gr8d",
        "run",
        env={
            **os.environ,
            "DATABASE_URL": database_url,
            "REDIS_URL": server_urls.redis_url,
            "SETTLEMENT_START_DAY": start.isoformat(),
            "API_PORT": str(port),
        },
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        for _ in range(300):
            if await _daily_runs(session_factory) == 3 and await _api_health(port) == 200:
                break
            await asyncio.sleep(0.1)
        assert process.returncode is None, "the daemon exited on its own"
        assert await _api_health(port) == 200
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), STOP_WITHIN_SECONDS)

    assert process.returncode == 0, stderr.decode()
    async with session_factory() as session:
        kinds = sorted(
            (await session.execute(select(SettlementRun.kind, SettlementRun.period))).all()
        )
        settled = await session.scalar(select(func.count()).select_from(Settlement))
    days = [(start + dt.timedelta(days=n)).isoformat() for n in range(3)]
    assert [period for kind, period in kinds if kind == "DAILY"] == days
    assert settled == 1
