"""A user's credits as the API shows and moves them: history, purchases, admin adjustments.

Every movement goes through db.ledger (it locks the account, refuses a negative balance and a
repeated reference); these functions only decide what to post.
"""

from __future__ import annotations

import functools
import uuid
from typing import Any

from sqlalchemy import Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.errors import ChargeReferenceReused
from db import ledger
from db.enums import TransactionType
from db.models import CreditTransaction
from db.statements import BoundSelect

# uuid5 namespace turning a payment provider's reference ("pi_3Nx...") into a ledger reference.
CHARGE_REFERENCE_NAMESPACE = uuid.UUID("5b0f4b1e-8d0c-4f7a-9a54-2f1c0c3e6a11")


# What the history shows of each posting.
HISTORY_COLUMNS = (
    CreditTransaction.id,
    CreditTransaction.amount,
    CreditTransaction.balance_after,
    CreditTransaction.type,
    CreditTransaction.reference_id,
    CreditTransaction.description,
    CreditTransaction.created_at,
)


def transactions_of(*, user_id: uuid.UUID, type: TransactionType | None = None) -> BoundSelect:
    """Rows of HISTORY_COLUMNS of a user's postings, newest first: `seq` is the exact posting
    order of one account."""
    params: dict[str, Any] = {"user_id": user_id}
    if type is not None:
        params["type"] = type.value
    return BoundSelect(_history(by_type=type is not None), params)


@functools.cache
def _history(*, by_type: bool) -> Select[*tuple[Any, ...]]:
    """The history statement of one shape, built once (db/statements.py)."""
    statement = select(*HISTORY_COLUMNS).where(
        CreditTransaction.user_id == bindparam("user_id", type_=CreditTransaction.user_id.type)
    )
    if by_type:
        statement = statement.where(CreditTransaction.type == bindparam("type"))
    return statement.order_by(CreditTransaction.seq.desc())


def charge_reference_id(reference: str) -> uuid.UUID:
    """The ledger reference of a charge: the reference itself when it is a UUID, else a UUID
    derived from it (the same reference always gives the same id)."""
    try:
        return uuid.UUID(reference)
    except ValueError:
        return uuid.uuid5(CHARGE_REFERENCE_NAMESPACE, reference)


async def charge(
    session: AsyncSession, *, user_id: uuid.UUID, amount: int, reference: str
) -> CreditTransaction:
    """Credit a purchase of `amount` credits once per (user, reference).

    The same charge again returns the first posting and moves nothing (a payment provider's
    retry); the same reference with another amount is ChargeReferenceReused.
    """
    reference_id = charge_reference_id(reference)
    try:
        posting = await ledger.post(
            session,
            user_id=user_id,
            amount=amount,
            type=TransactionType.PURCHASE,
            reference_id=reference_id,
            description=f"purchase {reference}",
        )
    except ledger.AlreadyPosted:
        first = await _posting_by_reference(
            session, user_id=user_id, type=TransactionType.PURCHASE, reference_id=reference_id
        )
        if first.amount != amount:
            raise ChargeReferenceReused(reference, first.amount) from None
        return first
    return await session.get_one(CreditTransaction, posting.id)


async def adjust(
    session: AsyncSession, *, user_id: uuid.UUID, amount: int, description: str
) -> CreditTransaction:
    """An administrator's correction, + or −; the ledger refuses one below 0
    (InsufficientCredits)."""
    posting = await ledger.post(
        session,
        user_id=user_id,
        amount=amount,
        type=TransactionType.ADMIN_ADJUSTMENT,
        description=description,
    )
    return await session.get_one(CreditTransaction, posting.id)


async def _posting_by_reference(
    session: AsyncSession, *, user_id: uuid.UUID, type: TransactionType, reference_id: uuid.UUID
) -> CreditTransaction:
    return (
        await session.scalars(
            select(CreditTransaction).where(
                CreditTransaction.user_id == user_id,
                CreditTransaction.type == type.value,
                CreditTransaction.reference_id == reference_id,
            )
        )
    ).one()
