"""Reads of settlements, earnings, day commits and royalties for the API.

Statements are returned unexecuted where the caller pages them; every list is ordered newest
first with a unique last key, so pages are stable.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.enums import RoyaltyStatus, SettlementStatus
from db.models import AuthorRoyalty, DayCommit, Settlement, Strategy
from settlement import rules
from settlement.errors import DayCommitNotFound


@dataclass(frozen=True, slots=True)
class SettlementFilter:
    user_id: uuid.UUID | None = None
    strategy_id: uuid.UUID | None = None
    author_id: uuid.UUID | None = None
    status: SettlementStatus | None = None
    first_day: dt.date | None = None
    last_day: dt.date | None = None


def _day_range(column: Any, first: dt.date | None, last: dt.date | None) -> list[Any]:
    """Conditions for days first..last inclusive on a day_index column."""
    conditions = []
    if first is not None:
        conditions.append(column >= rules.day_index_of_date(first))
    if last is not None:
        conditions.append(column <= rules.day_index_of_date(last))
    return conditions


def settlements(where: SettlementFilter) -> Select[Settlement]:
    """Settlements matching every given field, newest day first."""
    statement = select(Settlement)
    for column, value in (
        (Settlement.user_id, where.user_id),
        (Settlement.strategy_id, where.strategy_id),
        (Settlement.author_id, where.author_id),
    ):
        if value is not None:
            statement = statement.where(column == value)
    if where.status is not None:
        statement = statement.where(Settlement.status == where.status.value)
    statement = statement.where(*_day_range(Settlement.day_index, where.first_day, where.last_day))
    return statement.order_by(
        Settlement.day_index.desc(), Settlement.created_at.desc(), Settlement.id.desc()
    )


@dataclass(frozen=True, slots=True)
class UnpaidTotals:
    count: int
    fee_credits: int
    fee_amount: Decimal


async def unpaid_totals(session: AsyncSession, *, user_id: uuid.UUID) -> UnpaidTotals:
    """What the user still owes: their PENDING settlements."""
    row = (
        await session.execute(
            select(
                func.count(),
                func.coalesce(func.sum(Settlement.fee_credits), 0),
                func.coalesce(func.sum(Settlement.fee_amount), 0),
            ).where(
                Settlement.user_id == user_id,
                Settlement.status == SettlementStatus.PENDING.value,
            )
        )
    ).one()
    return UnpaidTotals(count=row[0], fee_credits=int(row[1]), fee_amount=Decimal(row[2]))


def earnings(
    author_id: uuid.UUID,
    *,
    strategy_id: uuid.UUID | None = None,
    first_day: dt.date | None = None,
    last_day: dt.date | None = None,
) -> Select[*tuple[Any, ...]]:
    """An author's share of other users' fees per (strategy, day), newest day first.

    `earned_credits` is the share of PAID settlements (credited, or paid on chain),
    `pending_credits` that of PENDING ones; FAILED ones earn nothing. The author's own
    trading is not an earning and is left out.
    """
    paid = Settlement.status == SettlementStatus.PAID.value
    pending = Settlement.status == SettlementStatus.PENDING.value
    statement = select(
        Settlement.strategy_id,
        Settlement.day_index,
        func.count().label("settlements"),
        func.sum(Settlement.total_volume).label("total_volume"),
        func.sum(Settlement.fee_credits).label("fee_credits"),
        func.coalesce(func.sum(Settlement.author_fee_credits).filter(paid), 0).label(
            "earned_credits"
        ),
        func.coalesce(func.sum(Settlement.author_fee_credits).filter(pending), 0).label(
            "pending_credits"
        ),
    ).where(Settlement.author_id == author_id, Settlement.user_id != author_id)
    if strategy_id is not None:
        statement = statement.where(Settlement.strategy_id == strategy_id)
    statement = statement.where(*_day_range(Settlement.day_index, first_day, last_day))
    return statement.group_by(Settlement.strategy_id, Settlement.day_index).order_by(
        Settlement.day_index.desc(), Settlement.strategy_id
    )


async def visible_day_commit(
    session: AsyncSession, *, strategy_id: uuid.UUID, day_index: int, viewer_id: uuid.UUID
) -> DayCommit:
    """The root of a strategy's day, for its owner or anyone when the strategy is public.

    DayCommitNotFound alike for a missing root and a strategy the viewer may not see, so the
    answer does not tell whether someone's private strategy exists.
    """
    commit = await session.scalar(
        select(DayCommit)
        .join(Strategy, Strategy.id == DayCommit.strategy_id)
        .where(
            DayCommit.strategy_id == strategy_id,
            DayCommit.day_index == day_index,
            or_(Strategy.user_id == viewer_id, Strategy.is_public.is_(True)),
        )
    )
    if commit is None:
        raise DayCommitNotFound(strategy_id, day_index)
    return commit


@dataclass(frozen=True, slots=True)
class RoyaltyFilter:
    author_id: uuid.UUID | None = None
    year: int | None = None
    month: int | None = None
    status: RoyaltyStatus | None = None


def royalties(where: RoyaltyFilter) -> Select[AuthorRoyalty]:
    """Royalties matching every given field, newest month first."""
    conditions = [
        column == value
        for column, value in (
            (AuthorRoyalty.author_id, where.author_id),
            (AuthorRoyalty.year, where.year),
            (AuthorRoyalty.month, where.month),
        )
        if value is not None
    ]
    if where.status is not None:
        conditions.append(AuthorRoyalty.status == where.status.value)
    return (
        select(AuthorRoyalty)
        .where(and_(True, *conditions))
        .order_by(
            AuthorRoyalty.year.desc(),
            AuthorRoyalty.month.desc(),
            AuthorRoyalty.created_at.desc(),
            AuthorRoyalty.id.desc(),
        )
    )


async def get_royalty(session: AsyncSession, *, royalty_id: uuid.UUID) -> AuthorRoyalty | None:
    royalty: AuthorRoyalty | None = await session.scalar(
        select(AuthorRoyalty)
        .where(AuthorRoyalty.id == royalty_id)
        .execution_options(populate_existing=True)
    )
    return royalty
