"""Daily fee settlements, monthly royalties and the expiry sweep (settlement.md).

Every function works inside the caller's transaction and never commits. Re-running a period
is harmless: a day's run writes and collects only the settlements that do not exist yet (one
written meanwhile by another writer fails the run on the UNIQUE constraint), so a second run
of a day posts nothing; royalties are inserted with ON CONFLICT DO NOTHING.
"""

from __future__ import annotations

import datetime as dt
import secrets
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from asyncpg import Record
from sqlalchemy import select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from db import ledger
from db.enums import PaidVia, RoyaltyStatus, SettlementStatus, TransactionType
from db.models import AuthorRoyalty, Settlement
from gr8d.config import Settings
from settlement import rules, rules_sql
from settlement.day_roots import DayRootsReader, StrategyRoot
from settlement.errors import (
    ConcurrentSettlement,
    PeriodNotFinal,
    RoyaltyNotFound,
    RoyaltyNotPayable,
    SettlementNotFound,
    SettlementNotPending,
)


@dataclass(frozen=True, slots=True)
class Policy:
    """The configuration the money rules depend on."""

    base_fee_bps: int
    credits_per_usdt0: int
    blockchain_enabled: bool
    expiry_days: int
    royalty_auto_pay: bool

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        return cls(
            base_fee_bps=settings.base_fee_bps,
            credits_per_usdt0=settings.credits_per_usdt0,
            blockchain_enabled=settings.blockchain_enabled,
            expiry_days=settings.settlement_expiry_days,
            royalty_auto_pay=settings.royalty_auto_pay,
        )


@dataclass(slots=True)
class DailyReport:
    day_index: int
    settlements_written: int = 0
    settlements_collected: int = 0
    credits_collected: int = 0
    author_credits: int = 0
    day_commits_written: int = 0

    def figures(self) -> dict[str, Any]:
        return {
            "day": rules.date_of_day_index(self.day_index).isoformat(),
            "settlements_written": self.settlements_written,
            "settlements_collected": self.settlements_collected,
            "credits_collected": self.credits_collected,
            "author_credits": self.author_credits,
            "day_commits_written": self.day_commits_written,
        }


@dataclass(frozen=True, slots=True)
class RoyaltyLine:
    author_id: uuid.UUID
    total_clones: int
    total_revenue_credits: int
    royalty_rate_bps: int
    royalty_amount_credits: int


@dataclass(slots=True)
class RoyaltyReport:
    year: int
    month: int
    royalties_written: int = 0
    written_ids: list[uuid.UUID] = field(default_factory=list)

    def figures(self) -> dict[str, Any]:
        """What creating did; paying happens apart (auto-pay, or the admin's pay)."""
        return {
            "month": f"{self.year:04d}-{self.month:02d}",
            "royalties_written": self.royalties_written,
        }


# --- tiers -------------------------------------------------------------------------------

_TIERS_OF = text(
    f"""
    WITH {rules_sql.STAKED_CTE}
    SELECT people.id AS user_id, {rules_sql.tier_of("u", "s")} AS tier
    FROM unnest(CAST(:ids AS uuid[])) AS people(id)
    LEFT JOIN users AS u ON u.id = people.id
    LEFT JOIN staked AS s ON s.user_id = people.id
    """
)

_FINALIZED_BLOCK_TIME = text(
    """
    SELECT max(b.timestamp)
    FROM indexer_cursors AS c
    JOIN chain_blocks AS b ON b.chain_id = c.chain_id AND b.number <= c.finalized_block_number
    """
)


async def tiers_at(
    session: AsyncSession, *, user_ids: Iterable[uuid.UUID], end: dt.datetime, policy: Policy
) -> dict[uuid.UUID, int]:
    """Each user's tier for a period ending at `end`: the admin's manual tier when set, else
    (BLOCKCHAIN_ENABLED) the tier of the G8D staked before `end`, else 0. The daily run's own
    SQL (rules_sql.tier_of)."""
    rows = await session.execute(
        _TIERS_OF,
        {
            "ids": sorted(set(user_ids)),
            **rules_sql.tier_parameters(blockchain_enabled=policy.blockchain_enabled, end=end),
        },
    )
    return {row.user_id: row.tier for row in rows}


