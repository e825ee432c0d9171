"""/api/v1 routes of the settlements area (api.md "Resources"), and the day commits of a
strategy (`/strategies/{id}/commits/{day_index}`), which are settlement data."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.pagination import Page, PageQuery, paginate
from api.problems import FieldError, Problem
from api.registry import Call, Routes
from api.schemas.settlements import (
    DayCommitOut,
    EarningOut,
    EarningsQuery,
    SettlementOut,
    SettlementQuery,
    UnpaidOut,
)
from settlement import queries, service

routes = Routes("settlements")

# Day 10^7 is in the year 29349: far beyond any settlement, far inside BIGINT.
MAX_DAY_INDEX = 10_000_000

Item = TypeVar("Item")


async def paginate_rows(
    session: AsyncSession,
    statement: Select[Any],
    query: PageQuery,
    convert: Callable[[Any], Item],
) -> Page[Item]:
    """`paginate` for statements of several columns (an aggregate per group)."""
    total = await session.scalar(
        select(func.count()).select_from(statement.order_by(None).subquery())
    )
    rows = await session.execute(statement.offset((query.page - 1) * query.size).limit(query.size))
    page: Page[Any] = Page.of([convert(row) for row in rows], total=total or 0, query=query)
    return page


@routes.get("/settlements")
async def list_settlements(call: Call, query: SettlementQuery) -> Page[SettlementOut]:
    """My daily fee settlements, newest day first.

    Filters: `status`, `strategy`, and the days `from` / `to` (YYYY-MM-DD, both included)."""
    statement = queries.settlements(query.filter(user_id=call.user.id))
    return await paginate(call.session, statement, query, SettlementOut.from_row)


@routes.get("/settlements/unpaid")
async def get_unpaid(call: Call) -> UnpaidOut:
    """What I still owe: the count and sums of my PENDING settlements."""
    return UnpaidOut.of(await queries.unpaid_totals(call.session, user_id=call.user.id))


@routes.get("/settlements/earnings")
async def list_earnings(call: Call, query: EarningsQuery) -> Page[EarningOut]:
    """What I earn as an author from other users' fees, per strategy and day, newest first.

    Filters: `strategy` and the days `from` / `to` (both included)."""
    statement = queries.earnings(
        call.user.id,
        strategy_id=query.strategy,
        first_day=query.first_day,
        last_day=query.last_day,
    )
    return await paginate_rows(call.session, statement, query, EarningOut.from_row)


@routes.post("/settlements/{settlement_id}/pay", idempotent=True)
async def pay_settlement(call: Call, settlement_id: uuid.UUID) -> SettlementOut:
    """Pay one of my PENDING settlements in credits.

    Posts the fee (SETTLEMENT_FEE) from my balance and the author's share (AUTHOR_FEE) to the
    author, and marks the settlement PAID via CREDITS, all at once. 402 INSUFFICIENT_CREDITS
    when my balance does not cover the fee (nothing moves); 409 SETTLEMENT_NOT_PENDING when it
    is paid already (in credits or on chain) or has expired (FAILED). Send an
    `Idempotency-Key` to retry safely."""
    settlement = await service.pay_settlement_in_credits(
        call.session, settlement_id=settlement_id, user_id=call.user.id
    )
    return SettlementOut.from_row(settlement)


@routes.get("/strategies/{strategy_id}/commits/{day_index}")
async def get_day_commit(call: Call, strategy_id: uuid.UUID, day_index: int) -> DayCommitOut:
    """The Merkle root of a strategy's FILLED executions of one day (`day_index` = unix
    seconds div 86400, UTC) and its leaf count.

    For the strategy's owner, or anyone when the strategy is public; 404
    DAY_COMMIT_NOT_FOUND otherwise, and while the day is not settled."""
    if not 0 <= day_index <= MAX_DAY_INDEX:
        raise Problem(
            422,
            "VALIDATION_ERROR",
            "the request does not match its schema",
            errors=[
                FieldError(
                    loc=["path", "day_index"],
                    code="OUT_OF_RANGE",
                    message=f"day_index must be between 0 and {MAX_DAY_INDEX}",
                )
            ],
        )
    commit = await queries.visible_day_commit(
        call.session, strategy_id=strategy_id, day_index=day_index, viewer_id=call.user.id
    )
    return DayCommitOut.from_row(commit)
