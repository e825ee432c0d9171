"""/api/v1 routes of the royalties area (api.md "Resources"): an author's own royalties and
the admin's monthly runs of them (`/admin/royalties*`), all through settlement/service.py."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import select

from api.pagination import Page, paginate
from api.registry import Access, Call, Routes
from api.schemas.royalties import (
    BatchPaidOut,
    MonthIn,
    MyRoyaltyQuery,
    RoyaltiesCreatedOut,
    RoyaltyLineOut,
    RoyaltyOut,
    RoyaltyPreviewOut,
    RoyaltyQuery,
)
from db.models import AuthorRoyalty
from settlement import queries, service
from settlement.errors import MonthNotFinished, RoyaltyNotFound
from settlement.queries import RoyaltyFilter
from settlement.scheduled import month_period

routes = Routes("royalties")


@routes.get("/royalties")
async def list_my_royalties(call: Call, query: MyRoyaltyQuery) -> Page[RoyaltyOut]:
    """My monthly royalties as a template author, newest month first (filters `year`, `status`)."""
    statement = queries.royalties(
        RoyaltyFilter(author_id=call.user.id, year=query.year, status=query.status)
    )
    return await paginate(call.session, statement, query, RoyaltyOut.from_row)


@routes.get("/admin/royalties", access=Access.ADMIN)
async def list_royalties(call: Call, query: RoyaltyQuery) -> Page[RoyaltyOut]:
    """Every author's royalties, newest month first.

    Filters: `year`, `month`, `author`, `status`."""
    statement = queries.royalties(
        RoyaltyFilter(
            author_id=query.author, year=query.year, month=query.month, status=query.status
        )
    )
    return await paginate(call.session, statement, query, RoyaltyOut.from_row)


@routes.post("/admin/royalties/calculate", access=Access.ADMIN)
async def calculate_royalties(call: Call, body: MonthIn) -> RoyaltyPreviewOut:
    """Preview a month's royalties as the monthly run would write them; writes nothing.

    The current month may be previewed too (its figures still grow)."""
    lines = await service.preview_royalties(
        call.session,
        year=body.year,
        month=body.month,
        policy=service.Policy.from_settings(call.settings),
    )
    return RoyaltyPreviewOut(
        year=body.year,
        month=body.month,
        lines=[RoyaltyLineOut.of(line) for line in lines],
        total_royalty_credits=sum(line.royalty_amount_credits for line in lines),
    )


def _month_is_over(year: int, month: int) -> bool:
    today = dt.datetime.now(dt.UTC).date()
    return (year, month) < (today.year, today.month)


@routes.post("/admin/royalties/create", access=Access.ADMIN, status=201)
async def create_royalties(call: Call, body: MonthIn) -> RoyaltiesCreatedOut:
    """Write a finished month's PENDING royalties (those that do not exist yet).

    Running it again writes nothing (`royalties_written: 0`). A month that is not over is 409
    MONTH_NOT_FINISHED: its later clones would never be counted. With BLOCKCHAIN_ENABLED a
    month the indexer has not finalized past yet is 409 PERIOD_NOT_FINAL: its rates are the
    authors' tiers at its end. Paying is a separate step (pay, or batch-pay)."""
    if not _month_is_over(body.year, body.month):
        raise MonthNotFinished(month_period(body.year, body.month))
    report = await service.create_royalties(
        call.session,
        year=body.year,
        month=body.month,
        policy=service.Policy.from_settings(call.settings),
    )
    rows = await call.session.scalars(
        select(AuthorRoyalty)
        .where(AuthorRoyalty.id.in_(report.written_ids))
        .order_by(AuthorRoyalty.author_id)
    )
    return RoyaltiesCreatedOut(
        year=body.year,
        month=body.month,
        royalties_written=report.royalties_written,
        royalties=[RoyaltyOut.from_row(row) for row in rows],
    )


async def _royalty(call: Call, royalty_id: uuid.UUID) -> RoyaltyOut:
    royalty = await queries.get_royalty(call.session, royalty_id=royalty_id)
    if royalty is None:
        raise RoyaltyNotFound(royalty_id)
    return RoyaltyOut.from_row(royalty)


@routes.post("/admin/royalties/batch-pay", access=Access.ADMIN, idempotent=True)
async def batch_pay_royalties(call: Call, body: MonthIn) -> BatchPaidOut:
    """Pay every PENDING royalty of a month (ROYALTY postings, then PAID), all at once."""
    pending = await service.pending_royalty_ids(call.session, year=body.year, month=body.month)
    credits = await service.batch_pay_royalties(call.session, year=body.year, month=body.month)
    return BatchPaidOut(
        year=body.year, month=body.month, royalties_paid=len(pending), credits_paid=credits
    )


@routes.post("/admin/royalties/{royalty_id}/pay", access=Access.ADMIN, idempotent=True)
async def pay_royalty(call: Call, royalty_id: uuid.UUID) -> RoyaltyOut:
    """Pay one PENDING royalty: a ROYALTY posting to the author, then PAID.

    409 ROYALTY_NOT_PENDING when it is PAID or CANCELLED already."""
    await service.pay_royalty(call.session, royalty_id=royalty_id)
    return await _royalty(call, royalty_id)


@routes.post("/admin/royalties/{royalty_id}/cancel", access=Access.ADMIN)
async def cancel_royalty(call: Call, royalty_id: uuid.UUID) -> RoyaltyOut:
    """Cancel one PENDING royalty (it will not be paid); 409 ROYALTY_NOT_PENDING otherwise."""
    await service.cancel_royalty(call.session, royalty_id=royalty_id)
    return await _royalty(call, royalty_id)
