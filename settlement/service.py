"""Daily fee settlements, monthly royalties and the expiry sweep (settlement.md).

Every function works inside the caller's transaction and never commits. Re-running a period
is harmless: rows are inserted with ON CONFLICT DO NOTHING, and only rows this call inserted
are collected, so a second run of a day posts nothing.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from db import ledger
from db.enums import PaidVia, RoyaltyStatus, SettlementStatus, TransactionType
from db.models import AuthorRoyalty, Settlement
from gr8d.config import Settings
from settlement import rules
from settlement.errors import (
    ConcurrentSettlement,
    PeriodNotFinal,
    RoyaltyNotFound,
    RoyaltyNotPayable,
    SettlementNotFound,
    SettlementNotPending,
)
from settlement.merkle import execution_leaf_hash, root_of_leaf_hashes


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
    royalties_paid: int = 0
    credits_paid: int = 0
    written_ids: list[uuid.UUID] = field(default_factory=list)

    def figures(self) -> dict[str, Any]:
        return {
            "month": f"{self.year:04d}-{self.month:02d}",
            "royalties_written": self.royalties_written,
            "royalties_paid": self.royalties_paid,
            "credits_paid": self.credits_paid,
        }


# --- tiers -------------------------------------------------------------------------------

_MANUAL_TIERS = text("SELECT id, manual_tier FROM users WHERE id = ANY(CAST(:ids AS uuid[]))")

# Staked G8D per user from the indexed staking records whose block is before `end`.
_STAKED_BEFORE = text(
    """
    SELECT r.user_id,
           sum(CASE WHEN r.type = 'STAKE' THEN r.amount ELSE -r.amount END) AS staked
    FROM staking_records AS r
    JOIN chain_events AS e ON e.tx_hash = r.onchain_tx_hash AND e.log_index = r.log_index
    WHERE r.user_id = ANY(CAST(:ids AS uuid[]))
      AND r.status <> 'FAILED'
      AND e.block_timestamp < :end
    GROUP BY r.user_id
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
    (BLOCKCHAIN_ENABLED) the tier of the G8D staked before `end`, else 0."""
    ids = sorted(set(user_ids))
    manual = {row.id: row.manual_tier for row in await session.execute(_MANUAL_TIERS, {"ids": ids})}
    staked: dict[uuid.UUID, Decimal] = {}
    if policy.blockchain_enabled:
        rows = await session.execute(_STAKED_BEFORE, {"ids": ids, "end": end})
        staked = {row.user_id: row.staked for row in rows}
    return {
        user_id: manual[user_id]
        if manual.get(user_id) is not None
        else rules.tier_for_stake(staked.get(user_id, Decimal(0)))
        for user_id in ids
    }


async def chain_final_past(session: AsyncSession, moment: dt.datetime) -> bool:
    """Whether the indexer has finalized a block at or after `moment`."""
    finalized: dt.datetime | None = await session.scalar(_FINALIZED_BLOCK_TIME)
    return finalized is not None and finalized >= moment


# --- daily settlement --------------------------------------------------------------------

# Each (user, strategy) volume of the day, exact, and whether it is settled already (a run
# that was interrupted by hand, or a direct second call, settles only what is missing).
_DAY_VOLUMES = text(
    """
    SELECT g.user_id, g.strategy_id, g.author_id, g.volume, x.id IS NOT NULL AS settled
    FROM (
        SELECT e.user_id, e.strategy_id, s.user_id AS author_id,
               sum(e.amount * e.executed_price) AS volume
        FROM executions AS e
        JOIN strategies AS s ON s.id = e.strategy_id
        WHERE e.status = 'FILLED' AND e.executed_at >= :start AND e.executed_at < :end
        GROUP BY e.user_id, e.strategy_id, s.user_id
    ) AS g
    LEFT JOIN settlements AS x
        ON x.user_id = g.user_id AND x.strategy_id = g.strategy_id AND x.day_index = :day_index
    ORDER BY g.user_id, g.strategy_id
    """
)

# Rows are written once, with their final status: zero-fee and collected rows PAID.
_INSERT_SETTLEMENTS = text(
    """
    INSERT INTO settlements (
        id, user_id, strategy_id, author_id, day_index, total_volume, fee_amount, fee_credits,
        user_tier, author_tier, discount_bps, author_fee_credits, platform_fee_credits,
        status, paid_via, paid_at
    )
    SELECT s.id, s.user_id, s.strategy_id, s.author_id, :day_index, s.total_volume,
           s.fee_amount, s.fee_credits, s.user_tier, s.author_tier, s.discount_bps,
           s.author_fee_credits, s.platform_fee_credits,
           CASE WHEN s.paid THEN 'PAID' ELSE 'PENDING' END,
           CASE WHEN s.paid THEN 'CREDITS' END,
           CASE WHEN s.paid THEN now() END
    FROM unnest(
        CAST(:ids AS uuid[]), CAST(:user_ids AS uuid[]), CAST(:strategy_ids AS uuid[]),
        CAST(:author_ids AS uuid[]), CAST(:total_volumes AS numeric[]),
        CAST(:fee_amounts AS numeric[]), CAST(:fee_credits AS bigint[]),
        CAST(:user_tiers AS integer[]), CAST(:author_tiers AS integer[]),
        CAST(:discounts AS integer[]), CAST(:author_fees AS bigint[]),
        CAST(:platform_fees AS bigint[]), CAST(:paid AS boolean[])
    ) AS s(id, user_id, strategy_id, author_id, total_volume, fee_amount, fee_credits,
           user_tier, author_tier, discount_bps, author_fee_credits, platform_fee_credits, paid)
    ON CONFLICT (user_id, strategy_id, day_index) DO NOTHING
    """
)


@dataclass(frozen=True, slots=True)
class _Row:
    id: uuid.UUID
    user_id: uuid.UUID
    strategy_id: uuid.UUID
    author_id: uuid.UUID
    user_tier: int
    author_tier: int
    fee: rules.Fee


async def settle_day(session: AsyncSession, *, day_index: int, policy: Policy) -> DailyReport:
    """Settle day D (steps 1-8 of settlement.md) in the caller's transaction."""
    start, end = rules.day_bounds(day_index)
    if policy.blockchain_enabled and not await chain_final_past(session, end):
        raise PeriodNotFinal(rules.date_of_day_index(day_index).isoformat())
    report = DailyReport(day_index=day_index)
    volumes = (
        await session.execute(_DAY_VOLUMES, {"start": start, "end": end, "day_index": day_index})
    ).all()
    unsettled = [row for row in volumes if not row.settled]
    people = {row.user_id for row in unsettled} | {row.author_id for row in unsettled}
    tiers = await tiers_at(session, user_ids=people, end=end, policy=policy)
    rows = [_settlement_row(volume, tiers, policy) for volume in unsettled]
    batch, paid = await _collect(session, rows, report)
    await _insert_settlements(session, rows, day_index, paid)
    await batch.flush()
    report.settlements_written = len(rows)
    report.day_commits_written = await _commit_day_roots(session, day_index, (start, end), volumes)
    return report


