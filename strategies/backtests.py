"""Back-tests: queued by their owner for a charge, run and reported by a back-test worker.

Queuing charges BACKTEST_COST_CREDITS as a BACKTEST posting whose reference is the back-test's
id, in the same transaction as the row. The worker reports through the service route:

    QUEUED  -> RUNNING | COMPLETED (with metrics) | FAILED
    RUNNING -> COMPLETED (with metrics) | FAILED

A FAILED back-test is refunded: a REFUND posting of what was charged, with the same reference,
so the ledger's unique (user, type, reference) makes a second refund impossible. A report that
repeats the current state (a worker's retry) changes nothing and answers the back-test as it
is; any other move is InvalidBacktestTransition.

The owner may delete a finished back-test, and a QUEUED one, which is then refunded too (it
never ran); a RUNNING one is BacktestRunning until the worker has reported its end.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from db import ledger
from db.enums import BacktestStatus, StrategyStatus, TransactionType
from db.models import Backtest, CreditTransaction
from strategies.errors import (
    BacktestNotFound,
    BacktestRunning,
    InvalidBacktestTransition,
    StrategyArchived,
)
from strategies.service import owned_strategy

FINISHED = frozenset({BacktestStatus.COMPLETED, BacktestStatus.FAILED})
ALLOWED_TRANSITIONS = frozenset(
    {
        (BacktestStatus.QUEUED, BacktestStatus.RUNNING),
        (BacktestStatus.QUEUED, BacktestStatus.COMPLETED),
        (BacktestStatus.QUEUED, BacktestStatus.FAILED),
        (BacktestStatus.RUNNING, BacktestStatus.COMPLETED),
        (BacktestStatus.RUNNING, BacktestStatus.FAILED),
    }
)


@dataclass(frozen=True, slots=True)
class BacktestRequest:
    strategy_id: uuid.UUID
    symbol: str
    timeframe: str
    start_date: dt.datetime
    end_date: dt.datetime
    initial_capital: Decimal


@dataclass(frozen=True, slots=True)
class BacktestMetrics:
    final_capital: Decimal
    total_return_bp: int
    mdd_bp: int
    win_rate_bp: int
    sharpe_ratio: Decimal
    trade_count: int


async def queue_backtest(
    session: AsyncSession, *, user_id: uuid.UUID, request: BacktestRequest, cost_credits: int
) -> Backtest:
    """A QUEUED back-test of the user's strategy, paid for (InsufficientCredits: nothing)."""
    strategy = await owned_strategy(session, owner_id=user_id, strategy_id=request.strategy_id)
    if strategy.status == StrategyStatus.ARCHIVED:
        raise StrategyArchived()
    backtest_id = uuid.uuid4()
    if cost_credits > 0:
        await ledger.post(
            session,
            user_id=user_id,
            amount=-cost_credits,
            type=TransactionType.BACKTEST,
            reference_id=backtest_id,
            description=f"back-test {backtest_id}",
        )
    backtest = Backtest(
        id=backtest_id,
        user_id=user_id,
        strategy_id=request.strategy_id,
        symbol=request.symbol,
        timeframe=request.timeframe,
        start_date=request.start_date,
        end_date=request.end_date,
        initial_capital=request.initial_capital,
        status=BacktestStatus.QUEUED.value,
    )
    session.add(backtest)
    await session.flush()
    await session.refresh(backtest)
    return backtest


def backtests_of(
    *,
    user_id: uuid.UUID,
    status: BacktestStatus | None = None,
    strategy_id: uuid.UUID | None = None,
) -> Select[Any]:
    """The user's back-tests, newest first."""
    statement = select(Backtest).where(Backtest.user_id == user_id)
    if status is not None:
        statement = statement.where(Backtest.status == status.value)
    if strategy_id is not None:
        statement = statement.where(Backtest.strategy_id == strategy_id)
    return statement.order_by(Backtest.created_at.desc(), Backtest.id.desc())


async def backtest_of(
    session: AsyncSession, *, user_id: uuid.UUID, backtest_id: uuid.UUID
) -> Backtest:
    backtest = await session.scalar(
        select(Backtest).where(Backtest.id == backtest_id, Backtest.user_id == user_id)
    )
    if backtest is None:
        raise BacktestNotFound(backtest_id)
    return backtest


async def delete_backtest(
    session: AsyncSession, *, user_id: uuid.UUID, backtest_id: uuid.UUID
) -> None:
    """Delete a finished or QUEUED back-test (refunding the QUEUED one)."""
    backtest = await _locked(session, backtest_id, user_id=user_id)
    status = BacktestStatus(backtest.status)
    if status is BacktestStatus.RUNNING:
        raise BacktestRunning(backtest_id)
    if status is BacktestStatus.QUEUED:
        await _refund(session, backtest, reason="cancelled before it ran")
    await session.delete(backtest)
    await session.flush()


async def report_backtest(
    session: AsyncSession,
    *,
    backtest_id: uuid.UUID,
    status: BacktestStatus,
    metrics: BacktestMetrics | None = None,
    error_message: str | None = None,
) -> Backtest:
    """The worker's report; COMPLETED needs `metrics`, FAILED refunds the charge once."""
    if (status is BacktestStatus.COMPLETED) != (metrics is not None):
        raise ValueError("metrics come with COMPLETED and only with it")
    backtest = await _locked(session, backtest_id)
    current = BacktestStatus(backtest.status)
    if current is status and status is not BacktestStatus.QUEUED:
        return backtest
    if (current, status) not in ALLOWED_TRANSITIONS:
        raise InvalidBacktestTransition(current, status)
    backtest.status = status.value
    if status in FINISHED:
        backtest.completed_at = dt.datetime.now(dt.UTC)
    if metrics is not None:
        backtest.final_capital = metrics.final_capital
        backtest.total_return_bp = metrics.total_return_bp
        backtest.mdd_bp = metrics.mdd_bp
        backtest.win_rate_bp = metrics.win_rate_bp
        backtest.sharpe_ratio = metrics.sharpe_ratio
        backtest.trade_count = metrics.trade_count
    if status is BacktestStatus.FAILED:
        backtest.error_message = error_message
        await _refund(session, backtest, reason="failed")
    await session.flush()
    await session.refresh(backtest)
    return backtest


async def _locked(
    session: AsyncSession, backtest_id: uuid.UUID, *, user_id: uuid.UUID | None = None
) -> Backtest:
    """The back-test, row-locked: an owner's delete and a worker's report never interleave."""
    statement = select(Backtest).where(Backtest.id == backtest_id).with_for_update()
    if user_id is not None:
        statement = statement.where(Backtest.user_id == user_id)
    backtest = await session.scalar(statement)
    if backtest is None:
        raise BacktestNotFound(backtest_id)
    return backtest


async def _refund(session: AsyncSession, backtest: Backtest, *, reason: str) -> None:
    """Give back exactly what queuing this back-test charged (nothing when it was free)."""
    charged = await session.scalar(
        select(CreditTransaction.amount).where(
            CreditTransaction.user_id == backtest.user_id,
            CreditTransaction.type == TransactionType.BACKTEST.value,
            CreditTransaction.reference_id == backtest.id,
        )
    )
    if charged is None:
        return
    await ledger.post(
        session,
        user_id=backtest.user_id,
        amount=-charged,
        type=TransactionType.REFUND,
        reference_id=backtest.id,
        description=f"back-test {backtest.id} {reason}",
    )
