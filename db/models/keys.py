"""Encrypted exchange and LLM credentials, and market data."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, created_at, enum_check, updated_at, uuid_pk
from db.enums import CredentialType, values


class Credential(Base):
    """Ciphertext only (AES-256-GCM, see api/); plaintext never reaches this table."""

    __tablename__ = "credentials"
    __table_args__ = (CheckConstraint(enum_check("type", values(CredentialType)), name="type"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    type: Mapped[str] = mapped_column(String(20), nullable=False, index=True)
    provider: Mapped[str] = mapped_column(String(50), nullable=False)
    encrypted_api_key: Mapped[str] = mapped_column(Text, nullable=False)
    encrypted_api_secret: Mapped[str | None] = mapped_column(Text)
    nickname: Mapped[str | None] = mapped_column(String(100))
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("true"))
    created_at: Mapped[dt.datetime] = created_at()
    updated_at: Mapped[dt.datetime] = updated_at()


class Ohlcv(Base):
    __tablename__ = "ohlcv_data"
    __table_args__ = (
        UniqueConstraint("symbol", "timeframe", "timestamp"),
        CheckConstraint(
            "low <= open AND low <= close AND open <= high AND close <= high",
            name="prices_within_range",
        ),
        CheckConstraint("volume >= 0", name="volume_not_negative"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    symbol: Mapped[str] = mapped_column(String(20), nullable=False)
    timeframe: Mapped[str] = mapped_column(String(10), nullable=False)
    timestamp: Mapped[dt.datetime] = mapped_column(nullable=False)
    open: Mapped[Decimal] = mapped_column(Numeric(20, 8), nullable=False)
    high: Mapped[Decimal] = mapped_column(Numeric(20, 8), nullable=False)
    low: Mapped[Decimal] = mapped_column(Numeric(20, 8), nullable=False)
    close: Mapped[Decimal] = mapped_column(Numeric(20, 8), nullable=False)
    volume: Mapped[Decimal] = mapped_column(Numeric(30, 8), nullable=False)


Index(
    "ix_ohlcv_data_symbol_timeframe_timestamp_desc",
    Ohlcv.symbol,
    Ohlcv.timeframe,
    Ohlcv.timestamp.desc(),
)
Index("ix_ohlcv_data_timestamp_desc", Ohlcv.timestamp.desc())