async def chain_final_past(session: AsyncSession, moment: dt.datetime) -> bool:
    """Whether the indexer has finalized a block at or after `moment`."""
    finalized: dt.datetime | None = await session.scalar(_FINALIZED_BLOCK_TIME)
    return finalized is not None and finalized >= moment


# --- daily settlement --------------------------------------------------------------------

# Steps 1-5 for every (user, strategy) of the day, into a temporary table the later steps
# read: the exact volume, the tier snapshots, the fee parts (rules_sql), the pair's place `n`
# in step 7's (user, strategy) order, a fresh settlement id made from it (_time_ordered_ids),
# and whether the pair is settled already (a run that was interrupted by hand, or a direct
# second call, settles only what is missing).
_DAY_ROWS = "day_settlement_rows"

_CREATE_DAY_ROWS = text(
    f"""
    CREATE TEMPORARY TABLE {_DAY_ROWS} ON COMMIT DROP AS
    WITH pairs AS (
        SELECT e.user_id, e.strategy_id, s.user_id AS author_id,
               sum(e.amount * e.executed_price) AS volume
        FROM executions AS e
        JOIN strategies AS s ON s.id = e.strategy_id
        WHERE e.status = 'FILLED' AND e.executed_at >= :start AND e.executed_at < :end
        GROUP BY e.user_id, e.strategy_id, s.user_id
    ),
    {rules_sql.STAKED_CTE},
    p AS (
        SELECT pairs.*,
               {rules_sql.tier_of("u", "user_stake")} AS user_tier,
               {rules_sql.tier_of("a", "author_stake")} AS author_tier,
               pairs.user_id = pairs.author_id AS user_is_author
        FROM pairs
        JOIN users AS u ON u.id = pairs.user_id
        JOIN users AS a ON a.id = pairs.author_id
        LEFT JOIN staked AS user_stake ON user_stake.user_id = pairs.user_id
        LEFT JOIN staked AS author_stake ON author_stake.user_id = pairs.author_id
    )
    SELECT CAST(:settlement_ids || lpad(to_hex(
               row_number() OVER (ORDER BY p.user_id, p.strategy_id)), 12, '0') AS uuid) AS id,
           CAST(row_number() OVER (ORDER BY p.user_id, p.strategy_id) AS integer) AS n,
           p.user_id, p.strategy_id, p.author_id, p.volume,
           p.user_tier, p.author_tier, {rules_sql.FEE_COLUMNS},
           x.id IS NOT NULL AS settled
    FROM p
    {rules_sql.FEE_JOINS}
    LEFT JOIN settlements AS x
        ON x.user_id = p.user_id AND x.strategy_id = p.strategy_id AND x.day_index = :day_index
    ORDER BY p.user_id, p.strategy_id
    """
)

# Planner settings for the run's own statements, restored to the caller's afterwards:
# - jit: the fee expressions make a plan large enough for PostgreSQL to JIT-compile it with
#   full optimization, which takes seconds and saves far less;
# - enable_memoize: the planner caches the fee laterals by their (never repeated) inputs, which
#   only adds the cost of building the cache keys;
# - work_mem: the day's rows (100,000 pairs are ~12 MB) sort in memory instead of on disk;
# - max_parallel_workers_per_gather: the day roots are read and hashed meanwhile (on another
#   connection and in this process), so parallel workers for steps 1-5 only compete with them
#   for the cores (1M executions on 2 cores: steps 1-5 1.2 -> 0.9 s, the run 5.7 -> 5.3 s).
_RUN_SETTINGS = {
    "jit": "off",
    "enable_memoize": "off",
    "work_mem": "64MB",
    "max_parallel_workers_per_gather": "0",
}
_APPLY_RUN_SETTINGS = text(
    "SELECT name, current_setting(name), set_config(name, value, true) "
    "FROM unnest(CAST(:names AS text[]), CAST(:values AS text[])) AS s(name, value)"
)
_RESTORE_SETTINGS = text(
    "SELECT set_config(name, value, true) "
    "FROM unnest(CAST(:names AS text[]), CAST(:values AS text[])) AS s(name, value)"
)

