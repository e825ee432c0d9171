"""The credit ledger: the only way any part of gr8d moves credits.

`post()` runs inside the caller's transaction. It locks the user's `credits` row first, so
postings for one user are serialized across connections and replicas; with the lock held it
refuses a repeated (user, type, reference) and any posting that would make the balance
negative, then moves the balance and appends the ledger row in one statement. The partial
UNIQUE index and the `balance >= 0` CHECK stay behind it as the database's final guard.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import Insert, insert, literal, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from db.enums import TransactionType
from db.models import Credit, CreditTransaction

REFERENCE_UNIQUE_INDEX = "uq_credit_transactions_user_id_type_reference_id"


class LedgerError(Exception):
    """A posting the ledger refused; nothing was moved."""


class NoCreditAccount(LedgerError):
    def __init__(self, user_id: uuid.UUID) -> None:
        super().__init__(f"user {user_id} has no credit account")
        self.user_id = user_id


class InsufficientCredits(LedgerError):
    def __init__(self, user_id: uuid.UUID, balance: int, amount: int) -> None:
        super().__init__(f"user {user_id} has {balance} credits; posting {amount} would go below 0")
        self.user_id = user_id
        self.balance = balance
        self.amount = amount


class AlreadyPosted(LedgerError):
    def __init__(self, user_id: uuid.UUID, type_: TransactionType, reference_id: uuid.UUID) -> None:
        super().__init__(f"{type_} {reference_id} is already posted for user {user_id}")
        self.user_id = user_id
        self.type = type_
        self.reference_id = reference_id


@dataclass(frozen=True, slots=True)
class Posting:
    id: uuid.UUID
    user_id: uuid.UUID
    amount: int
    balance_after: int
    type: TransactionType
    reference_id: uuid.UUID | None


async def post(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    amount: int,
    type: TransactionType,
    reference_id: uuid.UUID | None = None,
    description: str | None = None,
) -> Posting:
    """Move `amount` credits (signed, never 0) for `user_id`; raises a LedgerError on refusal."""
    if amount == 0:
        raise ValueError("a posting moves a non-zero amount")
    balance = await _lock_balance(session, user_id)
    if reference_id is not None and await _is_posted(session, user_id, type, reference_id):
        raise AlreadyPosted(user_id, type, reference_id)
    if balance + amount < 0:
        raise InsufficientCredits(user_id, balance, amount)
    try:
        row = (
            await session.execute(
                _move_and_record(user_id, amount, type, reference_id, description)
            )
        ).one()
    except IntegrityError as exc:
        # Unreachable while every posting goes through the row lock above; if a writer ever
        # bypasses it, the database still refuses the duplicate and we say so plainly.
        if reference_id is not None and REFERENCE_UNIQUE_INDEX in str(exc.orig):
            raise AlreadyPosted(user_id, type, reference_id) from exc
        raise
    return Posting(
        id=row.id,
        user_id=user_id,
        amount=amount,
        balance_after=row.balance_after,
        type=type,
        reference_id=reference_id,
    )


async def balance_of(session: AsyncSession, user_id: uuid.UUID) -> int:
    balance = await session.scalar(select(Credit.balance).where(Credit.user_id == user_id))
    if balance is None:
        raise NoCreditAccount(user_id)
    return balance


# Users whose balance is not the sum of their postings, or one of whose rows has a
# balance_after that is not the running sum (in posting order) up to and including it.
_VIOLATIONS = text(
    """
    SELECT c.user_id
    FROM credits AS c
    LEFT JOIN (
        SELECT user_id, sum(amount) AS total FROM credit_transactions GROUP BY user_id
    ) AS t ON t.user_id = c.user_id
    WHERE c.balance <> coalesce(t.total, 0)
    UNION
    SELECT user_id
    FROM (
        SELECT user_id, balance_after,
               sum(amount) OVER (PARTITION BY user_id ORDER BY seq) AS running
        FROM credit_transactions
    ) AS r
    WHERE r.balance_after <> r.running
    """
)


async def invariant_violations(session: AsyncSession) -> list[uuid.UUID]:
    """Users for whom the ledger invariant of schema.md does not hold (empty when it holds)."""
    return list((await session.execute(_VIOLATIONS)).scalars())


async def _lock_balance(session: AsyncSession, user_id: uuid.UUID) -> int:
    balance = await session.scalar(
        select(Credit.balance).where(Credit.user_id == user_id).with_for_update()
    )
    if balance is None:
        raise NoCreditAccount(user_id)
    return balance


async def _is_posted(
    session: AsyncSession, user_id: uuid.UUID, type_: TransactionType, reference_id: uuid.UUID
) -> bool:
    found = await session.scalar(
        select(CreditTransaction.id).where(
            CreditTransaction.user_id == user_id,
            CreditTransaction.type == type_.value,
            CreditTransaction.reference_id == reference_id,
        )
    )
    return found is not None


def _move_and_record(
    user_id: uuid.UUID,
    amount: int,
    type_: TransactionType,
    reference_id: uuid.UUID | None,
    description: str | None,
) -> Insert:
    moved = (
        update(Credit)
        .where(Credit.user_id == user_id)
        .values(balance=Credit.balance + amount)
        .returning(Credit.balance)
        .cte("moved")
    )
    return (
        insert(CreditTransaction)
        .from_select(
            ["user_id", "amount", "balance_after", "type", "reference_id", "description"],
            select(
                literal(user_id, CreditTransaction.user_id.type),
                literal(amount, CreditTransaction.amount.type),
                moved.c.balance,
                literal(type_.value, CreditTransaction.type.type),
                literal(reference_id, CreditTransaction.reference_id.type),
                literal(description, CreditTransaction.description.type),
            ),
        )
        .returning(CreditTransaction.id, CreditTransaction.balance_after)
    )
