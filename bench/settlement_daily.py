"""Benchmark: the daily settlement of one day with 1,000,000 FILLED executions.

Seeds 100,000 (user, strategy) pairs (100,000 users, 1,000 authors with 10 strategies each,
10 executions per pair) into a fresh database, times `settle_day` as the scheduler runs it,
and prints it next to the floor: a bare `SELECT ... GROUP BY` over the same executions.

    ./dev bench settlement_daily [--users N --executions-per-pair K]

Uses DATABASE_URL's server when set, else an embedded PostgreSQL. The database it creates is
dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import resource
import tempfile
import time
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from db import admin, migrate
from db.engine import create_engine, create_session_factory
from gr8d.config import load_settings
from gr8d.embedded import servers_for
from settlement import rules, service
from settlement.scheduled import SettlementJobs

DAY = dt.date(2026, 11, 20)
POLICY = service.Policy(
    base_fee_bps=20,
    credits_per_usdt0=100,
    blockchain_enabled=False,
    expiry_days=7,
    royalty_auto_pay=True,
)

SEED = """
INSERT INTO users (email, hashed_password, manual_tier)
SELECT 'bench-' || n || '@example.com', 'x', CASE WHEN n % 7 = 0 THEN n % 6 END
FROM generate_series(1, :users) AS n;

CREATE TEMP TABLE numbered_users AS
SELECT id, row_number() OVER (ORDER BY email) AS n FROM users;

INSERT INTO strategies (user_id, name, definition)
SELECT u.id, 'strategy ' || s, '{"nodes": [], "edges": []}'::jsonb
FROM numbered_users AS u CROSS JOIN generate_series(1, :strategies_per_author) AS s
WHERE u.n <= :authors;

CREATE TEMP TABLE numbered_strategies AS
SELECT id, row_number() OVER (ORDER BY id) AS n FROM strategies;

-- Two users in three can pay their fees in credits, the others stay PENDING.
WITH funded AS (
    SELECT id, 100000 AS amount FROM numbered_users WHERE n % 3 <> 0
), posted AS (
    INSERT INTO credit_transactions (user_id, amount, balance_after, type)
    SELECT id, amount, amount, 'PURCHASE' FROM funded
)
UPDATE credits AS c SET balance = f.amount FROM funded AS f WHERE c.user_id = f.id;

INSERT INTO executions (
    user_id, strategy_id, symbol, side, order_type, amount, executed_price, status, executed_at
)
SELECT u.id, s.id, 'BTC/USDT', CASE WHEN e % 2 = 0 THEN 'BUY' ELSE 'SELL' END, 'MARKET',
       round((0.001 + random() * 2)::numeric, 8), round((20000 + random() * 50000)::numeric, 8),
       'FILLED', CAST(:day_start AS timestamptz) + random() * interval '86399 seconds'
FROM numbered_users AS u
JOIN numbered_strategies AS s ON s.n = (u.n % :strategy_count) + 1
CROSS JOIN generate_series(1, :executions_per_pair) AS e;

ANALYZE;
"""

FLOOR = """
SELECT e.user_id, e.strategy_id, s.user_id, sum(e.amount * e.executed_price)
FROM executions AS e JOIN strategies AS s ON s.id = e.strategy_id
WHERE e.status = 'FILLED' AND e.executed_at >= :start AND e.executed_at < :end
GROUP BY e.user_id, e.strategy_id, s.user_id
"""


async def seed(engine: AsyncEngine, users: int, executions_per_pair: int) -> None:
    authors, per_author = 1_000, 10
    start, _ = rules.day_bounds(rules.day_index_of_date(DAY))
    async with engine.begin() as connection:
        for statement in filter(str.strip, SEED.split(";")):
            await connection.execute(
                text(statement),
                {
                    "users": users,
                    "authors": authors,
                    "strategies_per_author": per_author,
                    "strategy_count": authors * per_author,
                    "executions_per_pair": executions_per_pair,
                    "day_start": start,
                }
                if ":" in statement
                else {},
            )


async def floor_seconds(engine: AsyncEngine) -> float:
    start, end = rules.day_bounds(rules.day_index_of_date(DAY))
    async with engine.connect() as connection:
        began = time.perf_counter()
        rows = (await connection.execute(text(FLOOR), {"start": start, "end": end})).all()
        elapsed = time.perf_counter() - began
    print(f"floor: bare GROUP BY returned {len(rows):,} groups in {elapsed:.2f} s")
    return elapsed


async def bench(database_url: str, users: int, executions_per_pair: int) -> None:
    settings = load_settings(database_url=database_url, database_pool_size=4)
    engine = create_engine(settings)
    try:
        began = time.perf_counter()
        await seed(engine, users, executions_per_pair)
        executions = users * executions_per_pair
        print(
            f"seeded {users:,} pairs, {executions:,} executions in "
            f"{time.perf_counter() - began:.1f} s"
        )
        floor = await floor_seconds(engine)
        jobs = SettlementJobs(session_factory=create_session_factory(engine), policy=POLICY)
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        result = await jobs.settle_day(DAY)
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(f"daily run: {result.outcome.value} in {result.seconds:.2f} s; {result.figures}")
        print(
            f"throughput: {executions / result.seconds:,.0f} executions/s, "
            f"{result.figures.get('settlements_written', 0) / result.seconds:,.0f} "
            "settlements/s"
        )
        print(f"peak RSS: {rss_after / 1024:.0f} MiB (before the run: {rss_before / 1024:.0f} MiB)")
        print(
            f"ratio to the bare GROUP BY: {result.seconds / floor:.1f}x "
            "(target: whole run under 60 s and within 5x)"
        )
    finally:
        await engine.dispose()


async def main(users: int, executions_per_pair: int) -> None:
    configured = load_settings(database_url=os.environ.get("DATABASE_URL"), redis_url="unix:///x")
    with (
        tempfile.TemporaryDirectory() as data_dir,
        servers_for(configured, Path(data_dir)) as urls,
    ):
        name = f"gr8d_bench_{os.getpid()}"
        url = await admin.create_database(urls.database_url, name)
        try:
            await asyncio.to_thread(migrate.upgrade, url)
            await bench(url, users, executions_per_pair)
        finally:
            await admin.drop_database(urls.database_url, name)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--executions-per-pair", type=int, default=10)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.users, arguments.executions_per_pair))