# A call that failed in this transaction may have left it behind.
_DROP_DAY_ROWS_LEFT = text(f"DROP TABLE IF EXISTS pg_temp.{_DAY_ROWS}")
_DROP_DAY_ROWS = text(f"DROP TABLE pg_temp.{_DAY_ROWS}")

# Step 7's accounts: the users who owe a fee and the authors who earn a share of one.
_ACCOUNTS_OF_FEES = f"""
    SELECT user_id FROM {_DAY_ROWS} WHERE NOT settled AND fee_credits > 0
    UNION ALL
    SELECT author_id FROM {_DAY_ROWS} WHERE NOT settled AND author_fee_credits > 0
"""

# The fees step 7 may collect, in its order; in this column order: the walk unpacks the rows.
_FEES = f"""
    SELECT n, user_id, author_id, fee_credits, author_fee_credits
    FROM {_DAY_ROWS}
    WHERE NOT settled AND fee_credits > 0
    ORDER BY n
"""

# Rows are written once, with their final status: zero-fee and collected rows PAID. A row
# another writer inserted meanwhile makes the insert fail on the UNIQUE (user, strategy, day).
_INSERT_SETTLEMENTS = text(
    f"""
    INSERT INTO settlements (
        id, user_id, strategy_id, author_id, day_index, total_volume, fee_amount, fee_credits,
        user_tier, author_tier, discount_bps, author_fee_credits, platform_fee_credits,
        status, paid_via, paid_at
    )
    SELECT r.id, r.user_id, r.strategy_id, r.author_id, :day_index, r.total_volume,
           r.fee_amount, r.fee_credits, r.user_tier, r.author_tier, r.discount_bps,
           r.author_fee_credits, r.platform_fee_credits,
           CASE WHEN r.paid THEN 'PAID' ELSE 'PENDING' END,
           CASE WHEN r.paid THEN 'CREDITS' END,
           CASE WHEN r.paid THEN now() END
    FROM (
        SELECT d.*, d.fee_credits = 0 OR c.n IS NOT NULL AS paid
        FROM {_DAY_ROWS} AS d
        LEFT JOIN unnest(CAST(:collected AS integer[])) AS c(n) ON c.n = d.n
        WHERE NOT d.settled
    ) AS r
    ORDER BY r.n
    """
)
_SETTLEMENTS_UNIQUE = "uq_settlements_user_id_strategy_id_day_index"

# Step 7's postings of the collected settlements (see add_fee_postings), for the ledger to
# write: SETTLEMENT_FEE to the user, then AUTHOR_FEE to the author, in the walk's order, with
# ids in that order (_time_ordered_ids).
_FEE_POSTINGS = f"""
    SELECT 2 * d.n AS n, CAST(:posting_ids || lpad(to_hex(2 * d.n), 12, '0') AS uuid) AS id,
           d.user_id, -d.fee_credits AS amount,
           CAST(:fee_type AS varchar) AS type, d.id AS reference_id, NULL AS description
    FROM {_DAY_ROWS} AS d
    JOIN unnest(CAST(:collected AS integer[])) AS c(n) ON c.n = d.n
    UNION ALL
    SELECT 2 * d.n + 1, CAST(:posting_ids || lpad(to_hex(2 * d.n + 1), 12, '0') AS uuid),
           d.author_id, d.author_fee_credits,
           CAST(:author_fee_type AS varchar), d.id, NULL
    FROM {_DAY_ROWS} AS d
    JOIN unnest(CAST(:collected AS integer[])) AS c(n) ON c.n = d.n
    WHERE d.author_fee_credits > 0
"""


