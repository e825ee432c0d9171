"""Executions: the orders the trading engine places for a user on a strategy.

The engine reports each order by its exchange order id, as often as it likes; a report creates
the row or moves it along the status machine (schema.md names the states, the moves are ours):

    PENDING   → PENDING (an amended report) | FILLED | FAILED | CANCELLED
    CANCELLED → FILLED  (the exchange filled the order before the cancel reached it: the
                         exchange is the truth about money, so the fill is kept and settled)

FILLED and FAILED are final. A report of the state already stored changes nothing, so a retried
report is harmless. The order's identity (user, strategy, symbol, side, type, amount) never
changes. A fill dated in a day that is already settled is refused (settlement/days.py).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, exists, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.enums import ExecutionStatus, OrderSide, OrderType
from db.models import Execution, Follow, Strategy, User
from settlement import rules
from settlement.days import day_is_open
from strategies.errors import (
    ExecutionFinal,
    ExecutionMismatch,
    ExecutionNotCancellable,
    ExecutionNotFound,
    FillDayClosed,
    InvalidExecutionReport,
    UnknownExecutionStrategy,
    UnknownExecutionUser,
    UserNotOnStrategy,
)

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
# How far in the future an exchange's fill time may lie (clocks differ a little).
CLOCK_SKEW = dt.timedelta(minutes=5)

_IDENTITY = ("user_id", "strategy_id", "symbol", "side", "order_type", "amount")
_MUTABLE = ("price", "executed_price", "executed_at", "fee", "error_message")


@dataclass(frozen=True, slots=True)
class ExecutionReport:
    """What the engine knows about one order now; None means "not known", never "erase"."""

    exchange_order_id: str
    user_id: uuid.UUID
    strategy_id: uuid.UUID
    symbol: str
    side: OrderSide
    order_type: OrderType
    amount: Decimal
    status: ExecutionStatus = ExecutionStatus.PENDING
    price: Decimal | None = None
    executed_price: Decimal | None = None
    executed_at: dt.datetime | None = None
    fee: Decimal | None = None
    error_message: str | None = None

    def violations(self, now: dt.datetime) -> list[str]:
        found = []
        if self.order_type is OrderType.LIMIT and self.price is None:
            found.append("a LIMIT order needs its price")
        filled = self.status is ExecutionStatus.FILLED
        if filled and (self.executed_price is None or self.executed_at is None):
            found.append("a FILLED order needs executed_price and executed_at")
        if self.executed_at is not None and self.executed_at > now + CLOCK_SKEW:
            found.append("executed_at is in the future")
        if self.executed_at is not None and self.executed_at < EPOCH:
            found.append("executed_at is before 1970")
        return found


@dataclass(frozen=True, slots=True)
class Recorded:
    execution: Execution
    created: bool
    changed: bool


# --- reads ---------------------------------------------------------------------------------


def executions_of(
    user_id: uuid.UUID,
    *,
    strategy_id: uuid.UUID | None = None,
    status: ExecutionStatus | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> Select[Execution]:
    """A user's executions, newest first; `since`/`until` bound created_at ([since, until))."""
    statement = select(Execution).where(Execution.user_id == user_id)
    if strategy_id is not None:
        statement = statement.where(Execution.strategy_id == strategy_id)
    if status is not None:
        statement = statement.where(Execution.status == status.value)
    if since is not None:
        statement = statement.where(Execution.created_at >= since)
    if until is not None:
        statement = statement.where(Execution.created_at < until)
    return statement.order_by(Execution.created_at.desc(), Execution.id.desc())


async def get_execution(
    session: AsyncSession, *, execution_id: uuid.UUID, user_id: uuid.UUID, for_update: bool = False
) -> Execution:
    """The user's execution; ExecutionNotFound for anyone else's (they must not learn of it)."""
    statement = select(Execution).where(Execution.id == execution_id, Execution.user_id == user_id)
    if for_update:
        statement = statement.with_for_update()
    execution = await session.scalar(statement)
    if execution is None:
        raise ExecutionNotFound(execution_id)
    return execution


# --- the user's cancel ---------------------------------------------------------------------


async def cancel_execution(
    session: AsyncSession, *, execution_id: uuid.UUID, user_id: uuid.UUID
) -> Execution:
    """PENDING → CANCELLED; any other state is ExecutionNotCancellable."""
    execution = await get_execution(
        session, execution_id=execution_id, user_id=user_id, for_update=True
    )
    if execution.status != ExecutionStatus.PENDING.value:
        raise ExecutionNotCancellable(execution_id, execution.status)
    execution.status = ExecutionStatus.CANCELLED.value
    await session.flush()
    return execution