def _settlement_row(volume: Any, tiers: dict[uuid.UUID, int], policy: Policy) -> _Row:
    user_tier, author_tier = tiers[volume.user_id], tiers[volume.author_id]
    fee = rules.daily_fee(
        volume=volume.volume,
        user_tier=user_tier,
        author_tier=author_tier,
        user_is_author=volume.user_id == volume.author_id,
        base_fee_bps=policy.base_fee_bps,
        credits_per_usdt0=policy.credits_per_usdt0,
    )
    return _Row(
        id=uuid.uuid4(),
        user_id=volume.user_id,
        strategy_id=volume.strategy_id,
        author_id=volume.author_id,
        user_tier=user_tier,
        author_tier=author_tier,
        fee=fee,
    )


async def _insert_settlements(
    session: AsyncSession, rows: Sequence[_Row], day_index: int, paid: set[uuid.UUID]
) -> None:
    """Write every row or none: a row someone else wrote meanwhile aborts this run."""
    if not rows:
        return
    result = await session.execute(
        _INSERT_SETTLEMENTS,
        {
            "day_index": day_index,
            "ids": [r.id for r in rows],
            "user_ids": [r.user_id for r in rows],
            "strategy_ids": [r.strategy_id for r in rows],
            "author_ids": [r.author_id for r in rows],
            "total_volumes": [r.fee.total_volume for r in rows],
            "fee_amounts": [r.fee.fee_amount for r in rows],
            "fee_credits": [r.fee.fee_credits for r in rows],
            "user_tiers": [r.user_tier for r in rows],
            "author_tiers": [r.author_tier for r in rows],
            "discounts": [r.fee.discount_bps for r in rows],
            "author_fees": [r.fee.author_fee_credits for r in rows],
            "platform_fees": [r.fee.platform_fee_credits for r in rows],
            "paid": [r.fee.fee_credits == 0 or r.id in paid for r in rows],
        },
    )
    written = int(result.rowcount or 0)  # type: ignore[attr-defined]
    if written != len(rows):
        raise ConcurrentSettlement(rules.date_of_day_index(day_index).isoformat())


async def _collect(
    session: AsyncSession, rows: Sequence[_Row], report: DailyReport
) -> tuple[ledger.LedgerBatch, set[uuid.UUID]]:
    """Step 7: charge every settlement whose user's balance covers it, in (user, strategy)
    order, with the author's share posted beside it. Others stay PENDING."""
    payable = [row for row in rows if row.fee.fee_credits > 0]
    batch = await ledger.open_batch(
        session, [r.user_id for r in payable] + [r.author_id for r in payable]
    )
    paid: set[uuid.UUID] = set()
    for row in payable:
        if batch.balance(row.user_id) < row.fee.fee_credits:
            continue
        add_fee_postings(
            batch,
            settlement_id=row.id,
            user_id=row.user_id,
            author_id=row.author_id,
            fee_credits=row.fee.fee_credits,
            author_fee_credits=row.fee.author_fee_credits,
        )
        paid.add(row.id)
        report.credits_collected += row.fee.fee_credits
        report.author_credits += row.fee.author_fee_credits
    report.settlements_collected = len(paid)
    return batch, paid


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