async def settle_day(session: AsyncSession, *, day_index: int, policy: Policy) -> DailyReport:
    """Settle day D (steps 1-8 of settlement.md) in the caller's transaction.

    Set-based: one statement computes every row of the day with its fee parts, and the rows
    never travel through Python except for step 7's order-dependent walk over balances, which
    decides which settlements are collected; PostgreSQL then writes the settlements and the
    ledger's postings from its own rows. The Merkle roots of step 8 are hashed meanwhile.
    ConcurrentSettlement (the transaction is then aborted) when another writer settled part of
    the day meanwhile.
    """
    start, end = rules.day_bounds(day_index)
    if policy.blockchain_enabled and not await chain_final_past(session, end):
        raise PeriodNotFinal(rules.date_of_day_index(day_index).isoformat())
    report = DailyReport(day_index=day_index)
    async with DayRootsReader(session, start, end) as day_roots:
        previous = await _apply_run_settings(session)
        await _compute_day_rows(session, day_index, policy)
        balances = await ledger.lock_selected_accounts(session, _ACCOUNTS_OF_FEES)
        collected = _walk(await _fetch_many(session, _FEES), balances, report)
        report.settlements_written = await _insert_settlements(session, day_index, collected)
        await ledger.post_selected(
            session,
            _FEE_POSTINGS,
            {
                "collected": collected,
                "posting_ids": _time_ordered_ids(),
                "fee_type": TransactionType.SETTLEMENT_FEE.value,
                "author_fee_type": TransactionType.AUTHOR_FEE.value,
            },
        )
        report.day_commits_written = await _insert_day_commits(
            session, day_index, await day_roots.roots()
        )
    await session.execute(_DROP_DAY_ROWS)
    await session.execute(
        _RESTORE_SETTINGS, {"names": list(previous), "values": list(previous.values())}
    )
    return report


async def _apply_run_settings(session: AsyncSession) -> dict[str, str]:
    """Sets _RUN_SETTINGS for the rest of the transaction; returns the caller's values."""
    rows = await session.execute(
        _APPLY_RUN_SETTINGS,
        {"names": list(_RUN_SETTINGS), "values": list(_RUN_SETTINGS.values())},
    )
    return {name: value for name, value, _ in rows}


async def _compute_day_rows(session: AsyncSession, day_index: int, policy: Policy) -> None:
    """Steps 1-5 into the temporary table."""
    start, end = rules.day_bounds(day_index)
    await session.execute(_DROP_DAY_ROWS_LEFT)
    await session.execute(
        _CREATE_DAY_ROWS,
        {
            "start": start,
            "end": end,
            "day_index": day_index,
            "settlement_ids": _time_ordered_ids(),
            **rules_sql.tier_parameters(blockchain_enabled=policy.blockchain_enabled, end=end),
            **rules_sql.fee_parameters(
                base_fee_bps=policy.base_fee_bps, credits_per_usdt0=policy.credits_per_usdt0
            ),
        },
    )


