"""`gr8d settle daily` and `gr8d settle royalties` from a separate process."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import sys

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db import ledger
from db.models import CreditTransaction, Settlement
from gr8d.embedded import ServerUrls
from tests.factories import add_follower_trade, add_user


async def gr8d(*arguments: str, database_url: str, redis_url: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gr8d",
        *arguments,
        env={**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return process.returncode, output.decode()


async def test_settling_a_day_from_the_command_line_reports_what_it_did_once(
    session_factory: async_sessionmaker[AsyncSession],
    database_url: str,
    server_urls: ServerUrls,
) -> None:
    async with session_factory() as session:
        await add_follower_trade(
            session,
            author=await add_user(session),
            credits=1_000,
            amount="2",
            price="500",
            executed_at=dt.datetime(2026, 3, 4, 5, tzinfo=dt.UTC),
        )
        await session.commit()
    urls = {"database_url": database_url, "redis_url": server_urls.redis_url}

    code, first = await gr8d("settle", "daily", "--day", "2026-03-04", **urls)
    again, second = await gr8d("settle", "daily", "--day", "2026-03-04", **urls)
    royalties, month = await gr8d("settle", "royalties", "--month", "2026-03", **urls)

    assert code == 0, first
    assert "DAILY 2026-03-04: day=2026-03-04, settlements_written=1" in first
    assert "credits_collected=200" in first and "seconds=" in first
    assert again == 0 and "already settled" in second
    assert royalties == 0 and "ROYALTY 2026-03: month=2026-03, royalties_written=0" in month


async def test_a_malformed_day_is_refused_with_exit_code_2(
    database_url: str, server_urls: ServerUrls
) -> None:
    code, output = await gr8d(
        "settle",
        "daily",
        "--day",
        "2026-02-30",
        database_url=database_url,
        redis_url=server_urls.redis_url,
    )
    assert code == 2
    assert "--day" in output


async def test_two_processes_settling_the_same_day_settle_it_once(
    session_factory: async_sessionmaker[AsyncSession],
    database_url: str,
    server_urls: ServerUrls,
) -> None:
    async with session_factory() as session:
        author = await add_user(session)
        for _ in range(20):
            await add_follower_trade(
                session,
                author=author,
                credits=1_000,
                executed_at=dt.datetime(2026, 3, 5, 5, tzinfo=dt.UTC),
            )
        await session.commit()
    urls = {"database_url": database_url, "redis_url": server_urls.redis_url}

    outcomes = await asyncio.gather(
        gr8d("settle", "daily", "--day", "2026-03-05", **urls),
        gr8d("settle", "daily", "--day", "2026-03-05", **urls),
    )

    assert [code for code, _ in outcomes] == [0, 0]
    reports = " ".join(output for _, output in outcomes)
    assert reports.count("DAILY 2026-03-05: day=2026-03-05, settlements_written=20") == 1
    assert "already settled" in reports or "another process" in reports
    async with session_factory() as session:
        assert await ledger.invariant_violations(session) == []
        settled = await session.scalar(select(func.count()).select_from(Settlement))
        fees = await session.scalar(
            select(func.count())
            .select_from(CreditTransaction)
            .where(CreditTransaction.type == "SETTLEMENT_FEE")
        )
    assert (settled, fees) == (20, 20)
