"""Bodies of the royalties area: authors' monthly royalties and the admin's runs of them."""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, ConfigDict, Field

from api.pagination import PageQuery
from db.enums import RoyaltyStatus
from db.models import AuthorRoyalty
from settlement.service import RoyaltyLine


class RoyaltyOut(BaseModel):
    id: uuid.UUID
    author_id: uuid.UUID
    year: int
    month: int
    total_clones: int
    total_revenue_credits: int
    royalty_rate_bps: int
    royalty_amount_credits: int
    status: RoyaltyStatus
    paid_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def from_row(cls, row: AuthorRoyalty) -> RoyaltyOut:
        return cls(
            id=row.id,
            author_id=row.author_id,
            year=row.year,
            month=row.month,
            total_clones=row.total_clones,
            total_revenue_credits=row.total_revenue_credits,
            royalty_rate_bps=row.royalty_rate_bps,
            royalty_amount_credits=row.royalty_amount_credits,
            status=RoyaltyStatus(row.status),
            paid_at=row.paid_at,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


class MyRoyaltyQuery(PageQuery):
    year: int | None = Field(default=None, ge=2000, le=9999)
    status: RoyaltyStatus | None = None


class RoyaltyQuery(PageQuery):
    year: int | None = Field(default=None, ge=2000, le=9999)
    month: int | None = Field(default=None, ge=1, le=12)
    author: uuid.UUID | None = None
    status: RoyaltyStatus | None = None


class MonthIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    year: int = Field(ge=2000, le=9999)
    month: int = Field(ge=1, le=12)


class RoyaltyLineOut(BaseModel):
    author_id: uuid.UUID
    total_clones: int
    total_revenue_credits: int
    royalty_rate_bps: int
    royalty_amount_credits: int

    @classmethod
    def of(cls, line: RoyaltyLine) -> RoyaltyLineOut:
        return cls(
            author_id=line.author_id,
            total_clones=line.total_clones,
            total_revenue_credits=line.total_revenue_credits,
            royalty_rate_bps=line.royalty_rate_bps,
            royalty_amount_credits=line.royalty_amount_credits,
        )


class RoyaltyPreviewOut(BaseModel):
    year: int
    month: int
    lines: list[RoyaltyLineOut]
    total_royalty_credits: int


class RoyaltiesCreatedOut(BaseModel):
    year: int
    month: int
    royalties_written: int = Field(description="0 when the month's royalties existed already")
    royalties: list[RoyaltyOut]


class BatchPaidOut(BaseModel):
    year: int
    month: int
    royalties_paid: int
    credits_paid: int
