"""Daily fee settlements and monthly author royalties."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, created_at, enum_check, optional_at, updated_at, uuid_pk
from db.enums import PaidVia, RoyaltyStatus, SettlementStatus, values


def _user_fk(ondelete: str) -> Mapped[uuid.UUID]:
    return mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete=ondelete), nullable=False, index=True
    )


def _zero_default(type_: BigInteger | Integer) -> Mapped[int]:
    return mapped_column(type_, nullable=False, server_default=text("0"))


class Settlement(Base):
    __tablename__ = "settlements"
    __table_args__ = (
        UniqueConstraint("user_id", "strategy_id", "day_index"),
        CheckConstraint(
            "author_fee_credits + platform_fee_credits = fee_credits", name="fee_parts_add_up"
        ),
        CheckConstraint(
            "fee_credits >= 0 AND author_fee_credits >= 0 AND platform_fee_credits >= 0",
            name="fee_credits_not_negative",
        ),
        CheckConstraint("total_volume >= 0 AND fee_amount >= 0", name="amounts_not_negative"),
        CheckConstraint("day_index >= 0", name="day_index_not_negative"),
        CheckConstraint("discount_bps BETWEEN 0 AND 10000", name="discount_bps_range"),
        CheckConstraint(
            "user_tier BETWEEN 0 AND 5 AND author_tier BETWEEN 0 AND 5", name="tier_range"
        ),
        CheckConstraint(enum_check("status", values(SettlementStatus)), name="status"),
        CheckConstraint(
            f"paid_via IS NULL OR {enum_check('paid_via', values(PaidVia))}", name="paid_via"
        ),
        CheckConstraint(
            "status <> 'PAID' OR (paid_at IS NOT NULL AND paid_via IS NOT NULL)",
            name="paid_has_time_and_way",
        ),
        Index("ix_settlements_day_index", "day_index"),
        # The chain's ids are unique; the many settlements the chain has not seen are not
        # indexed at all (a unique index would hold a NULL entry for each).
        Index(
            "uq_settlements_onchain_settlement_id",
            "onchain_settlement_id",
            unique=True,
            postgresql_where=text("onchain_settlement_id IS NOT NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    # Indexed by the UNIQUE (user_id, strategy_id, day_index) it leads: a second index on
    # user_id alone would only cost every insert (a tenth of the daily run's).
    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="RESTRICT"), nullable=False
    )
    strategy_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("strategies.id", ondelete="RESTRICT"),
        nullable=False,
        index=True,
    )
    author_id: Mapped[uuid.UUID] = _user_fk("RESTRICT")
    day_index: Mapped[int] = mapped_column(BigInteger, nullable=False)
    total_volume: Mapped[Decimal] = mapped_column(Numeric(30, 8), nullable=False)
    fee_amount: Mapped[Decimal] = mapped_column(Numeric(30, 8), nullable=False)
    fee_credits: Mapped[int] = mapped_column(BigInteger, nullable=False)
    user_tier: Mapped[int] = _zero_default(Integer())
    author_tier: Mapped[int] = _zero_default(Integer())
    discount_bps: Mapped[int] = _zero_default(Integer())
    author_fee_credits: Mapped[int] = _zero_default(BigInteger())
    platform_fee_credits: Mapped[int] = _zero_default(BigInteger())
    status: Mapped[str] = mapped_column(
        String(20), nullable=False, server_default=text("'PENDING'"), index=True
    )
    created_at: Mapped[dt.datetime] = created_at()
    paid_at: Mapped[dt.datetime | None] = optional_at()
    onchain_settlement_id: Mapped[Decimal | None] = mapped_column(Numeric(78, 0))
    paid_tx_hash: Mapped[str | None] = mapped_column(String(66))
    paid_via: Mapped[str | None] = mapped_column(String(10))


class AuthorRoyalty(Base):
    __tablename__ = "author_royalties"
    __table_args__ = (
        UniqueConstraint("author_id", "year", "month"),
        CheckConstraint("month BETWEEN 1 AND 12", name="month_range"),
        CheckConstraint("year BETWEEN 2000 AND 9999", name="year_range"),
        CheckConstraint(
            "total_clones >= 0 AND total_revenue_credits >= 0 AND royalty_amount_credits >= 0",
            name="figures_not_negative",
        ),
        CheckConstraint("royalty_rate_bps BETWEEN 0 AND 10000", name="royalty_rate_bps_range"),
        CheckConstraint(enum_check("status", values(RoyaltyStatus)), name="status"),
        Index("ix_author_royalties_year_month", "year", "month"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    author_id: Mapped[uuid.UUID] = _user_fk("CASCADE")
    year: Mapped[int] = mapped_column(Integer, nullable=False)
    month: Mapped[int] = mapped_column(Integer, nullable=False)
    total_clones: Mapped[int] = _zero_default(Integer())
    total_revenue_credits: Mapped[int] = _zero_default(BigInteger())
    royalty_rate_bps: Mapped[int] = mapped_column(
        Integer, nullable=False, server_default=text("1000")
    )
    royalty_amount_credits: Mapped[int] = _zero_default(BigInteger())
    status: Mapped[str] = mapped_column(
        String(20), nullable=False, server_default=text("'PENDING'"), index=True
    )
    paid_at: Mapped[dt.datetime | None] = optional_at()
    created_at: Mapped[dt.datetime] = created_at()
    updated_at: Mapped[dt.datetime] = updated_at()
