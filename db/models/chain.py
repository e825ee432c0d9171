"""The blockchain side of a user: wallets, follows, stakes and on-chain registrations."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, created_at, enum_check, optional_at, updated_at, uuid_pk
from db.enums import (
    OnchainStrategyStatus,
    RegistrationStatus,
    StakingStatus,
    StakingType,
    values,
)

ADDRESS_PATTERN = "^0x[0-9a-f]{40}$"


class Wallet(Base):
    """Addresses are stored lower-case; the API shows the EIP-55 checksum form."""

    __tablename__ = "wallets"
    __table_args__ = (CheckConstraint(f"address ~ '{ADDRESS_PATTERN}'", name="address_lower_hex"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    address: Mapped[str] = mapped_column(String(42), nullable=False, unique=True)
    is_verified: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    verification_signature: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = created_at()
    updated_at: Mapped[dt.datetime] = updated_at()


class Follow(Base):
    __tablename__ = "follows"
    __table_args__ = (
        CheckConstraint("follower_id <> following_id", name="not_self"),
        # NULLS NOT DISTINCT: one author-level follow (strategy_id NULL) per pair, not many.
        UniqueConstraint(
            "follower_id", "following_id", "strategy_id", postgresql_nulls_not_distinct=True
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    follower_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    following_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    strategy_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("strategies.id", ondelete="RESTRICT"), index=True
    )
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("true"))
    onchain_tx_hash: Mapped[str | None] = mapped_column(String(66))
    created_at: Mapped[dt.datetime] = created_at()
    updated_at: Mapped[dt.datetime] = updated_at()


class StakingRecord(Base):
    __tablename__ = "staking_records"
    __table_args__ = (
        CheckConstraint(enum_check("type", values(StakingType)), name="type"),
        CheckConstraint(enum_check("status", values(StakingStatus)), name="status"),
        CheckConstraint("amount >= 0", name="amount_not_negative"),
        CheckConstraint("tier BETWEEN 0 AND 5", name="tier_range"),
        UniqueConstraint("onchain_tx_hash", "log_index"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    amount: Mapped[Decimal] = mapped_column(Numeric(30, 18), nullable=False)
    tier: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    type: Mapped[str] = mapped_column(String(10), nullable=False, index=True)
    onchain_tx_hash: Mapped[str | None] = mapped_column(String(66))
    status: Mapped[str] = mapped_column(
        String(20), nullable=False, server_default=text("'PENDING'"), index=True
    )
    created_at: Mapped[dt.datetime] = created_at()
    confirmed_at: Mapped[dt.datetime | None] = optional_at()
    wallet_address: Mapped[str | None] = mapped_column(String(42))
    block_number: Mapped[int | None] = mapped_column(BigInteger)
    log_index: Mapped[int | None] = mapped_column(Integer)


class StrategyRegistration(Base):
    __tablename__ = "strategy_registrations"
    __table_args__ = (
        CheckConstraint(enum_check("status", values(RegistrationStatus)), name="status"),
        CheckConstraint(
            "onchain_status IS NULL OR "
            + enum_check("onchain_status", values(OnchainStrategyStatus)),
            name="onchain_status",
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    strategy_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("strategies.id", ondelete="CASCADE"),
        nullable=False,
        unique=True,
    )
    author_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="RESTRICT"), nullable=False, index=True
    )
    onchain_strategy_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    merkle_root: Mapped[str | None] = mapped_column(String(66))
    onchain_tx_hash: Mapped[str | None] = mapped_column(String(66))
    status: Mapped[str] = mapped_column(
        String(20), nullable=False, server_default=text("'PENDING'"), index=True
    )
    created_at: Mapped[dt.datetime] = created_at()
    registered_at: Mapped[dt.datetime | None] = optional_at()
    # Indexed: the indexer finds the registration a StrategyCreated event confirms by its URI.
    metadata_uri: Mapped[str] = mapped_column(Text, nullable=False, index=True)
    onchain_status: Mapped[str | None] = mapped_column(String(30))
