"""Benchmark: projecting protocol events into the domain tables, batch by batch.

Seeds a fresh database with 20,000 users (a verified wallet each, one in ten unverified),
1,000 registered strategies and settlements to link, then feeds synthetic batches of mixed
events (stakes and withdrawals, follows, registry events, day commits, settlements, raw-only
events, a few from unknown wallets) through what the follower does per batch, in one
transaction each: ``service.write_batch`` (the raw rows), ``projections.project_new`` and
``projections.confirm_until``. Prints events per second for the raw write alone, the
projections alone and both, and the slowest batch (histories grow as batches go), and the
CPU each phase took in this process and in its PostgreSQL backend (read from /proc when the
server runs on this machine): on a shared machine the CPU is the steadier figure.

    .venv/bin/python -m bench.indexer_projections [--batches B --events-per-batch N]

Uses DATABASE_URL's server when set, else an embedded PostgreSQL; the database it creates is
dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import text

from db import admin, migrate
from db.engine import create_engine, create_session_factory
from db.uow import UnitOfWork
from gr8d.config import load_settings
from gr8d.embedded import servers_for
from indexer import projections, service
from indexer.rpc import BlockHeader

CHAIN_ID = 10143
USERS = 20_000
STRATEGIES = 1_000
DAYS = 30

SEED = f"""
INSERT INTO users (email, hashed_password)
SELECT 'bench-' || n || '@example.com', 'x' FROM generate_series(1, {USERS}) AS n;

CREATE TEMP TABLE numbered AS SELECT id, row_number() OVER (ORDER BY email) AS n FROM users;

INSERT INTO wallets (user_id, address, is_verified)
SELECT id, '0x' || lpad(to_hex(n), 40, '0'), n % 10 <> 0 FROM numbered;

INSERT INTO strategies (user_id, name, definition)
SELECT id, 'strategy ' || n, '{{"nodes": [], "edges": []}}'::jsonb
FROM numbered WHERE n <= {STRATEGIES};

INSERT INTO strategy_registrations (strategy_id, author_id, metadata_uri, status,
                                    onchain_strategy_id, onchain_status)
SELECT s.id, s.user_id, 'gr8d://strategies/' || u.n, 'REGISTERED', u.n - 1, 'ACTIVE'
FROM strategies AS s JOIN numbered AS u ON u.id = s.user_id;

INSERT INTO settlements (user_id, strategy_id, author_id, day_index, total_volume, fee_amount,
                         fee_credits, author_fee_credits, platform_fee_credits)
