"""Bodies of the staking area: indexed staking records and the summary of a user's stake."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from pydantic import BaseModel, Field

from accounts.siwe import checksum
from api.pagination import PageQuery
from db.enums import StakingStatus, StakingType
from db.models import StakingRecord
from indexer.staking_view import PendingUnstake, StakingSummary


class StakingRecordOut(BaseModel):
    id: uuid.UUID
    type: StakingType
    amount: Decimal = Field(description="G8D (not wei)")
    tier: int = Field(description="tier of the wallet's staked balance after this record")
    status: StakingStatus = Field(description="PENDING until its block is final")
    wallet_address: str | None = Field(description="EIP-55 checksum form")
    onchain_tx_hash: str | None
    block_number: int | None
    log_index: int | None
    created_at: dt.datetime
    confirmed_at: dt.datetime | None

    @classmethod
    def from_row(cls, row: StakingRecord) -> StakingRecordOut:
        return cls(
            id=row.id,
            type=StakingType(row.type),
            amount=row.amount,
            tier=row.tier,
            status=StakingStatus(row.status),
            wallet_address=None if row.wallet_address is None else checksum(row.wallet_address),
            onchain_tx_hash=row.onchain_tx_hash,
            block_number=row.block_number,
            log_index=row.log_index,
            created_at=row.created_at,
            confirmed_at=row.confirmed_at,
        )


class StakingQuery(PageQuery):
    type: StakingType | None = None
    status: StakingStatus | None = None


class PendingUnstakeOut(BaseModel):
    wallet_address: str = Field(description="EIP-55 checksum form")
    amount: Decimal = Field(description="G8D requested, paid out by withdraw() after cooldown")
    requested_at: dt.datetime
    cooldown_ends_at: dt.datetime

    @classmethod
    def of(cls, pending: PendingUnstake) -> PendingUnstakeOut:
        return cls(
            wallet_address=checksum(pending.wallet_address),
            amount=pending.amount,
            requested_at=pending.requested_at,
            cooldown_ends_at=pending.cooldown_ends_at,
        )


class StakingSummaryOut(BaseModel):
    staked_g8d: Decimal = Field(description="Σ staked − Σ withdrawn over my records")
    tier: int = Field(description="the tier my fees use (an admin's manual tier wins)")
    manual_tier: int | None
    pending_unstake: Decimal = Field(description="G8D requested for unstaking, not withdrawn")
    cooldown_ends_at: dt.datetime | None = Field(
        description="when all of the pending unstake can be withdrawn"
    )
    follow_quota: int = Field(description="strategies my tier may follow")
    follows_active: int
    discount_bps: int = Field(description="discount on my settlement fees")
    author_rate_bps: int = Field(description="my share of my followers' fees as an author")
    pending_unstakes: list[PendingUnstakeOut] = Field(description="per wallet")

    @classmethod
    def of(cls, summary: StakingSummary) -> StakingSummaryOut:
        return cls(
            staked_g8d=summary.staked_g8d,
            tier=summary.tier,
            manual_tier=summary.manual_tier,
            pending_unstake=summary.pending_unstake,
            cooldown_ends_at=summary.cooldown_ends_at,
            follow_quota=summary.follow_quota,
            follows_active=summary.follows_active,
            discount_bps=summary.discount_bps,
            author_rate_bps=summary.author_rate_bps,
            pending_unstakes=[PendingUnstakeOut.of(p) for p in summary.pending_unstakes],
        )