def _time_ordered_ids() -> str:
    """The first 20 hex digits (with their dashes) of UUIDv7 ids made now: unix milliseconds,
    version 7, 26 random bits and the variant (RFC 9562); a statement appends 12 hex digits of
    a row number (the standard's counter). Ids numbered in insertion order land at the right
    end of their primary key's index rather than at random pages, which makes a day's 200,000
    inserts cheaper, and cost no gen_random_uuid() each."""
    random_bits = secrets.randbits(26)
    value = (
        (time.time_ns() // 1_000_000) << 80
        | 0x7 << 76
        | (random_bits >> 14) << 64
        | 0b10 << 62
        | (random_bits & 0x3FFF) << 48
    )
    return str(uuid.UUID(int=value))[:24]


async def _fetch_many(session: AsyncSession, statement: str) -> list[Record]:
    """A large result through the driver, inside the session's transaction: asyncpg's records
    cost a fraction of the ORM's rows (a day has 100,000 settlements)."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    assert raw.driver_connection is not None
    records: list[Record] = await raw.driver_connection.fetch(statement)
    return records


def _walk(fees: Sequence[Record], balances: dict[uuid.UUID, int], report: DailyReport) -> list[int]:
    """Step 7's decision: in (user, strategy) order, a fee is collected when its user's
    balance, as moved by the walk so far (author shares included), covers it. Returns the
    places `n` of the collected settlements; `balances` (the locked accounts) is moved."""
    collected = []
    for n, user_id, author_id, fee_credits, author_fee_credits in fees:
        balance = balances[user_id]
        if balance < fee_credits:
            continue
        balances[user_id] = balance - fee_credits
        if author_fee_credits:
            balances[author_id] += author_fee_credits
        collected.append(n)
        report.credits_collected += fee_credits
        report.author_credits += author_fee_credits
    report.settlements_collected = len(collected)
    return collected


async def _insert_settlements(
    session: AsyncSession, day_index: int, collected: Sequence[int]
) -> int:
    """Write every unsettled row or none; returns how many."""
    try:
        result = await session.execute(
            _INSERT_SETTLEMENTS, {"day_index": day_index, "collected": collected}
        )
    except IntegrityError as exc:
        if _SETTLEMENTS_UNIQUE in str(exc.orig):
            raise ConcurrentSettlement(rules.date_of_day_index(day_index).isoformat()) from exc
        raise
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def add_fee_postings(
    batch: ledger.LedgerBatch,
    *,
    settlement_id: uuid.UUID,
    user_id: uuid.UUID,
    author_id: uuid.UUID,
    fee_credits: int,
    author_fee_credits: int,
) -> None:
    """Step 7's postings of one settlement: SETTLEMENT_FEE (−fee) to the user and AUTHOR_FEE
    (+share) to the author, both referring to the settlement. The same postings whether the
    daily run collects the fee or the user pays it later (pay_settlement_in_credits)."""
    batch.add(
        user_id=user_id,
        amount=-fee_credits,
        type=TransactionType.SETTLEMENT_FEE,
        reference_id=settlement_id,
    )
    if author_fee_credits:
        batch.add(
            user_id=author_id,
            amount=author_fee_credits,
            type=TransactionType.AUTHOR_FEE,
            reference_id=settlement_id,
        )


async def pay_settlement_in_credits(
    session: AsyncSession, *, settlement_id: uuid.UUID, user_id: uuid.UUID
) -> Settlement:
    """The user pays one of their PENDING settlements in credits: the postings of step 7, then
    PAID via CREDITS. SettlementNotFound for another user's settlement, SettlementNotPending
    when it is PAID (in credits or on chain) or FAILED, InsufficientCredits when the balance
    does not cover it (nothing moves)."""
    settlement = await session.scalar(
        select(Settlement)
        .where(Settlement.id == settlement_id, Settlement.user_id == user_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if settlement is None:
        raise SettlementNotFound(settlement_id)
    if settlement.status != SettlementStatus.PENDING.value:
        raise SettlementNotPending(settlement_id, settlement.status)
    if settlement.fee_credits:
        batch = await ledger.open_batch(
            session,
            [settlement.user_id, settlement.author_id],
            checked_references=[
                (settlement.user_id, TransactionType.SETTLEMENT_FEE, settlement.id)
            ],
        )
        add_fee_postings(
            batch,
            settlement_id=settlement.id,
            user_id=settlement.user_id,
            author_id=settlement.author_id,
            fee_credits=settlement.fee_credits,
            author_fee_credits=settlement.author_fee_credits,
        )
        await batch.flush()
    await session.execute(
        update(Settlement)
        .where(Settlement.id == settlement.id)
        .values(
            status=SettlementStatus.PAID.value,
            paid_via=PaidVia.CREDITS.value,
            paid_at=dt.datetime.now(dt.UTC),
        )
    )
    await session.refresh(settlement)
    return settlement


# --- Merkle roots of the day ------------------------------------------------------------

# Step 8: each strategy's root (hashed by day_roots) with its volume of the day, exact.
_INSERT_DAY_COMMITS = text(
    f"""
    INSERT INTO day_commits (strategy_id, day_index, merkle_root, leaf_count, total_volume)
    SELECT c.strategy_id, :day_index, c.merkle_root, c.leaf_count, v.total_volume
    FROM unnest(
        CAST(:strategy_ids AS uuid[]), CAST(:roots AS varchar[]), CAST(:leaf_counts AS integer[])
    ) AS c(strategy_id, merkle_root, leaf_count)
    LEFT JOIN (
        SELECT strategy_id, {rules_sql.eight_decimals("sum(volume)")} AS total_volume
        FROM {_DAY_ROWS}
        GROUP BY strategy_id
    ) AS v ON v.strategy_id = c.strategy_id
    ORDER BY c.strategy_id
    ON CONFLICT (strategy_id, day_index) DO NOTHING
    """
)


async def _insert_day_commits(
    session: AsyncSession, day_index: int, roots: Sequence[StrategyRoot]
) -> int:
    if not roots:
        return 0
    written = await session.execute(
        _INSERT_DAY_COMMITS,
        {
            "day_index": day_index,
            "strategy_ids": [root.strategy_id for root in roots],
            "roots": [root.merkle_root for root in roots],
            "leaf_counts": [root.leaf_count for root in roots],
        },
    )
    return int(written.rowcount or 0)  # type: ignore[attr-defined]


# --- expiry ------------------------------------------------------------------------------

_EXPIRE = text(
    """
    UPDATE settlements SET status = 'FAILED'
    WHERE status = 'PENDING' AND day_index < :oldest_open_day
    """
)


async def expire_pending(session: AsyncSession, *, today: dt.date, policy: Policy) -> int:
    """PENDING settlements older than SETTLEMENT_EXPIRY_DAYS become FAILED."""
    oldest_open_day = rules.day_index_of_date(today) - policy.expiry_days
    result = await session.execute(_EXPIRE, {"oldest_open_day": oldest_open_day})
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


# --- monthly royalties -------------------------------------------------------------------

_MONTH_CLONES = text(
    """
    SELECT author_id, count(*) AS clones, sum(price_credits) AS revenue
    FROM template_clones
    WHERE created_at >= :start AND created_at < :end
    GROUP BY author_id
    ORDER BY author_id
    """
)

_INSERT_ROYALTIES = text(
    """
    INSERT INTO author_royalties (
        author_id, year, month, total_clones, total_revenue_credits, royalty_rate_bps,
        royalty_amount_credits
    )
    SELECT author_id, :year, :month, clones, revenue, rate, amount
    FROM unnest(
        CAST(:author_ids AS uuid[]), CAST(:clones AS integer[]), CAST(:revenues AS bigint[]),
        CAST(:rates AS integer[]), CAST(:amounts AS bigint[])
    ) AS r(author_id, clones, revenue, rate, amount)
    ON CONFLICT (author_id, year, month) DO NOTHING
    RETURNING id
    """
)


def month_bounds(year: int, month: int) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime(year, month, 1, tzinfo=dt.UTC)
    end = dt.datetime(year + month // 12, month % 12 + 1, 1, tzinfo=dt.UTC)
    return start, end


async def preview_royalties(
    session: AsyncSession, *, year: int, month: int, policy: Policy
) -> list[RoyaltyLine]:
    """The royalties of month M as the monthly run would write them; writes nothing."""
    start, end = month_bounds(year, month)
    clones = (await session.execute(_MONTH_CLONES, {"start": start, "end": end})).all()
    tiers = await tiers_at(
        session, user_ids=[row.author_id for row in clones], end=end, policy=policy
    )
    lines = []
    for row in clones:
        rate = rules.AUTHOR_RATE_BPS[tiers[row.author_id]]
        lines.append(
            RoyaltyLine(
                author_id=row.author_id,
                total_clones=row.clones,
                total_revenue_credits=int(row.revenue),
                royalty_rate_bps=rate,
                royalty_amount_credits=rules.royalty_amount(
                    revenue_credits=int(row.revenue), rate_bps=rate
                ),
            )
        )
    return lines


async def create_royalties(
    session: AsyncSession, *, year: int, month: int, policy: Policy
) -> RoyaltyReport:
    """Write the PENDING royalties of month M that do not exist yet. With BLOCKCHAIN_ENABLED,
    PeriodNotFinal until the indexer has finalized past the month's end: the rate is the
    author's tier there, which must not depend on how far the indexer has got."""
    _, end = month_bounds(year, month)
    if policy.blockchain_enabled and not await chain_final_past(session, end):
        raise PeriodNotFinal(f"{year:04d}-{month:02d}")
    lines = await preview_royalties(session, year=year, month=month, policy=policy)
    report = RoyaltyReport(year=year, month=month)
    if not lines:
        return report
    result = await session.execute(
        _INSERT_ROYALTIES,
        {
            "year": year,
            "month": month,
            "author_ids": [line.author_id for line in lines],
            "clones": [line.total_clones for line in lines],
            "revenues": [line.total_revenue_credits for line in lines],
            "rates": [line.royalty_rate_bps for line in lines],
            "amounts": [line.royalty_amount_credits for line in lines],
        },
    )
    report.written_ids = list(result.scalars())
    report.royalties_written = len(report.written_ids)
    return report


async def pending_royalty_ids(session: AsyncSession, *, year: int, month: int) -> list[uuid.UUID]:
    rows = await session.scalars(
        select(AuthorRoyalty.id)
        .where(
            AuthorRoyalty.year == year,
            AuthorRoyalty.month == month,
            AuthorRoyalty.status == RoyaltyStatus.PENDING.value,
        )
        .order_by(AuthorRoyalty.author_id)
    )
    return list(rows)


async def _locked_royalty(session: AsyncSession, royalty_id: uuid.UUID) -> AuthorRoyalty | None:
    """The royalty's row as committed now, locked: populate_existing, because a copy the
    session loaded earlier would show a status another transaction has changed since (and a
    PAID royalty would be cancelled, or paid again)."""
    royalty: AuthorRoyalty | None = await session.scalar(
        select(AuthorRoyalty)
        .where(AuthorRoyalty.id == royalty_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return royalty


async def pay_royalty(session: AsyncSession, *, royalty_id: uuid.UUID) -> int:
    """Pay one PENDING royalty (a ROYALTY posting, then PAID); returns the credits paid."""
    royalty = await _locked_royalty(session, royalty_id)
    if royalty is None:
        raise RoyaltyNotFound(royalty_id)
    if royalty.status != RoyaltyStatus.PENDING.value:
        raise RoyaltyNotPayable(royalty_id, royalty.status)
    if royalty.royalty_amount_credits:
        await ledger.post(
            session,
            user_id=royalty.author_id,
            amount=royalty.royalty_amount_credits,
            type=TransactionType.ROYALTY,
            reference_id=royalty.id,
            description=f"royalty {royalty.year:04d}-{royalty.month:02d}",
        )
    await session.execute(
        update(AuthorRoyalty)
        .where(AuthorRoyalty.id == royalty_id)
        .values(status=RoyaltyStatus.PAID.value, paid_at=dt.datetime.now(dt.UTC))
    )
    return royalty.royalty_amount_credits


async def batch_pay_royalties(session: AsyncSession, *, year: int, month: int) -> int:
    """Pay every PENDING royalty of month M in the caller's transaction (the admin's batch
    pay); returns the credits paid. The scheduler pays one author per transaction instead."""
    paid = 0
    for royalty_id in await pending_royalty_ids(session, year=year, month=month):
        paid += await pay_royalty(session, royalty_id=royalty_id)
    return paid


async def cancel_royalty(session: AsyncSession, *, royalty_id: uuid.UUID) -> None:
    royalty = await _locked_royalty(session, royalty_id)
    if royalty is None:
        raise RoyaltyNotFound(royalty_id)
    if royalty.status != RoyaltyStatus.PENDING.value:
        raise RoyaltyNotPayable(royalty_id, royalty.status)
    await session.execute(
        update(AuthorRoyalty)
        .where(AuthorRoyalty.id == royalty_id)
        .values(status=RoyaltyStatus.CANCELLED.value)
    )