# --- the engine's reports ------------------------------------------------------------------


async def record_execution(
    session: AsyncSession, *, report: ExecutionReport, now: dt.datetime | None = None
) -> Recorded:
    """Create the order's row or move it along the status machine (see the module's doc)."""
    violations = report.violations(now or dt.datetime.now(dt.UTC))
    if violations:
        raise InvalidExecutionReport(violations)
    existing = await _by_order_id(session, report.exchange_order_id)
    if existing is None:
        await _check_participant(session, report)
        await _check_fill_day(session, report)
        created = await _insert(session, report)
        if created is not None:
            return Recorded(created, created=True, changed=True)
        # A concurrent report of the same order inserted it first: apply ours on top.
        existing = await _by_order_id(session, report.exchange_order_id)
        assert existing is not None
    return await _apply(session, existing, report)


async def _by_order_id(session: AsyncSession, exchange_order_id: str) -> Execution | None:
    execution: Execution | None = await session.scalar(
        select(Execution)
        .where(Execution.exchange_order_id == exchange_order_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return execution


async def _check_participant(session: AsyncSession, report: ExecutionReport) -> None:
    """The user owns the strategy, or follows it (or its author) actively."""
    owner = await session.scalar(select(Strategy.user_id).where(Strategy.id == report.strategy_id))
    if owner is None:
        raise UnknownExecutionStrategy(report.strategy_id)
    if owner == report.user_id:
        return
    if await session.scalar(select(User.id).where(User.id == report.user_id)) is None:
        raise UnknownExecutionUser(report.user_id)
    follows = await session.scalar(
        select(
            exists().where(
                Follow.follower_id == report.user_id,
                Follow.following_id == owner,
                Follow.is_active.is_(True),
                or_(Follow.strategy_id == report.strategy_id, Follow.strategy_id.is_(None)),
            )
        )
    )
    if not follows:
        raise UserNotOnStrategy(report.user_id, report.strategy_id)


async def _check_fill_day(session: AsyncSession, report: ExecutionReport) -> None:
    if report.status is not ExecutionStatus.FILLED or report.executed_at is None:
        return
    day_index = rules.day_index_of(report.executed_at)
    if not await day_is_open(session, strategy_id=report.strategy_id, day_index=day_index):
        raise FillDayClosed(rules.date_of_day_index(day_index).isoformat())


def _row_values(report: ExecutionReport) -> dict[str, Any]:
    return {
        "exchange_order_id": report.exchange_order_id,
        "user_id": report.user_id,
        "strategy_id": report.strategy_id,
        "symbol": report.symbol,
        "side": report.side.value,
        "order_type": report.order_type.value,
        "amount": report.amount,
        "status": report.status.value,
        **{name: getattr(report, name) for name in _MUTABLE},
    }


async def _insert(session: AsyncSession, report: ExecutionReport) -> Execution | None:
    execution_id = await session.scalar(
        insert(Execution)
        .values(**_row_values(report))
        .on_conflict_do_nothing(index_elements=["exchange_order_id"])
        .returning(Execution.id)
    )
    if execution_id is None:
        return None
    return await session.get_one(Execution, execution_id)


def _unchanged_by(execution: Execution, report: ExecutionReport) -> bool:
    """The report says nothing the row does not say already."""
    if execution.status != report.status.value:
        return False
    for name in _MUTABLE:
        reported = getattr(report, name)
        if reported is not None and reported != getattr(execution, name):
            return False
    return True


def _may_move(current: str, reported: ExecutionStatus) -> bool:
    if current == ExecutionStatus.PENDING.value:
        return True
    return current == ExecutionStatus.CANCELLED.value and reported is ExecutionStatus.FILLED


async def _apply(session: AsyncSession, execution: Execution, report: ExecutionReport) -> Recorded:
    mismatched = [name for name in _IDENTITY if getattr(execution, name) != getattr(report, name)]
    if mismatched:
        raise ExecutionMismatch(report.exchange_order_id, mismatched)
    if _unchanged_by(execution, report):
        return Recorded(execution, created=False, changed=False)
    if not _may_move(execution.status, report.status):
        raise ExecutionFinal(report.exchange_order_id, execution.status, report.status.value)
    await _check_fill_day(session, report)
    changes: dict[str, Any] = {"status": report.status.value}
    for name in _MUTABLE:
        reported = getattr(report, name)
        if reported is not None:
            changes[name] = reported
    await session.execute(update(Execution).where(Execution.id == execution.id).values(**changes))
    await session.refresh(execution)
    return Recorded(execution, created=False, changed=True)