SELECT u.id, s.id, s.user_id, d, 100, 1, 100, 10, 90
FROM numbered AS u
JOIN strategies AS s ON s.name = 'strategy ' || (1 + u.n % {STRATEGIES})
CROSS JOIN generate_series(0, {DAYS - 1}) AS d
WHERE u.n % 4 = 0 AND u.n > {STRATEGIES};
"""

# Event kinds with their share of a batch.
MIX: tuple[tuple[str, int], ...] = (
    ("Staked", 35),
    ("Withdrawn", 10),
    ("UnstakeRequested", 5),
    ("FollowStarted", 10),
    ("FollowPaused", 4),
    ("FollowResumed", 3),
    ("FollowStopped", 3),
    ("StrategyUpdated", 2),
    ("StrategySuspended", 2),
    ("StrategyActivated", 2),
    ("DayCommitted", 5),
    ("SettlementCreated", 8),
    ("SettlementPaid", 4),
    ("SettlementExpired", 2),
    ("DailyFeesDistributed", 3),
    ("AuthorFeeDistributed", 2),
)


def _wallet(rng: random.Random) -> str:
    # One in twenty from a wallet gr8d has never seen: parked.
    n = rng.randrange(1, USERS + 1) if rng.random() > 0.05 else USERS + rng.randrange(1, 10**6)
    return "0x" + f"{n:040x}"


class Events:
    """Synthetic decoded events, as the follower stores them (values are not contract-valid,
    only shaped like the real ones)."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.settlements_created = 0
        self.kinds = [kind for kind, _ in MIX]
        self.weights = [weight for _, weight in MIX]

    def args(self, kind: str) -> dict[str, Any]:
        rng = self.rng
        strategy = str(rng.randrange(STRATEGIES))
        if kind in ("Staked", "Withdrawn", "UnstakeRequested"):
            amount = rng.randrange(1, 50_000) * 10**18 // (1 if kind == "Staked" else 5)
            return {"user": _wallet(rng), "amount": str(amount), "timestamp": "1700000000"}
        if kind.startswith("Follow"):
            return {"user": _wallet(rng), "strategyId": strategy, "dayIndex": "20000"}
        if kind.startswith("Strategy"):
            return {"strategyId": strategy, "metadataURI": "ipfs://x"}
        if kind == "DayCommitted":
            return {
                "strategyId": strategy,
                "dayIndex": str(rng.randrange(20_000, 21_000)),
                "rootHash": "0x" + rng.randbytes(32).hex(),
                "batchInfo": {"orderCount": "1", "totalVolume": "1", "avgPrice": "0"},
            }
        if kind == "SettlementCreated":
            # Each (user, day) with a settlement row once, in order: the rows are unique.
            created = self.settlements_created
            self.settlements_created += 1
            users = USERS // 4 - STRATEGIES // 4
            n = 4 * (STRATEGIES // 4 + 1 + created % users)
            return {
                "settlementId": str(created + 1),
                "user": "0x" + f"{n:040x}",
                "strategyId": str(n % STRATEGIES),
                "dayIndex": str(created // users % DAYS),
                "feeAmount": "1000000",
            }
        if kind in ("SettlementPaid", "SettlementExpired"):
            known = max(1, self.settlements_created)
            return {"settlementId": str(rng.randrange(1, known + 1)), "user": _wallet(rng)}
        return {"dayIndex": "20000", "amount": "1", "strategyId": strategy, "author": _wallet(rng)}

    def batch(self, first_block: int, size: int) -> list[service.RawEvent]:
        events = []
        for index in range(size):
            kind = self.rng.choices(self.kinds, self.weights)[0]
            block = first_block + index // 10
            events.append(
                service.RawEvent(
                    block_number=block,
                    block_hash=f"0x{block:064x}",
                    tx_hash=f"0x{first_block:032x}{index:032x}",
                    log_index=index % 10,
                    contract_address="0x" + "11" * 20,
                    event_name=kind,
                    topics=[],
                    data="0x",
                    json_args=self.args(kind),
                    problem=None,
                )
            )
        return events


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _process_cpu(pid: int) -> float | None:
    """User + system CPU seconds of a local process, None when /proc does not show it."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


@dataclass
class _Cpu:
    """CPU seconds of one phase: this process and the PostgreSQL backend (None: unknown)."""

    python: float = 0.0
    backend: float | None = 0.0

    def add(self, python: float, backend_before: float | None, backend_after: float | None) -> None:
        self.python += python
        if self.backend is not None and backend_before is not None and backend_after is not None:
            self.backend += backend_after - backend_before
        else:
            self.backend = None

    def __str__(self) -> str:
        backend = "n/a" if self.backend is None else f"{self.backend:.2f} s"
        return f"CPU Python {self.python:.2f} s, PostgreSQL {backend}"


async def _run(database_url: str, batches: int, per_batch: int) -> None:
    settings = load_settings(database_url=database_url)
    engine = create_engine(settings)
    session_factory = create_session_factory(engine)
    try:
        async with engine.begin() as connection:
            for statement in SEED.split(";"):
                if statement.strip():
                    await connection.execute(text(statement))
            await connection.execute(text("ANALYZE"))
        source = Events(seed=7)
        write_seconds = project_seconds = slowest = 0.0
        write_cpu, project_cpu = _Cpu(), _Cpu()
        outcomes: Counter[str] = Counter()
        for number in range(batches):
            first_block = 1 + number * (per_batch // 10 + 1)
            events = source.batch(first_block, per_batch)
            last = events[-1].block_number
            headers = {
                n: BlockHeader(n, f"0x{n:064x}", f"0x{n - 1:064x}", 1_700_000_000 + n)
                for n in range(first_block, last + 1)
            }
            async with UnitOfWork(session_factory) as uow:
                backend = int(await uow.session.scalar(text("SELECT pg_backend_pid()")) or 0)
                cpu_0, backend_0 = time.process_time(), _process_cpu(backend)
                started = time.perf_counter()
                await service.write_batch(
                    uow.session,
                    chain_id=CHAIN_ID,
                    events=events,
                    blocks=headers,
                    last=headers[last],
                    finalized=max(0, last - 500),
                )
                written = time.perf_counter()
                cpu_1, backend_1 = time.process_time(), _process_cpu(backend)
                report = await projections.project_new(
                    uow.session,
                    chain_id=CHAIN_ID,
                    first_block=first_block,
                    last_block=last,
                    finalized_block=max(0, last - 500),
                )
                await projections.confirm_until(
                    uow.session, chain_id=CHAIN_ID, finalized_block=max(0, last - 500)
                )
                projected = time.perf_counter()
                cpu_2, backend_2 = time.process_time(), _process_cpu(backend)
                await uow.commit()
            write_cpu.add(cpu_1 - cpu_0, backend_0, backend_1)
            project_cpu.add(cpu_2 - cpu_1, backend_1, backend_2)
            write_seconds += written - started
            project_seconds += projected - written
            slowest = max(slowest, projected - started)
            outcomes.update(
                applied=report.applied,
                parked=report.parked,
                raw_only=report.raw_only,
                failed=report.failed,
            )
        total = batches * per_batch
        print(f"{total:,} events in {batches} batches of {per_batch:,}")
        print(
            f"  raw write:    {write_seconds:7.2f} s  {total / write_seconds:>9,.0f} events/s"
            f"  ({write_cpu})"
        )
        print(
            f"  projections:  {project_seconds:7.2f} s  {total / project_seconds:>9,.0f} events/s"
            f"  ({project_cpu})"
        )
        both = write_seconds + project_seconds
        print(f"  both:         {both:7.2f} s  {total / both:>9,.0f} events/s")
        print(f"  slowest batch (write + project): {slowest:.3f} s")
        print(f"  outcomes: {dict(outcomes)}")
    finally:
        await engine.dispose()


async def _main(args: argparse.Namespace, server_url: str) -> None:
    name = f"gr8d_bench_projections_{os.getpid()}"
    url = await admin.create_database(server_url, name)
    try:
        await asyncio.to_thread(migrate.upgrade, url)
        await _run(url, args.batches, args.events_per_batch)
    finally:
        await admin.drop_database(server_url, name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--events-per-batch", type=int, default=5_000)
    args = parser.parse_args()
    configured = load_settings()
    with (
        tempfile.TemporaryDirectory(prefix="gr8d-bench-") as data_dir,
        servers_for(configured, Path(data_dir)) as urls,
    ):
        asyncio.run(_main(args, urls.database_url))


if __name__ == "__main__":
    main()
