"""Benchmark: the daily settlement of one day with 1,000,000 FILLED executions.

Seeds 100,000 (user, strategy) pairs (100,000 users, 1,000 authors with 10 strategies each,
10 executions per pair) into a fresh database, times `settle_day` as the scheduler runs it,
and prints it next to the floor: a bare `SELECT ... GROUP BY` over the same executions,
measured just before each run. Then where the time goes: each statement of the run's
connection, the Python work between them, and the Merkle roots read and hashed on their own
(the run does that beside its writes, on a second connection).

The bare GROUP BY only reads. The run must also write what settlement.md asks for into the
tables of schema.md (a settlement row with 3 foreign keys and 8 indexes per pair, two ledger
rows per collected fee, the balances): so the bench also measures the write floor, the same
rows the run wrote inserted again by bare `INSERT ... SELECT` statements from copies (in a
transaction that is rolled back), and prints the run against the read and write floors together.

    ./dev bench settlement_daily [--users N --executions-per-pair K --runs R]

Each run after the first settles the same day again after its results were deleted. Uses
DATABASE_URL's server when set, else an embedded PostgreSQL. The database it creates is
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

from bench.statement_clock import StatementClock
from db import admin, migrate
from db.engine import create_engine, create_session_factory
from gr8d.config import load_settings
from gr8d.embedded import servers_for
from settlement import day_roots, rules, service
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

# The ledger is append-only (a trigger refuses UPDATE and DELETE); a benchmark taking back its
# own run's postings is the one writer allowed past it, for the length of its transaction.
DELETE_RUN_POSTINGS = """
ALTER TABLE credit_transactions DISABLE TRIGGER credit_transactions_append_only;
DELETE FROM credit_transactions WHERE type IN ('SETTLEMENT_FEE', 'AUTHOR_FEE');
ALTER TABLE credit_transactions ENABLE TRIGGER credit_transactions_append_only
"""

# The day's results go, the balances return to what the purchases made them: the next run
# settles the same day from the same start.
RESET = f"""
{DELETE_RUN_POSTINGS};
UPDATE credits AS c SET balance = coalesce(
    (SELECT sum(t.amount) FROM credit_transactions AS t WHERE t.user_id = c.user_id), 0
);
DELETE FROM settlements;
DELETE FROM day_commits;
DELETE FROM settlement_runs
"""

# The run's statements, by the start of their text, and what they do.
PARTS = (
    (
        "CREATE TEMPORARY TABLE day_settlement_rows",
        "steps 1-5: volumes, tiers, fees into a temp table",
    ),
    ("SELECT w.user_id, c.balance", "ledger: lock the accounts"),
    ("INSERT INTO settlements", "insert settlements"),
    ("WITH selected AS MATERIALIZED", "ledger: postings and balances"),
    ("INSERT INTO day_commits", "step 8: insert day commits"),
)
OTHER = "other statements (lock, run record, snapshot, ...)"


def part_of(statement: str) -> str:
    return next((label for start, label in PARTS if statement.startswith(start)), OTHER)


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
    """The bare GROUP BY, once to warm the cache and once timed."""
    start, end = rules.day_bounds(rules.day_index_of_date(DAY))
    async with engine.connect() as connection:
        for _ in range(2):
            began = time.perf_counter()
            await connection.execute(text(FLOOR), {"start": start, "end": end})
            elapsed = time.perf_counter() - began
    return elapsed


async def reset(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        for statement in filter(str.strip, RESET.split(";")):
            await connection.execute(text(statement))


async def vacuum(engine: AsyncEngine) -> None:
    """Hint bits and statistics set before anything is timed, as on a database in use."""
    async with engine.connect() as connection:
        autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
        await autocommit.execute(text("VACUUM ANALYZE"))


async def roots_alone_seconds(engine: AsyncEngine) -> tuple[float, int]:
    start, end = rules.day_bounds(rules.day_index_of_date(DAY))
    async with engine.connect() as connection:
        await connection.execute(text("SET LOCAL jit = off"))
        began = time.perf_counter()
        roots = await day_roots.read_day_roots(connection, start, end)
        return time.perf_counter() - began, sum(root.leaf_count for root in roots)


# The day's written rows, copied aside; then the same rows written again by bare statements,
# each timed, in a transaction rolled back at the end. Deleting them first (in the same
# transaction) keeps the unique indexes as the run found them.
WRITE_FLOOR_COPY = f"""
CREATE TEMP TABLE floor_settlements AS SELECT * FROM settlements;
CREATE TEMP TABLE floor_postings AS
    SELECT * FROM credit_transactions WHERE type IN ('SETTLEMENT_FEE', 'AUTHOR_FEE');
