"""Rows the tests build on, inserted through the real database."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from db import ledger
from db.enums import TransactionType
from db.models import Strategy, User

MINIMAL_DEFINITION: dict[str, Any] = {
    "nodes": [{"id": "t", "type": "trigger", "config": {}}],
    "edges": [],
}


async def add_user(session: AsyncSession, *, credits: int = 0, **values: Any) -> uuid.UUID:
    values.setdefault("email", f"user-{uuid.uuid4().hex[:10]}@example.com")
    values.setdefault("hashed_password", "argon2id-hash-placeholder")
    user_id: uuid.UUID = (
        await session.execute(insert(User).values(**values).returning(User.id))
    ).scalar_one()
    if credits:
        await ledger.post(session, user_id=user_id, amount=credits, type=TransactionType.PURCHASE)
    return user_id


async def add_strategy(session: AsyncSession, user_id: uuid.UUID, **values: Any) -> uuid.UUID:
    values.setdefault("name", "strategy")
    values.setdefault("definition", MINIMAL_DEFINITION)
    strategy_id: uuid.UUID = (
        await session.execute(
            insert(Strategy).values(user_id=user_id, **values).returning(Strategy.id)
        )
    ).scalar_one()
    return strategy_id


async def user_exists(session: AsyncSession, user_id: uuid.UUID) -> bool:
    return (await session.scalar(select(User.id).where(User.id == user_id))) is not None