# Leaf values ready to hash: ids as their 16 bytes, amounts and prices scaled by 10^8 (exact,
# as NUMERIC(20,8) has 8 decimals), the time floored to unix seconds. Positional parameters:
# this statement runs on the driver's own cursor (see _leaf_records).
_DAY_LEAVES = """
    SELECT strategy_id, uuid_send(id), uuid_send(user_id),
           CASE side WHEN 'BUY' THEN 0 ELSE 1 END,
           CAST(amount * 100000000 AS numeric(38, 0)),
           CAST(executed_price * 100000000 AS numeric(38, 0)),
           CAST(floor(extract(epoch FROM executed_at)) AS bigint)
    FROM executions
    WHERE status = 'FILLED' AND executed_at >= $1 AND executed_at < $2
    ORDER BY strategy_id
"""

_INSERT_DAY_COMMITS = text(
    """
    INSERT INTO day_commits (strategy_id, day_index, merkle_root, leaf_count, total_volume)
    SELECT strategy_id, :day_index, merkle_root, leaf_count, total_volume
    FROM unnest(
        CAST(:strategy_ids AS uuid[]), CAST(:roots AS varchar[]),
        CAST(:leaf_counts AS integer[]), CAST(:volumes AS numeric[])
    ) AS c(strategy_id, merkle_root, leaf_count, total_volume)
    ON CONFLICT (strategy_id, day_index) DO NOTHING
    """
)

_LEAF_BATCH = 20_000


async def _leaf_records(
    session: AsyncSession, start: dt.datetime, end: dt.datetime
) -> AsyncIterator[Any]:
    """The day's leaves through asyncpg's own server-side cursor, inside the session's
    transaction: a million rows skip the ORM's per-row work, and memory stays flat."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None
    async for record in driver.cursor(_DAY_LEAVES, start, end, prefetch=_LEAF_BATCH):
        yield record


async def _commit_day_roots(
    session: AsyncSession,
    day_index: int,
    bounds: tuple[dt.datetime, dt.datetime],
    volumes: Sequence[Any],
) -> int:
    """Step 8: per strategy, the Merkle root of the day's FILLED executions."""
    roots: dict[uuid.UUID, tuple[str, int]] = {}
    hashes: list[bytes] = []
    current: uuid.UUID | None = None
    async for strategy_id, execution_id, user_id, side, amount, price, at in _leaf_records(
        session, *bounds
    ):
        if strategy_id != current:
            if current is not None:
                roots[current] = (root_of_leaf_hashes(hashes), len(hashes))
            current, hashes = strategy_id, []
        hashes.append(execution_leaf_hash(execution_id, user_id, side, int(amount), int(price), at))
    if current is not None:
        roots[current] = (root_of_leaf_hashes(hashes), len(hashes))
    if not roots:
        return 0
    strategy_volume: dict[uuid.UUID, Decimal] = {}
    for row in volumes:
        strategy_volume[row.strategy_id] = strategy_volume.get(row.strategy_id, 0) + row.volume
    strategy_ids = sorted(roots)
    written = await session.execute(
        _INSERT_DAY_COMMITS,
        {
            "day_index": day_index,
            "strategy_ids": strategy_ids,
            "roots": [roots[s][0] for s in strategy_ids],
            "leaf_counts": [roots[s][1] for s in strategy_ids],
            "volumes": [
                strategy_volume[s].quantize(rules.EIGHT_DECIMALS, rounding=ROUND_HALF_EVEN)
                for s in strategy_ids
            ],
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
    """Write the PENDING royalties of month M that do not exist yet."""
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


async def pay_royalty(session: AsyncSession, *, royalty_id: uuid.UUID) -> int:
    """Pay one PENDING royalty (a ROYALTY posting, then PAID); returns the credits paid."""
    royalty = await session.scalar(
        select(AuthorRoyalty).where(AuthorRoyalty.id == royalty_id).with_for_update()
    )
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
    royalty = await session.scalar(
        select(AuthorRoyalty).where(AuthorRoyalty.id == royalty_id).with_for_update()
    )
    if royalty is None:
        raise RoyaltyNotFound(royalty_id)
    if royalty.status != RoyaltyStatus.PENDING.value:
        raise RoyaltyNotPayable(royalty_id, royalty.status)
    await session.execute(
        update(AuthorRoyalty)
        .where(AuthorRoyalty.id == royalty_id)
        .values(status=RoyaltyStatus.CANCELLED.value)
    )
