"""Strategies, their back-tests and the executions the trading engine reports."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, created_at, enum_check, optional_at, updated_at, uuid_pk
from db.enums import (
    BacktestStatus,
    ExecutionStatus,
    OrderSide,
    OrderType,
    StrategyStatus,
    values,
)


def _user_fk(ondelete: str) -> Mapped[uuid.UUID]:
    return mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete=ondelete), nullable=False, index=True
    )


def _strategy_fk(ondelete: str) -> Mapped[uuid.UUID]:
    return mapped_column(
        UUID(as_uuid=True),
        ForeignKey("strategies.id", ondelete=ondelete),
        nullable=False,
        index=True,
    )


class Strategy(Base):
    __tablename__ = "strategies"
    __table_args__ = (CheckConstraint(enum_check("status", values(StrategyStatus)), name="status"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = _user_fk("CASCADE")
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    definition: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    status: Mapped[str] = mapped_column(
        String(20), nullable=False, server_default=text("'DRAFT'"), index=True
    )
    is_public: Mapped[bool] = mapped_column(
        Boolean, nullable=False, server_default=text("false"), index=True
    )
    created_at: Mapped[dt.datetime] = created_at()
    updated_at: Mapped[dt.datetime] = updated_at()


class Backtest(Base):
    __tablename__ = "backtests"
    __table_args__ = (
        CheckConstraint("end_date > start_date", name="end_after_start"),
        CheckConstraint("initial_capital > 0", name="initial_capital_positive"),
        CheckConstraint("total_return_bp >= -10000", name="total_return_bp_floor"),
        CheckConstraint(enum_check("status", values(BacktestStatus)), name="status"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = _user_fk("RESTRICT")
    strategy_id: Mapped[uuid.UUID] = _strategy_fk("CASCADE")
    symbol: Mapped[str] = mapped_column(String(20), nullable=False)
    timeframe: Mapped[str] = mapped_column(String(10), nullable=False)
    start_date: Mapped[dt.datetime] = mapped_column(nullable=False)
    end_date: Mapped[dt.datetime] = mapped_column(nullable=False)
    initial_capital: Mapped[Decimal] = mapped_column(Numeric(20, 8), nullable=False)
    final_capital: Mapped[Decimal | None] = mapped_column(Numeric(20, 8))
    total_return_bp: Mapped[int | None] = mapped_column(Integer)
    mdd_bp: Mapped[int | None] = mapped_column(Integer)
    win_rate_bp: Mapped[int | None] = mapped_column(Integer)
    sharpe_ratio: Mapped[Decimal | None] = mapped_column(Numeric(10, 4))
    trade_count: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(
        String(20), nullable=False, server_default=text("'QUEUED'"), index=True
    )
    error_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = created_at()
    completed_at: Mapped[dt.datetime | None] = optional_at()


class Execution(Base):
    __tablename__ = "executions"
    __table_args__ = (
        CheckConstraint(enum_check("side", values(OrderSide)), name="side"),
        CheckConstraint(enum_check("order_type", values(OrderType)), name="order_type"),
        CheckConstraint(enum_check("status", values(ExecutionStatus)), name="status"),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("order_type <> 'LIMIT' OR price IS NOT NULL", name="limit_has_price"),
        CheckConstraint(
            "status <> 'FILLED' OR (executed_price IS NOT NULL AND executed_at IS NOT NULL)",
            name="filled_has_price_and_time",
        ),
        Index("ix_executions_strategy_id_executed_at", "strategy_id", "executed_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = _user_fk("RESTRICT")
    strategy_id: Mapped[uuid.UUID] = _strategy_fk("RESTRICT")
    symbol: Mapped[str] = mapped_column(String(20), nullable=False)
    side: Mapped[str] = mapped_column(String(4), nullable=False)
    order_type: Mapped[str] = mapped_column(String(10), nullable=False)
    amount: Mapped[Decimal] = mapped_column(Numeric(20, 8), nullable=False)
    price: Mapped[Decimal | None] = mapped_column(Numeric(20, 8))
    executed_price: Mapped[Decimal | None] = mapped_column(Numeric(20, 8))
    status: Mapped[str] = mapped_column(
        String(20), nullable=False, server_default=text("'PENDING'"), index=True
    )
    exchange_order_id: Mapped[str | None] = mapped_column(String(100), unique=True)
    fee: Mapped[Decimal | None] = mapped_column(Numeric(20, 8))
    error_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = created_at()
    executed_at: Mapped[dt.datetime | None] = optional_at()
