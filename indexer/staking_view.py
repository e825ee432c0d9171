"""A user's staking as the API shows it, read from what the indexer wrote (never from a node).

- staked G8D: Σ STAKE − Σ UNSTAKE over the user's staking_records that are not FAILED, the same
  sum the settlement takes tiers from (PENDING records of not-yet-final blocks count: the
  tier follows the chain at once and a reorg takes the record away again);
- tier: the admin's manual tier when set; else, with BLOCKCHAIN_ENABLED, the tier of the staked
  G8D, and 0 without it (settlement.md "Tier of a user"), so the figures shown are the ones the
  fees use; discount, author rate and follow quota come from settlement/rules.py's tables;
- pending unstake: per verified wallet, the UnstakeRequested event (kept raw in chain_events)
  that no later Withdrawn of that wallet has paid out; G8DStaking allows one at a time. It can
  be withdrawn COOLDOWN (7 days) after the request's block; with several wallets the summary
  shows the sum and the latest end, when all of it can be withdrawn.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, case, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from db.enums import StakingStatus, StakingType
from db.models import Follow, StakingRecord, User, Wallet
from settlement import rules

COOLDOWN = dt.timedelta(days=7)  # G8DStaking.COOLDOWN

# The chain ids (one per indexed chain) let both look-ups use the partial index of a wallet's
# staking events (chain_id, wallet, block, log) instead of scanning every event of the name.
_PENDING_UNSTAKES = text(
    """
    SELECT e.args ->> 'user' AS wallet,
           CAST(e.args ->> 'amount' AS numeric) * CAST('1e-18' AS numeric) AS amount,
           e.block_timestamp AS requested_at
    FROM chain_events AS e
    WHERE e.chain_id IN (SELECT chain_id FROM indexer_cursors)
      AND e.event_name = 'UnstakeRequested'
      AND e.projection_status <> 'FAILED'
      AND (e.args ->> 'user') = ANY(CAST(:wallets AS text[]))
      AND NOT EXISTS (
          SELECT 1 FROM chain_events AS w
          WHERE w.chain_id = e.chain_id
            AND w.event_name = 'Withdrawn'
            AND w.projection_status <> 'FAILED'
            AND (w.args ->> 'user') = (e.args ->> 'user')
            AND (w.block_number, w.log_index) > (e.block_number, e.log_index))
    ORDER BY e.block_number, e.log_index
    """
)


@dataclass(frozen=True, slots=True)
class PendingUnstake:
    wallet_address: str
    amount: Decimal
    requested_at: dt.datetime

    @property
    def cooldown_ends_at(self) -> dt.datetime:
        return self.requested_at + COOLDOWN


@dataclass(frozen=True, slots=True)
class StakingSummary:
    staked_g8d: Decimal
    tier: int
    manual_tier: int | None
    pending_unstake: Decimal
    cooldown_ends_at: dt.datetime | None
    follow_quota: int
    follows_active: int
    discount_bps: int
    author_rate_bps: int
    pending_unstakes: list[PendingUnstake]


async def staked_g8d(session: AsyncSession, *, user_id: uuid.UUID) -> Decimal:
    signed = case(
        (StakingRecord.type == StakingType.STAKE, StakingRecord.amount),
        else_=-StakingRecord.amount,
    )
    total = await session.scalar(
        select(func.coalesce(func.sum(signed), 0)).where(
            StakingRecord.user_id == user_id, StakingRecord.status != StakingStatus.FAILED
        )
    )
    return Decimal(total or 0)


async def pending_unstakes(session: AsyncSession, *, user_id: uuid.UUID) -> list[PendingUnstake]:
    wallets = list(
        await session.scalars(
            select(Wallet.address).where(Wallet.user_id == user_id, Wallet.is_verified.is_(True))
        )
    )
    if not wallets:
        return []
    rows = await session.execute(_PENDING_UNSTAKES, {"wallets": wallets})
    return [
        PendingUnstake(
            wallet_address=row.wallet, amount=Decimal(row.amount), requested_at=row.requested_at
        )
        for row in rows
    ]


async def summary(
    session: AsyncSession, *, user_id: uuid.UUID, blockchain_enabled: bool
) -> StakingSummary:
    staked = await staked_g8d(session, user_id=user_id)
    manual_tier = await session.scalar(select(User.manual_tier).where(User.id == user_id))
    if manual_tier is not None:
        tier = manual_tier
    elif blockchain_enabled:
        tier = rules.tier_for_stake(staked)
    else:
        tier = 0
    pending = await pending_unstakes(session, user_id=user_id)
    follows_active = await session.scalar(
        select(func.count())
        .select_from(Follow)
        .where(Follow.follower_id == user_id, Follow.is_active.is_(True))
    )
    return StakingSummary(
        staked_g8d=staked,
        tier=tier,
        manual_tier=manual_tier,
        pending_unstake=sum((p.amount for p in pending), Decimal(0)),
        cooldown_ends_at=max((p.cooldown_ends_at for p in pending), default=None),
        follow_quota=rules.FOLLOW_QUOTA[tier],
        follows_active=follows_active or 0,
        discount_bps=rules.DISCOUNT_BPS[tier],
        author_rate_bps=rules.AUTHOR_RATE_BPS[tier],
        pending_unstakes=pending,
    )


def records_of(
    user_id: uuid.UUID,
    *,
    record_type: StakingType | None = None,
    status: StakingStatus | None = None,
) -> Select[Any]:
    """The user's staking records, newest first in chain order."""
    statement = select(StakingRecord).where(StakingRecord.user_id == user_id)
    if record_type is not None:
        statement = statement.where(StakingRecord.type == record_type)
    if status is not None:
        statement = statement.where(StakingRecord.status == status)
    return statement.order_by(
        StakingRecord.block_number.desc().nulls_last(),
        StakingRecord.log_index.desc().nulls_last(),
        StakingRecord.created_at.desc(),
        StakingRecord.id.desc(),
    )