CREATE TEMP TABLE floor_balances AS
    SELECT c.user_id, c.balance FROM credits AS c
    WHERE c.user_id IN (SELECT user_id FROM floor_postings);
{DELETE_RUN_POSTINGS};
DELETE FROM settlements
"""
WRITE_FLOOR_PARTS = (
    ("settlements", "INSERT INTO settlements SELECT * FROM floor_settlements"),
    (
        "ledger rows",
        "INSERT INTO credit_transactions OVERRIDING SYSTEM VALUE SELECT * FROM floor_postings",
    ),
    (
        "balances",
        "UPDATE credits AS c SET balance = f.balance FROM floor_balances AS f "
        "WHERE c.user_id = f.user_id",
    ),
)


async def write_floor_seconds(engine: AsyncEngine) -> dict[str, float]:
    """The bare writes of the rows the last run wrote (see WRITE_FLOOR_COPY)."""
    seconds: dict[str, float] = {}
    async with engine.connect() as connection:
        transaction = await connection.begin()
        try:
            for statement in filter(str.strip, WRITE_FLOOR_COPY.split(";")):
                await connection.execute(text(statement))
            for label, statement in WRITE_FLOOR_PARTS:
                began = time.perf_counter()
                await connection.execute(text(statement))
                seconds[label] = time.perf_counter() - began
        finally:
            await transaction.rollback()
    return seconds


async def run_once(engine: AsyncEngine, number: int, executions: int) -> float:
    floor = await floor_seconds(engine)
    clock = StatementClock(part_of)
    jobs = SettlementJobs(session_factory=create_session_factory(engine), policy=POLICY)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    cpu_before = time.process_time()
    with clock.attached(engine):
        result = await jobs.settle_day(DAY)
    cpu = time.process_time() - cpu_before
    seconds, settlements = result.seconds, result.figures.get("settlements_written", 0)
    print(
        f"run {number}: {result.outcome.value} in {seconds:.2f} s, floor {floor:.2f} s: "
        f"{seconds / floor:.1f}x the bare GROUP BY (target: under 60 s and within 5x)"
    )
    print(f"  figures: {result.figures}")
    print(
        f"  throughput: {executions / seconds:,.0f} executions/s, "
        f"{settlements / seconds:,.0f} settlements/s; Python CPU {cpu:.2f} s; "
        f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB "
        f"({rss_before / 1024:.0f} MiB before the run)"
    )
    print("  where the time goes (wall seconds on the run's connection):")
    for label in [label for _, label in PARTS] + [OTHER]:
        print(f"    {clock.seconds.get(label, 0.0):6.2f}  {label}")
    between = seconds - sum(clock.seconds.values())
    print(
        f"    {between:6.2f}  Python between them: the fees to collect (read through the driver), "
        "step 7's walk, waiting on the roots"
    )
    writes = await write_floor_seconds(engine)
    both = floor + sum(writes.values())
    print(
        "  the write floor, the same rows written by bare INSERT/UPDATE ... SELECT: "
        + ", ".join(f"{label} {value:.2f} s" for label, value in writes.items())
        + f"; read floor + write floor {both:.2f} s: the run is {seconds / both:.1f}x that"
    )
    return seconds / floor


async def bench(database_url: str, users: int, executions_per_pair: int, runs: int) -> None:
    settings = load_settings(database_url=database_url, database_pool_size=4)
    engine = create_engine(settings)
    try:
        began = time.perf_counter()
        await seed(engine, users, executions_per_pair)
        await vacuum(engine)
        executions = users * executions_per_pair
        print(
            f"seeded {users:,} pairs, {executions:,} executions in "
            f"{time.perf_counter() - began:.1f} s"
        )
        ratios = []
        for number in range(1, runs + 1):
            if number > 1:
                await reset(engine)
                await vacuum(engine)
            ratios.append(await run_once(engine, number, executions))
        alone, leaves = await roots_alone_seconds(engine)
        print(
            f"Merkle roots of {leaves:,} leaves read and hashed on their own: {alone:.2f} s "
            "(in the run they are read beside the writes)"
        )
        if runs > 1:
            print(
                f"ratio to the floor over {runs} runs: best {min(ratios):.1f}x, "
                f"worst {max(ratios):.1f}x"
            )
    finally:
        await engine.dispose()


async def main(users: int, executions_per_pair: int, runs: int) -> None:
    configured = load_settings(database_url=os.environ.get("DATABASE_URL"), redis_url="unix:///x")
    with (
        tempfile.TemporaryDirectory() as data_dir,
        servers_for(configured, Path(data_dir)) as urls,
    ):
        name = f"gr8d_bench_{os.getpid()}"
        url = await admin.create_database(urls.database_url, name)
        try:
            await asyncio.to_thread(migrate.upgrade, url)
            await bench(url, users, executions_per_pair, runs)
        finally:
            await admin.drop_database(urls.database_url, name)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--executions-per-pair", type=int, default=10)
    parser.add_argument("--runs", type=int, default=1)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.users, arguments.executions_per_pair, arguments.runs))
