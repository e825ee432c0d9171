"""/api/v1 routes of the credits area (api.md "Resources": credits)."""

from __future__ import annotations

import uuid

from accounts import credits
from api.pagination import Page, paginate
from api.registry import Access, Call, Routes
from api.schemas.credits import (
    AdjustmentIn,
    BalanceOut,
    ChargeIn,
    TransactionOut,
    TransactionQuery,
)
from db import ledger

routes = Routes("credits")


@routes.get("/credits")
async def get_balance(call: Call) -> BalanceOut:
    """My credit balance."""
    return BalanceOut(balance=await ledger.balance_of(call.session, call.user.id))


@routes.get("/credits/transactions")
async def list_transactions(call: Call, query: TransactionQuery) -> Page[TransactionOut]:
    """My credit postings, newest first.

    `type` keeps one kind of posting (PURCHASE, BACKTEST, TEMPLATE_CLONE, REFUND, ...)."""
    statement = credits.transactions_of(user_id=call.user.id, type=query.type)
    return await paginate(call.session, statement, query, TransactionOut.from_row)


@routes.post("/credits/charge", access=Access.SERVICE_OR_ADMIN, status=201, idempotent=True)
async def charge_credits(call: Call, body: ChargeIn) -> TransactionOut:
    """Credit a purchase (PURCHASE), once per user and reference.

    For the payment provider (service token) or an administrator. The same user, reference and
    amount again answer 201 with the first posting and move nothing, so a provider may retry
    freely; the same reference with another amount is 409 CHARGE_REFERENCE_REUSED. An unknown
    user is 404 NO_CREDIT_ACCOUNT."""
    posted = await credits.charge(
        call.session, user_id=body.user_id, amount=body.amount, reference=body.reference
    )
    return TransactionOut.from_row(posted)


@routes.post("/admin/credits/{user_id}", access=Access.ADMIN, status=201, idempotent=True)
async def adjust_credits(call: Call, user_id: uuid.UUID, body: AdjustmentIn) -> TransactionOut:
    """Add or remove credits by hand (ADMIN_ADJUSTMENT).

    A removal that would take the balance below 0 is refused with 402 INSUFFICIENT_CREDITS,
    like every posting that needs more credits than there are; nothing moves."""
    posted = await credits.adjust(
        call.session, user_id=user_id, amount=body.amount, description=body.description
    )
    return TransactionOut.from_row(posted)
