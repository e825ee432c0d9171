"""Bodies of the settlements area: settlements, what is unpaid, earnings, day commits."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field, model_validator

from api.pagination import PageQuery
from db.enums import PaidVia, SettlementStatus
from db.models import DayCommit, Settlement
from settlement import rules
from settlement.queries import SettlementFilter, UnpaidTotals


class SettlementOut(BaseModel):
    id: uuid.UUID
    user_id: uuid.UUID
    strategy_id: uuid.UUID
    author_id: uuid.UUID
    day_index: int
    day: dt.date
    total_volume: Decimal = Field(description="USDT0")
    fee_amount: Decimal = Field(description="USDT0")
    fee_credits: int
    user_tier: int
    author_tier: int
    discount_bps: int
    author_fee_credits: int
    platform_fee_credits: int
    status: SettlementStatus
    paid_via: PaidVia | None
    paid_at: dt.datetime | None
    paid_tx_hash: str | None
    onchain_settlement_id: str | None = Field(description="uint256, as a decimal string")
    created_at: dt.datetime

    @classmethod
    def from_row(cls, row: Settlement) -> SettlementOut:
        return cls(
            id=row.id,
            user_id=row.user_id,
            strategy_id=row.strategy_id,
            author_id=row.author_id,
            day_index=row.day_index,
            day=rules.date_of_day_index(row.day_index),
            total_volume=row.total_volume,
            fee_amount=row.fee_amount,
            fee_credits=row.fee_credits,
            user_tier=row.user_tier,
            author_tier=row.author_tier,
            discount_bps=row.discount_bps,
            author_fee_credits=row.author_fee_credits,
            platform_fee_credits=row.platform_fee_credits,
            status=SettlementStatus(row.status),
            paid_via=None if row.paid_via is None else PaidVia(row.paid_via),
            paid_at=row.paid_at,
            paid_tx_hash=row.paid_tx_hash,
            onchain_settlement_id=None
            if row.onchain_settlement_id is None
            else str(int(row.onchain_settlement_id)),
            created_at=row.created_at,
        )


class DayRangeQuery(PageQuery):
    """`from` / `to`: days (YYYY-MM-DD, UTC), both included."""

    first_day: dt.date | None = Field(default=None, alias="from")
    last_day: dt.date | None = Field(default=None, alias="to")

    @model_validator(mode="after")
    def _ordered(self) -> DayRangeQuery:
        if self.first_day and self.last_day and self.first_day > self.last_day:
            raise ValueError("`from` must not be after `to`")
        return self


class SettlementQuery(DayRangeQuery):
    status: SettlementStatus | None = None
    strategy: uuid.UUID | None = None

    def filter(self, **fixed: Any) -> SettlementFilter:
        return SettlementFilter(
            strategy_id=self.strategy,
            status=self.status,
            first_day=self.first_day,
            last_day=self.last_day,
            **fixed,
        )


class UnpaidOut(BaseModel):
    count: int
    fee_credits: int
    fee_amount: Decimal = Field(description="USDT0")

    @classmethod
    def of(cls, totals: UnpaidTotals) -> UnpaidOut:
        return cls(count=totals.count, fee_credits=totals.fee_credits, fee_amount=totals.fee_amount)


class EarningsQuery(DayRangeQuery):
    strategy: uuid.UUID | None = None


class EarningOut(BaseModel):
    strategy_id: uuid.UUID
    day_index: int
    day: dt.date
    settlements: int = Field(description="settlements of other users on this strategy and day")
    total_volume: Decimal
    fee_credits: int
    earned_credits: int = Field(description="my share of PAID settlements")
    pending_credits: int = Field(description="my share of settlements not paid yet")

    @classmethod
    def from_row(cls, row: Any) -> EarningOut:
        return cls(
            strategy_id=row.strategy_id,
            day_index=row.day_index,
            day=rules.date_of_day_index(row.day_index),
            settlements=row.settlements,
            total_volume=row.total_volume,
            fee_credits=int(row.fee_credits),
            earned_credits=int(row.earned_credits),
            pending_credits=int(row.pending_credits),
        )


class DayCommitOut(BaseModel):
    strategy_id: uuid.UUID
    day_index: int
    day: dt.date
    merkle_root: str
    leaf_count: int
    total_volume: Decimal
    onchain_tx_hash: str | None
    committed_at: dt.datetime | None

    @classmethod
    def from_row(cls, row: DayCommit) -> DayCommitOut:
        return cls(
            strategy_id=row.strategy_id,
            day_index=row.day_index,
            day=rules.date_of_day_index(row.day_index),
            merkle_root=row.merkle_root,
            leaf_count=row.leaf_count,
            total_volume=row.total_volume,
            onchain_tx_hash=row.onchain_tx_hash,
            committed_at=row.committed_at,
        )
