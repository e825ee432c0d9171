"""What the money tests read back from the database after the API has answered."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db import ledger
from db.enums import TransactionType
from db.models import CreditTransaction


async def balance(session_factory: async_sessionmaker[AsyncSession], user_id: uuid.UUID) -> int:
    async with session_factory() as session:
        return await ledger.balance_of(session, user_id)


async def postings(
    session_factory: async_sessionmaker[AsyncSession],
    user_id: uuid.UUID,
    type: TransactionType,
) -> list[tuple[int, uuid.UUID | None]]:
    """(amount, reference_id) of the user's postings of one type, in posting order."""
    async with session_factory() as session:
        rows = await session.execute(
            select(CreditTransaction.amount, CreditTransaction.reference_id)
            .where(CreditTransaction.user_id == user_id, CreditTransaction.type == type.value)
            .order_by(CreditTransaction.seq)
        )
        return [(row.amount, row.reference_id) for row in rows]


async def posting_count(session_factory: async_sessionmaker[AsyncSession]) -> int:
    async with session_factory() as session:
        return int(await session.scalar(select(func.count()).select_from(CreditTransaction)) or 0)


async def ledger_holds(session_factory: async_sessionmaker[AsyncSession]) -> bool:
    """schema.md's invariant: every balance is the sum of its postings, every running sum right."""
    async with session_factory() as session:
        return await ledger.invariant_violations(session) == []
