from __future__ import annotations

import asyncio

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Credit, User
from tests.factories import add_user


async def test_creating_a_user_creates_an_empty_credit_account(session: AsyncSession) -> None:
    user_id = await add_user(session)
    balance = await session.scalar(select(Credit.balance).where(Credit.user_id == user_id))
    assert balance == 0


async def test_updated_at_moves_on_every_update(session: AsyncSession) -> None:
    user_id = await add_user(session)
    await session.commit()
    before = await session.scalar(select(User.updated_at).where(User.id == user_id))
    created = await session.scalar(select(User.created_at).where(User.id == user_id))
    await asyncio.sleep(0.01)

    await session.execute(update(User).where(User.id == user_id).values(full_name="Ada"))
    await session.commit()

    after = await session.scalar(select(User.updated_at).where(User.id == user_id))
    assert before is not None and after is not None
    assert after > before
    assert await session.scalar(select(User.created_at).where(User.id == user_id)) == created
